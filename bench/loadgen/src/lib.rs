//! Huddle's signalling load generator.
//!
//! Many Socket.IO v4 clients over WebSocket ([`sio`], Engine.IO v4 text packets spoken
//! directly), a directory [`layout`] shared with the servers, and the measured [`scenario`]:
//! `join` → `active_group_calls` latency, `get_active_calls` (ack) throughput,
//! `group_call_initiate` → `group_call_incoming` fan-out latency and server RSS per idle socket,
//! at several connected-socket counts. Results are printed as tab-separated `result` lines
//! ([`stats::Measurement::line`]) for `cargo xtask bench`.
//!
//! [`storm`] is the PostgreSQL reconnect-storm bench: thousands of sockets sending
//! `get_active_calls` at once, refused / unanswered requests, server CPU per request.
//!
//! [`soak`] is the leak check behind `cargo xtask soak`: thousands of random call cycles, then
//! zero live objects in `/debug/stats` and the server's RSS back near its baseline.

pub mod call_updates;
pub mod cluster;
pub mod layout;
pub mod scenario;
pub mod sio;
pub mod soak;
pub mod stats;
pub mod storm;

/// Raises this process's open-file soft limit to the hard limit; returns the new soft limit.
pub fn raise_fd_limit() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}
