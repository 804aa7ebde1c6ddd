//! One registrar's view: its identity, its peers and its handlespace, as
//! plain sorted data that renders the same way every time.

use crate::wire::enrp::PoolEntries;
use crate::wire::{PolicyType, PoolElement, PoolHandle, ServerInformation, TransportKind};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// A registrar's handlespace at one moment, as its probe read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// ID and ENRP endpoint, from the registrar's PRESENCE.
    pub registrar: ServerInformation,
    /// Where the probe reached it.
    pub address: SocketAddr,
    /// The transport of the probe's association (SCTP or TCP).
    pub transport: TransportKind,
    /// The PE checksum over its own PEs, as its last PRESENCE announced it.
    pub checksum: Option<u16>,
    /// Its live peer registrars, by ID (other probes left out).
    pub peers: Vec<ServerInformation>,
    /// Pools by handle, each with its PEs by ID.
    pub pools: Vec<Pool>,
}

/// One pool of a [`Snapshot`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    /// The pool's handle.
    pub handle: PoolHandle,
    /// Its PEs, by ID.
    pub elements: Vec<PoolElement>,
}

impl Pool {
    /// The policy of its PEs; `None` if they disagree (a registrar refuses
    /// that, so it shows an inconsistency) or the pool is empty.
    pub fn policy(&self) -> Option<PolicyType> {
        let mut types = self.elements.iter().map(|e| e.policy.policy_type());
        let first = types.next()?;
        types.all(|t| t == first).then_some(first)
    }
}

impl Snapshot {
    /// PEs in all pools.
    pub fn element_count(&self) -> usize {
        self.pools.iter().map(|p| p.elements.len()).sum()
    }

    /// PEs this registrar is home of.
    pub fn owned_count(&self) -> usize {
        let id = self.registrar.server_id;
        self.pools
            .iter()
            .flat_map(|p| &p.elements)
            .filter(|e| e.home_server_id == id)
            .count()
    }
}

/// Collects Handle Table Response blocks; a pool may be split across blocks.
#[derive(Debug, Default)]
pub(crate) struct TableBuilder {
    pools: BTreeMap<PoolHandle, BTreeMap<u32, PoolElement>>,
}

impl TableBuilder {
    pub(crate) fn add_block(&mut self, pools: Vec<PoolEntries>) {
        for p in pools {
            let entry = self.pools.entry(p.pool_handle).or_default();
            for e in p.pool_elements {
                entry.insert(e.pe_id.0, e);
            }
        }
    }

    pub(crate) fn finish(self) -> Vec<Pool> {
        self.pools
            .into_iter()
            .map(|(handle, elements)| Pool {
                handle,
                elements: elements.into_values().collect(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{PeId, Policy, ServerId, TransportParam, TransportUse};

    fn pe(id: u32, policy: Policy) -> PoolElement {
        PoolElement {
            pe_id: PeId(id),
            home_server_id: ServerId(1),
            registration_life: 1000,
            user_transport: TransportParam::Tcp {
                port: 1,
                transport_use: TransportUse::DataOnly,
                address: [127, 0, 0, 1].into(),
            },
            policy,
            asap_transport: None,
        }
    }

    #[test]
    fn blocks_merge_by_pool_and_sort_by_id() {
        let mut b = TableBuilder::default();
        b.add_block(vec![PoolEntries {
            pool_handle: "b".into(),
            pool_elements: vec![pe(9, Policy::RoundRobin), pe(3, Policy::RoundRobin)],
        }]);
        b.add_block(vec![
            PoolEntries {
                pool_handle: "b".into(),
                pool_elements: vec![pe(5, Policy::RoundRobin)],
            },
            PoolEntries {
                pool_handle: "a".into(),
                pool_elements: vec![pe(1, Policy::Random)],
            },
        ]);
        let info = ServerInformation {
            server_id: ServerId(1),
            transport: TransportParam::Tcp {
                port: 9901,
                transport_use: TransportUse::DataOnly,
                address: [127, 0, 0, 1].into(),
            },
        };
        let s = Snapshot {
            registrar: info,
            address: "127.0.0.1:9901".parse().unwrap(),
            transport: TransportKind::Tcp,
            checksum: None,
            peers: vec![],
            pools: b.finish(),
        };
        let handles: Vec<String> = s.pools.iter().map(|p| p.handle.to_string()).collect();
        assert_eq!(handles, ["a", "b"]);
        let ids: Vec<u32> = s.pools[1].elements.iter().map(|e| e.pe_id.0).collect();
        assert_eq!(ids, [3, 5, 9]);
        assert_eq!(s.element_count(), 4);
        assert_eq!(s.owned_count(), 4);
        assert_eq!(s.pools[0].policy(), Some(PolicyType::Random));
    }

    #[test]
    fn a_pool_with_mixed_policies_has_none() {
        let p = Pool {
            handle: "x".into(),
            elements: vec![pe(1, Policy::RoundRobin), pe(2, Policy::Random)],
        };
        assert_eq!(p.policy(), None);
        let empty = Pool {
            handle: "y".into(),
            elements: vec![],
        };
        assert_eq!(empty.policy(), None);
    }
}
