//! A hash index that stores slots only: the key of a stored slot is read
//! back from the slot's entry (`key_of`), so a bucket costs four bytes and
//! its control byte instead of key, value and padding. A registrar holds
//! two per PE (entries by pool and PE ID, association list heads), which
//! as hash maps of keys and values took 35 bytes each at 1,000,000 PEs.

use std::hash::BuildHasher;

use foldhash::fast::RandomState;
use hashbrown::HashTable;

/// Slots by a 64-bit key; keys come from the network, so the hasher is
/// seeded at random (hash flooding).
#[derive(Clone, Debug, Default)]
pub(crate) struct SlotIndex {
    hasher: RandomState,
    table: HashTable<u32>,
}

impl SlotIndex {
    #[inline]
    fn hash(&self, key: u64) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The slot stored under `key`.
    #[inline]
    pub(crate) fn get(&self, key: u64, key_of: impl Fn(u32) -> u64) -> Option<u32> {
        self.table
            .find(self.hash(key), |&s| key_of(s) == key)
            .copied()
    }

    /// Stores `slot` under `key`, which has no slot yet; `key_of` must
    /// give `key` for `slot` already.
    #[inline]
    pub(crate) fn insert(&mut self, key: u64, slot: u32, key_of: impl Fn(u32) -> u64) {
        let h = self.hash(key);
        let hasher = &self.hasher;
        self.table
            .insert_unique(h, slot, |&s| hasher.hash_one(key_of(s)));
    }

    /// Lets `f` replace the slot stored under `key` (by another slot of
    /// the same key), removing the key when `f` leaves `u32::MAX`; false
    /// if `key` has no slot.
    #[inline]
    pub(crate) fn update(
        &mut self,
        key: u64,
        key_of: impl Fn(u32) -> u64,
        f: impl FnOnce(&mut u32),
    ) -> bool {
        let h = self.hash(key);
        match self.table.find_entry(h, |&s| key_of(s) == key) {
            Ok(mut e) => {
                f(e.get_mut());
                if *e.get() == u32::MAX {
                    e.remove();
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Removes the slot stored under `key`.
    #[inline]
    pub(crate) fn remove(&mut self, key: u64, key_of: impl Fn(u32) -> u64) -> Option<u32> {
        let h = self.hash(key);
        match self.table.find_entry(h, |&s| key_of(s) == key) {
            Ok(e) => Some(e.remove().0),
            Err(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_by_the_key_read_back_from_the_slot() {
        let keys: Vec<u64> = (0..1000u64)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .collect();
        let key_of = |s: u32| keys[s as usize];
        let mut ix = SlotIndex::default();
        for s in 0..1000u32 {
            ix.insert(keys[s as usize], s, key_of);
        }
        for s in 0..1000u32 {
            assert_eq!(ix.get(keys[s as usize], key_of), Some(s));
        }
        assert_eq!(ix.get(1, key_of), None);
        for s in (0..1000u32).step_by(2) {
            assert_eq!(ix.remove(keys[s as usize], key_of), Some(s));
        }
        assert_eq!(ix.remove(keys[0], key_of), None);
        for s in 0..1000u32 {
            let want = (s % 2 == 1).then_some(s);
            assert_eq!(ix.get(keys[s as usize], key_of), want);
        }
    }
}
