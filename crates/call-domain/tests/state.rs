//! Tests of [`call_domain::CallState`]: every transition and every error, the effects and
//! their wire payloads, and RAII of media handles (counted through a test `Media`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use call_domain::{
    CallError, ConversationRecord, DisplayPolicy, Effect, OutEvent, PushRequest, Roster, Stats,
    UserRecord,
};
use common::{
    Live, State, Tracker, cinfo, emits, events, join_req, names, online, only, pinfo, socks,
};
use serde_json::json;
use signal_proto::errors as wire;
use signal_proto::ids::NumericId;
use signal_proto::requests::{CallType, TransportDirection};
use signal_proto::responses::{ActiveCall, ActiveCallsResponse, ProducerEntry};
use signal_proto::server_events::{
    GroupCallEnded, GroupCallError, GroupCallIncoming, GroupCallStarted, NewProducer,
    ParticipantLeft, ProducerClosed,
};
use signal_proto::{CallerInfo, ConversationInfo, ProducerSource};

const SEND: TransportDirection = TransportDirection::Send;
const RECV: TransportDirection = TransportDirection::Recv;

/// Asserts an error's variant and its wire string.
fn assert_err<T: std::fmt::Debug>(r: Result<T, CallError>, want: &CallError, wire: &str) {
    match r {
        Ok(v) => panic!("expected {want:?}, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(&e, want);
            assert_eq!(e.to_string(), wire);
        }
    }
}

/// `s1`/`s2`/`s3` joined as users 1/2/3 and in room `r1` (members 1, 2, 3).
fn three_in_room(t: &Tracker) -> State {
    let mut st = State::new();
    for (s, u) in [("s1", "1"), ("s2", "2"), ("s3", "3")] {
        online(&mut st, s, u);
        st.join_room(s, join_req(t, "r1", u, &["1", "2", "3"]))
            .unwrap();
    }
    st
}

/// [`three_in_room`], with s1 sending audio `p1` on transport `t1` and s2 receiving it as
/// consumer `c1` on transport `t2`.
fn three_with_media(t: &Tracker) -> State {
    let mut st = three_in_room(t);
    add_transport(&mut st, t, "s1", "t1", SEND);
    add_transport(&mut st, t, "s2", "t2", RECV);
    produce(&mut st, t, "s1", "t1", "p1", "audio");
    consume(&mut st, t, "s2", "t2", "c1", "p1");
    st
}

/// Create a transport for `socket` through the public flow (`transport_target` + `add_transport`).
fn add_transport(st: &mut State, t: &Tracker, socket: &str, id: &str, dir: TransportDirection) {
    let (_, epoch) = st.transport_target(socket).unwrap();
    st.add_transport(socket, epoch, id.into(), dir, t.transport())
        .unwrap();
}

/// Produce on `socket` through its transport `transport`; returns the effects.
fn produce(
    st: &mut State,
    t: &Tracker,
    socket: &str,
    transport: &str,
    id: &str,
    kind: &str,
) -> Vec<Effect> {
    let (_, epoch) = st.transport(socket, transport).unwrap();
    st.add_producer(socket, epoch, id.into(), kind.into(), t.producer())
        .unwrap()
}

/// Consume `producer` on `socket` through its transport `transport`.
fn consume(st: &mut State, t: &Tracker, socket: &str, transport: &str, id: &str, producer: &str) {
    let target = st.consume_target(socket, transport, producer).unwrap();
    assert!(target.transport.is_some());
    st.add_consumer(
        socket,
        target.epoch,
        id.into(),
        producer.into(),
        t.consumer(),
    )
    .unwrap();
}

fn epoch_of(st: &State, socket: &str) -> u64 {
    st.transport_target(socket).unwrap().1
}

fn consumer_count(st: &State, socket: &str) -> usize {
    let room = st.room_of(socket).unwrap();
    st.room(room)
        .unwrap()
        .participants()
        .find(|p| p.socket == socket)
        .unwrap()
        .consumer_count()
}

fn participant_sockets(st: &State, room: &str) -> Vec<String> {
    st.room(room)
        .unwrap()
        .participants()
        .map(|p| p.socket.clone())
        .collect()
}

// ----- errors -------------------------------------------------------------------------------

mod errors {
    use super::*;

    #[test]
    fn every_error_has_its_wire_string() {
        let cases = [
            (
                CallError::JoinFirst,
                "Join first with your user ID",
                wire::JOIN_FIRST,
            ),
            (
                CallError::NotInGroup,
                "You are not in this group",
                wire::NOT_IN_GROUP,
            ),
            (
                CallError::RoomIdRequired,
                "roomId required",
                wire::ROOM_ID_REQUIRED,
            ),
            (
                CallError::ParticipantNotFound,
                "Participant not found",
                wire::PARTICIPANT_NOT_FOUND,
            ),
            (
                CallError::TransportNotFound,
                "Transport not found",
                wire::TRANSPORT_NOT_FOUND,
            ),
            (
                CallError::ProducerNotFound,
                "Producer not found",
                wire::PRODUCER_NOT_FOUND,
            ),
            (
                CallError::CannotConsumeOwn,
                "Cannot consume own producer",
                wire::CANNOT_CONSUME_OWN,
            ),
            (
                CallError::RtpCapabilitiesMismatch,
                "RTP capabilities mismatch",
                wire::RTP_CAPS_MISMATCH,
            ),
            (
                CallError::RecvTransportNotFound,
                "Receive transport not found",
                wire::RECV_TRANSPORT_NOT_FOUND,
            ),
            (
                CallError::ConsumerNotFound,
                "Consumer not found",
                wire::CONSUMER_NOT_FOUND,
            ),
            (CallError::NotJoined, "Not joined", wire::NOT_JOINED),
            (
                CallError::InvalidCallerId,
                "Invalid caller id",
                wire::INVALID_CALLER_ID,
            ),
            (
                CallError::CallerMismatch,
                "callerId does not match the joined user",
                wire::CALLER_MISMATCH,
            ),
        ];
        for (err, literal, constant) in cases {
            assert_eq!(err.to_string(), literal, "{err:?}");
            assert_eq!(err.to_string(), constant, "{err:?}");
        }
        assert_eq!(
            CallError::Limit("Too many rooms".into()).to_string(),
            "Too many rooms"
        );
    }

    #[test]
    fn out_event_names_and_payloads() {
        let conv = cinfo("c");
        let caller = CallerInfo {
            id: NumericId::Num(5),
            name: "Eve".into(),
            avatar: None,
        };
        let cases: Vec<(OutEvent, &str, serde_json::Value)> = vec![
            (
                OutEvent::ActiveGroupCalls(ActiveCallsResponse { calls: vec![] }),
                "active_group_calls",
                json!({"calls": []}),
            ),
            (
                OutEvent::GroupCallIncoming(GroupCallIncoming {
                    caller_id: "5".into(),
                    conversation_id: "c".into(),
                    call_type: "audio".into(),
                    caller_info: caller.clone(),
                    conversation_info: conv.clone(),
                }),
                "group_call_incoming",
                json!({"callerId": "5", "conversationId": "c", "callType": "audio",
                       "callerInfo": {"id": 5, "name": "Eve", "avatar": null},
                       "conversationInfo": {"id": "c", "name": "Conv c", "avatar": null}}),
            ),
            (
                OutEvent::GroupCallStarted(GroupCallStarted {
                    conversation_id: "c".into(),
                    conversation_info: conv.clone(),
                    caller_info: None,
                }),
                "group_call_started",
                json!({"conversationId": "c",
                       "conversationInfo": {"id": "c", "name": "Conv c", "avatar": null}}),
            ),
            (
                OutEvent::GroupCallEnded(GroupCallEnded {
                    conversation_id: "c".into(),
                }),
                "group_call_ended",
                json!({"conversationId": "c"}),
            ),
            (
                OutEvent::GroupCallError(GroupCallError {
                    message: "boom".into(),
                }),
                "group_call_error",
                json!({"message": "boom"}),
            ),
            (
                OutEvent::NewProducer(NewProducer {
                    producer_id: "p".into(),
                    kind: "video".into(),
                    socket_id: "s".into(),
                    participant_info: pinfo("5"),
                    paused: false,
                    source: ProducerSource::Camera,
                    app_data: json!({}),
                }),
                "newProducer",
                json!({"producerId": "p", "kind": "video", "socketId": "s",
                       "participantInfo": {"userId": "5", "name": "User 5", "avatar": null},
                       "paused": false, "source": "camera", "appData": {}}),
            ),
            (
                OutEvent::ParticipantLeft(ParticipantLeft {
                    socket_id: "s".into(),
                }),
                "participantLeft",
                json!({"socketId": "s"}),
            ),
            (
                OutEvent::ProducerClosed(ProducerClosed {
                    producer_id: "p".into(),
                    socket_id: "s".into(),
                }),
                "producerClosed",
                json!({"producerId": "p", "socketId": "s"}),
            ),
        ];
        for (event, name, payload) in cases {
            assert_eq!(event.name(), name);
            assert_eq!(event.payload(), payload, "{name}");
        }
    }
}

// ----- presence -----------------------------------------------------------------------------

mod presence {
    use super::*;

    #[test]
    fn new_state_is_empty() {
        let st = State::new();
        assert_eq!(st.stats(), Stats::default());
        assert!(st.active_room_ids().is_empty());
        assert_eq!(st.user_of("s1"), None);
        assert_eq!(st.room_of("s1"), None);
        assert!(st.sockets_of("1").is_empty());
        assert!(!st.is_online("1"));
    }

    #[test]
    fn connect_registers_an_anonymous_socket() {
        let mut st = State::new();
        st.connect("s1");
        st.connect("s1");
        assert_eq!(
            st.stats(),
            Stats {
                sockets: 1,
                ..Stats::default()
            }
        );
        assert_eq!(st.user_of("s1"), None);
        st.connect("s2");
        assert_eq!(st.stats().sockets, 2);
        assert_eq!(st.stats().joined_users, 0);
    }

    #[test]
    fn join_binds_the_socket_to_the_user() {
        let mut st = State::new();
        online(&mut st, "s1", "42");
        assert_eq!(st.user_of("s1"), Some("42"));
        assert_eq!(st.sockets_of("42"), ["s1"]);
        assert!(st.is_online("42"));
        assert!(!st.is_online("43"));
        assert_eq!(
            st.stats(),
            Stats {
                sockets: 1,
                joined_users: 1,
                ..Stats::default()
            }
        );
    }

    #[test]
    fn rejoining_the_same_user_is_idempotent() {
        let mut st = State::new();
        online(&mut st, "s1", "1");
        st.join("s1", "1");
        st.join("s1", "1");
        assert_eq!(st.sockets_of("1"), ["s1"]);
        assert_eq!(st.stats().joined_users, 1);
        assert_eq!(st.stats().sockets, 1);
    }

    #[test]
    fn join_without_connect_registers_the_socket() {
        let mut st = State::new();
        st.join("s1", "1");
        assert_eq!(st.user_of("s1"), Some("1"));
        assert_eq!(st.stats().sockets, 1);
        st.disconnect("s1");
        assert_eq!(st.stats(), Stats::default());
    }

    #[test]
    fn rebinding_moves_the_socket_to_the_other_user() {
        let mut st = State::new();
        online(&mut st, "s1", "1");
        st.join("s1", "2");
        assert_eq!(st.user_of("s1"), Some("2"));
        assert!(st.sockets_of("1").is_empty());
        assert!(!st.is_online("1"));
        assert_eq!(st.sockets_of("2"), ["s1"]);
        assert_eq!(st.stats().joined_users, 1);
        assert_eq!(st.stats().sockets, 1);
    }

    #[test]
    fn rebinding_one_device_keeps_the_user_online_on_the_others() {
        let mut st = State::new();
        online(&mut st, "a", "1");
        online(&mut st, "b", "1");
        st.join("a", "2");
        assert_eq!(st.sockets_of("1"), ["b"]);
        assert!(st.is_online("1"));
        assert_eq!(st.sockets_of("2"), ["a"]);
        assert_eq!(st.stats().joined_users, 2);
    }

    #[test]
    fn multiple_sockets_per_user_in_join_order() {
        let mut st = State::new();
        online(&mut st, "b", "1");
        online(&mut st, "a", "1");
        online(&mut st, "c", "1");
        online(&mut st, "x", "2");
        assert_eq!(st.sockets_of("1"), ["b", "a", "c"]);
        assert_eq!(st.sockets_of("2"), ["x"]);
        assert_eq!(
            st.stats(),
            Stats {
                sockets: 4,
                joined_users: 2,
                ..Stats::default()
            }
        );
        st.disconnect("a");
        assert_eq!(st.sockets_of("1"), ["b", "c"]);
    }

    #[test]
    fn disconnect_removes_presence() {
        let mut st = State::new();
        online(&mut st, "s1", "1");
        online(&mut st, "s2", "1");
        st.connect("s3");
        assert!(st.disconnect("s1").is_empty());
        assert_eq!(st.user_of("s1"), None);
        assert_eq!(st.sockets_of("1"), ["s2"]);
        assert!(st.is_online("1"));
        assert!(st.disconnect("s2").is_empty());
        assert!(!st.is_online("1"));
        assert!(st.sockets_of("1").is_empty());
        assert_eq!(
            st.stats(),
            Stats {
                sockets: 1,
                ..Stats::default()
            }
        );
        assert!(st.disconnect("s3").is_empty());
        assert_eq!(st.stats(), Stats::default());
    }

    #[test]
    fn disconnecting_an_unknown_socket_is_a_no_op() {
        let mut st = State::new();
        online(&mut st, "s1", "1");
        assert!(st.disconnect("ghost").is_empty());
        assert!(st.disconnect("s1").is_empty());
        assert!(st.disconnect("s1").is_empty());
        assert_eq!(st.stats(), Stats::default());
    }
}

// ----- group_call_initiate ------------------------------------------------------------------

mod initiate {
    use super::*;

    fn user(id: &str, name: Option<&str>, avatar: Option<&str>, tokens: &[&str]) -> UserRecord {
        UserRecord {
            id: id.into(),
            name: name.map(Into::into),
            avatar: avatar.map(Into::into),
            fcm_tokens: tokens.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    fn policy() -> DisplayPolicy {
        DisplayPolicy {
            avatar_base_url: "https://files.test/uploads/".into(),
        }
    }

    /// Members: 1 Alice (caller), 2 (unnamed, token), 3 Carol (offline, tokens),
    /// 4 Dan (online, no token, absolute avatar), 5 (offline, no token).
    fn roster() -> Roster {
        Roster {
            conversation: ConversationRecord {
                id: "c1".into(),
                name: Some("Team".into()),
                avatar: Some("team.png".into()),
            },
            members: vec![
                user("1", Some("Alice"), Some("a.png"), &[]),
                user("2", None, None, &["t2"]),
                user("3", Some("Carol"), None, &["t3a", "t3b"]),
                user("4", Some("Dan"), Some("https://cdn.example/d.jpg"), &[]),
                user("5", None, None, &[]),
            ],
        }
    }

    /// Caller 1 on a1+a2, 2 on b1+b2, 4 on d1, non-member 9 on z1; 3 and 5 offline.
    fn world() -> State {
        let mut st = State::new();
        for (s, u) in [
            ("a1", "1"),
            ("a2", "1"),
            ("b1", "2"),
            ("b2", "2"),
            ("d1", "4"),
            ("z1", "9"),
        ] {
            online(&mut st, s, u);
        }
        st.connect("anon");
        st
    }

    #[test]
    fn check_initiate_errors_in_order() {
        let mut st = world();
        assert_err(
            st.check_initiate("a1", None),
            &CallError::InvalidCallerId,
            "Invalid caller id",
        );
        assert_err(
            st.check_initiate("a1", Some("")),
            &CallError::InvalidCallerId,
            "Invalid caller id",
        );
        // The caller id is checked before the join.
        assert_err(
            st.check_initiate("anon", None),
            &CallError::InvalidCallerId,
            "Invalid caller id",
        );
        assert_err(
            st.check_initiate("anon", Some("1")),
            &CallError::JoinFirst,
            "Join first with your user ID",
        );
        assert_err(
            st.check_initiate("ghost", Some("1")),
            &CallError::JoinFirst,
            "Join first with your user ID",
        );
        assert_err(
            st.check_initiate("a1", Some("2")),
            &CallError::CallerMismatch,
            "callerId does not match the joined user",
        );
        assert_eq!(st.check_initiate("a1", Some("1")), Ok("1".to_owned()));
        assert_eq!(st.check_initiate("a2", Some("1")), Ok("1".to_owned()));
        st.join("a2", "2");
        assert_eq!(
            st.check_initiate("a2", Some("1")),
            Err(CallError::CallerMismatch)
        );
    }

    #[test]
    fn non_member_cannot_initiate() {
        let st = world();
        assert_err(
            st.initiate("9", CallType::Video, &roster(), &policy()),
            &CallError::NotInGroup,
            "You are not in this group",
        );
    }

    #[test]
    fn initiate_rings_pushes_and_announces() {
        let st = world();
        let fx = st
            .initiate("1", CallType::Video, &roster(), &policy())
            .unwrap();
        assert_eq!(
            names(&fx),
            ["group_call_incoming", "push", "group_call_started"]
        );
        let caller =
            json!({"id": 1, "name": "Alice", "avatar": "https://files.test/uploads/a.png"});
        let conv =
            json!({"id": "c1", "name": "Team", "avatar": "https://files.test/uploads/team.png"});

        // Ringing: other online members, every device; never the caller; not offline members
        // nor non-members.
        let (to, payload) = only(&fx, "group_call_incoming");
        assert_eq!(to, socks(&["b1", "b2", "d1"]));
        assert_eq!(
            payload,
            json!({"callerId": "1", "conversationId": "c1", "callType": "video",
                   "callerInfo": caller, "conversationInfo": conv})
        );

        // Push: other members with tokens, online or not.
        let push = fx
            .iter()
            .find_map(|e| match e {
                Effect::Push(p) => Some(p.clone()),
                Effect::Emit { .. } | Effect::Relay { .. } => None,
            })
            .unwrap();
        let r = roster();
        assert_eq!(
            push,
            PushRequest {
                recipients: vec![r.members[1].clone(), r.members[2].clone()],
                caller_id: "1".into(),
                call_type: "video".into(),
                conversation_id: "c1".into(),
                caller_info: CallerInfo {
                    id: NumericId::Num(1),
                    name: "Alice".into(),
                    avatar: Some("https://files.test/uploads/a.png".into()),
                },
                conversation_info: ConversationInfo {
                    id: "c1".into(),
                    name: "Team".into(),
                    avatar: Some("https://files.test/uploads/team.png".into()),
                },
            }
        );

        // Started: every member's sockets, the caller's devices included.
        let (to, payload) = only(&fx, "group_call_started");
        assert_eq!(to, socks(&["a1", "a2", "b1", "b2", "d1"]));
        assert_eq!(
            payload,
            json!({"conversationId": "c1", "conversationInfo": conv, "callerInfo": caller})
        );

        // Ringing creates no room.
        assert!(st.active_room_ids().is_empty());
        assert_eq!(st.stats().rooms, 0);
    }

    #[test]
    fn audio_call_type_and_absolute_avatar() {
        let st = world();
        let fx = st
            .initiate("4", CallType::Audio, &roster(), &policy())
            .unwrap();
        let (to, payload) = only(&fx, "group_call_incoming");
        assert_eq!(to, socks(&["a1", "a2", "b1", "b2"]));
        assert_eq!(payload["callType"], "audio");
        assert_eq!(
            payload["callerInfo"],
            json!({"id": 4, "name": "Dan", "avatar": "https://cdn.example/d.jpg"})
        );
        assert_eq!(payload["callerId"], "4");
        let push = fx.iter().find_map(|e| match e {
            Effect::Push(p) => Some(p),
            Effect::Emit { .. } | Effect::Relay { .. } => None,
        });
        let push = push.unwrap();
        assert_eq!(push.call_type, "audio");
        let ids: Vec<_> = push.recipients.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["2", "3"]);
    }

    #[test]
    fn defaults_for_unnamed_users_and_conversations() {
        let mut st = State::new();
        online(&mut st, "s7", "7");
        online(&mut st, "s8", "8");
        let roster = Roster {
            conversation: ConversationRecord {
                id: "c9".into(),
                name: Some("   ".into()),
                avatar: Some("".into()),
            },
            members: vec![
                user("7", Some("  "), None, &[]),
                user("8", None, Some("/b.png"), &[]),
            ],
        };
        let fx = st
            .initiate("7", CallType::Video, &roster, &DisplayPolicy::default())
            .unwrap();
        // Nobody has a token: no push.
        assert_eq!(names(&fx), ["group_call_incoming", "group_call_started"]);
        let (_, payload) = only(&fx, "group_call_incoming");
        assert_eq!(
            payload["callerInfo"],
            json!({"id": 7, "name": "User 7", "avatar": null})
        );
        assert_eq!(
            payload["conversationInfo"],
            json!({"id": "c9", "name": "Group Call", "avatar": null})
        );
        let fx = st
            .initiate("8", CallType::Video, &roster, &DisplayPolicy::default())
            .unwrap();
        let (_, payload) = only(&fx, "group_call_started");
        assert_eq!(
            payload["callerInfo"],
            json!({"id": 8, "name": "User 8", "avatar": "http://localhost:8000/uploads/b.png"})
        );
    }

    #[test]
    fn non_numeric_caller_ids_stay_strings() {
        let mut st = State::new();
        online(&mut st, "s", "alice");
        let roster = Roster {
            conversation: ConversationRecord {
                id: "c".into(),
                ..Default::default()
            },
            members: vec![
                user("alice", None, None, &[]),
                user("bob", None, None, &["t"]),
            ],
        };
        let fx = st
            .initiate("alice", CallType::Video, &roster, &policy())
            .unwrap();
        // bob is offline: push only, no ring.
        assert_eq!(names(&fx), ["push", "group_call_started"]);
        let (to, payload) = only(&fx, "group_call_started");
        assert_eq!(to, ["s"]);
        assert_eq!(payload["callerInfo"]["id"], "alice");
        assert_eq!(payload["callerInfo"]["name"], "User alice");
    }

    #[test]
    fn nobody_online_and_no_tokens_gives_no_effects() {
        let st = State::new();
        let roster = Roster {
            conversation: ConversationRecord {
                id: "c".into(),
                ..Default::default()
            },
            members: vec![user("1", None, None, &[]), user("2", None, None, &[])],
        };
        assert!(
            st.initiate("1", CallType::Video, &roster, &policy())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn participant_info_has_a_string_user_id() {
        let p = policy();
        let u = user("42", Some("Zed"), Some("z.png"), &[]);
        assert_eq!(
            serde_json::to_value(p.participant_info(&u)).unwrap(),
            json!({"userId": "42", "name": "Zed", "avatar": "https://files.test/uploads/z.png"})
        );
        assert_eq!(
            serde_json::to_value(p.caller_info(&u)).unwrap(),
            json!({"id": 42, "name": "Zed", "avatar": "https://files.test/uploads/z.png"})
        );
        assert_eq!(
            p.avatar_url(Some("data:image/png;base64,AA")).as_deref(),
            Some("data:image/png;base64,AA")
        );
        assert_eq!(
            p.avatar_url(Some(" http://x/y.png ")).as_deref(),
            Some("http://x/y.png")
        );
    }
}

// ----- createRoom ---------------------------------------------------------------------------

mod join_room {
    use super::*;

    #[test]
    fn check_join_room_errors_in_order() {
        let t = Tracker::new();
        let mut st = State::new();
        st.connect("anon");
        online(&mut st, "s1", "1");
        assert_err(
            st.check_join_room("s1", None),
            &CallError::RoomIdRequired,
            "roomId required",
        );
        assert_err(
            st.check_join_room("s1", Some("")),
            &CallError::RoomIdRequired,
            "roomId required",
        );
        // The room id is checked before the join.
        assert_err(
            st.check_join_room("anon", None),
            &CallError::RoomIdRequired,
            "roomId required",
        );
        assert_err(
            st.check_join_room("anon", Some("r1")),
            &CallError::JoinFirst,
            "Join first with your user ID",
        );
        assert_err(
            st.check_join_room("ghost", Some("r1")),
            &CallError::JoinFirst,
            "Join first with your user ID",
        );
        assert_eq!(
            st.check_join_room("s1", Some("r1")),
            Ok(("1".into(), false))
        );
        st.join_room("s1", join_req(&t, "r1", "1", &["1"])).unwrap();
        assert_eq!(st.check_join_room("s1", Some("r1")), Ok(("1".into(), true)));
        assert_eq!(
            st.check_join_room("s1", Some("r2")),
            Ok(("1".into(), false))
        );
    }

    #[test]
    fn join_room_before_join_fails_and_drops_the_router() {
        let t = Tracker::new();
        let mut st = State::new();
        st.connect("anon");
        assert_err(
            st.join_room("anon", join_req(&t, "r1", "1", &["1"])),
            &CallError::JoinFirst,
            "Join first with your user ID",
        );
        assert_err(
            st.join_room("ghost", join_req(&t, "r1", "1", &["1"])),
            &CallError::JoinFirst,
            "Join first with your user ID",
        );
        assert_eq!(t.live(), Live::default());
        assert_eq!(st.stats().rooms, 0);
        assert_eq!(st.room_of("anon"), None);
    }

    #[test]
    fn first_join_creates_the_room_and_announces_it() {
        let t = Tracker::new();
        let mut st = State::new();
        online(&mut st, "s1", "1");
        online(&mut st, "s1b", "1");
        online(&mut st, "s2", "2");
        online(&mut st, "s9", "9");
        let req = join_req(&t, "r1", "1", &["1", "2", "3"]);
        let passed = req.router.clone();
        let (router, fx) = st.join_room("s1", req).unwrap();
        assert!(router.same(&passed));
        drop((router, passed));

        assert_eq!(names(&fx), ["group_call_started"]);
        let (to, payload) = only(&fx, "group_call_started");
        // Every member's sockets, the joiner's included; not non-members.
        assert_eq!(to, socks(&["s1", "s1b", "s2"]));
        assert_eq!(
            payload,
            json!({"conversationId": "r1",
                   "conversationInfo": {"id": "r1", "name": "Conv r1", "avatar": null}})
        );
        assert!(payload.get("callerInfo").is_none());

        assert_eq!(st.room_of("s1"), Some("r1"));
        assert_eq!(st.room_of("s1b"), None);
        assert_eq!(st.active_room_ids(), ["r1"]);
        assert_eq!(
            st.room_members("r1"),
            Some(&["1".to_owned(), "2".into(), "3".into()][..])
        );
        assert_eq!(st.participant_count("r1"), 1);
        let room = st.room("r1").unwrap();
        assert_eq!(room.id, "r1");
        assert_eq!(room.conversation, cinfo("r1"));
        let p = room.participants().next().unwrap();
        assert_eq!(p.socket, "s1");
        assert_eq!(p.user, "1");
        assert_eq!(p.info, pinfo("1"));
        assert_eq!(
            (p.transport_count(), p.producer_count(), p.consumer_count()),
            (0, 0, 0)
        );
        assert_eq!(
            st.stats(),
            Stats {
                sockets: 4,
                joined_users: 3,
                rooms: 1,
                participants: 1,
                ..Stats::default()
            }
        );
        assert_eq!(
            t.live(),
            Live {
                routers: 1,
                ..Live::default()
            }
        );
    }

    #[test]
    fn later_joins_reuse_the_router_without_announcing() {
        let t = Tracker::new();
        let mut st = State::new();
        online(&mut st, "s1", "1");
        online(&mut st, "s2", "2");
        let (r1, _) = st
            .join_room("s1", join_req(&t, "r1", "1", &["1", "2"]))
            .unwrap();
        let req = join_req(&t, "r1", "2", &["2"]);
        let unused = req.router.clone();
        let (r2, fx) = st.join_room("s2", req).unwrap();
        assert!(fx.is_empty(), "{fx:?}");
        assert!(r2.same(&r1));
        assert!(!r2.same(&unused));
        drop(unused);
        // The router passed by the second join was dropped.
        assert_eq!(t.live().routers, 1);
        assert_eq!(participant_sockets(&st, "r1"), ["s1", "s2"]);
        // The cached member list is kept.
        assert_eq!(
            st.room_members("r1"),
            Some(&["1".to_owned(), "2".into()][..])
        );
        assert_eq!(st.stats().participants, 2);
        assert!(epoch_of(&st, "s2") > epoch_of(&st, "s1"));
    }

    #[test]
    fn rejoining_the_same_room_is_idempotent() {
        let t = Tracker::new();
        let mut st = State::new();
        online(&mut st, "s1", "1");
        online(&mut st, "s2", "2");
        let (router, _) = st
            .join_room("s1", join_req(&t, "r1", "1", &["1", "2"]))
            .unwrap();
        st.join_room("s2", join_req(&t, "r1", "2", &["1", "2"]))
            .unwrap();
        add_transport(&mut st, &t, "s1", "t1", SEND);
        produce(&mut st, &t, "s1", "t1", "p1", "audio");
        let epoch = epoch_of(&st, "s1");

        let (again, fx) = st.join_room("s1", join_req(&t, "r1", "1", &["7"])).unwrap();
        assert!(fx.is_empty(), "{fx:?}");
        assert!(again.same(&router));
        assert_eq!(epoch_of(&st, "s1"), epoch);
        assert_eq!(participant_sockets(&st, "r1"), ["s1", "s2"]);
        let (th, e) = st.transport("s1", "t1").unwrap();
        assert_eq!(e, epoch);
        drop(th);
        assert!(st.producer("s1", "p1").is_ok());
        assert_eq!(
            st.room_members("r1"),
            Some(&["1".to_owned(), "2".into()][..])
        );
        drop((router, again));
        assert_eq!(
            t.live(),
            Live {
                routers: 1,
                transports: 1,
                producers: 1,
                consumers: 0
            }
        );
    }

    #[test]
    fn joining_another_room_leaves_the_old_one_first() {
        let t = Tracker::new();
        let mut st = three_with_media(&t);
        let old_epoch = epoch_of(&st, "s1");

        let (_, fx) = st.join_room("s1", join_req(&t, "r2", "1", &["1"])).unwrap();
        assert_eq!(names(&fx), ["participantLeft", "group_call_started"]);
        let e = emits(&fx);
        assert_eq!(e[0].1, socks(&["s2", "s3"]));
        assert_eq!(e[0].2, json!({"socketId": "s1"}));
        assert_eq!(e[1].1, socks(&["s1"]));
        assert_eq!(e[1].2["conversationId"], "r2");

        assert_eq!(st.room_of("s1"), Some("r2"));
        assert_eq!(participant_sockets(&st, "r1"), ["s2", "s3"]);
        assert_eq!(participant_sockets(&st, "r2"), ["s1"]);
        assert_eq!(st.active_room_ids(), ["r1", "r2"]);
        assert!(epoch_of(&st, "s1") > old_epoch);
        // s1's media went with it, and so did s2's consumer of s1's producer.
        assert_err(
            st.transport("s1", "t1"),
            &CallError::TransportNotFound,
            "Transport not found",
        );
        assert_eq!(consumer_count(&st, "s2"), 0);
        assert_eq!(
            t.live(),
            Live {
                routers: 2,
                transports: 1,
                producers: 0,
                consumers: 0
            }
        );
    }

    #[test]
    fn joining_another_room_ends_the_emptied_one() {
        let t = Tracker::new();
        let mut st = State::new();
        online(&mut st, "s1", "1");
        online(&mut st, "s2", "2");
        st.join_room("s1", join_req(&t, "r1", "1", &["1", "2"]))
            .unwrap();
        add_transport(&mut st, &t, "s1", "t1", SEND);
        let (_, fx) = st
            .join_room("s1", join_req(&t, "r2", "1", &["1", "2"]))
            .unwrap();
        assert_eq!(names(&fx), ["group_call_ended", "group_call_started"]);
        let e = emits(&fx);
        assert_eq!(e[0].1, socks(&["s1", "s2"]));
        assert_eq!(e[0].2, json!({"conversationId": "r1"}));
        assert_eq!(e[1].1, socks(&["s1", "s2"]));
        assert_eq!(e[1].2["conversationId"], "r2");
        assert_eq!(st.active_room_ids(), ["r2"]);
        assert!(st.room("r1").is_none());
        assert_eq!(st.room_members("r1"), None);
        assert_eq!(
            t.live(),
            Live {
                routers: 1,
                ..Live::default()
            }
        );
    }

    #[test]
    fn users_missing_from_the_member_list_are_added() {
        let t = Tracker::new();
        let mut st = State::new();
        online(&mut st, "s1", "1");
        online(&mut st, "s8", "8");
        online(&mut st, "s9", "9");
        online(&mut st, "s9b", "9");
        // The creator is not in the list it passes: it is added and hears the announcement.
        let (_, fx) = st.join_room("s9", join_req(&t, "r1", "9", &["1"])).unwrap();
        let (to, _) = only(&fx, "group_call_started");
        assert_eq!(to, socks(&["s1", "s9", "s9b"]));
        assert_eq!(
            st.room_members("r1"),
            Some(&["1".to_owned(), "9".into()][..])
        );
        // A later joiner not in the cached list is added too.
        st.join_room("s8", join_req(&t, "r1", "8", &[])).unwrap();
        assert_eq!(
            st.room_members("r1"),
            Some(&["1".to_owned(), "9".into(), "8".into()][..])
        );
        st.join_room("s1", join_req(&t, "r1", "1", &[])).unwrap();
        assert_eq!(st.room_members("r1").map(<[_]>::len), Some(3));
        // So they all hear the end.
        st.leave_room("s9");
        st.leave_room("s8");
        let fx = st.leave_room("s1");
        let (to, payload) = only(&fx, "group_call_ended");
        assert_eq!(to, socks(&["s1", "s8", "s9", "s9b"]));
        assert_eq!(payload, json!({"conversationId": "r1"}));
    }

    #[test]
    fn a_new_room_after_the_call_ended_is_announced_again() {
        let t = Tracker::new();
        let mut st = State::new();
        online(&mut st, "s1", "1");
        let (first, _) = st.join_room("s1", join_req(&t, "r1", "1", &["1"])).unwrap();
        let e1 = epoch_of(&st, "s1");
        st.leave_room("s1");
        assert_eq!(
            st.check_join_room("s1", Some("r1")),
            Ok(("1".into(), false))
        );
        let (second, fx) = st.join_room("s1", join_req(&t, "r1", "1", &["1"])).unwrap();
        assert_eq!(names(&fx), ["group_call_started"]);
        assert!(!second.same(&first));
        assert!(epoch_of(&st, "s1") > e1);
        drop(first);
        drop(second);
        assert_eq!(t.live().routers, 1);
    }
}

// ----- transports, producers, consumers -----------------------------------------------------

mod media {
    use super::*;

    #[test]
    fn transport_target_needs_a_room() {
        let t = Tracker::new();
        let mut st = three_in_room(&t);
        online(&mut st, "s4", "4");
        st.connect("anon");
        for s in ["s4", "anon", "ghost"] {
            assert_err(
                st.transport_target(s),
                &CallError::ParticipantNotFound,
                "Participant not found",
            );
        }
        let (router, epoch) = st.transport_target("s1").unwrap();
        assert!(router.same(&st.room("r1").unwrap().router));
        let p = st.room("r1").unwrap().participants().next().unwrap();
        assert_eq!(p.epoch, epoch);
    }

    #[test]
    fn transports_attach_and_resolve() {
        let t = Tracker::new();
        let mut st = three_in_room(&t);
        let (_, epoch) = st.transport_target("s1").unwrap();
        let send = t.transport();
        let recv = t.transport();
        st.add_transport("s1", epoch, "ts".into(), SEND, send.clone())
            .unwrap();
        st.add_transport("s1", epoch, "tr".into(), RECV, recv.clone())
            .unwrap();
        let (h, e) = st.transport("s1", "ts").unwrap();
        assert!(h.same(&send));
        assert_eq!(e, epoch);
        let (h2, _) = st.transport("s1", "tr").unwrap();
        assert!(h2.same(&recv));
        assert_eq!(st.stats().transports, 2);
        let p = st.room("r1").unwrap().participants().next().unwrap();
        assert_eq!(p.transport_count(), 2);

        assert_err(
            st.transport("s1", "nope"),
            &CallError::TransportNotFound,
            "Transport not found",
        );
        // Another participant's transport is not ours.
        assert_err(
            st.transport("s2", "ts"),
            &CallError::TransportNotFound,
            "Transport not found",
        );
        assert_err(
            st.transport("ghost", "ts"),
            &CallError::ParticipantNotFound,
            "Participant not found",
        );
        drop((h, h2, send, recv));
        assert_eq!(t.live().transports, 2);
    }

    #[test]
    fn add_transport_after_leave_fails_and_drops_the_handle() {
        let t = Tracker::new();
        let mut st = three_in_room(&t);
        let (router, epoch) = st.transport_target("s1").unwrap();
        drop(router);
        st.leave_room("s1");
        assert_err(
            st.add_transport("s1", epoch, "t1".into(), SEND, t.transport()),
            &CallError::ParticipantNotFound,
            "Participant not found",
        );
        assert_eq!(t.live().transports, 0);
        assert_eq!(st.stats().transports, 0);
    }

    #[test]
    fn add_transport_after_leave_and_rejoin_fails_and_drops_the_handle() {
        let t = Tracker::new();
        let mut st = three_in_room(&t);
        let (_, stale) = st.transport_target("s1").unwrap();
        st.leave_room("s1");
        st.join_room("s1", join_req(&t, "r1", "1", &[])).unwrap();
        assert_err(
            st.add_transport("s1", stale, "t1".into(), SEND, t.transport()),
            &CallError::ParticipantNotFound,
            "Participant not found",
        );
        assert_eq!(t.live().transports, 0);
        let p = st
            .room("r1")
            .unwrap()
            .participants()
            .find(|p| p.socket == "s1")
            .unwrap();
        assert_eq!(p.transport_count(), 0);
        assert_ne!(p.epoch, stale);
        // The current epoch works.
        add_transport(&mut st, &t, "s1", "t1", SEND);
        assert_eq!(t.live().transports, 1);
    }

    #[test]
    fn stale_epochs_after_moving_rooms_or_disconnecting_fail() {
        let t = Tracker::new();
        let mut st = three_in_room(&t);
        let stale = epoch_of(&st, "s1");
        st.join_room("s1", join_req(&t, "r2", "1", &["1"])).unwrap();
        assert_eq!(
            st.add_transport("s1", stale, "t".into(), SEND, t.transport()),
            Err(CallError::ParticipantNotFound)
        );
        let stale2 = epoch_of(&st, "s2");
        st.disconnect("s2");
        assert_eq!(
            st.add_transport("s2", stale2, "t".into(), SEND, t.transport()),
            Err(CallError::ParticipantNotFound)
        );
        // A socket that never was in a room.
        assert_eq!(
            st.add_transport("ghost", 0, "t".into(), SEND, t.transport()),
            Err(CallError::ParticipantNotFound)
        );
        assert_eq!(t.live().transports, 0);
    }

    #[test]
    fn stale_producers_and_consumers_are_dropped() {
        let t = Tracker::new();
        let mut st = three_in_room(&t);
        add_transport(&mut st, &t, "s1", "t1", SEND);
        add_transport(&mut st, &t, "s2", "t2", RECV);
        produce(&mut st, &t, "s1", "t1", "p1", "video");
        let (_, pe) = st.transport("s2", "t2").unwrap();
        let target = st.consume_target("s2", "t2", "p1").unwrap();
        assert_eq!(target.epoch, pe);
        drop(target);
        st.leave_room("s2");
        st.join_room("s2", join_req(&t, "r1", "2", &[])).unwrap();
        assert_err(
            st.add_producer("s2", pe, "p2".into(), "audio".into(), t.producer()),
            &CallError::ParticipantNotFound,
            "Participant not found",
        );
        assert_err(
            st.add_consumer("s2", pe, "c1".into(), "p1".into(), t.consumer()),
            &CallError::ParticipantNotFound,
            "Participant not found",
        );
        assert_eq!(
            t.live(),
            Live {
                routers: 1,
                transports: 1,
                producers: 1,
                consumers: 0
            }
        );
        assert_eq!(st.stats().producers, 1);
        assert_eq!(st.stats().consumers, 0);
    }

    #[test]
    fn new_producer_goes_to_the_rest_of_the_room_only() {
        let t = Tracker::new();
        let mut st = three_in_room(&t);
        online(&mut st, "s1b", "1");
        add_transport(&mut st, &t, "s1", "t1", SEND);
        let fx = produce(&mut st, &t, "s1", "t1", "p1", "audio");
        assert_eq!(names(&fx), ["newProducer"]);
        let (to, payload) = only(&fx, "newProducer");
        assert_eq!(to, socks(&["s2", "s3"]));
        assert_eq!(
            payload,
            json!({"producerId": "p1", "kind": "audio", "socketId": "s1",
                   "participantInfo": {"userId": "1", "name": "User 1", "avatar": null},
                   "paused": false, "source": "microphone", "appData": {}})
        );
        assert!(matches!(
            events(&fx)[0],
            OutEvent::NewProducer(NewProducer { producer_id, .. }) if producer_id == "p1"
        ));
        assert_eq!(st.stats().producers, 1);
    }

    #[test]
    fn a_lone_producer_announces_to_nobody() {
        let t = Tracker::new();
        let mut st = State::new();
        online(&mut st, "s1", "1");
        st.join_room("s1", join_req(&t, "r1", "1", &["1"])).unwrap();
        add_transport(&mut st, &t, "s1", "t1", SEND);
        let fx = produce(&mut st, &t, "s1", "t1", "p1", "video");
        assert!(fx.is_empty(), "{fx:?}");
        assert_err(
            st.add_producer("ghost", 1, "p".into(), "audio".into(), t.producer()),
            &CallError::ParticipantNotFound,
            "Participant not found",
        );
        assert_eq!(t.live().producers, 1);
    }

    #[test]
    fn producer_lookup() {
        let t = Tracker::new();
        let mut st = three_in_room(&t);
        add_transport(&mut st, &t, "s1", "t1", SEND);
        let (_, epoch) = st.transport("s1", "t1").unwrap();
        let h = t.producer();
        st.add_producer("s1", epoch, "p1".into(), "audio".into(), h.clone())
            .unwrap();
        assert!(st.producer("s1", "p1").unwrap().same(&h));
        assert_err(
            st.producer("s1", "nope"),
            &CallError::ProducerNotFound,
            "Producer not found",
        );
        // Only the socket's own producers.
        assert_err(
            st.producer("s2", "p1"),
            &CallError::ProducerNotFound,
            "Producer not found",
        );
        assert_err(
            st.producer("ghost", "p1"),
            &CallError::ParticipantNotFound,
            "Participant not found",
        );
    }

    #[test]
    fn producers_lists_the_whole_room_in_join_order() {
        let t = Tracker::new();
        let mut st = three_in_room(&t);
        online(&mut st, "s4", "4");
        st.join_room("s4", join_req(&t, "r2", "4", &["4"])).unwrap();
        add_transport(&mut st, &t, "s4", "t4", SEND);
        produce(&mut st, &t, "s4", "t4", "p4", "audio");
        add_transport(&mut st, &t, "s2", "t2", SEND);
        add_transport(&mut st, &t, "s1", "t1", SEND);
        produce(&mut st, &t, "s2", "t2", "p3", "audio");
        produce(&mut st, &t, "s1", "t1", "p1", "audio");
        produce(&mut st, &t, "s1", "t1", "p2", "video");

        let entry = |id: &str, kind: &str, s: &str, u: &str| ProducerEntry {
            id: id.into(),
            kind: kind.into(),
            socket_id: s.into(),
            participant_info: pinfo(u),
            paused: false,
            source: ProducerSource::default_for(kind),
            app_data: json!({}),
        };
        let want = vec![
            entry("p1", "audio", "s1", "1"),
            entry("p2", "video", "s1", "1"),
            entry("p3", "audio", "s2", "2"),
        ];
        // Own producers included; other rooms' excluded.
        assert_eq!(st.producers("s1").unwrap(), want);
        assert_eq!(st.producers("s3").unwrap(), want);
        assert_eq!(
            st.producers("s4").unwrap(),
            vec![entry("p4", "audio", "s4", "4")]
        );
        assert_eq!(
            serde_json::to_value(&want[0]).unwrap(),
            json!({"id": "p1", "kind": "audio", "socketId": "s1",
                   "participantInfo": {"userId": "1", "name": "User 1", "avatar": null},
                   "paused": false, "source": "microphone", "appData": {}})
        );
        assert_err(
            st.producers("ghost"),
            &CallError::ParticipantNotFound,
            "Participant not found",
        );
        online(&mut st, "s5", "5");
        assert_eq!(st.producers("s5"), Err(CallError::ParticipantNotFound));
    }

    #[test]
    fn consume_target_checks_in_order() {
        let t = Tracker::new();
        let mut st = three_in_room(&t);
        online(&mut st, "s4", "4");
        st.join_room("s4", join_req(&t, "r2", "4", &["4"])).unwrap();
        add_transport(&mut st, &t, "s4", "t4", SEND);
        produce(&mut st, &t, "s4", "t4", "p4", "audio");
        add_transport(&mut st, &t, "s1", "t1", SEND);
        add_transport(&mut st, &t, "s2", "t2", RECV);
        add_transport(&mut st, &t, "s3", "t3", RECV);
        produce(&mut st, &t, "s1", "t1", "p1", "video");

        online(&mut st, "s5", "5");
        // 1. participant (even when the producer is unknown too)
        assert_err(
            st.consume_target("s5", "t2", "nope"),
            &CallError::ParticipantNotFound,
            "Participant not found",
        );
        assert_err(
            st.consume_target("ghost", "t2", "p1"),
            &CallError::ParticipantNotFound,
            "Participant not found",
        );
        // 2. producer (in the socket's room)
        assert_err(
            st.consume_target("s2", "nope", "nope"),
            &CallError::ProducerNotFound,
            "Producer not found",
        );
        assert_err(
            st.consume_target("s2", "t2", "p4"),
            &CallError::ProducerNotFound,
            "Producer not found",
        );
        // 3. own producer (before the transport)
        assert_err(
            st.consume_target("s1", "nope", "p1"),
            &CallError::CannotConsumeOwn,
            "Cannot consume own producer",
        );
        assert_err(
            st.consume_target("s1", "t1", "p1"),
            &CallError::CannotConsumeOwn,
            "Cannot consume own producer",
        );

        let target = st.consume_target("s2", "t2", "p1").unwrap();
        assert!(target.router.same(&st.room("r1").unwrap().router));
        assert!(
            target
                .transport
                .as_ref()
                .unwrap()
                .same(&st.transport("s2", "t2").unwrap().0)
        );
        assert_eq!(target.epoch, epoch_of(&st, "s2"));

        // Unknown transport: no error from the domain, `transport: None` (the app answers
        // "Receive transport not found").
        let target = st.consume_target("s2", "nope", "p1").unwrap();
        assert!(target.transport.is_none());
        // Another participant's transport is unknown to this socket.
        let target = st.consume_target("s2", "t3", "p1").unwrap();
        assert!(target.transport.is_none());
        assert_eq!(
            CallError::RecvTransportNotFound.to_string(),
            "Receive transport not found"
        );
    }

    #[test]
    fn consumers_attach_and_resolve() {
        let t = Tracker::new();
        let mut st = three_in_room(&t);
        add_transport(&mut st, &t, "s1", "t1", SEND);
        add_transport(&mut st, &t, "s2", "t2", RECV);
        produce(&mut st, &t, "s1", "t1", "p1", "video");
        let target = st.consume_target("s2", "t2", "p1").unwrap();
        let h = t.consumer();
        st.add_consumer("s2", target.epoch, "c1".into(), "p1".into(), h.clone())
            .unwrap();
        assert!(st.consumer("s2", "c1").unwrap().same(&h));
        assert_err(
            st.consumer("s2", "nope"),
            &CallError::ConsumerNotFound,
            "Consumer not found",
        );
        assert_err(
            st.consumer("s3", "c1"),
            &CallError::ConsumerNotFound,
            "Consumer not found",
        );
        assert_err(
            st.consumer("ghost", "c1"),
            &CallError::ParticipantNotFound,
            "Participant not found",
        );
        assert_eq!(st.stats().consumers, 1);
        assert_eq!(consumer_count(&st, "s2"), 1);
        drop((h, target));
        assert_eq!(t.live().consumers, 1);
    }

    #[test]
    fn add_consumer_fails_when_the_producer_went_away() {
        let t = Tracker::new();
        let mut st = three_in_room(&t);
        add_transport(&mut st, &t, "s1", "t1", SEND);
        add_transport(&mut st, &t, "s2", "t2", RECV);
        add_transport(&mut st, &t, "s3", "t3", SEND);
        produce(&mut st, &t, "s1", "t1", "p1", "video");
        produce(&mut st, &t, "s3", "t3", "p3", "audio");

        // Closed between consume_target and add_consumer.
        let target = st.consume_target("s2", "t2", "p1").unwrap();
        st.close_producer("s1", "p1").unwrap();
        assert_err(
            st.add_consumer("s2", target.epoch, "c1".into(), "p1".into(), t.consumer()),
            &CallError::ProducerNotFound,
            "Producer not found",
        );
        // Its owner left between consume_target and add_consumer.
        let target = st.consume_target("s2", "t2", "p3").unwrap();
        st.leave_room("s3");
        assert_err(
            st.add_consumer("s2", target.epoch, "c3".into(), "p3".into(), t.consumer()),
            &CallError::ProducerNotFound,
            "Producer not found",
        );
        // Never existed.
        assert_err(
            st.add_consumer("s2", target.epoch, "cx".into(), "px".into(), t.consumer()),
            &CallError::ProducerNotFound,
            "Producer not found",
        );
        drop(target);
        assert_eq!(t.live().consumers, 0);
        assert_eq!(t.live().producers, 0);
        assert_eq!(st.stats().consumers, 0);
    }

    #[test]
    fn close_producer_removes_its_consumers_and_announces() {
        let t = Tracker::new();
        let mut st = three_in_room(&t);
        add_transport(&mut st, &t, "s1", "t1", SEND);
        add_transport(&mut st, &t, "s2", "t2", RECV);
        add_transport(&mut st, &t, "s3", "t3", RECV);
        produce(&mut st, &t, "s1", "t1", "p1", "audio");
        produce(&mut st, &t, "s1", "t1", "p2", "video");
        consume(&mut st, &t, "s2", "t2", "c21", "p1");
        consume(&mut st, &t, "s2", "t2", "c22", "p2");
        consume(&mut st, &t, "s3", "t3", "c31", "p1");
        assert_eq!(t.live().consumers, 3);

        let fx = st.close_producer("s1", "p1").unwrap();
        assert_eq!(names(&fx), ["producerClosed"]);
        let (to, payload) = only(&fx, "producerClosed");
        assert_eq!(to, socks(&["s2", "s3"]));
        assert_eq!(payload, json!({"producerId": "p1", "socketId": "s1"}));

        assert_eq!(consumer_count(&st, "s2"), 1);
        assert_eq!(consumer_count(&st, "s3"), 0);
        assert!(st.consumer("s2", "c22").is_ok());
        assert_eq!(st.consumer("s2", "c21"), Err(CallError::ConsumerNotFound));
        assert_eq!(st.producer("s1", "p1"), Err(CallError::ProducerNotFound));
        let ids: Vec<_> = st
            .producers("s2")
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(ids, ["p2"]);
        assert_eq!(
            t.live(),
            Live {
                routers: 1,
                transports: 3,
                producers: 1,
                consumers: 1
            }
        );

        // Closing it again, someone else's, or outside a room.
        assert_err(
            st.close_producer("s1", "p1"),
            &CallError::ProducerNotFound,
            "Producer not found",
        );
        assert_err(
            st.close_producer("s2", "p2"),
            &CallError::ProducerNotFound,
            "Producer not found",
        );
        assert!(st.producer("s1", "p2").is_ok());
        assert_err(
            st.close_producer("ghost", "p2"),
            &CallError::ParticipantNotFound,
            "Participant not found",
        );
        assert_eq!(st.stats().producers, 1);
    }

    #[test]
    fn closing_a_lone_producer_announces_to_nobody() {
        let t = Tracker::new();
        let mut st = State::new();
        online(&mut st, "s1", "1");
        st.join_room("s1", join_req(&t, "r1", "1", &["1"])).unwrap();
        add_transport(&mut st, &t, "s1", "t1", SEND);
        produce(&mut st, &t, "s1", "t1", "p1", "audio");
        assert!(st.close_producer("s1", "p1").unwrap().is_empty());
        assert_eq!(t.live().producers, 0);
    }

    #[test]
    fn handles_held_outside_outlive_the_state_entry() {
        let t = Tracker::new();
        let mut st = three_in_room(&t);
        add_transport(&mut st, &t, "s1", "t1", SEND);
        let (held, _) = st.transport("s1", "t1").unwrap();
        st.leave_room("s1");
        assert_eq!(t.live().transports, 1);
        drop(held);
        assert_eq!(t.live().transports, 0);
    }
}

// ----- leaveRoom / disconnect ---------------------------------------------------------------

mod leave {
    use super::*;

    /// `three_in_room` with s1 producing p1, s2 producing p2, s3 producing p3; s1 consumes p2
    /// (c12), s2 consumes p1 and p3 (c21, c23), s3 consumes p1 (c31).
    fn busy_room(t: &Tracker) -> State {
        let mut st = three_in_room(t);
        for (s, tr) in [("s1", "t1"), ("s2", "t2"), ("s3", "t3")] {
            add_transport(&mut st, t, s, tr, SEND);
            add_transport(&mut st, t, s, &format!("{tr}r"), RECV);
        }
        produce(&mut st, t, "s1", "t1", "p1", "audio");
        produce(&mut st, t, "s2", "t2", "p2", "audio");
        produce(&mut st, t, "s3", "t3", "p3", "video");
        consume(&mut st, t, "s1", "t1r", "c12", "p2");
        consume(&mut st, t, "s2", "t2r", "c21", "p1");
        consume(&mut st, t, "s2", "t2r", "c23", "p3");
        consume(&mut st, t, "s3", "t3r", "c31", "p1");
        assert_eq!(
            t.live(),
            Live {
                routers: 1,
                transports: 6,
                producers: 3,
                consumers: 4
            }
        );
        st
    }

    #[test]
    fn leave_notifies_the_rest_and_drops_the_leavers_media() {
        let t = Tracker::new();
        let mut st = busy_room(&t);
        let fx = st.leave_room("s1");
        assert_eq!(names(&fx), ["participantLeft"]);
        let (to, payload) = only(&fx, "participantLeft");
        assert_eq!(to, socks(&["s2", "s3"]));
        assert_eq!(payload, json!({"socketId": "s1"}));

        // s1's transports, producer and consumer are gone, and so are the others' consumers
        // of p1; c23 stays.
        assert_eq!(
            t.live(),
            Live {
                routers: 1,
                transports: 4,
                producers: 2,
                consumers: 1
            }
        );
        assert_eq!(consumer_count(&st, "s2"), 1);
        assert!(st.consumer("s2", "c23").is_ok());
        assert_eq!(st.consumer("s2", "c21"), Err(CallError::ConsumerNotFound));
        assert_eq!(consumer_count(&st, "s3"), 0);
        assert_eq!(participant_sockets(&st, "r1"), ["s2", "s3"]);

        // Presence stays.
        assert_eq!(st.room_of("s1"), None);
        assert_eq!(st.user_of("s1"), Some("1"));
        assert_eq!(st.check_join_room("s1", Some("r1")), Ok(("1".into(), true)));
        assert_eq!(
            st.stats(),
            Stats {
                sockets: 3,
                joined_users: 3,
                rooms: 1,
                participants: 2,
                transports: 4,
                producers: 2,
                consumers: 1
            }
        );
    }

    #[test]
    fn last_leave_ends_the_call_for_all_members() {
        let t = Tracker::new();
        let mut st = State::new();
        online(&mut st, "s1", "1");
        online(&mut st, "s1b", "1");
        online(&mut st, "s2", "2");
        online(&mut st, "s9", "9");
        st.join_room("s1", join_req(&t, "r1", "1", &["1", "2", "3"]))
            .unwrap();
        add_transport(&mut st, &t, "s1", "t1", SEND);
        produce(&mut st, &t, "s1", "t1", "p1", "audio");

        let fx = st.leave_room("s1");
        assert_eq!(names(&fx), ["group_call_ended"]);
        let (to, payload) = only(&fx, "group_call_ended");
        // Every member's sockets (the leaver's too), from the cached member list.
        assert_eq!(to, socks(&["s1", "s1b", "s2"]));
        assert_eq!(payload, json!({"conversationId": "r1"}));
        assert!(matches!(
            events(&fx)[0],
            OutEvent::GroupCallEnded(GroupCallEnded { conversation_id }) if conversation_id == "r1"
        ));

        assert!(st.active_room_ids().is_empty());
        assert!(st.room("r1").is_none());
        assert_eq!(st.participant_count("r1"), 0);
        assert_eq!(st.room_of("s1"), None);
        assert_eq!(t.live(), Live::default());
        assert_eq!(
            st.stats(),
            Stats {
                sockets: 4,
                joined_users: 3,
                ..Stats::default()
            }
        );
    }

    #[test]
    fn leaving_without_a_room_does_nothing() {
        let t = Tracker::new();
        let mut st = three_in_room(&t);
        online(&mut st, "s4", "4");
        st.connect("anon");
        assert!(st.leave_room("s4").is_empty());
        assert!(st.leave_room("anon").is_empty());
        assert!(st.leave_room("ghost").is_empty());
        assert!(!st.leave_room("s1").is_empty());
        assert!(st.leave_room("s1").is_empty());
        assert_eq!(st.stats().participants, 2);
    }

    #[test]
    fn disconnect_is_leave_plus_presence_removal() {
        let t = Tracker::new();
        let mut a = busy_room(&t);
        let t2 = Tracker::new();
        let mut b = busy_room(&t2);
        let left = a.leave_room("s1");
        let gone = b.disconnect("s1");
        assert_eq!(left, gone);
        assert_eq!(t.live(), t2.live());
        assert_eq!(b.user_of("s1"), None);
        assert!(b.sockets_of("1").is_empty());
        assert!(!b.is_online("1"));
        let sa = a.stats();
        assert_eq!(
            b.stats(),
            Stats {
                sockets: sa.sockets - 1,
                joined_users: sa.joined_users - 1,
                ..sa
            }
        );
    }

    #[test]
    fn disconnecting_the_last_participant_ends_the_call() {
        let t = Tracker::new();
        let mut st = State::new();
        online(&mut st, "s1", "1");
        online(&mut st, "s1b", "1");
        online(&mut st, "s2", "2");
        st.join_room("s1", join_req(&t, "r1", "1", &["1", "2"]))
            .unwrap();
        add_transport(&mut st, &t, "s1", "t1", SEND);
        let fx = st.disconnect("s1");
        assert_eq!(names(&fx), ["group_call_ended"]);
        let (to, _) = only(&fx, "group_call_ended");
        assert!(to.contains(&"s1b".to_owned()));
        assert!(to.contains(&"s2".to_owned()));
        assert!(st.active_room_ids().is_empty());
        assert_eq!(t.live(), Live::default());
    }

    #[test]
    fn everyone_disconnecting_releases_everything() {
        let t = Tracker::new();
        let mut st = busy_room(&t);
        online(&mut st, "s4", "4");
        st.join_room("s4", join_req(&t, "r2", "4", &["4"])).unwrap();
        add_transport(&mut st, &t, "s4", "t4", SEND);
        produce(&mut st, &t, "s4", "t4", "p4", "audio");
        for s in ["s2", "s4", "s1", "s3"] {
            st.disconnect(s);
        }
        assert_eq!(st.stats(), Stats::default());
        assert_eq!(t.live(), Live::default());
    }
}

// ----- active calls -------------------------------------------------------------------------

mod active_calls {
    use super::*;

    fn record(id: &str, name: Option<&str>, avatar: Option<&str>) -> ConversationRecord {
        ConversationRecord {
            id: id.into(),
            name: name.map(Into::into),
            avatar: avatar.map(Into::into),
        }
    }

    #[test]
    fn active_calls_are_filtered_and_counted() {
        let t = Tracker::new();
        let mut st = State::new();
        for (s, u) in [("s1", "1"), ("s2", "2"), ("s3", "3")] {
            online(&mut st, s, u);
        }
        st.join_room("s1", join_req(&t, "r1", "1", &["1", "2"]))
            .unwrap();
        st.join_room("s3", join_req(&t, "r2", "3", &["3"])).unwrap();
        st.join_room("s2", join_req(&t, "r1", "2", &["1", "2"]))
            .unwrap();
        assert_eq!(st.active_room_ids(), ["r1", "r2"]);
        assert_eq!(st.participant_count("r1"), 2);
        assert_eq!(st.participant_count("r2"), 1);
        assert_eq!(st.participant_count("r3"), 0);

        let policy = DisplayPolicy {
            avatar_base_url: "https://f.test".into(),
        };
        let records = [
            record("r2", None, Some("x.png")),
            record("r3", Some("Idle"), None),
            record("r1", Some("Team"), None),
        ];
        let calls = st.active_calls(&records, &policy);
        assert_eq!(
            calls,
            vec![
                ActiveCall {
                    conversation_id: "r2".into(),
                    conversation_info: ConversationInfo {
                        id: "r2".into(),
                        name: "Group Call".into(),
                        avatar: Some("https://f.test/x.png".into()),
                    },
                    participant_count: 1,
                    participants: vec![pinfo("3")],
                },
                ActiveCall {
                    conversation_id: "r1".into(),
                    conversation_info: ConversationInfo {
                        id: "r1".into(),
                        name: "Team".into(),
                        avatar: None,
                    },
                    participant_count: 2,
                    participants: vec![pinfo("1"), pinfo("2")],
                },
            ]
        );

        let event = st.active_calls_event("s1", calls.clone()).unwrap();
        let Effect::Emit { to, event } = event else {
            panic!("expected an emit");
        };
        assert_eq!(to, ["s1"]);
        assert_eq!(event.name(), "active_group_calls");
        assert_eq!(
            event.payload(),
            json!({"calls": [
                {"conversationId": "r2",
                 "conversationInfo": {"id": "r2", "name": "Group Call", "avatar": "https://f.test/x.png"},
                 "participantCount": 1,
                 "participants": [{"userId": "3", "name": "User 3", "avatar": null}]},
                {"conversationId": "r1",
                 "conversationInfo": {"id": "r1", "name": "Team", "avatar": null},
                 "participantCount": 2,
                 "participants": [
                     {"userId": "1", "name": "User 1", "avatar": null},
                     {"userId": "2", "name": "User 2", "avatar": null},
                 ]},
            ]})
        );

        // A room that ended is left out.
        st.leave_room("s3");
        assert_eq!(st.active_room_ids(), ["r1"]);
        let calls = st.active_calls(&records, &policy);
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].conversation_id, "r1");
    }

    #[test]
    fn no_active_calls_means_no_event() {
        let st = State::new();
        let records = [record("r1", None, None)];
        let calls = st.active_calls(&records, &DisplayPolicy::default());
        assert!(calls.is_empty());
        assert_eq!(st.active_calls_event("s1", calls), None);
        assert_eq!(st.active_calls_event("s1", Vec::new()), None);
    }
}

// ----- close_room ---------------------------------------------------------------------------

mod close_room {
    use super::*;

    #[test]
    fn close_room_empties_it_as_if_everyone_left() {
        let t = Tracker::new();
        let mut st = three_with_media(&t);
        online(&mut st, "s4", "4");
        st.join_room("s4", join_req(&t, "r2", "4", &["4"])).unwrap();
        add_transport(&mut st, &t, "s4", "t4", SEND);

        let fx = st.close_room("r1");
        assert_eq!(
            names(&fx),
            ["participantLeft", "participantLeft", "group_call_ended"]
        );
        let e = emits(&fx);
        assert_eq!(e[0].1, socks(&["s2", "s3"]));
        assert_eq!(e[0].2, json!({"socketId": "s1"}));
        assert_eq!(e[1].1, socks(&["s3"]));
        assert_eq!(e[1].2, json!({"socketId": "s2"}));
        assert_eq!(e[2].1, socks(&["s1", "s2", "s3"]));
        assert_eq!(e[2].2, json!({"conversationId": "r1"}));

        assert_eq!(st.active_room_ids(), ["r2"]);
        for s in ["s1", "s2", "s3"] {
            assert_eq!(st.room_of(s), None);
            assert!(st.user_of(s).is_some());
        }
        assert_eq!(st.room_of("s4"), Some("r2"));
        assert_eq!(
            t.live(),
            Live {
                routers: 1,
                transports: 1,
                producers: 0,
                consumers: 0
            }
        );
        assert!(st.close_room("r1").is_empty());
        assert!(st.close_room("nope").is_empty());
        let fx = st.close_room("r2");
        assert_eq!(names(&fx), ["group_call_ended"]);
        assert_eq!(t.live(), Live::default());
        assert_eq!(st.stats().rooms, 0);
        assert_eq!(st.stats().sockets, 4);
    }
}

// ----- removal after a media transport failure ----------------------------------------------

mod failed_transport {
    use super::*;

    #[test]
    fn removes_the_participant_like_leave_and_tells_it() {
        let t = Tracker::new();
        let mut st = three_with_media(&t);
        let epoch = epoch_of(&st, "s1");

        let fx = st.remove_failed_participant("s1", epoch, "t1");
        assert_eq!(names(&fx), ["removedFromRoom", "participantLeft"]);
        let e = emits(&fx);
        assert_eq!(e[0].1, socks(&["s1"]));
        assert_eq!(
            e[0].2,
            json!({"roomId": "r1", "reason": "transport_failed"})
        );
        assert_eq!(e[1].1, socks(&["s2", "s3"]));
        assert_eq!(st.room_of("s1"), None);
        assert_eq!(participant_sockets(&st, "r1"), ["s2", "s3"]);
        assert_eq!(
            consumer_count(&st, "s2"),
            0,
            "consumers of its producers went too"
        );
        assert_eq!(t.live().transports, 1, "only s2's transport is left");
        assert_eq!(t.live().producers, 0);
        assert_eq!(st.stats().sockets, 3, "the socket itself stays connected");
    }

    #[test]
    fn stale_epoch_or_foreign_transport_changes_nothing() {
        let t = Tracker::new();
        let mut st = three_in_room(&t);
        add_transport(&mut st, &t, "s1", "t1", SEND);
        let old = epoch_of(&st, "s1");
        // Another socket's transport id, an unknown id: nothing happens.
        assert!(
            st.remove_failed_participant("s2", epoch_of(&st, "s2"), "t1")
                .is_empty()
        );
        assert!(st.remove_failed_participant("s1", old, "nope").is_empty());
        // After leaving and rejoining, a late report about the old membership is ignored.
        st.leave_room("s1");
        st.join_room("s1", join_req(&t, "r1", "1", &[])).unwrap();
        assert!(st.remove_failed_participant("s1", old, "t1").is_empty());
        assert_eq!(participant_sockets(&st, "r1"), ["s2", "s3", "s1"]);
        // Not in any room: nothing.
        assert!(st.remove_failed_participant("s9", 0, "t1").is_empty());
    }

    #[test]
    fn last_participant_removed_ends_the_call() {
        let t = Tracker::new();
        let mut st = State::new();
        online(&mut st, "s1", "1");
        st.join_room("s1", join_req(&t, "r1", "1", &["1"])).unwrap();
        add_transport(&mut st, &t, "s1", "t1", SEND);
        let fx = st.remove_failed_participant("s1", epoch_of(&st, "s1"), "t1");
        assert_eq!(names(&fx), ["removedFromRoom", "group_call_ended"]);
        assert_eq!(st.stats().rooms, 0);
        assert_eq!(t.live(), Live::default());
    }
}

// ----- divergences from the seed server -----------------------------------------------------

mod divergences {
    use super::*;

    /// The seed emits `group_call_ended` from its `disconnect` handler with
    /// `io.to(userId)`, after Socket.IO has already removed the closed socket from its rooms:
    /// the disconnected socket itself is not a recipient. The domain addresses it anyway,
    /// because `disconnect` calls `leave_room` before forgetting the socket.
    #[test]
    fn disconnect_does_not_address_the_closed_socket() {
        let t = Tracker::new();
        let mut st = State::new();
        online(&mut st, "s1", "1");
        online(&mut st, "s1b", "1");
        st.join_room("s1", join_req(&t, "r1", "1", &["1"])).unwrap();
        let fx = st.disconnect("s1");
        let (to, _) = only(&fx, "group_call_ended");
        assert_eq!(to, socks(&["s1b"]));
    }
}
