//! The media handle types a [`crate::CallState`] stores.

/// Handle types of the media layer. The domain only stores, clones and drops them.
///
/// With RAII handles (as `media-sfu` provides), dropping the last clone closes the object, so
/// removing a participant from the state is all it takes to release its media.
pub trait Media {
    /// A room's router.
    type Router: Clone + std::fmt::Debug;
    /// A transport.
    type Transport: Clone + std::fmt::Debug;
    /// A producer.
    type Producer: Clone + std::fmt::Debug;
    /// A consumer.
    type Consumer: Clone + std::fmt::Debug;
}
