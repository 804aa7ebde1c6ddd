//! The RSerPool protocol core: no sockets, no clock, no async runtime.
//!
//! Everything here is driven by its caller: bytes in, bytes out; the time
//! is handed in as a value. That keeps the same code usable in the
//! registrar daemon, in unit tests, in benchmarks and in a simulator.
//!
//! - [`Time`] and [`Rng`]: the clock reading and the randomness every
//!   state machine is handed.
//! - [`wire`]: ASAP (RFC 5352) and ENRP (RFC 5353) messages and their
//!   RFC 5354 parameters, with a strict, total decoder and a byte-exact
//!   encoder.
//! - [`handlespace`]: pools, PE entries, policies, timers, ownership and
//!   checksums (paper section 3).
//! - [`registrar`]: the registrar (RFC 5352 server side, RFC 5353 peer) as
//!   an I/O-free state machine.
//! - [`identity`]: who an authenticated peer is and what it may do, from
//!   its certificate.
//! - [`asap_endpoint`]: what pool elements and pool users share: server
//!   hunt, the registrar association, the ASAP timers.
//! - [`data_channel`]: the PU-PE data channel's frames (PPID and payload)
//!   and their TCP framing.
//! - [`pool_element`]: the pool element's ASAP state machine (server hunt,
//!   registration, keep-alives, takeover) and its half of the session layer.
//! - [`pool_user`]: the pool user's ASAP state machine (handle resolution
//!   with a cache, unreachability reports) and the session layer (failover
//!   with cookie replay, business cards).
//! - [`probe`]: the ENRP probe, a pseudo-peer that reads a registrar's
//!   handlespace and peer list (what `rserpool dump` and `monitor` show).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod asap_endpoint;
pub mod data_channel;
pub mod handlespace;
pub mod identity;
pub mod pool_element;
pub mod pool_user;
pub mod probe;
pub mod registrar;
pub mod rng;
mod stream_buf;
pub mod time;
pub mod wire;

pub use rng::{Rng, Xoshiro256};
pub use time::Time;
