//! The handlespace: pools of PE entries, with every set a registrar needs
//! (paper section 3), built for speed.
//!
//! One [`Handlespace`] holds all pools. It is I/O-free: time ([`Time`](crate::Time)) and
//! randomness ([`Rng`](crate::Rng)) are handed in. Entries live in slabs with stable
//! slots: a 32-byte hot part (what a traversal reads), the cold part
//! (transports, association) and the slot state (set bookkeeping,
//! selection state) in parallel arrays; each job has its own structure:
//! - pools by handle, entries by (pool, PE ID): keyed hash maps;
//! - round robin: an O(1) ring; random: a dense member array; weighted
//!   random and randomized least used: a Fenwick tree of weights over it;
//! - least used, priority and weighted round robin: keys (value, sequence
//!   number) in an [`OrderedSet`](set::OrderedSet) of the handlespace's
//!   [`SetFamily`](set::SetFamily), only the first of them by default
//!   ([`Config::ordered_window`], see `ordered.rs`);
//! - timers: a hierarchical timing wheel with intrusive lists;
//! - ownership and associations: intrusive lists, with an incremental
//!   checksum per home PR and one over everything ([`checksum`]);
//! - synchronisation: traversal in slot order, so a cursor stays valid
//!   while entries come and go.
//!
//! Policy semantics (values, degradation, distance penalty) are described
//! in `policy.rs`. A handle resolution charges its first choice only, as
//! RSPLIB does: round robin moves on by one, the PE goes to the end of its
//! tie group, its degradation grows.
//!
//! ```
//! use rserpool_proto::handlespace::{Handlespace, Registration, EntryRef};
//! use rserpool_proto::Xoshiro256;
//! use rserpool_proto::wire::{PeId, Policy, PoolHandle, ServerId, TransportParam};
//!
//! let mut hs: Handlespace = Handlespace::default();
//! let pool = PoolHandle::from("echo");
//! for id in 1..=3 {
//!     hs.register(&pool, Registration {
//!         pe_id: PeId(id),
//!         home: ServerId(7),
//!         lifetime_ms: 30_000,
//!         transport: TransportParam::Udp { port: 7, address: [127, 0, 0, 1].into() },
//!         policy: Policy::RoundRobin,
//!         asap_transport: None,
//!         association: None,
//!     }).unwrap();
//! }
//! let mut rng = Xoshiro256::seed_from_u64(1);
//! let mut out = [EntryRef::NONE; 2];
//! let n = hs.resolve(&pool, &mut rng, &mut out).unwrap();
//! assert_eq!(n, 2);
//! let first = hs.entry(out[0]).unwrap();
//! assert_eq!(first.pe_id(), PeId(1));
//! ```

pub mod checksum;
mod entry;
mod error;
mod fenwick;
mod lists;
mod ordered;
mod packed;
mod policy;
mod pool_map;
pub mod set;
mod slot_index;
mod space;
mod wheel;

pub use checksum::Checksum;
pub use entry::{AssocId, EntryRef, PeEntry, Registration, TimerKind};
pub use error::{HsError, Resource};
pub use space::{Config, DueTimer, Handlespace, Registered, SyncCursor, SyncStep, Unreachable};
