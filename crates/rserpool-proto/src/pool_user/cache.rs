//! The pool user's handle resolution cache: each pool's last answer,
//! served while younger than stale.cache.value.

use std::collections::HashMap;
use std::time::Duration;

use crate::Time;
use crate::wire::{PeId, Policy, PoolElement, PoolHandle};

#[derive(Clone, Debug)]
struct Entry {
    policy: Option<Policy>,
    pool_elements: Vec<PoolElement>,
    fetched: Time,
}

#[derive(Clone, Debug)]
pub(crate) struct Cache {
    stale_after: Duration,
    max_pools: usize,
    pools: HashMap<PoolHandle, Entry>,
}

impl Cache {
    pub fn new(stale_after: Duration, max_pools: usize) -> Self {
        Cache {
            stale_after,
            max_pools,
            pools: HashMap::new(),
        }
    }

    pub fn store(
        &mut self,
        now: Time,
        handle: PoolHandle,
        policy: Option<Policy>,
        pool_elements: Vec<PoolElement>,
    ) {
        if self.pools.len() >= self.max_pools && !self.pools.contains_key(&handle) {
            self.evict(now);
        }
        if self.max_pools == 0 {
            return;
        }
        self.pools.insert(
            handle,
            Entry {
                policy,
                pool_elements,
                fetched: now,
            },
        );
    }

    /// Drops stale entries; if none was stale, the oldest one.
    fn evict(&mut self, now: Time) {
        let stale_after = self.stale_after;
        self.pools.retain(|_, e| now < e.fetched + stale_after);
        if self.pools.len() >= self.max_pools {
            let oldest = self
                .pools
                .iter()
                .min_by_key(|(_, e)| e.fetched)
                .map(|(h, _)| h.clone());
            if let Some(h) = oldest {
                self.pools.remove(&h);
            }
        }
    }

    /// The PEs of a fresh entry (possibly none left after reports).
    pub fn fresh(
        &self,
        now: Time,
        handle: &PoolHandle,
    ) -> Option<(&[PoolElement], Option<Policy>)> {
        self.pools
            .get(handle)
            .filter(|e| now < e.fetched + self.stale_after)
            .map(|e| (e.pool_elements.as_slice(), e.policy))
    }

    /// Forgets a PE that failed.
    pub fn remove_pe(&mut self, handle: &PoolHandle, pe_id: PeId) {
        if let Some(e) = self.pools.get_mut(handle) {
            e.pool_elements.retain(|p| p.pe_id != pe_id);
        }
    }
}
