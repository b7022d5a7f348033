//! Socket event handlers: translate events to domain commands and media operations, execute
//! the resulting effects. One file per concern.

pub mod direct;
pub mod group_call;
pub mod mesh;
pub mod presence;
pub mod recording;
pub mod sfu;

use crate::ack::Ack;
use crate::app::App;
use crate::socket::Request;
use serde::Serialize;
use signal_proto::events as ev;
use signal_proto::responses::ErrorResponse;

/// Handle one request of a local socket: in cluster mode, a request for a room homed on
/// another node goes there (`cluster_link::forward::intercept`); the rest is routed
/// here.
pub async fn dispatch(app: &std::sync::Arc<App>, sid: &str, req: Request) {
    let req = match &app.cluster {
        Some(link) => match crate::cluster_link::forward::intercept(app, link, sid, req).await {
            Some(req) => req,
            None => return,
        },
        None => req,
    };
    route(app, sid, req).await;
}

/// Route one request to its handler (a local socket's, or one a cluster node forwarded).
pub async fn route(app: &std::sync::Arc<App>, sid: &str, req: Request) {
    let sid = sid.to_owned();
    let Request {
        event,
        data,
        ack,
        has_ack,
    } = req;
    match event {
        ev::JOIN => presence::join(app, &sid, data, ack).await,
        ev::GET_ACTIVE_CALLS => presence::get_active_calls(app, &sid, ack, has_ack).await,
        ev::GROUP_CALL_INITIATE => group_call::initiate(app, &sid, data, ack).await,
        ev::CREATE_ROOM => sfu::create_room(app, &sid, data, ack).await,
        ev::CREATE_TRANSPORT => sfu::create_transport(app, &sid, data, ack).await,
        ev::CONNECT_TRANSPORT => sfu::connect_transport(app, &sid, data, ack).await,
        ev::PRODUCE => sfu::produce(app, &sid, data, ack).await,
        ev::GET_PRODUCERS => sfu::get_producers(app, &sid, ack),
        ev::CONSUME => sfu::consume(app, &sid, data, ack).await,
        ev::RESUME_CONSUMER => sfu::resume_consumer(app, &sid, data, ack).await,
        ev::LEAVE_ROOM => sfu::leave_room(app, &sid, ack),
        ev::RESTART_ICE => sfu::restart_ice(app, &sid, data, ack).await,
        ev::CLOSE_PRODUCER => sfu::close_producer(app, &sid, data, ack),
        ev::PAUSE_PRODUCER => sfu::set_producer_paused(app, &sid, data, ack, true).await,
        ev::RESUME_PRODUCER => sfu::set_producer_paused(app, &sid, data, ack, false).await,
        ev::PAUSE_CONSUMER => sfu::pause_consumer(app, &sid, data, ack).await,
        ev::SET_CONSUMER_PREFERRED_LAYERS => sfu::set_preferred_layers(app, &sid, data, ack).await,
        ev::SET_CONSUMER_PRIORITY => sfu::set_consumer_priority(app, &sid, data, ack).await,
        ev::REQUEST_KEY_FRAME => sfu::request_key_frame(app, &sid, data, ack).await,
        ev::START_RECORDING => recording::start(app, &sid, data, ack).await,
        ev::STOP_RECORDING => recording::stop(app, &sid, data, ack).await,
        e if direct::EVENTS.contains(&e) => direct::handle(app, &sid, e, data, ack, has_ack).await,
        e if mesh::EVENTS.contains(&e) => mesh::handle(app, &sid, e, data, ack, has_ack).await,
        other => tracing::warn!(event = other, "no handler"),
    }
}

/// Send an ack payload (a no-op when the client sent no callback).
pub(crate) fn reply<T: Serialize + ?Sized>(ack: Ack, payload: &T) {
    if let Err(e) = ack.send(payload) {
        tracing::debug!(error = %e, "ack not delivered");
    }
}

/// Ack `{ error }` and log why.
pub(crate) fn reply_error(ack: Ack, error: impl std::fmt::Display) {
    let error = error.to_string();
    tracing::info!(%error, "request refused");
    reply(ack, &ErrorResponse::new(error));
}
