//! Requests that own their bytes, so that an idle socket does not pin a connection buffer.
//!
//! hyper parses a request's URI and header values as slices (`Bytes`) of its connection read
//! buffer (8 to 16 KiB), and engineioxide keeps each socket's request parts (`req_parts`) for
//! the socket's whole life: every idle socket would keep its connection's entire read buffer
//! alive just for a few header bytes (16 KiB per socket, measured with heaptrack; see
//! `docs/benchmarks.md`). [`own_request_bytes`] copies the URI (also axum's `OriginalUri`
//! copy of it) and the headers into small allocations of their own before the request
//! reaches the Socket.IO layer.
//!
//! Huddle's standalone router applies it to every request under `/socket.io`. A host that
//! attaches Huddle to its own Socket.IO server should apply it outside its `SocketIoLayer`:
//! `router.layer(socket_io_layer).layer(axum::middleware::map_request(own_request_bytes))`.

use axum::extract::{OriginalUri, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri};

/// The Socket.IO endpoint's path prefix.
const SOCKET_IO: &str = "/socket.io";

/// `req` with its URI and headers copied out of the connection's read buffer (requests to
/// the Socket.IO endpoint only; others are passed on as they are).
pub async fn own_request_bytes(mut req: Request) -> Request {
    if !req.uri().path().starts_with(SOCKET_IO) {
        return req;
    }
    if let Some(uri) = owned_uri(req.uri()) {
        *req.uri_mut() = uri;
    }
    // axum's router put a clone of the URI there, before any layer ran.
    if let Some(OriginalUri(original)) = req.extensions_mut().get_mut::<OriginalUri>()
        && let Some(uri) = owned_uri(original)
    {
        *original = uri;
    }
    let headers = req.headers();
    let mut owned = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) else {
            // Cannot happen (both were valid); keep the request as it is rather than lose a
            // header.
            return req;
        };
        owned.append(name, value);
    }
    *req.headers_mut() = owned;
    req
}

/// A copy of `uri` in an allocation of its own.
fn owned_uri(uri: &Uri) -> Option<Uri> {
    uri.to_string().parse().ok()
}
