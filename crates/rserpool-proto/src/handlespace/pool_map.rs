//! Pool lookup by handle: a keyed 64-bit hash of the handle maps to the
//! pool, and the handle itself is then compared inline (short handles
//! compare faster word by word than through a library call). Handles whose
//! hashes collide, which an attacker cannot arrange without the key, go to
//! a small overflow list, so lookups stay exact. The pool found last is
//! tried first: requests for one pool tend to come in runs.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU32, Ordering};

use foldhash::fast::RandomState;

#[derive(Debug)]
pub struct PoolMap {
    hasher: RandomState,
    primary: HashMap<u64, u32, RandomState>,
    overflow: Vec<(u64, u32)>,
    /// The pool found last (`u32::MAX`: none); atomic only to stay `Sync`.
    last: AtomicU32,
}

impl Default for PoolMap {
    fn default() -> Self {
        PoolMap {
            hasher: RandomState::default(),
            primary: HashMap::default(),
            overflow: Vec::new(),
            last: AtomicU32::new(u32::MAX),
        }
    }
}

/// Byte-string equality without a call into the C library: eight bytes
/// at a time as integers (the last eight overlapping the ones before),
/// byte by byte only for strings shorter than eight.
#[inline]
pub fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |x: &[u8], at: usize| {
        x.get(at..at + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
            .map(u64::from_ne_bytes)
    };
    if n < 8 {
        let mut same = true;
        for i in 0..n {
            same &= a[i] == b[i];
        }
        return same;
    }
    let mut at = 0;
    while at + 8 < n {
        if word(a, at) != word(b, at) {
            return false;
        }
        at += 8;
    }
    word(a, n - 8) == word(b, n - 8)
}

impl PoolMap {
    #[inline]
    fn hash(&self, handle: &[u8]) -> u64 {
        self.hasher.hash_one(handle)
    }

    pub fn len(&self) -> usize {
        self.primary.len() + self.overflow.len()
    }

    /// The pool named `handle`; `handle_of` gives a live pool's handle.
    #[inline(always)]
    pub fn get<'a>(
        &self,
        handle: &[u8],
        handle_of: impl Fn(u32) -> Option<&'a [u8]>,
    ) -> Option<u32> {
        let last = self.last.load(Ordering::Relaxed);
        if handle_of(last).is_some_and(|h| bytes_eq(h, handle)) {
            return Some(last);
        }
        let h = self.hash(handle);
        let mut p = *self.primary.get(&h)?;
        if !handle_of(p).is_some_and(|x| bytes_eq(x, handle)) {
            p = self
                .overflow
                .iter()
                .find(|(oh, op)| *oh == h && handle_of(*op).is_some_and(|x| bytes_eq(x, handle)))
                .map(|(_, op)| *op)?;
        }
        self.last.store(p, Ordering::Relaxed);
        Some(p)
    }

    /// Adds a pool known to be absent.
    pub fn insert(&mut self, handle: &[u8], pool: u32) {
        let h = self.hash(handle);
        if let std::collections::hash_map::Entry::Vacant(v) = self.primary.entry(h) {
            v.insert(pool);
        } else {
            self.overflow.push((h, pool));
        }
    }

    /// Removes a pool known to be present.
    pub fn remove(&mut self, handle: &[u8], pool: u32) {
        if *self.last.get_mut() == pool {
            *self.last.get_mut() = u32::MAX;
        }
        let h = self.hash(handle);
        if self.primary.get(&h) == Some(&pool) {
            self.primary.remove(&h);
            if let Some(i) = self.overflow.iter().position(|(oh, _)| *oh == h) {
                let (_, promoted) = self.overflow.swap_remove(i);
                self.primary.insert(h, promoted);
            }
        } else if let Some(i) = self.overflow.iter().position(|e| *e == (h, pool)) {
            self.overflow.swap_remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_equality() {
        assert!(bytes_eq(b"", b""));
        assert!(bytes_eq(b"benchmark-pool", b"benchmark-pool"));
        assert!(!bytes_eq(b"benchmark-pool", b"benchmark-poom"));
        assert!(!bytes_eq(b"benchmark-pool", b"benchmark-poo"));
        assert!(!bytes_eq(b"abcdefgh1", b"abcdefgi1"));
        assert!(!bytes_eq(b"abcdefgh1", b"abcdefgh2"));
        assert!(bytes_eq(b"abcdefgh", b"abcdefgh"));
        assert!(!bytes_eq(b"abcdefgh", b"abcdefgx"));
        assert!(!bytes_eq(b"abc", b"abd"));
        assert!(bytes_eq(b"abc", b"abc"));
        let long: Vec<u8> = (0..40).collect();
        for i in 0..40 {
            let mut other = long.clone();
            other[i] ^= 1;
            assert!(!bytes_eq(&long, &other), "byte {i}");
        }
    }

    #[test]
    fn collisions_stay_exact() {
        // Force every handle into one hash bucket by inserting with a
        // shared hash through the overflow path.
        let handles: Vec<Vec<u8>> = (0..5u8).map(|i| vec![b'h', i]).collect();
        let mut m = PoolMap::default();
        let h = m.hash(&handles[0]);
        m.primary.insert(h, 0);
        for i in 1..5u32 {
            m.overflow.push((h, i));
        }
        let of = |p: u32| handles.get(p as usize).map(Vec::as_slice);
        // Only handle 0 hashes to `h`; the others are found through
        // their own hashes, i.e. not at all, as they were never inserted.
        assert_eq!(m.get(&handles[0], of), Some(0));
        m.remove(&handles[0], 0);
        assert_eq!(m.len(), 4);
        // Pool 1 was promoted into the primary slot for `h`.
        assert_eq!(m.primary.get(&h), Some(&1));
        // A handle sharing the primary's hash is found in the overflow.
        m.overflow.push((h, 0));
        assert_eq!(m.get(&handles[0], of), Some(0));
        m.remove(&handles[0], 0);
        assert_eq!(m.get(&handles[0], of), None);
        let mut n = PoolMap::default();
        for (i, hd) in handles.iter().enumerate() {
            n.insert(hd, i as u32);
        }
        let of2 = |p: u32| handles.get(p as usize).map(Vec::as_slice);
        for (i, hd) in handles.iter().enumerate() {
            assert_eq!(n.get(hd, of2), Some(i as u32));
        }
        n.remove(&handles[2], 2);
        assert_eq!(n.get(&handles[2], of2), None);
        assert_eq!(n.len(), 4);
    }
}
