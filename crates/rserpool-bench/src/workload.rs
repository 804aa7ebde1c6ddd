//! The benchmark's pool and its five operations, as RSPLIB's registrar
//! performs them (`perf/README.md`): every call maintains every set and
//! checksum of the handlespace, and a registration also does what the
//! registrar does around it: it goes through the PE's association and
//! restarts the PE's timer.

use super::cells::{Cell, PolicyName, Variant};
use rserpool_proto::handlespace::set::SetFamily;
use rserpool_proto::handlespace::{
    EntryRef, Handlespace, HsError, Registered, Registration, SyncCursor, TimerKind,
};
use rserpool_proto::wire::{
    AddressList, PeId, Policy, PoolHandle, ServerId, TransportParam, TransportUse,
};
use rserpool_proto::{Rng, Time, Xoshiro256};
use std::collections::HashSet;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

/// This registrar.
const OWN_ID: ServerId = ServerId(0x0100_0001);
/// Another registrar, home of the PEs this one does not own.
const PEER_ID: ServerId = ServerId(0x0100_0002);
/// Registration lifetime (RSPLIB's default PE registration life).
const LIFETIME_MS: u32 = 30_000;
/// Keep-alive transmission interval of the home PR.
const KEEP_ALIVE_MS: u64 = 15_000;
/// Entries per synchronisation block (ENRP Handle Table Response).
const SYNC_BLOCK: usize = 128;

/// One pool of N PEs in a handlespace, with the bookkeeping the driver
/// needs to pick random PEs.
pub struct Workload<F: SetFamily> {
    hs: Handlespace<F>,
    pool: PoolHandle,
    policy: PolicyName,
    home: ServerId,
    /// PE IDs currently registered, in no order (random picks).
    ids: Vec<PeId>,
    /// The same as entry references, parallel to `ids`.
    refs: Vec<EntryRef>,
    size: usize,
    rng: Xoshiro256,
    /// Virtual time: advanced by one microsecond per timer operation.
    now: Time,
    /// PEs per handle resolution.
    items: usize,
    out: [EntryRef; 3],
}

impl<F: SetFamily> std::fmt::Debug for Workload<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workload")
            .field("policy", &self.policy)
            .field("pes", &self.ids.len())
            .finish_non_exhaustive()
    }
}

impl<F: SetFamily> Workload<F> {
    /// Builds the pool of `size` PEs with unique random IDs (and, for
    /// LeastUsed, distinct random loads), owned by this registrar unless
    /// the cell is `owned=0`.
    pub fn build(cell: Cell, size: usize, seed: u64) -> Result<Self, String> {
        let mut rng = Xoshiro256::seed_from_u64(seed);
        let home = match cell.variant {
            Variant::Owned(0) => PEER_ID,
            _ => OWN_ID,
        };
        let items = match cell.variant {
            Variant::Items(h) => usize::from(h).clamp(1, 3),
            _ => 1,
        };
        let mut w = Workload {
            hs: Handlespace::default(),
            pool: PoolHandle::from("bench-pool"),
            policy: cell.policy,
            home,
            ids: Vec::with_capacity(size),
            refs: Vec::with_capacity(size),
            size,
            rng: Xoshiro256::seed_from_u64(seed ^ 0xB5AD_4ECE_DA1C_E2A9),
            now: Time::from_millis(1),
            items,
            out: [EntryRef::NONE; 3],
        };
        let mut ids = HashSet::with_capacity(size);
        let mut loads = HashSet::with_capacity(size);
        while w.ids.len() < size {
            let id = PeId(rng.next_u64() as u32);
            if !ids.insert(id) {
                continue;
            }
            let load = loop {
                let l = rng.next_u64() as u32;
                if loads.insert(l) {
                    break l;
                }
            };
            let entry = w
                .register(id, load)
                .map_err(|e| format!("building the pool: {e}"))?
                .entry;
            w.ids.push(id);
            w.refs.push(entry);
        }
        Ok(w)
    }

    fn registration(&self, pe_id: PeId, load: u32) -> Registration {
        Registration {
            pe_id,
            home: self.home,
            lifetime_ms: LIFETIME_MS,
            transport: TransportParam::Sctp {
                port: 9000,
                transport_use: TransportUse::DataPlusControl,
                addresses: AddressList::from_slice(&[IpAddr::V4(Ipv4Addr::new(
                    10,
                    0,
                    0,
                    (pe_id.0 & 0xff) as u8,
                ))]),
            },
            policy: match self.policy {
                PolicyName::RoundRobin => Policy::RoundRobin,
                PolicyName::Random => Policy::Random,
                PolicyName::LeastUsed => Policy::LeastUsed { load },
            },
            asap_transport: None,
            // Each PE its own association, as the paper's PEs; the home PR
            // only knows the associations of its own PEs.
            association: (self.home == OWN_ID).then_some(u64::from(pe_id.0)),
        }
    }

    /// Registers or updates a PE, then restarts its timer, as a registrar
    /// handles an ASAP Registration.
    fn register(&mut self, id: PeId, load: u32) -> Result<Registered, HsError> {
        let r = self.hs.register(&self.pool, self.registration(id, load))?;
        self.schedule(r.entry);
        Ok(r)
    }

    fn pick(&mut self) -> usize {
        self.rng.below(self.ids.len() as u64) as usize
    }

    /// Deregisters a random PE when the pool is full, else registers a
    /// new one with a fresh random ID.
    pub fn regdereg(&mut self) {
        if self.ids.len() >= self.size {
            let i = self.pick();
            let id = self.ids.swap_remove(i);
            self.refs.swap_remove(i);
            black_box(self.hs.deregister(&self.pool, id).is_ok());
        } else {
            let id = PeId(self.rng.next_u64() as u32);
            let load = self.rng.next_u64() as u32;
            // A taken ID (chance below 1e-5) makes this one an update;
            // the next call registers again.
            if let Ok(r) = self.register(id, load) {
                if !r.updated {
                    self.ids.push(id);
                    self.refs.push(r.entry);
                }
            }
        }
    }

    /// Re-registers a random PE; LeastUsed with a new random load.
    pub fn rereg(&mut self) {
        let i = self.pick();
        let load = self.rng.next_u64() as u32;
        black_box(self.register(self.ids[i], load).is_ok());
    }

    /// (Re)starts a PE's timer: keep-alive transmission for own PEs,
    /// lifetime expiry for others.
    fn schedule(&mut self, entry: EntryRef) {
        let (kind, ms) = if self.home == OWN_ID {
            (TimerKind::KeepAliveTransmission, KEEP_ALIVE_MS)
        } else {
            (TimerKind::LifetimeExpiry, u64::from(LIFETIME_MS))
        };
        self.now = Time::from_micros(self.now.as_micros() + 1);
        black_box(
            self.hs
                .schedule_timer(entry, kind, self.now.plus_millis(ms)),
        );
    }

    /// Re-schedules a random PE's timer, as a registrar does on every
    /// keep-alive.
    pub fn timer(&mut self) {
        let i = self.pick();
        self.schedule(self.refs[i]);
    }

    /// Selects `h` PEs by the pool's policy.
    pub fn handle_resolution(&mut self) {
        let n = self
            .hs
            .resolve(&self.pool, &mut self.rng, &mut self.out[..self.items]);
        black_box((n.ok(), &self.out));
    }

    /// Walks the whole handlespace in blocks of 128, reading each entry as
    /// a Handle Table Response would: ID, lifetime, home, policy and load,
    /// and the transport's port (RSPLIB's harness reads a pointer to its
    /// transport addresses; ours are packed in the entry's cold part).
    pub fn sync(&mut self) {
        let mut cursor = Some(SyncCursor::START);
        let mut sum = 0u64;
        while let Some(c) = cursor {
            let step = self.hs.sync_block(c, None, SYNC_BLOCK, |_, e| {
                // The entry's fields summed first, then folded into the
                // running sum: one dependent operation per entry, as the
                // harness's C compiles to. An xor, not an add: LLVM
                // reassociates a chain of adds and puts all of them on the
                // loop-carried path, which times the sink, not the walk.
                let fields = (u64::from(e.pe_id().0) + u64::from(e.lifetime_ms()))
                    .wrapping_add(u64::from(e.home().0))
                    .wrapping_add(u64::from(e.policy_type().code()))
                    .wrapping_add(u64::from(e.load()))
                    .wrapping_add(u64::from(e.transport_port()));
                sum ^= fields;
            });
            cursor = step.next;
        }
        black_box(sum);
    }

    /// PEs in the pool now.
    #[cfg(test)]
    pub fn pool_len(&self) -> usize {
        self.hs.pool_len(&self.pool)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::cells::{Operation, rsplib_cells};
    use super::*;
    use rserpool_proto::handlespace::set::BTreeFamily;

    #[test]
    fn every_cell_builds_a_full_pool_and_keeps_its_size() {
        for cell in rsplib_cells() {
            let mut w = Workload::<BTreeFamily>::build(cell, 50, 3).unwrap();
            assert_eq!(w.pool_len(), 50, "{cell:?}");
            for _ in 0..101 {
                match cell.operation {
                    Operation::RegDereg => w.regdereg(),
                    Operation::ReReg => w.rereg(),
                    Operation::Timer => w.timer(),
                    Operation::HandleResolution => w.handle_resolution(),
                    Operation::Sync => w.sync(),
                }
            }
            // regdereg alternates: after an odd number of steps one PE is missing
            let want = if cell.operation == Operation::RegDereg {
                49
            } else {
                50
            };
            assert_eq!(w.pool_len(), want, "{cell:?}");
            assert_eq!(w.ids.len(), want);
        }
    }

    #[test]
    fn registrations_go_through_an_association_and_restart_the_timer() {
        for operation in [Operation::RegDereg, Operation::ReReg] {
            let cell = Cell {
                operation,
                policy: PolicyName::LeastUsed,
                variant: Variant::None,
            };
            let mut w = Workload::<BTreeFamily>::build(cell, 30, 4).unwrap();
            let before = w.now;
            for _ in 0..60 {
                match operation {
                    Operation::RegDereg => w.regdereg(),
                    _ => w.rereg(),
                }
            }
            assert!(w.now > before, "{operation:?} restarted no timer");
            assert_eq!(w.hs.timer_count(), w.ids.len());
            for (id, r) in w.ids.iter().zip(&w.refs) {
                let mut of_assoc = w.hs.association_entries(u64::from(id.0));
                assert_eq!(of_assoc.next(), Some(*r));
                assert_eq!(of_assoc.next(), None);
                assert_eq!(w.hs.timer(*r).unwrap().0, TimerKind::KeepAliveTransmission);
            }
        }
    }

    #[test]
    fn handle_resolution_selects_h_distinct_pes() {
        for h in 1..=3 {
            let cell = Cell {
                operation: Operation::HandleResolution,
                policy: PolicyName::LeastUsed,
                variant: Variant::Items(h),
            };
            let mut w = Workload::<BTreeFamily>::build(cell, 20, 9).unwrap();
            w.handle_resolution();
            let got = &w.out[..usize::from(h)];
            assert!(got.iter().all(|r| *r != EntryRef::NONE));
            let mut distinct = got.to_vec();
            distinct.sort();
            distinct.dedup();
            assert_eq!(distinct.len(), usize::from(h));
        }
    }

    #[test]
    fn timer_cells_schedule_every_pe_with_the_right_kind() {
        for (owned, kind) in [
            (0, TimerKind::LifetimeExpiry),
            (100, TimerKind::KeepAliveTransmission),
        ] {
            let cell = Cell {
                operation: Operation::Timer,
                policy: PolicyName::RoundRobin,
                variant: Variant::Owned(owned),
            };
            let mut w = Workload::<BTreeFamily>::build(cell, 40, 5).unwrap();
            w.timer();
            assert_eq!(w.hs.timer_count(), 40);
            for r in &w.refs {
                assert_eq!(w.hs.timer(*r).unwrap().0, kind);
            }
        }
    }
}
