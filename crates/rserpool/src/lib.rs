//! The RSerPool runtime: drives the I/O-free protocol core of
//! `rserpool-proto` with real sockets and a real clock on tokio.
//!
//! - [`transport`]: associations over TCP or kernel SCTP, chosen at run
//!   time, with the same message-oriented interface.
//! - [`registrar`]: the registrar daemon.
//! - [`http`]: the registrar's HTTP API, watch and dashboard.
//! - [`pool_element`]: pool elements: registration and sessions.
//! - [`pool_user`]: pool users: handle resolution and sessions with failover.
//! - `pki` (feature `pki`): a scope CA and certificates for TLS.
//! - [`services`]: ready-made pool element services (echo, compute, ...).
//! - [`cookie`]: session cookies sealed with a pool secret.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod announce;
pub mod cookie;
mod driver;
pub mod http;
pub mod metrics;
#[cfg(feature = "pki")]
pub mod pki;
pub mod pool_element;
pub mod pool_user;
pub mod registrar;
pub mod services;
pub mod transport;

/// A seed for protocol randomness (PE IDs, selection) from the standard
/// library's randomly keyed hasher and the clock.
pub fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}
