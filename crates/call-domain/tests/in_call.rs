//! Tests of the in-call state of [`call_domain::CallState`]: producers' paused flags, sources
//! and application data, the `createRoom` snapshot, and `consumerLayersChanged`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use call_domain::{CallError, ProducerMeta, ProducerView};
use common::{Live, State, Tracker, join_req, names, online, only, pinfo, socks};
use serde_json::json;
use signal_proto::ProducerSource;
use signal_proto::requests::TransportDirection;
use signal_proto::responses::{ParticipantProducer, RoomParticipant};

const SEND: TransportDirection = TransportDirection::Send;
const RECV: TransportDirection = TransportDirection::Recv;

/// `s1`/`s2`/`s3` as users 1/2/3 in room `r1`; s1 sends transport `t1`, s2 receives on `t2`.
fn room(t: &Tracker) -> State {
    let mut st = State::new();
    for (s, u) in [("s1", "1"), ("s2", "2"), ("s3", "3")] {
        online(&mut st, s, u);
        st.join_room(s, join_req(t, "r1", u, &["1", "2", "3"]))
            .unwrap();
    }
    for (s, id, dir) in [("s1", "t1", SEND), ("s2", "t2", RECV)] {
        let (_, epoch) = st.transport_target(s).unwrap();
        st.add_transport(s, epoch, id.into(), dir, t.transport())
            .unwrap();
    }
    st
}

fn produce_with(
    st: &mut State,
    t: &Tracker,
    socket: &str,
    id: &str,
    kind: &str,
    meta: ProducerMeta,
) -> Vec<call_domain::Effect> {
    let transport = if socket == "s1" { "t1" } else { "t2" };
    let (_, epoch) = st.transport(socket, transport).unwrap();
    st.add_producer_with(socket, epoch, id.into(), kind.into(), meta, t.producer())
        .unwrap()
}

fn consume(st: &mut State, t: &Tracker, socket: &str, id: &str, producer: &str) -> u64 {
    let target = st.consume_target(socket, "t2", producer).unwrap();
    st.add_consumer(
        socket,
        target.epoch,
        id.into(),
        producer.into(),
        t.consumer(),
    )
    .unwrap();
    target.epoch
}

fn epoch_of(st: &State, socket: &str) -> u64 {
    st.transport_target(socket).unwrap().1
}

fn screen() -> ProducerMeta {
    ProducerMeta {
        source: ProducerSource::Screen,
        app_data: json!({"source": "screen", "label": "Alice's screen"}),
    }
}

#[test]
fn new_producer_carries_source_app_data_and_not_paused() {
    let t = Tracker::new();
    let mut st = room(&t);
    let fx = produce_with(&mut st, &t, "s1", "p1", "video", screen());
    let (to, payload) = only(&fx, "newProducer");
    assert_eq!(to, socks(&["s2", "s3"]));
    assert_eq!(
        payload,
        json!({"producerId": "p1", "kind": "video", "socketId": "s1",
               "participantInfo": {"userId": "1", "name": "User 1", "avatar": null},
               "paused": false, "source": "screen",
               "appData": {"source": "screen", "label": "Alice's screen"}})
    );
    // getProducers shows the same.
    let entries = st.producers("s2").unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].source, ProducerSource::Screen);
    assert!(!entries[0].paused);
    assert_eq!(
        entries[0].app_data,
        json!({"source": "screen", "label": "Alice's screen"})
    );
}

#[test]
fn add_producer_defaults_the_source_by_kind() {
    let t = Tracker::new();
    let mut st = room(&t);
    let (_, epoch) = st.transport("s1", "t1").unwrap();
    st.add_producer("s1", epoch, "pa".into(), "audio".into(), t.producer())
        .unwrap();
    st.add_producer("s1", epoch, "pv".into(), "video".into(), t.producer())
        .unwrap();
    let sources: Vec<_> = st
        .producers("s3")
        .unwrap()
        .into_iter()
        .map(|e| (e.id, e.source, e.app_data))
        .collect();
    assert_eq!(
        sources,
        vec![
            ("pa".into(), ProducerSource::Microphone, json!({})),
            ("pv".into(), ProducerSource::Camera, json!({})),
        ]
    );
}

#[test]
fn pause_and_resume_announce_once_to_the_others() {
    let t = Tracker::new();
    let mut st = room(&t);
    produce_with(
        &mut st,
        &t,
        "s1",
        "p1",
        "audio",
        ProducerMeta::default_for("audio"),
    );
    let (_, epoch) = st.own_producer("s1", "p1").unwrap();

    let fx = st.set_producer_paused("s1", epoch, "p1", true).unwrap();
    assert_eq!(names(&fx), ["producerPaused"]);
    let (to, payload) = only(&fx, "producerPaused");
    assert_eq!(to, socks(&["s2", "s3"]));
    assert_eq!(
        payload,
        json!({"producerId": "p1", "socketId": "s1", "kind": "audio"})
    );
    assert!(st.producers("s2").unwrap()[0].paused);
    assert_eq!(
        st.room(st.room_of("s1").unwrap())
            .unwrap()
            .participants()
            .map(|p| p.paused_producer_count())
            .sum::<usize>(),
        1
    );

    // Idempotent: a second pause succeeds and emits nothing.
    assert!(
        st.set_producer_paused("s1", epoch, "p1", true)
            .unwrap()
            .is_empty()
    );

    let fx = st.set_producer_paused("s1", epoch, "p1", false).unwrap();
    let (to, payload) = only(&fx, "producerResumed");
    assert_eq!(to, socks(&["s2", "s3"]));
    assert_eq!(
        payload,
        json!({"producerId": "p1", "socketId": "s1", "kind": "audio"})
    );
    assert!(!st.producers("s2").unwrap()[0].paused);
    assert!(
        st.set_producer_paused("s1", epoch, "p1", false)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn only_own_producers_can_be_paused() {
    let t = Tracker::new();
    let mut st = room(&t);
    produce_with(
        &mut st,
        &t,
        "s1",
        "p1",
        "video",
        ProducerMeta::default_for("video"),
    );
    assert_eq!(
        st.own_producer("s2", "p1").map(|_| ()),
        Err(CallError::ProducerNotFound)
    );
    assert_eq!(
        st.own_producer("s2", "nope").map(|_| ()),
        Err(CallError::ProducerNotFound)
    );
    assert_eq!(
        st.own_producer("nobody", "p1").map(|_| ()),
        Err(CallError::ParticipantNotFound)
    );
    let e2 = epoch_of(&st, "s2");
    assert_eq!(
        st.set_producer_paused("s2", e2, "p1", true),
        Err(CallError::ProducerNotFound)
    );
    assert!(!st.producers("s1").unwrap()[0].paused, "nothing changed");
}

#[test]
fn a_pause_result_after_leave_or_close_is_refused() {
    let t = Tracker::new();
    let mut st = room(&t);
    produce_with(
        &mut st,
        &t,
        "s1",
        "p1",
        "audio",
        ProducerMeta::default_for("audio"),
    );
    let (_, epoch) = st.own_producer("s1", "p1").unwrap();
    st.close_producer("s1", "p1").unwrap();
    assert_eq!(
        st.set_producer_paused("s1", epoch, "p1", true),
        Err(CallError::ProducerNotFound)
    );
    produce_with(
        &mut st,
        &t,
        "s1",
        "p2",
        "audio",
        ProducerMeta::default_for("audio"),
    );
    st.leave_room("s1");
    assert_eq!(
        st.set_producer_paused("s1", epoch, "p2", true),
        Err(CallError::ParticipantNotFound)
    );
    // Rejoined: a new epoch, the old one's result does not apply.
    st.join_room("s1", join_req(&t, "r1", "1", &["1", "2", "3"]))
        .unwrap();
    assert_eq!(
        st.set_producer_paused("s1", epoch, "p2", true),
        Err(CallError::ParticipantNotFound)
    );
}

#[test]
fn producer_view_reports_the_paused_flag_and_app_data() {
    let t = Tracker::new();
    let mut st = room(&t);
    produce_with(&mut st, &t, "s1", "p1", "video", screen());
    let (_, epoch) = st.own_producer("s1", "p1").unwrap();
    st.set_producer_paused("s1", epoch, "p1", true).unwrap();
    consume(&mut st, &t, "s2", "c1", "p1");
    assert_eq!(
        st.producer_view("s2", "p1"),
        Some(ProducerView {
            socket: "s1".into(),
            kind: "video".into(),
            paused: true,
            meta: screen(),
        })
    );
    assert_eq!(st.producer_view("s2", "nope"), None);
    assert_eq!(st.producer_view("outsider", "p1"), None);
}

#[test]
fn snapshot_lists_the_other_participants_with_their_producers() {
    let t = Tracker::new();
    let mut st = room(&t);
    produce_with(
        &mut st,
        &t,
        "s1",
        "p1",
        "audio",
        ProducerMeta::default_for("audio"),
    );
    produce_with(&mut st, &t, "s1", "p2", "video", screen());
    let (_, epoch) = st.own_producer("s1", "p1").unwrap();
    st.set_producer_paused("s1", epoch, "p1", true).unwrap();

    let info = |u: &str| pinfo(u);
    let s1 = RoomParticipant {
        socket_id: "s1".into(),
        participant_info: info("1"),
        producers: vec![
            ParticipantProducer {
                id: "p1".into(),
                kind: "audio".into(),
                source: ProducerSource::Microphone,
                paused: true,
            },
            ParticipantProducer {
                id: "p2".into(),
                kind: "video".into(),
                source: ProducerSource::Screen,
                paused: false,
            },
        ],
    };
    let bare = |s: &str, u: &str| RoomParticipant {
        socket_id: s.into(),
        participant_info: info(u),
        producers: vec![],
    };
    // Everyone but the asking socket, in join order, participants without producers included.
    assert_eq!(
        st.room_snapshot_for("s3").unwrap(),
        vec![s1.clone(), bare("s2", "2")]
    );
    assert_eq!(
        st.room_snapshot_for("s1").unwrap(),
        vec![bare("s2", "2"), bare("s3", "3")]
    );
    assert_eq!(
        st.room_snapshot_for("nobody").map(|_| ()),
        Err(CallError::ParticipantNotFound)
    );

    // A late joiner sees the call as it is; a lone participant sees nobody.
    online(&mut st, "s4", "4");
    st.join_room("s4", join_req(&t, "r1", "4", &[])).unwrap();
    assert_eq!(
        st.room_snapshot_for("s4").unwrap(),
        vec![s1, bare("s2", "2"), bare("s3", "3")]
    );
    online(&mut st, "s9", "9");
    st.join_room("s9", join_req(&t, "r9", "9", &["9"])).unwrap();
    assert_eq!(st.room_snapshot_for("s9").unwrap(), vec![]);
}

#[test]
fn snapshot_forgets_closed_producers_and_leavers() {
    let t = Tracker::new();
    let mut st = room(&t);
    produce_with(
        &mut st,
        &t,
        "s1",
        "p1",
        "audio",
        ProducerMeta::default_for("audio"),
    );
    st.close_producer("s1", "p1").unwrap();
    let snap = st.room_snapshot_for("s3").unwrap();
    assert_eq!(snap[0].socket_id, "s1");
    assert!(snap[0].producers.is_empty());
    st.leave_room("s1");
    let sockets: Vec<_> = st
        .room_snapshot_for("s3")
        .unwrap()
        .into_iter()
        .map(|p| p.socket_id)
        .collect();
    assert_eq!(sockets, ["s2"]);
}

#[test]
fn consumer_layers_changed_goes_to_the_owner_while_the_consumer_lives() {
    let t = Tracker::new();
    let mut st = room(&t);
    produce_with(
        &mut st,
        &t,
        "s1",
        "p1",
        "video",
        ProducerMeta::default_for("video"),
    );
    let epoch = consume(&mut st, &t, "s2", "c1", "p1");

    let fx = st.consumer_layers_changed("s2", epoch, "c1", Some((2, Some(1))));
    let (to, payload) = only(&fx, "consumerLayersChanged");
    assert_eq!(to, socks(&["s2"]));
    assert_eq!(
        payload,
        json!({"consumerId": "c1", "spatialLayer": 2, "temporalLayer": 1})
    );
    let fx = st.consumer_layers_changed("s2", epoch, "c1", Some((0, None)));
    assert_eq!(
        only(&fx, "consumerLayersChanged").1,
        json!({"consumerId": "c1", "spatialLayer": 0, "temporalLayer": null})
    );
    let fx = st.consumer_layers_changed("s2", epoch, "c1", None);
    assert_eq!(
        only(&fx, "consumerLayersChanged").1,
        json!({"consumerId": "c1", "spatialLayer": null, "temporalLayer": null})
    );
    // Wrong epoch, unknown consumer, someone else's socket: nothing.
    assert!(
        st.consumer_layers_changed("s2", epoch + 100, "c1", None)
            .is_empty()
    );
    assert!(
        st.consumer_layers_changed("s2", epoch, "c9", None)
            .is_empty()
    );
    assert!(
        st.consumer_layers_changed("s3", epoch_of(&st, "s3"), "c1", None)
            .is_empty()
    );
    // Once the producer closed, its consumers are gone and so are their reports.
    st.close_producer("s1", "p1").unwrap();
    assert!(
        st.consumer_layers_changed("s2", epoch, "c1", None)
            .is_empty()
    );
}

#[test]
fn leaving_drops_every_producer_and_its_state() {
    let t = Tracker::new();
    let mut st = room(&t);
    produce_with(&mut st, &t, "s1", "p1", "video", screen());
    let (_, epoch) = st.own_producer("s1", "p1").unwrap();
    st.set_producer_paused("s1", epoch, "p1", true).unwrap();
    consume(&mut st, &t, "s2", "c1", "p1");
    assert_eq!(t.live().producers, 1);
    assert_eq!(t.live().consumers, 1);
    st.disconnect("s1");
    assert_eq!(
        t.live(),
        Live {
            routers: t.live().routers,
            transports: 1,
            producers: 0,
            consumers: 0,
        }
    );
    assert!(st.producers("s2").unwrap().is_empty());
    assert_eq!(st.producer_view("s2", "p1"), None);
    for s in ["s2", "s3"] {
        st.disconnect(s);
    }
    assert_eq!(t.live(), Live::default());
}

#[test]
fn dominant_speaker_goes_to_the_room_once_per_change_and_shows_in_the_snapshot() {
    let t = Tracker::new();
    let mut st = room(&t);
    produce_with(
        &mut st,
        &t,
        "s1",
        "a1",
        "audio",
        ProducerMeta::default_for("audio"),
    );
    assert_eq!(st.active_speaker("r1"), None);
    let fx = st.speaker_changed("r1", "a1");
    let (to, payload) = only(&fx, "activeSpeaker");
    assert_eq!(
        to,
        socks(&["s1", "s2", "s3"]),
        "everyone, the speaker included"
    );
    assert_eq!(
        payload,
        json!({"roomId": "r1", "socketId": "s1", "userId": "1", "producerId": "a1"})
    );
    assert!(st.speaker_changed("r1", "a1").is_empty(), "no repeat");
    let speaker = st.active_speaker("r1").unwrap();
    assert_eq!(
        (speaker.socket_id.as_str(), speaker.producer_id.as_str()),
        ("s1", "a1")
    );
    // Unknown producers and rooms change nothing.
    assert!(st.speaker_changed("r1", "nope").is_empty());
    assert!(st.speaker_changed("r9", "a1").is_empty());
    assert_eq!(st.active_speaker("r1").unwrap().producer_id, "a1");
    // A paused producer is nobody's voice: not reported, and not in the snapshot.
    let epoch = epoch_of(&st, "s1");
    st.set_producer_paused("s1", epoch, "a1", true).unwrap();
    assert_eq!(
        st.active_speaker("r1"),
        None,
        "a muted speaker is not shown"
    );
    produce_with(
        &mut st,
        &t,
        "s2",
        "a2",
        "audio",
        ProducerMeta::default_for("audio"),
    );
    let epoch2 = epoch_of(&st, "s2");
    st.set_producer_paused("s2", epoch2, "a2", true).unwrap();
    assert!(
        st.speaker_changed("r1", "a2").is_empty(),
        "a paused producer never speaks"
    );
    st.set_producer_paused("s1", epoch, "a1", false).unwrap();
    assert_eq!(st.active_speaker("r1").unwrap().producer_id, "a1");
    // The speaker's producer closes: no stale speaker in the snapshot.
    st.close_producer("s1", "a1").unwrap();
    assert_eq!(st.active_speaker("r1"), None);
}

#[test]
fn audio_levels_name_the_owners_and_drop_unknown_producers() {
    let t = Tracker::new();
    let mut st = room(&t);
    produce_with(
        &mut st,
        &t,
        "s1",
        "a1",
        "audio",
        ProducerMeta::default_for("audio"),
    );
    let fx = st.audio_levels("r1", &[("a1".into(), -12), ("gone".into(), -20)]);
    let (to, payload) = only(&fx, "audioLevels");
    assert_eq!(to, socks(&["s1", "s2", "s3"]));
    assert_eq!(
        payload,
        json!({"roomId": "r1", "levels": [
            {"socketId": "s1", "userId": "1", "producerId": "a1", "volume": -12}
        ]})
    );
    let (_, silence) = only(&st.audio_levels("r1", &[]), "audioLevels");
    assert_eq!(silence, json!({"roomId": "r1", "levels": []}));
    assert!(st.audio_levels("r9", &[]).is_empty());
}

#[test]
fn connection_quality_thresholds_and_changes() {
    use call_domain::quality_of;
    use signal_proto::server_events::Quality;
    assert_eq!(quality_of(Some(10), true), Quality::Excellent);
    assert_eq!(quality_of(Some(7), true), Quality::Excellent);
    assert_eq!(quality_of(Some(6), true), Quality::Good);
    assert_eq!(quality_of(Some(4), true), Quality::Good);
    assert_eq!(quality_of(Some(3), true), Quality::Poor);
    assert_eq!(quality_of(None, true), Quality::Excellent);
    assert_eq!(quality_of(Some(10), false), Quality::Lost);

    let t = Tracker::new();
    let mut st = room(&t);
    // Only participants with a transport are measured.
    let measured: Vec<String> = st.quality_inputs().into_iter().map(|q| q.socket).collect();
    assert_eq!(
        socks(&measured.iter().map(String::as_str).collect::<Vec<_>>()),
        socks(&["s1", "s2"])
    );
    let epoch = epoch_of(&st, "s2");
    assert!(
        st.set_quality("s2", epoch, Quality::Excellent).is_empty(),
        "a healthy start is not announced"
    );
    let fx = st.set_quality("s2", epoch, Quality::Poor);
    let (to, payload) = only(&fx, "connectionQuality");
    assert_eq!(to, socks(&["s1", "s2", "s3"]));
    assert_eq!(
        payload,
        json!({"roomId": "r1", "socketId": "s2", "userId": "2", "quality": "poor"})
    );
    assert!(
        st.set_quality("s2", epoch, Quality::Poor).is_empty(),
        "no repeat"
    );
    assert_eq!(st.quality("s2"), Some(Quality::Poor));
    assert!(
        st.set_quality("s2", epoch + 1, Quality::Lost).is_empty(),
        "stale epoch"
    );
    let (_, back) = only(
        &st.set_quality("s2", epoch, Quality::Excellent),
        "connectionQuality",
    );
    assert_eq!(back["quality"], "excellent");
}
