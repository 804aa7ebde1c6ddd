//! One registrar's view: its identity, its peers and its handlespace, as
//! plain sorted data that renders the same way every time.

use rserpool::transport::Carrier;
use rserpool_proto::wire::enrp::PoolEntries;
use rserpool_proto::wire::{PolicyType, PoolElement, PoolHandle, ServerInformation};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// A registrar's handlespace at one moment.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// ID and ENRP endpoint, from the registrar's PRESENCE.
    pub registrar: ServerInformation,
    /// Where the probe reached it.
    pub address: SocketAddr,
    pub carrier: Carrier,
    /// The PE checksum over its own PEs, as its PRESENCE announced it.
    pub checksum: Option<u16>,
    /// Its live peer registrars, by ID.
    pub peers: Vec<ServerInformation>,
    /// Pools by handle, each with its PEs by ID.
    pub pools: Vec<Pool>,
}

#[derive(Clone, Debug)]
pub struct Pool {
    pub handle: PoolHandle,
    pub elements: Vec<PoolElement>,
}

impl Pool {
    /// The policy of its PEs; `None` if they disagree (a registrar refuses
    /// that, so it shows an inconsistency).
    pub fn policy(&self) -> Option<PolicyType> {
        let mut types = self.elements.iter().map(|e| e.policy.policy_type());
        let first = types.next()?;
        types.all(|t| t == first).then_some(first)
    }
}

impl Snapshot {
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
pub struct SnapshotBuilder {
    pools: BTreeMap<PoolHandle, BTreeMap<u32, PoolElement>>,
}

impl SnapshotBuilder {
    pub fn add_block(&mut self, pools: Vec<PoolEntries>) {
        for p in pools {
            let entry = self.pools.entry(p.pool_handle).or_default();
            for e in p.pool_elements {
                entry.insert(e.pe_id.0, e);
            }
        }
    }

    pub fn finish(
        self,
        registrar: ServerInformation,
        address: SocketAddr,
        carrier: Carrier,
        checksum: Option<u16>,
        peers: Vec<ServerInformation>,
    ) -> Snapshot {
        Snapshot {
            registrar,
            address,
            carrier,
            checksum,
            peers,
            pools: self
                .pools
                .into_iter()
                .map(|(handle, elements)| Pool {
                    handle,
                    elements: elements.into_values().collect(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rserpool_proto::wire::{PeId, Policy, ServerId, TransportParam, TransportUse};

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
        let mut b = SnapshotBuilder::default();
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
        let s = b.finish(
            info,
            "127.0.0.1:9901".parse().unwrap(),
            Carrier::Tcp,
            None,
            vec![],
        );
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
