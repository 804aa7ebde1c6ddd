//! The RSerPool runtime: drives the I/O-free protocol core of
//! `rserpool-proto` with real sockets and a real clock on tokio.
//!
//! - [`transport`]: associations over TCP or kernel SCTP, chosen at run
//!   time, with the same message-oriented interface.
//! - [`registrar`]: the registrar daemon.
//! - [`http`]: the registrar's HTTP API, watch and dashboard.
//! - [`pool_element`]: pool elements: registration and sessions.
//! - [`pool_user`]: pool users: handle resolution and sessions with failover.
//! - [`probe`]: a registrar's handlespace and peers, read over ENRP
//!   ([`probe::dump`]).
//! - `pki` (feature `pki`): a scope CA and certificates for TLS.
//! - [`services`]: ready-made pool element services (echo, compute, ...).
//! - [`cookie`]: session cookies sealed with a pool secret.
//! - [`proto`]: the protocol core itself (wire types, state machines).
//!
//! # Quick start
//!
//! A pool element registers in a pool with a registrar and serves the
//! sessions pool users open to it; a pool user asks a registrar for the
//! pool's PEs and talks to one of them, moving to another when it fails.
//! With a registrar at 127.0.0.1:3863 (`rserpool registrar`), one program
//! can be both:
//!
//! ```no_run
//! use rserpool::pool_element::{self, PoolElementConfig, SessionMessage};
//! use rserpool::pool_user::{self, PoolUserConfig, SessionEvent};
//! use rserpool::proto::wire::Policy;
//!
//! # async fn quick_start() -> Result<(), Box<dyn std::error::Error>> {
//! let registrar = "127.0.0.1:3863".parse()?;
//!
//! // A pool element of pool "echo" that sends every message back.
//! let mut pe_cfg = PoolElementConfig::new("echo", Policy::RoundRobin);
//! pe_cfg.registrars = vec![registrar];
//! pe_cfg.announces = None; // this registrar only, no multicast
//! let mut pe = pool_element::start(pe_cfg).await?;
//! pe.wait_registered().await;
//! let mut sessions = pe.take_sessions();
//! tokio::spawn(async move {
//!     while let Some(mut session) = sessions.accept().await {
//!         tokio::spawn(async move {
//!             while let Ok(Some(message)) = session.recv().await {
//!                 if let SessionMessage::Data(frame) = message {
//!                     let _ = session.send(frame.ppid, frame.payload).await;
//!                 }
//!             }
//!         });
//!     }
//! });
//!
//! // A pool user with a session to the pool.
//! let mut pu_cfg = PoolUserConfig::new();
//! pu_cfg.registrars = vec![registrar];
//! pu_cfg.announces = None;
//! let pu = pool_user::start(pu_cfg).await?;
//! let mut session = pu.open_session("echo").await?;
//! session.send(b"hello".to_vec()).await?;
//! loop {
//!     match session.recv().await {
//!         Some(SessionEvent::Data(frame)) => break assert_eq!(frame.payload, b"hello"),
//!         Some(SessionEvent::Failover { from, to, .. }) => eprintln!("PE {from} failed, now {to}"),
//!         Some(_) => {}
//!         None => return Err("the pool user stopped".into()),
//!     }
//! }
//! pe.stop().await?; // deregisters
//! # Ok(())
//! # }
//! ```
//!
//! The crate's `examples/` go further: `echo_pe` and `pu_client` as two
//! programs, and `cookie_service`, a service whose session state survives
//! the death of its PE in sealed cookies.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

/// The protocol core this runtime drives (wire types such as
/// [`proto::wire::Policy`], the state machines), so that an application
/// needs only this crate.
pub use rserpool_proto as proto;

pub mod announce;
pub mod cookie;
mod driver;
pub mod http;
pub mod metrics;
#[cfg(feature = "pki")]
pub mod pki;
pub mod pool_element;
pub mod pool_user;
pub mod probe;
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
