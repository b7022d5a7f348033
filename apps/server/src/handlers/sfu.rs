//! The SFU events: `createRoom` … `leaveRoom`, plus `restartIce`, `closeProducer` and the
//! in-call controls (`pauseProducer` / `resumeProducer`, `pauseConsumer`,
//! `setConsumerPreferredLayers`, `setConsumerPriority`, `requestKeyFrame`).

use super::{reply, reply_error};
use crate::ack::Ack;
use crate::app::App;
use call_domain::Directory as _;
use call_domain::{CallError, JoinRoom, ProducerMeta};
use media_sfu::{ConsumerType, Layers, MediaConsumer, SfuError};
use serde_json::Value;
use signal_proto::errors;
use signal_proto::requests::{
    CloseProducerRequest, ConnectTransportRequest, ConsumeRequest, ConsumerIdRequest,
    CreateRoomRequest, CreateTransportRequest, ProduceRequest, ProducerIdRequest,
    RestartIceRequest, ResumeConsumerRequest, SetConsumerPriorityRequest,
    SetPreferredLayersRequest, decode,
};
use signal_proto::responses::{
    ConsumeResponse, CreateRoomResponse, ProduceResponse, ProducersResponse, RestartIceResponse,
    SuccessResponse,
};
use std::sync::Arc;

/// Decode a payload or ack `{error}` and return from the handler.
macro_rules! decode_or_reply {
    ($data:expr, $ack:expr) => {
        match decode($data) {
            Ok(r) => r,
            Err(e) => return reply_error($ack, e),
        }
    };
}

/// `createRoom {roomId}`: membership check, one router per room, join (leaving any other
/// room first); the first participant makes the call active.
pub async fn create_room(app: &App, sid: &str, data: Value, ack: Ack) {
    let req: CreateRoomRequest = decode_or_reply!(data, ack);
    let checked = {
        let st = app.state.lock();
        // The ticket is taken before the roster read below (see `rosters`).
        st.check_join_room(sid, req.room_id.as_deref())
            .map(|checked| (checked, st.roster_ticket()))
    };
    let ((user, active), ticket) = match checked {
        Ok(v) => v,
        Err(e) => return reply_error(ack, e),
    };
    let room_id = req.room_id.unwrap_or_default();
    // One directory round trip: the membership when the room is active (its member list is
    // cached), else the whole roster (needed to announce the call to every member).
    let (member, conversation, members, roster) = if active {
        match app.directory.member(&room_id, &user).await {
            Ok(Some(view)) => (view.user, view.conversation, Vec::new(), None),
            Ok(None) => return reply_error(ack, CallError::NotInGroup),
            Err(e) => return reply_error(ack, errors::directory(e.is_busy())),
        }
    } else {
        match app.directory.roster(&room_id).await {
            Ok(Some(roster)) => match roster.member(&user).cloned() {
                Some(member) => {
                    let members = roster.members.iter().map(|m| m.id.clone()).collect();
                    (member, roster.conversation, members, Some(ticket))
                }
                None => return reply_error(ack, CallError::NotInGroup),
            },
            Ok(None) => return reply_error(ack, CallError::NotInGroup),
            Err(e) => return reply_error(ack, errors::directory(e.is_busy())),
        }
    };
    let router = match app.sfu.router_for(&room_id).await {
        Ok(r) => r,
        Err(e) => return reply_error(ack, e),
    };
    let join = JoinRoom {
        room_id: room_id.clone(),
        info: app.display.participant_info(&member),
        router,
        conversation: app.display.conversation_info(&conversation),
        members,
        roster,
    };
    // The snapshot is taken under the same lock as the join: nothing can happen between.
    let joined = {
        let mut st = app.state.lock();
        st.join_room(sid, join).map(|joined| {
            let snapshot = st.room_snapshot_for(sid).unwrap_or_default();
            let extras = (st.active_speaker(&room_id), st.recording_of(&room_id));
            (joined, snapshot, extras)
        })
    };
    match joined {
        Ok(((router, effects), participants, (active_speaker, recording))) => {
            tracing::info!(room = %room_id, user = %user, "joined room");
            app.apply(effects);
            app.rosters.start_reads();
            reply(
                ack,
                &CreateRoomResponse {
                    rtp_capabilities: router.rtp_capabilities(),
                    participants,
                    active_speaker,
                    recording,
                },
            );
        }
        Err(e) => reply_error(ack, e),
    }
}

/// `createTransport {type}`: a WebRTC transport on the room's router.
pub async fn create_transport(app: &App, sid: &str, data: Value, ack: Ack) {
    let req: CreateTransportRequest = decode_or_reply!(data, ack);
    let target = app.state.lock().transport_target(sid);
    let (router, epoch) = match target {
        Ok(t) => t,
        Err(e) => return reply_error(ack, e),
    };
    let transport = match router.create_webrtc_transport().await {
        Ok(t) => t,
        Err(e) => return reply_error(ack, e),
    };
    let id = transport.id();
    let params = transport.client_parameters();
    let transport = Arc::new(transport);
    let added =
        app.state
            .lock()
            .add_transport(sid, epoch, id.clone(), req.direction(), transport.clone());
    match added {
        Ok(()) => {
            app.health.watch(sid, epoch, &transport);
            tracing::debug!(transport = %id, direction = ?req.direction(), "transport created");
            reply(ack, &params);
        }
        Err(e) => reply_error(ack, e),
    }
}

/// `connectTransport {transportId, dtlsParameters}`: connect, send and recv transports alike.
pub async fn connect_transport(app: &App, sid: &str, data: Value, ack: Ack) {
    let req: ConnectTransportRequest = decode_or_reply!(data, ack);
    let found = app.state.lock().transport(sid, &req.transport_id);
    let (transport, _) = match found {
        Ok(t) => t,
        Err(e) => return reply_error(ack, e),
    };
    match transport.connect(req.dtls_parameters).await {
        Ok(()) => reply(ack, &SuccessResponse::OK),
        Err(e) => reply_error(ack, e),
    }
}

/// `produce {transportId, kind, rtpParameters, appData?}` → `{id}`, `newProducer` to the
/// room (with `appData.source`, defaulted by kind, and the application data).
pub async fn produce(app: &Arc<App>, sid: &str, data: Value, ack: Ack) {
    let req: ProduceRequest = decode_or_reply!(data, ack);
    let found = app.state.lock().produce_target(sid, &req.transport_id);
    let (transport, epoch) = match found {
        Ok(t) => t,
        Err(e) => return reply_error(ack, e),
    };
    let meta = ProducerMeta {
        source: req.source(),
        app_data: req.app_data(),
    };
    let producer = match transport.produce(&req.kind, req.rtp_parameters).await {
        Ok(p) => p,
        Err(e) => return reply_error(ack, e),
    };
    let id = producer.id();
    let kind = producer.kind().to_owned();
    let audio = kind == "audio";
    let source = meta.source;
    let added =
        app.state
            .lock()
            .add_producer_with(sid, epoch, id.clone(), kind, meta, Arc::new(producer));
    match added {
        Ok(effects) => {
            tracing::info!(producer = %id, kind = %req.kind, source = source.as_str(), "producing");
            reply(ack, &ProduceResponse { id: id.clone() });
            app.apply(effects);
            let router = audio.then(|| app.state.lock().router_of(sid)).flatten();
            if let Some(router) = router {
                crate::speakers::observe(&router, &id).await;
            }
            let room = app.state.lock().room_of(sid).map(str::to_owned);
            if let Some(room) = room {
                crate::recording::producer_added(app, &room, &id).await;
            }
        }
        Err(e) => reply_error(ack, e),
    }
}

/// `getProducers` (with or without a payload) → `{producers}`.
pub fn get_producers(app: &App, sid: &str, ack: Ack) {
    let producers = app.state.lock().producers(sid);
    match producers {
        Ok(producers) => reply(ack, &ProducersResponse { producers }),
        Err(e) => reply_error(ack, e),
    }
}

/// `consume {transportId, producerId, rtpCapabilities}` → a paused consumer, with the
/// producer's paused flag and application data and the consumer's type.
pub async fn consume(app: &Arc<App>, sid: &str, data: Value, ack: Ack) {
    let req: ConsumeRequest = decode_or_reply!(data, ack);
    let target = app
        .state
        .lock()
        .consume_target(sid, &req.transport_id, &req.producer_id);
    let target = match target {
        Ok(t) => t,
        Err(e) => return reply_error(ack, e),
    };
    // A producer closed since the state check is "not found", not a capability problem.
    match target
        .router
        .check_consume(&req.producer_id, &req.rtp_capabilities)
    {
        Ok(()) => {}
        Err(SfuError::ProducerNotFound) => return reply_error(ack, CallError::ProducerNotFound),
        Err(_) => return reply_error(ack, CallError::RtpCapabilitiesMismatch),
    }
    let Some(transport) = target.transport else {
        return reply_error(ack, CallError::RecvTransportNotFound);
    };
    let consumer = match transport
        .consume(&req.producer_id, req.rtp_capabilities, true)
        .await
    {
        Ok(c) => c,
        Err(SfuError::ProducerNotFound | SfuError::Closed) => {
            return reply_error(ack, CallError::ProducerNotFound);
        }
        Err(e) => return reply_error(ack, e),
    };
    let (id, producer_id) = (consumer.id(), consumer.producer_id());
    let consumer = Arc::new(consumer);
    // The producer's state is read under the same lock as the attach, so the ack and the
    // `producerPaused` / `producerResumed` events the socket gets agree.
    let added = {
        let mut st = app.state.lock();
        st.add_consumer(
            sid,
            target.epoch,
            id.clone(),
            producer_id.clone(),
            consumer.clone(),
        )
        .map(|()| st.producer_view(sid, &producer_id))
    };
    let view = match added {
        Ok(view) => view,
        Err(e) => return reply_error(ack, e),
    };
    if consumer.consumer_type() != ConsumerType::Simple {
        watch_layers(app, sid, target.epoch, &consumer);
    }
    reply(
        ack,
        &ConsumeResponse {
            rtp_parameters: consumer.rtp_parameters(),
            kind: consumer.kind().to_owned(),
            producer_paused: view
                .as_ref()
                .map_or_else(|| consumer.producer_paused(), |v| v.paused),
            app_data: view.map_or_else(|| Value::Object(Default::default()), |v| v.meta.app_data),
            consumer_type: consumer.consumer_type().as_str().to_owned(),
            id,
            producer_id,
        },
    );
}

/// Tell the socket (`consumerLayersChanged`) whenever the layers `consumer` forwards change.
/// mediasoup reports on its own thread; a channel hands the reports, in order, to a task that
/// ends when the consumer (and with it the callback's sender) is gone.
fn watch_layers(app: &Arc<App>, sid: &str, epoch: u64, consumer: &MediaConsumer) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Option<Layers>>();
    consumer.on_layers_change(move |layers| {
        let _ = tx.send(layers);
    });
    let weak = Arc::downgrade(app);
    let (sid, consumer_id) = (sid.to_owned(), consumer.id());
    tokio::spawn(async move {
        while let Some(layers) = rx.recv().await {
            let Some(app) = weak.upgrade() else {
                return;
            };
            let layers = layers.map(|l| (l.spatial, l.temporal));
            tracing::debug!(consumer = %consumer_id, ?layers, "consumer layers changed");
            let effects =
                app.state
                    .lock()
                    .consumer_layers_changed(&sid, epoch, &consumer_id, layers);
            app.apply(effects);
        }
    });
}

/// `resumeConsumer {consumerId}`: resume (and request a key frame for video).
pub async fn resume_consumer(app: &App, sid: &str, data: Value, ack: Ack) {
    let req: ResumeConsumerRequest = decode_or_reply!(data, ack);
    let found = app.state.lock().consumer(sid, &req.consumer_id);
    let consumer = match found {
        Ok(c) => c,
        Err(e) => return reply_error(ack, e),
    };
    match consumer.resume().await {
        Ok(()) => reply(ack, &SuccessResponse::OK),
        Err(SfuError::Closed) => reply_error(ack, CallError::ConsumerNotFound),
        Err(e) => reply_error(ack, e),
    }
}

/// `leaveRoom`: leave and release everything the socket owned in the room.
pub fn leave_room(app: &App, sid: &str, ack: Ack) {
    let effects = app.state.lock().leave_room(sid);
    tracing::info!("left room");
    app.apply(effects);
    reply(ack, &SuccessResponse::OK);
}

/// `restartIce {transportId}` → `{iceParameters}` (Huddle addition).
pub async fn restart_ice(app: &App, sid: &str, data: Value, ack: Ack) {
    let req: RestartIceRequest = decode_or_reply!(data, ack);
    let found = app.state.lock().transport(sid, &req.transport_id);
    let (transport, _) = match found {
        Ok(t) => t,
        Err(e) => return reply_error(ack, e),
    };
    match transport.restart_ice().await {
        Ok(ice_parameters) => reply(ack, &RestartIceResponse { ice_parameters }),
        Err(e) => reply_error(ack, e),
    }
}

/// `closeProducer {producerId}` → `producerClosed` to the room (Huddle addition).
pub fn close_producer(app: &App, sid: &str, data: Value, ack: Ack) {
    let req: CloseProducerRequest = decode_or_reply!(data, ack);
    let closed = app.state.lock().close_producer(sid, &req.producer_id);
    match closed {
        Ok(effects) => {
            app.apply(effects);
            reply(ack, &SuccessResponse::OK);
        }
        Err(e) => reply_error(ack, e),
    }
}

/// `pauseProducer` / `resumeProducer {producerId}` (Huddle addition): pause or resume one of
/// the socket's own producers in the worker, then `producerPaused` / `producerResumed` to the
/// rest of the room. Idempotent: repeating it succeeds and announces nothing new.
pub async fn set_producer_paused(app: &App, sid: &str, data: Value, ack: Ack, paused: bool) {
    let req: ProducerIdRequest = decode_or_reply!(data, ack);
    let found = app.state.lock().own_producer(sid, &req.producer_id);
    let (producer, epoch) = match found {
        Ok(p) => p,
        Err(e) => return reply_error(ack, e),
    };
    let done = if paused {
        producer.pause().await
    } else {
        producer.resume().await
    };
    match done {
        Ok(()) => {}
        Err(SfuError::Closed) => return reply_error(ack, CallError::ProducerNotFound),
        Err(e) => return reply_error(ack, e),
    }
    let changed = app
        .state
        .lock()
        .set_producer_paused(sid, epoch, &req.producer_id, paused);
    match changed {
        Ok(effects) => {
            if !effects.is_empty() {
                tracing::info!(producer = %req.producer_id, paused, "producer pause changed");
            }
            app.apply(effects);
            reply(ack, &SuccessResponse::OK);
        }
        Err(e) => reply_error(ack, e),
    }
}

/// Run one media operation on one of the socket's consumers and ack `{success: true}`; an
/// unknown (or foreign) consumer, or one closed meanwhile, is "Consumer not found".
async fn on_consumer<F, Fut>(app: &App, sid: &str, consumer_id: &str, ack: Ack, op: F)
where
    F: FnOnce(Arc<MediaConsumer>) -> Fut,
    Fut: std::future::Future<Output = Result<(), SfuError>>,
{
    let found = app.state.lock().consumer(sid, consumer_id);
    let consumer = match found {
        Ok(c) => c,
        Err(e) => return reply_error(ack, e),
    };
    match op(consumer).await {
        Ok(()) => reply(ack, &SuccessResponse::OK),
        Err(SfuError::Closed) => reply_error(ack, CallError::ConsumerNotFound),
        Err(e) => reply_error(ack, e),
    }
}

/// `pauseConsumer {consumerId}` (Huddle addition): stop forwarding to this socket (a hidden
/// tile, an app in the background); `resumeConsumer` starts it again.
pub async fn pause_consumer(app: &App, sid: &str, data: Value, ack: Ack) {
    let req: ConsumerIdRequest = decode_or_reply!(data, ack);
    on_consumer(app, sid, &req.consumer_id, ack, |c| async move {
        c.pause().await
    })
    .await;
}

/// `setConsumerPreferredLayers {consumerId, spatialLayer, temporalLayer?}` (Huddle addition):
/// the highest layers to forward; the actual ones are reported by `consumerLayersChanged`.
pub async fn set_preferred_layers(app: &App, sid: &str, data: Value, ack: Ack) {
    let req: SetPreferredLayersRequest = decode_or_reply!(data, ack);
    let (spatial, temporal) = req.layers();
    on_consumer(app, sid, &req.consumer_id, ack, |c| async move {
        c.set_preferred_layers(Layers { spatial, temporal }).await
    })
    .await;
}

/// `setConsumerPriority {consumerId, priority}` (Huddle addition): 1–255.
pub async fn set_consumer_priority(app: &App, sid: &str, data: Value, ack: Ack) {
    let req: SetConsumerPriorityRequest = decode_or_reply!(data, ack);
    let priority = req.priority();
    on_consumer(app, sid, &req.consumer_id, ack, |c| async move {
        c.set_priority(priority).await
    })
    .await;
}

/// `requestKeyFrame {consumerId}` (Huddle addition).
pub async fn request_key_frame(app: &App, sid: &str, data: Value, ack: Ack) {
    let req: ConsumerIdRequest = decode_or_reply!(data, ack);
    on_consumer(app, sid, &req.consumer_id, ack, |c| async move {
        c.request_key_frame().await
    })
    .await;
}
