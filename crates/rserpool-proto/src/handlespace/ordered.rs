//! The selection order of ordered policies (least used and its variants,
//! priority, weighted round robin): keys (value, sequence number, slot)
//! in an [`OrderedSet`], windowed.
//!
//! Selection only ever reads the first few keys, so with a window `W` only
//! the keys below a threshold (about the `W` smallest) live in the ordered
//! set; the others wait, unordered, in an intrusive list. Every key inside
//! is smaller than every key outside, so the set's first keys are the
//! pool's first keys. An update whose old and new keys are both outside
//! costs O(1) instead of two tree operations. When the inside runs short
//! it is refilled from the outside by selection (O(n), rare); when it grows
//! past `2W` the tail moves out. Without a window every key is inside, as
//! in the paper's handlespace.

use super::lists::{Links, NIL};
use super::set::OrderedSet;

/// A selection-order key packed into one `u128` (value, sequence number,
/// slot) so ordered sets compare and move small keys.
pub type SelKey = u128;

#[inline]
pub fn sel_key(value: u32, seq: u64, slot: u32) -> SelKey {
    (u128::from(value) << 96) | (u128::from(seq) << 32) | u128::from(slot)
}
#[inline]
pub fn key_value(k: SelKey) -> u32 {
    (k >> 96) as u32
}
#[inline]
pub fn key_slot(k: SelKey) -> u32 {
    k as u32
}

#[derive(Debug)]
pub struct Windowed<S> {
    pub set: S,
    /// Keys `< threshold` are in `set`, the others in the outside list.
    threshold: SelKey,
    window: Option<usize>,
    outside_head: u32,
    outside_len: usize,
    scratch: Vec<SelKey>,
    /// The first keys, cached: a selection that changes no key (the
    /// common case for least used) then reads no tree at all.
    head: [SelKey; HEAD],
    /// Valid entries of `head`; `INVALID` after any change.
    head_len: usize,
}

/// Cached first keys: enough for the usual MaxHResItems of 3 plus one.
pub const HEAD: usize = 4;
const INVALID: usize = usize::MAX;

impl<S: OrderedSet<SelKey>> Windowed<S> {
    pub fn new(window: Option<usize>) -> Self {
        Windowed {
            set: S::default(),
            threshold: SelKey::MAX,
            window: window.map(|w| w.max(1)),
            outside_head: NIL,
            outside_len: 0,
            scratch: Vec::new(),
            head: [0; HEAD],
            head_len: INVALID,
        }
    }

    /// The first `min(HEAD, len)` keys (call [`Windowed::prepare`] first).
    #[inline]
    pub fn head(&mut self) -> &[SelKey] {
        if self.head_len == INVALID {
            let mut n = 0;
            for (slot, k) in self.head.iter_mut().zip(self.set.iter_from(None)) {
                *slot = k;
                n += 1;
            }
            self.head_len = n;
        }
        &self.head[..self.head_len]
    }

    #[inline]
    pub fn insert(&mut self, links: &mut Links, key: SelKey) {
        if key < self.threshold {
            self.head_len = INVALID;
            self.set.insert(key);
            if let Some(w) = self.window {
                if self.set.len() > 2 * w {
                    self.shrink(links, w);
                }
            }
        } else {
            links.push_front(&mut self.outside_head, key_slot(key));
            self.outside_len += 1;
        }
    }

    #[inline]
    pub fn remove(&mut self, links: &mut Links, key: SelKey) {
        if key < self.threshold {
            self.head_len = INVALID;
            self.set.remove(&key);
        } else {
            links.unlink(&mut self.outside_head, key_slot(key));
            self.outside_len -= 1;
        }
    }

    /// Makes sure the set holds the first `need` keys of the pool (or all).
    #[inline]
    pub fn prepare(&mut self, links: &mut Links, need: usize, key_of: impl Fn(u32) -> SelKey) {
        if self.set.len() < need && self.outside_len > 0 {
            self.refill(links, need, key_of);
        }
    }

    fn shrink(&mut self, links: &mut Links, w: usize) {
        let Some(t) = self.set.iter_from(None).nth(w) else {
            return;
        };
        self.scratch.clear();
        self.scratch.extend(self.set.iter_from(Some(t)));
        for &k in &self.scratch {
            self.set.remove(&k);
            links.push_front(&mut self.outside_head, key_slot(k));
            self.outside_len += 1;
        }
        self.threshold = t;
    }

    fn refill(&mut self, links: &mut Links, need: usize, key_of: impl Fn(u32) -> SelKey) {
        self.head_len = INVALID;
        let want = need.max(self.window.unwrap_or(0));
        self.scratch.clear();
        self.scratch
            .extend(links.iter(self.outside_head).map(&key_of));
        let t = if self.scratch.len() > want {
            let (_, t, _) = self.scratch.select_nth_unstable(want);
            *t
        } else {
            SelKey::MAX
        };
        for i in 0..self.scratch.len() {
            let k = self.scratch[i];
            if k < t {
                links.unlink(&mut self.outside_head, key_slot(k));
                self.outside_len -= 1;
                self.set.insert(k);
            }
        }
        self.threshold = t;
    }

    /// All keys in order (inside first, then the outside sorted); for
    /// rare whole-pool work such as rebasing rounds.
    pub fn drain_all(&mut self, links: &mut Links, key_of: impl Fn(u32) -> SelKey) -> Vec<SelKey> {
        self.head_len = INVALID;
        let mut keys: Vec<SelKey> = self.set.iter_from(None).collect();
        keys.extend(links.iter(self.outside_head).map(key_of));
        let mut at = self.outside_head;
        while at != NIL {
            let next = links.next(at);
            links.unlink(&mut self.outside_head, at);
            at = next;
        }
        self.outside_len = 0;
        self.set.clear();
        self.threshold = SelKey::MAX;
        keys
    }
}
