//! Binds the domain's media handle types to `media-sfu`.

use call_domain::Media;
use media_sfu::{MediaConsumer, MediaProducer, MediaTransport, RoomRouter};
use std::sync::Arc;

/// The media-sfu implementation of [`Media`]: RAII handles, shared with in-flight requests.
#[derive(Debug)]
pub struct SfuMedia;

impl Media for SfuMedia {
    type Router = RoomRouter;
    type Transport = Arc<MediaTransport>;
    type Producer = Arc<MediaProducer>;
    type Consumer = Arc<MediaConsumer>;
}

/// The call state with real media.
pub type State = call_domain::CallState<SfuMedia>;
