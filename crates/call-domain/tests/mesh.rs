//! Mesh rooms: join, re-join, switch, size limit, leave, disconnect, relays (and their
//! isolation), track updates, invitations, availability.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use call_domain::{
    CallError, ConversationRecord, DisplayPolicy, Effect, OutEvent, PeerLimits, Roster, UserRecord,
};
use common::*;
use serde_json::json;
use signal_proto::mesh::{SignalKind, TrackUpdate};

/// Users 1..=4 on sockets s1..s4; mesh rooms of at most 3.
fn world() -> State {
    let mut st = State::new().with_peer_limits(PeerLimits {
        mesh_max_participants: 3,
        ..PeerLimits::default()
    });
    for u in 1..=4 {
        online(&mut st, &format!("s{u}"), &u.to_string());
    }
    st
}

fn join(st: &mut State, socket: &str, room: &str) -> (OutEvent, Vec<Effect>) {
    let user = st.user_of(socket).unwrap().to_owned();
    st.mesh_join(socket, room, pinfo(&user), TrackUpdate::default())
        .unwrap()
}

fn peer(user: &str, socket: &str, audio: bool, video: bool) -> serde_json::Value {
    json!({"userId": user, "socketId": socket,
           "participantInfo": {"userId": user, "name": format!("User {user}"), "avatar": null},
           "tracks": {"audio": audio, "video": video}})
}

#[test]
fn first_join_creates_the_room() {
    let mut st = world();
    assert_eq!(st.check_mesh_join("s1", Some("r")), Ok("1".to_owned()));
    let (view, fx) = join(&mut st, "s1", "r");
    assert_eq!(view.name(), "groupcall:joined");
    assert_eq!(
        view.payload(),
        json!({"roomId": "r", "participants": [], "maxParticipants": 3})
    );
    assert!(fx.is_empty());
    assert_eq!(st.mesh().room_of("s1"), Some("r"));
    assert_eq!(st.mesh().room("r").map(|r| r.participant_count()), Some(1));
    assert!(st.in_call("1"));
    assert!(!st.is_available("1"));
}

#[test]
fn joiner_sees_others_with_track_state_and_others_see_the_joiner() {
    let mut st = world();
    join(&mut st, "s1", "r");
    st.mesh_update_tracks(
        "s1",
        Some("r"),
        TrackUpdate {
            audio: Some(false),
            video: None,
        },
    )
    .unwrap();
    let (view, fx) = st
        .mesh_join(
            "s2",
            "r",
            pinfo("2"),
            TrackUpdate {
                audio: None,
                video: Some(false),
            },
        )
        .unwrap();
    assert_eq!(
        view.payload()["participants"],
        json!([peer("1", "s1", false, true)])
    );
    let (to, payload) = only(&fx, "groupcall:participant-joined");
    assert_eq!(to, socks(&["s1"]));
    let mut expected = peer("2", "s2", true, false);
    expected["roomId"] = json!("r");
    assert_eq!(payload, expected);
}

#[test]
fn rejoin_same_room_is_idempotent() {
    let mut st = world();
    join(&mut st, "s1", "r");
    join(&mut st, "s2", "r");
    let (view, fx) = join(&mut st, "s2", "r");
    assert!(fx.is_empty());
    assert_eq!(
        view.payload()["participants"],
        json!([peer("1", "s1", true, true)])
    );
    assert_eq!(st.mesh().room("r").map(|r| r.participant_count()), Some(2));
}

#[test]
fn joining_another_room_leaves_the_first() {
    let mut st = world();
    join(&mut st, "s1", "r");
    join(&mut st, "s2", "r");
    let (_, fx) = join(&mut st, "s2", "q");
    assert_eq!(
        emits(&fx),
        vec![(
            "groupcall:participant-left",
            socks(&["s1"]),
            json!({"roomId": "r", "userId": "2", "socketId": "s2"})
        )]
    );
    assert_eq!(st.mesh().room_of("s2"), Some("q"));
    assert_eq!(st.mesh().room("r").map(|r| r.participant_count()), Some(1));
}

#[test]
fn size_limit_points_to_the_sfu() {
    let mut st = world();
    for s in ["s1", "s2", "s3"] {
        join(&mut st, s, "r");
    }
    join(&mut st, "s4", "q");
    let err = CallError::MeshRoomFull(3);
    assert_eq!(st.check_mesh_join("s4", Some("r")), Err(err.clone()));
    assert_eq!(
        st.mesh_join("s4", "r", pinfo("4"), TrackUpdate::default()),
        Err(err.clone())
    );
    assert!(err.to_string().contains("createRoom"), "{err}");
    assert!(err.to_string().contains('3'), "{err}");
    // Nothing changed: s4 is still in its own room.
    assert_eq!(st.mesh().room_of("s4"), Some("q"));
    assert_eq!(st.mesh().room("r").map(|r| r.participant_count()), Some(3));
    // A participant may re-join a full room.
    assert_eq!(st.check_mesh_join("s3", Some("r")), Ok("3".to_owned()));
    // Room opens up after a leave.
    st.mesh_leave("s1", Some("r")).unwrap();
    assert!(
        st.mesh_join("s4", "r", pinfo("4"), TrackUpdate::default())
            .is_ok()
    );
}

#[test]
fn check_join_needs_room_id_and_registration() {
    let mut st = world();
    st.connect("anon");
    assert_eq!(
        st.check_mesh_join("s1", None),
        Err(CallError::RoomIdRequired)
    );
    assert_eq!(
        st.check_mesh_join("s1", Some("")),
        Err(CallError::RoomIdRequired)
    );
    assert_eq!(
        st.check_mesh_join("anon", Some("r")),
        Err(CallError::JoinFirst)
    );
    assert_eq!(
        st.mesh_join("anon", "r", pinfo("x"), TrackUpdate::default()),
        Err(CallError::JoinFirst)
    );
    assert!(st.mesh().room_ids().is_empty());
}

#[test]
fn leave_announces_and_last_leave_removes_the_room() {
    let mut st = world();
    join(&mut st, "s1", "r");
    join(&mut st, "s2", "r");
    assert_eq!(
        st.mesh_leave("s3", Some("r")),
        Err(CallError::NotInMeshRoom)
    );
    assert_eq!(
        st.mesh_leave("s1", Some("q")),
        Err(CallError::NotInMeshRoom)
    );
    let fx = st.mesh_leave("s1", Some("r")).unwrap();
    assert_eq!(
        emits(&fx),
        vec![(
            "groupcall:participant-left",
            socks(&["s2"]),
            json!({"roomId": "r", "userId": "1", "socketId": "s1"})
        )]
    );
    assert!(st.is_available("1"));
    let fx = st.mesh_leave("s2", None).unwrap();
    assert!(fx.is_empty());
    assert!(st.mesh().room("r").is_none());
    assert_eq!(st.mesh().participant_total(), 0);
    assert_eq!(st.mesh_leave("s2", None), Err(CallError::NotInMeshRoom));
}

#[test]
fn disconnect_leaves_the_mesh_room() {
    let mut st = world();
    join(&mut st, "s1", "r");
    join(&mut st, "s2", "r");
    let fx = st.disconnect("s2");
    assert_eq!(
        emits(&fx),
        vec![(
            "groupcall:participant-left",
            socks(&["s1"]),
            json!({"roomId": "r", "userId": "2", "socketId": "s2"})
        )]
    );
    assert_eq!(st.mesh().room_of("s2"), None);
    st.disconnect("s1");
    assert!(st.mesh().room_ids().is_empty());
}

#[test]
fn relays_carry_the_sender_and_stay_in_the_room() {
    let mut st = world();
    join(&mut st, "s1", "r");
    join(&mut st, "s2", "r");
    join(&mut st, "s3", "q");
    let offer = json!({"type": "offer", "sdp": "v=0"});
    for (kind, field, event) in [
        (SignalKind::Offer, "offer", "groupcall:webrtc-offer"),
        (SignalKind::Answer, "answer", "groupcall:webrtc-answer"),
        (
            SignalKind::IceCandidate,
            "candidate",
            "groupcall:webrtc-ice-candidate",
        ),
    ] {
        let fx = st
            .mesh_relay("s1", Some("r"), Some("2"), None, kind, offer.clone())
            .unwrap();
        let mut expected = json!({"roomId": "r", "senderId": "1", "senderSocketId": "s1"});
        expected[field] = offer.clone();
        assert_eq!(emits(&fx), vec![(event, socks(&["s2"]), expected)]);
    }
    // Isolation: to someone in another room, from another room, from nowhere, to oneself.
    let relay = |st: &State, s: &str, room: Option<&str>, to: Option<&str>| {
        st.mesh_relay(s, room, to, None, SignalKind::Offer, offer.clone())
    };
    assert_eq!(
        relay(&st, "s1", Some("r"), Some("3")),
        Err(CallError::TargetNotInMeshRoom)
    );
    assert_eq!(
        relay(&st, "s3", Some("r"), Some("1")),
        Err(CallError::NotInMeshRoom)
    );
    assert_eq!(
        relay(&st, "s3", None, Some("1")),
        Err(CallError::TargetNotInMeshRoom)
    );
    assert_eq!(
        relay(&st, "s4", Some("r"), Some("1")),
        Err(CallError::NotInMeshRoom)
    );
    assert_eq!(
        relay(&st, "s4", None, Some("1")),
        Err(CallError::NotInMeshRoom)
    );
    assert_eq!(
        relay(&st, "s1", None, Some("1")),
        Err(CallError::TargetNotInMeshRoom)
    );
    assert_eq!(relay(&st, "s1", None, None), Err(CallError::TargetRequired));
    // Without roomId the sender's room is used.
    assert!(relay(&st, "s2", None, Some("1")).is_ok());
}

#[test]
fn relay_to_a_user_with_two_devices() {
    let mut st = world();
    online(&mut st, "s1b", "1");
    join(&mut st, "s1", "r");
    join(&mut st, "s1b", "r");
    join(&mut st, "s2", "r");
    let v = json!({"candidate": "c"});
    let fx = st
        .mesh_relay(
            "s2",
            None,
            Some("1"),
            None,
            SignalKind::IceCandidate,
            v.clone(),
        )
        .unwrap();
    assert_eq!(
        only(&fx, "groupcall:webrtc-ice-candidate").0,
        socks(&["s1", "s1b"])
    );
    let fx = st
        .mesh_relay(
            "s2",
            None,
            Some("1"),
            Some("s1b"),
            SignalKind::IceCandidate,
            v.clone(),
        )
        .unwrap();
    assert_eq!(
        only(&fx, "groupcall:webrtc-ice-candidate").0,
        socks(&["s1b"])
    );
    // One device of a user may talk to the user's other device.
    let fx = st
        .mesh_relay(
            "s1",
            None,
            Some("1"),
            None,
            SignalKind::IceCandidate,
            v.clone(),
        )
        .unwrap();
    assert_eq!(
        only(&fx, "groupcall:webrtc-ice-candidate").0,
        socks(&["s1b"])
    );
    assert_eq!(
        st.mesh_relay("s2", None, Some("1"), Some("s4"), SignalKind::Offer, v),
        Err(CallError::TargetNotInMeshRoom)
    );
}

#[test]
fn track_updates_merge_and_go_to_the_others() {
    let mut st = world();
    join(&mut st, "s1", "r");
    join(&mut st, "s2", "r");
    let fx = st
        .mesh_update_tracks(
            "s2",
            Some("r"),
            TrackUpdate {
                audio: Some(false),
                video: None,
            },
        )
        .unwrap();
    assert_eq!(
        emits(&fx),
        vec![(
            "groupcall:tracks-updated",
            socks(&["s1"]),
            json!({"roomId": "r", "userId": "2", "socketId": "s2",
                   "tracks": {"audio": false, "video": true}})
        )]
    );
    let fx = st
        .mesh_update_tracks(
            "s2",
            None,
            TrackUpdate {
                audio: None,
                video: Some(false),
            },
        )
        .unwrap();
    assert_eq!(
        only(&fx, "groupcall:tracks-updated").1["tracks"],
        json!({"audio": false, "video": false})
    );
    let (view, _) = join(&mut st, "s3", "r");
    assert_eq!(
        view.payload()["participants"],
        json!([peer("1", "s1", true, true), peer("2", "s2", false, false)])
    );
    assert_eq!(
        st.mesh_update_tracks("s4", None, TrackUpdate::default()),
        Err(CallError::NotInMeshRoom)
    );
    assert_eq!(
        st.mesh_update_tracks("s1", Some("q"), TrackUpdate::default()),
        Err(CallError::NotInMeshRoom)
    );
}

fn roster() -> Roster {
    let user = |id: &str, name: &str| UserRecord {
        id: id.into(),
        name: Some(name.into()),
        avatar: None,
        fcm_tokens: vec![],
    };
    Roster {
        conversation: ConversationRecord {
            id: "r".into(),
            name: Some("Team".into()),
            avatar: Some("team.png".into()),
        },
        members: vec![user("1", "Ann"), user("2", "Ben"), user("3", "Cid")],
    }
}

#[test]
fn invitation_rings_members_not_in_the_room() {
    let mut st = world();
    online(&mut st, "s3b", "3");
    let display = DisplayPolicy {
        avatar_base_url: "https://cdn.test".into(),
    };
    join(&mut st, "s1", "r");
    join(&mut st, "s2", "r");
    let (count, fx) = st
        .mesh_invite("s1", &roster(), "audio", None, &display)
        .unwrap();
    assert_eq!(count, 1);
    assert_eq!(
        emits(&fx),
        vec![(
            "groupcall:invitation",
            socks(&["s3", "s3b"]),
            json!({"roomId": "r", "conversationId": "r", "callerId": "1", "callType": "audio",
                   "mode": "mesh",
                   "callerInfo": {"id": 1, "name": "Ann", "avatar": null},
                   "conversationInfo": {"id": "r", "name": "Team",
                                        "avatar": "https://cdn.test/team.png"}})
        )]
    );
    // Targets narrow the list; non-members among them are ignored.
    let (count, fx) = st
        .mesh_invite("s1", &roster(), "video", Some(&["4".into()]), &display)
        .unwrap();
    assert_eq!(count, 0);
    assert!(fx.is_empty());
    // Invitations work before joining too; the inviter is never rung.
    let (count, fx) = st
        .mesh_invite(
            "s3",
            &roster(),
            "video",
            Some(&["3".into(), "2".into()]),
            &display,
        )
        .unwrap();
    assert_eq!(count, 0, "2 is in the room, 3 is the inviter: {fx:?}");
    assert_eq!(
        st.mesh_invite("s4", &roster(), "video", None, &display)
            .map(|r| r.0),
        Err(CallError::NotInGroup)
    );
    st.connect("anon");
    assert_eq!(
        st.mesh_invite("anon", &roster(), "video", None, &display)
            .map(|r| r.0),
        Err(CallError::JoinFirst)
    );
}

#[test]
fn room_full_error_string() {
    assert_eq!(
        CallError::MeshRoomFull(6).to_string(),
        "Mesh room is full (at most 6 participants): use the SFU group call (createRoom) instead"
    );
    assert_eq!(
        CallError::NotInMeshRoom.to_string(),
        "Not in this mesh room"
    );
    assert_eq!(
        CallError::TargetNotInMeshRoom.to_string(),
        "Target user is not in this mesh room"
    );
}
