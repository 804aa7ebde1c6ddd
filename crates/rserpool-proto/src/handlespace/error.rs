//! Why a handlespace operation was refused, with the RFC 5354 error cause
//! a registrar sends back.

use std::fmt;

use crate::wire::{PolicyType, ServerId, TransportKind, TransportUse};

/// Which configured limit a registration would exceed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    /// Pools in the handlespace ([`Config::max_pools`](super::Config::max_pools)).
    Pools,
    /// PEs in one pool ([`Config::max_pes_per_pool`](super::Config::max_pes_per_pool)).
    PesInPool,
    /// PEs in all pools ([`Config::max_pes_total`](super::Config::max_pes_total)).
    PesTotal,
}

/// A refused handlespace operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HsError {
    /// The PE's policy type differs from the pool's.
    InconsistentPoolingPolicy {
        /// The pool's policy type.
        pool: PolicyType,
        /// The registration's policy type.
        requested: PolicyType,
    },
    /// The PE's user transport protocol differs from the pool's.
    InconsistentTransportType {
        /// The pool's transport protocol.
        pool: TransportKind,
        /// The registration's transport protocol.
        requested: TransportKind,
    },
    /// The PE's transport use (data only / data plus control) differs
    /// from the pool's.
    InconsistentDataControlConfiguration {
        /// The pool's transport use.
        pool: TransportUse,
        /// The registration's transport use.
        requested: TransportUse,
    },
    /// The PE ID is already registered in this pool by another home PR.
    NonUniquePeId {
        /// The home PR the PE is registered with.
        existing_home: ServerId,
    },
    /// A configured limit would be exceeded.
    LackOfResources(Resource),
    /// No pool with this handle.
    UnknownPoolHandle,
    /// The pool exists but has no PE with this ID.
    UnknownPoolElement,
}

impl HsError {
    /// The RFC 5354 error cause code, where one exists. An unknown PE has
    /// none: RFC 5352 answers a deregistration of an unknown PE positively.
    pub fn cause_code(&self) -> Option<u16> {
        Some(match self {
            HsError::NonUniquePeId { .. } => 0x4,
            HsError::InconsistentPoolingPolicy { .. } => 0x5,
            HsError::LackOfResources(_) => 0x6,
            HsError::InconsistentTransportType { .. } => 0x7,
            HsError::InconsistentDataControlConfiguration { .. } => 0x8,
            HsError::UnknownPoolHandle => 0x9,
            HsError::UnknownPoolElement => return None,
        })
    }
}

impl fmt::Display for HsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HsError::InconsistentPoolingPolicy { pool, requested } => write!(
                f,
                "pool uses policy {} but the PE asked for {}",
                pool.name(),
                requested.name()
            ),
            HsError::InconsistentTransportType { pool, requested } => write!(
                f,
                "pool uses transport {pool:?} but the PE offers {requested:?}"
            ),
            HsError::InconsistentDataControlConfiguration { pool, requested } => write!(
                f,
                "pool uses transport use {pool:?} but the PE offers {requested:?}"
            ),
            HsError::NonUniquePeId { existing_home } => write!(
                f,
                "PE ID already registered in this pool by home PR {existing_home}"
            ),
            HsError::LackOfResources(r) => write!(f, "limit reached: {r:?}"),
            HsError::UnknownPoolHandle => f.write_str("unknown pool handle"),
            HsError::UnknownPoolElement => f.write_str("unknown pool element"),
        }
    }
}

impl std::error::Error for HsError {}
