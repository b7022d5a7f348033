//! Socket.IO event names.

/// Client → server: register the socket's user (`emit('join', userId)`).
pub const JOIN: &str = "join";
/// Client → server: list active calls (ack optional).
pub const GET_ACTIVE_CALLS: &str = "get_active_calls";
/// Client → server: start a group call in a conversation.
pub const GROUP_CALL_INITIATE: &str = "group_call_initiate";
/// Client → server: join (or create) the SFU room of a conversation.
pub const CREATE_ROOM: &str = "createRoom";
/// Client → server: create a WebRTC transport.
pub const CREATE_TRANSPORT: &str = "createTransport";
/// Client → server: connect a transport with the client's DTLS parameters.
pub const CONNECT_TRANSPORT: &str = "connectTransport";
/// Client → server: start producing a track.
pub const PRODUCE: &str = "produce";
/// Client → server: list producers of the room.
pub const GET_PRODUCERS: &str = "getProducers";
/// Client → server: consume a remote producer.
pub const CONSUME: &str = "consume";
/// Client → server: resume a (paused) consumer.
pub const RESUME_CONSUMER: &str = "resumeConsumer";
/// Client → server: leave the SFU room.
pub const LEAVE_ROOM: &str = "leaveRoom";
/// Client → server (Huddle addition): restart ICE of a transport.
pub const RESTART_ICE: &str = "restartIce";
/// Client → server (Huddle addition): close one of the socket's producers.
pub const CLOSE_PRODUCER: &str = "closeProducer";

/// Server → client: active calls of the user's conversations.
pub const ACTIVE_GROUP_CALLS: &str = "active_group_calls";
/// Server → client: a group call rings.
pub const GROUP_CALL_INCOMING: &str = "group_call_incoming";
/// Server → client: a group call is active in a conversation.
pub const GROUP_CALL_STARTED: &str = "group_call_started";
/// Server → client: the group call of a conversation ended.
pub const GROUP_CALL_ENDED: &str = "group_call_ended";
/// Server → client: a group-call request failed.
pub const GROUP_CALL_ERROR: &str = "group_call_error";
/// Server → client (Huddle addition): the participants of an active group call changed
/// (to every member of the conversation, throttled to one per second per conversation).
pub const GROUP_CALL_UPDATED: &str = "group_call_updated";
/// Server → client: a participant of the room produces a new track.
pub const NEW_PRODUCER: &str = "newProducer";
/// Server → client: a participant left the room.
pub const PARTICIPANT_LEFT: &str = "participantLeft";
/// Server → client (Huddle addition): a producer of the room was closed.
pub const PRODUCER_CLOSED: &str = "producerClosed";
/// Server → client (Huddle addition): the server removed this socket from its SFU room
/// (its media transport failed and did not recover within the grace period).
pub const REMOVED_FROM_ROOM: &str = "removedFromRoom";
/// Server → client (Huddle addition): the server is shutting down.
pub const SERVER_SHUTDOWN: &str = "server_shutdown";

/// Client → server (Huddle addition): pause one of the socket's producers (mute).
pub const PAUSE_PRODUCER: &str = "pauseProducer";
/// Client → server (Huddle addition): resume one of the socket's paused producers (unmute).
pub const RESUME_PRODUCER: &str = "resumeProducer";
/// Client → server (Huddle addition): pause one of the socket's consumers (hidden tile).
pub const PAUSE_CONSUMER: &str = "pauseConsumer";
/// Client → server (Huddle addition): the highest spatial/temporal layers a consumer wants.
pub const SET_CONSUMER_PREFERRED_LAYERS: &str = "setConsumerPreferredLayers";
/// Client → server (Huddle addition): a consumer's share of the available bandwidth (1–255).
pub const SET_CONSUMER_PRIORITY: &str = "setConsumerPriority";
/// Client → server (Huddle addition): ask the producer of a consumer for a key frame.
pub const REQUEST_KEY_FRAME: &str = "requestKeyFrame";

/// Server → client (Huddle addition): a participant paused one of its producers.
pub const PRODUCER_PAUSED: &str = "producerPaused";
/// Server → client (Huddle addition): a participant resumed one of its producers.
pub const PRODUCER_RESUMED: &str = "producerResumed";
/// Server → client (Huddle addition): the layers a consumer of this socket forwards changed.
pub const CONSUMER_LAYERS_CHANGED: &str = "consumerLayersChanged";
/// Server → client (Huddle addition): the room's dominant speaker changed.
pub const ACTIVE_SPEAKER: &str = "activeSpeaker";
/// Server → client (Huddle addition): who is audible, at most twice a second.
pub const AUDIO_LEVELS: &str = "audioLevels";
/// Server → client (Huddle addition): a participant's connection quality changed.
pub const CONNECTION_QUALITY: &str = "connectionQuality";
/// Client → server (Huddle addition, with `--allow-participant-recording`): record the room.
pub const START_RECORDING: &str = "startRecording";
/// Client → server (Huddle addition): stop the room's recording.
pub const STOP_RECORDING: &str = "stopRecording";
/// Server → client (Huddle addition): the room is being recorded.
pub const RECORDING_STARTED: &str = "recordingStarted";
/// Server → client (Huddle addition): the room's recording stopped.
pub const RECORDING_STOPPED: &str = "recordingStopped";
