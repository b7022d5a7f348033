//! The SFU events: `createRoom` … `leaveRoom`, plus `restartIce` and `closeProducer`.

use super::{reply, reply_error};
use crate::app::App;
use call_domain::Directory as _;
use call_domain::{CallError, JoinRoom};
use media_sfu::SfuError;
use serde_json::Value;
use signal_proto::errors;
use signal_proto::requests::{
    CloseProducerRequest, ConnectTransportRequest, ConsumeRequest, CreateRoomRequest,
    CreateTransportRequest, ProduceRequest, RestartIceRequest, ResumeConsumerRequest, decode,
};
use signal_proto::responses::{
    ConsumeResponse, CreateRoomResponse, ProduceResponse, ProducersResponse, RestartIceResponse,
    SuccessResponse,
};
use socketioxide::extract::AckSender;
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
pub async fn create_room(app: &App, sid: &str, data: Value, ack: AckSender) {
    let req: CreateRoomRequest = decode_or_reply!(data, ack);
    let checked = app
        .state
        .lock()
        .check_join_room(sid, req.room_id.as_deref());
    let (user, active) = match checked {
        Ok(v) => v,
        Err(e) => return reply_error(ack, e),
    };
    let room_id = req.room_id.unwrap_or_default();
    // One directory round trip: the membership when the room is active (its member list is
    // cached), else the whole roster (needed to announce the call to every member).
    let (member, conversation, members) = if active {
        match app.directory.member(&room_id, &user).await {
            Ok(Some(view)) => (view.user, view.conversation, Vec::new()),
            Ok(None) => return reply_error(ack, CallError::NotInGroup),
            Err(_) => return reply_error(ack, errors::DIRECTORY_UNAVAILABLE),
        }
    } else {
        match app.directory.roster(&room_id).await {
            Ok(Some(roster)) => match roster.member(&user).cloned() {
                Some(member) => {
                    let members = roster.members.iter().map(|m| m.id.clone()).collect();
                    (member, roster.conversation, members)
                }
                None => return reply_error(ack, CallError::NotInGroup),
            },
            Ok(None) => return reply_error(ack, CallError::NotInGroup),
            Err(_) => return reply_error(ack, errors::DIRECTORY_UNAVAILABLE),
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
    };
    let joined = app.state.lock().join_room(sid, join);
    match joined {
        Ok((router, effects)) => {
            tracing::info!(room = %room_id, user = %user, "joined room");
            app.apply(effects);
            reply(
                ack,
                &CreateRoomResponse {
                    rtp_capabilities: router.rtp_capabilities(),
                },
            );
        }
        Err(e) => reply_error(ack, e),
    }
}

/// `createTransport {type}`: a WebRTC transport on the room's router.
pub async fn create_transport(app: &App, sid: &str, data: Value, ack: AckSender) {
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
pub async fn connect_transport(app: &App, sid: &str, data: Value, ack: AckSender) {
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

/// `produce {transportId, kind, rtpParameters}` → `{id}`, `newProducer` to the room.
pub async fn produce(app: &App, sid: &str, data: Value, ack: AckSender) {
    let req: ProduceRequest = decode_or_reply!(data, ack);
    let found = app.state.lock().produce_target(sid, &req.transport_id);
    let (transport, epoch) = match found {
        Ok(t) => t,
        Err(e) => return reply_error(ack, e),
    };
    let producer = match transport.produce(&req.kind, req.rtp_parameters).await {
        Ok(p) => p,
        Err(e) => return reply_error(ack, e),
    };
    let id = producer.id();
    let kind = producer.kind().to_owned();
    let added = app
        .state
        .lock()
        .add_producer(sid, epoch, id.clone(), kind, Arc::new(producer));
    match added {
        Ok(effects) => {
            tracing::info!(producer = %id, kind = %req.kind, "producing");
            reply(ack, &ProduceResponse { id });
            app.apply(effects);
        }
        Err(e) => reply_error(ack, e),
    }
}

/// `getProducers` (with or without a payload) → `{producers}`.
pub fn get_producers(app: &App, sid: &str, ack: AckSender) {
    let producers = app.state.lock().producers(sid);
    match producers {
        Ok(producers) => reply(ack, &ProducersResponse { producers }),
        Err(e) => reply_error(ack, e),
    }
}

/// `consume {transportId, producerId, rtpCapabilities}` → a paused consumer.
pub async fn consume(app: &App, sid: &str, data: Value, ack: AckSender) {
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
    let response = ConsumeResponse {
        id: consumer.id(),
        producer_id: consumer.producer_id(),
        kind: consumer.kind().to_owned(),
        rtp_parameters: consumer.rtp_parameters(),
    };
    let added = app.state.lock().add_consumer(
        sid,
        target.epoch,
        response.id.clone(),
        response.producer_id.clone(),
        Arc::new(consumer),
    );
    match added {
        Ok(()) => reply(ack, &response),
        Err(e) => reply_error(ack, e),
    }
}

/// `resumeConsumer {consumerId}`: resume (and request a key frame for video).
pub async fn resume_consumer(app: &App, sid: &str, data: Value, ack: AckSender) {
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
pub fn leave_room(app: &App, sid: &str, ack: AckSender) {
    let effects = app.state.lock().leave_room(sid);
    tracing::info!("left room");
    app.apply(effects);
    reply(ack, &SuccessResponse::OK);
}

/// `restartIce {transportId}` → `{iceParameters}` (Huddle addition).
pub async fn restart_ice(app: &App, sid: &str, data: Value, ack: AckSender) {
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
pub fn close_producer(app: &App, sid: &str, data: Value, ack: AckSender) {
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
