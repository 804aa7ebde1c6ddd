//! What every ASAP endpoint (RFC 5352) does, pool element and pool user
//! alike: find a registrar by server hunt, name and drive the association
//! to it, decode what it sends (answering what cannot be understood), and
//! keep the ASAP timers.
//!
//! [`PoolElement`](crate::pool_element::PoolElement) and
//! [`PoolUser`](crate::pool_user::PoolUser) each own a `Hunter`; the driver
//! sees only [`RegConn`] names and [`RegTransmit`] orders.

mod conn;
mod hunt;
mod incoming;
mod registrars;
mod timers;

pub use conn::{RegConn, RegTransmit};
pub use registrars::RegistrarConfig;
pub use timers::AsapTimers;

pub(crate) use hunt::{HuntProgress, Hunter};
pub(crate) use incoming::decode as decode_asap;
