//! The RSerPool runtime: drives the I/O-free protocol core of
//! `rserpool-proto` with real sockets and a real clock on tokio.
//!
//! - [`transport`]: associations over TCP or kernel SCTP, chosen at run
//!   time, with the same message-oriented interface.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod announce;
pub mod metrics;
pub mod registrar;
pub mod transport;
