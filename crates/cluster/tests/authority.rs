//! Room authority against a real redis-server: concurrent claims, fencing epochs, release.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use cluster::{Claim, RoomHome};
use redis::AsyncCommands;
use support::{RedisServer, id, node};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_from_three_nodes_have_exactly_one_winner_and_epochs_increase() {
    support::init_tracing();
    let redis = RedisServer::start();
    let nodes = [
        node(&redis, "a").await,
        node(&redis, "b").await,
        node(&redis, "c").await,
    ];
    let mut last_epoch = 0;
    for round in 0..5 {
        let mut claims = Vec::new();
        for _ in 0..8 {
            for n in &nodes {
                let n = n.clone();
                claims.push(tokio::spawn(
                    async move { n.authority().claim("room-1").await },
                ));
            }
        }
        let mut outcomes = Vec::new();
        for claim in claims {
            outcomes.push(claim.await.unwrap().unwrap());
        }
        let winners: Vec<&RoomHome> = outcomes
            .iter()
            .filter_map(|c| match c {
                Claim::Won(home) => Some(home),
                Claim::Held(_) => None,
            })
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
        let winner = winners[0].clone();
        assert!(
            outcomes.iter().all(|c| *c.home() == winner),
            "round {round}: every loser learns the winner: {outcomes:?}"
        );
        assert!(
            winner.epoch > last_epoch,
            "round {round}: epoch {} after {last_epoch}",
            winner.epoch
        );
        last_epoch = winner.epoch;

        let owner = nodes.iter().find(|n| *n.id() == winner.node).unwrap();
        assert_eq!(owner.authority().owned_epoch("room-1"), Some(winner.epoch));
        for other in nodes.iter().filter(|n| *n.id() != winner.node) {
            assert_eq!(other.authority().owned_epoch("room-1"), None);
        }
        assert_eq!(
            nodes[0].authority().lookup("room-1").await.unwrap(),
            Some(winner.clone())
        );
        assert!(
            owner
                .authority()
                .release("room-1", winner.epoch)
                .await
                .unwrap()
        );
        assert_eq!(nodes[1].authority().lookup("room-1").await.unwrap(), None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_of_different_rooms_are_independent() {
    let redis = RedisServer::start();
    let a = node(&redis, "a").await;
    let b = node(&redis, "b").await;
    let x = a.authority().claim("x").await.unwrap();
    let y = b.authority().claim("y").await.unwrap();
    assert!(x.is_won() && y.is_won());
    assert_eq!(x.home().node, id("a"));
    assert_eq!(y.home().node, id("b"));
    // A second claim by the owner itself reports the existing home.
    assert_eq!(
        a.authority().claim("x").await.unwrap(),
        Claim::Held(x.home().clone())
    );
    assert_eq!(
        a.authority().owned(),
        vec![("x".to_owned(), x.home().epoch)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_by_a_non_owner_or_with_a_stale_epoch_is_refused() {
    let redis = RedisServer::start();
    let a = node(&redis, "a").await;
    let b = node(&redis, "b").await;
    let home = a.authority().claim("room").await.unwrap().home().clone();
    assert_eq!(home.node, id("a"));

    assert!(!b.authority().release("room", home.epoch).await.unwrap());
    assert!(!a.authority().release("room", home.epoch + 1).await.unwrap());
    assert_eq!(
        b.authority().lookup("room").await.unwrap(),
        Some(home.clone())
    );
    // The refused release with another epoch did not stop the renewal of the real claim.
    assert_eq!(a.authority().owned_epoch("room"), Some(home.epoch));

    assert!(a.authority().release("room", home.epoch).await.unwrap());
    assert_eq!(b.authority().lookup("room").await.unwrap(), None);
    assert_eq!(a.authority().owned_epoch("room"), None);
    // Releasing twice deletes nothing.
    assert!(!a.authority().release("room", home.epoch).await.unwrap());

    let next = b.authority().claim("room").await.unwrap();
    assert!(next.is_won());
    assert!(next.home().epoch > home.epoch);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_taken_over_is_reported_lost_at_the_next_renewal() {
    let redis = RedisServer::start();
    let a = node(&redis, "a").await;
    let mut events = a.authority().events();
    let home = a.authority().claim("room").await.unwrap().home().clone();
    // Someone else's record (as if a's lease had expired and b had claimed with a new epoch).
    let mut raw = redis.raw().await;
    let _: () = raw
        .set("huddle:room:room:home", format!("{}:b", home.epoch + 1))
        .await
        .unwrap();
    assert!(!a.authority().renew("room", home.epoch).await.unwrap());
    let event = tokio::time::timeout(support::SOON, events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        event,
        cluster::AuthorityEvent::Lost {
            room: "room".into(),
            epoch: home.epoch
        }
    );
    assert_eq!(a.authority().owned_epoch("room"), None);
    // b's record is untouched.
    let stored: String = raw.get("huddle:room:room:home").await.unwrap();
    assert_eq!(stored, format!("{}:b", home.epoch + 1));
}
