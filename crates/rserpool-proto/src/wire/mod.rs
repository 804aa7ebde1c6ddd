//! The wire layer: typed ASAP and ENRP messages and RFC 5354 parameters.

pub mod ids;
pub mod policy;
pub mod transport;

pub use ids::{PeId, PoolHandle, ServerId};
pub use policy::{Policy, PolicyType};
pub use transport::{TransportKind, TransportParam, TransportUse};
