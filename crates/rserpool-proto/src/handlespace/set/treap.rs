//! A treap (Aragon and Seidel) kept in an arena.
//!
//! A treap is a search tree by key and a max-heap by a random priority
//! drawn at insertion, which keeps it balanced in expectation without any
//! colour bookkeeping. Priorities come from a small generator owned by
//! the set, so runs are reproducible and the core needs no global RNG.
//! Nodes live in one `Vec`, linked by `u32` index with a free list, as in
//! the red-black tree.

use super::OrderedSet;
use super::arena::{Arena, NIL};

/// Seed of sets made by `Default`.
const DEFAULT_SEED: u64 = 0x5EED_7EA9_0000_0001;

/// An ordered set as a treap in an arena.
#[derive(Debug, Clone)]
pub struct Treap<K> {
    /// The nodes; `tag` is the priority.
    t: Arena<K, u32>,
    /// State of the priority generator (SplitMix64).
    rng: u64,
}

impl<K> Default for Treap<K> {
    fn default() -> Self {
        Treap::with_seed(DEFAULT_SEED)
    }
}

/// Which rule of a treap a check found broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreapViolation {
    /// A child has a higher priority than its parent.
    Heap,
    /// Keys are not in strictly ascending in-order sequence.
    Order,
    /// A child does not point back to its parent.
    ParentLink,
    /// The cached smallest node is not the smallest.
    Leftmost,
    /// The length does not match the number of reachable nodes.
    Length,
    /// Live and free nodes do not account for the whole arena.
    Arena,
}

impl<K> Treap<K> {
    /// An empty treap whose priorities follow from `seed`.
    pub fn with_seed(seed: u64) -> Self {
        Treap {
            t: Arena::default(),
            rng: seed,
        }
    }

    /// SplitMix64: tiny, and every output bit is well mixed.
    fn next_priority(&mut self) -> u32 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 32) as u32
    }
}

impl<K: Ord + Copy> Treap<K> {
    fn priority(&self, n: u32) -> u32 {
        self.t.nodes[n as usize].tag
    }

    /// Rotates `z` down until it is a leaf, then unlinks and frees it.
    fn remove_node(&mut self, z: u32) {
        if z == self.t.leftmost {
            // The leftmost node has no left child: its successor is the
            // minimum of its right subtree, else its parent. Unlinking
            // moves links, not keys, so that index stays valid.
            let r = self.t.right(z);
            self.t.leftmost = if r != NIL {
                self.t.minimum(r)
            } else {
                self.t.parent(z)
            };
        }
        loop {
            let l = self.t.left(z);
            let r = self.t.right(z);
            if l == NIL && r == NIL {
                break;
            }
            // The child with the higher priority moves up over z.
            if r == NIL || (l != NIL && self.priority(l) > self.priority(r)) {
                self.t.rotate_right(z);
            } else {
                self.t.rotate_left(z);
            }
        }
        let p = self.t.parent(z);
        self.t.replace_child(p, z, NIL);
        self.t.release(z);
        self.t.len -= 1;
    }

    /// Checks the search-tree order, the heap order of priorities and the
    /// arena's bookkeeping; for tests, it walks the whole treap.
    pub fn check_invariants(&self) -> Result<(), TreapViolation> {
        if self.t.root != NIL && self.t.parent(self.t.root) != NIL {
            return Err(TreapViolation::ParentLink);
        }
        if self.t.leftmost != self.t.minimum(self.t.root) {
            return Err(TreapViolation::Leftmost);
        }
        let mut count = 0;
        self.check_subtree(self.t.root, None, None, &mut count)?;
        if count != self.t.len {
            return Err(TreapViolation::Length);
        }
        let mut free = 0;
        let mut f = self.t.free;
        while f != NIL {
            free += 1;
            if free > self.t.nodes.len() {
                return Err(TreapViolation::Arena);
            }
            f = self.t.right(f);
        }
        if free + count != self.t.nodes.len() {
            return Err(TreapViolation::Arena);
        }
        Ok(())
    }

    fn check_subtree(
        &self,
        n: u32,
        low: Option<K>,
        high: Option<K>,
        count: &mut usize,
    ) -> Result<(), TreapViolation> {
        if n == NIL {
            return Ok(());
        }
        *count += 1;
        if *count > self.t.nodes.len() {
            return Err(TreapViolation::Arena);
        }
        let node = &self.t.nodes[n as usize];
        if low.is_some_and(|l| node.key <= l) || high.is_some_and(|h| node.key >= h) {
            return Err(TreapViolation::Order);
        }
        for child in [node.left, node.right] {
            if child != NIL {
                if self.t.parent(child) != n {
                    return Err(TreapViolation::ParentLink);
                }
                if self.priority(child) > node.tag {
                    return Err(TreapViolation::Heap);
                }
            }
        }
        self.check_subtree(node.left, low, Some(node.key), count)?;
        self.check_subtree(node.right, Some(node.key), high, count)
    }

    /// The depth of the deepest node (0 when empty); for balance tests.
    pub fn height(&self) -> usize {
        let mut max = 0;
        let mut stack = Vec::new();
        if self.t.root != NIL {
            stack.push((self.t.root, 1));
        }
        while let Some((n, d)) = stack.pop() {
            max = max.max(d);
            for c in [self.t.left(n), self.t.right(n)] {
                if c != NIL {
                    stack.push((c, d + 1));
                }
            }
        }
        max
    }
}

impl<K: Ord + Copy> OrderedSet<K> for Treap<K> {
    fn insert(&mut self, key: K) -> bool {
        let mut parent = NIL;
        let mut cur = self.t.root;
        let mut went_left = false;
        while cur != NIL {
            parent = cur;
            let node = &self.t.nodes[cur as usize];
            match key.cmp(&node.key) {
                std::cmp::Ordering::Less => {
                    cur = node.left;
                    went_left = true;
                }
                std::cmp::Ordering::Greater => {
                    cur = node.right;
                    went_left = false;
                }
                std::cmp::Ordering::Equal => return false,
            }
        }
        let priority = self.next_priority();
        let z = self.t.alloc(key, parent, priority);
        if self.t.leftmost == NIL || key < self.t.nodes[self.t.leftmost as usize].key {
            self.t.leftmost = z;
        }
        if parent == NIL {
            self.t.root = z;
        } else if went_left {
            self.t.nodes[parent as usize].left = z;
        } else {
            self.t.nodes[parent as usize].right = z;
        }
        self.t.len += 1;
        // Rotate the new leaf up while it outranks its parent.
        loop {
            let p = self.t.parent(z);
            if p == NIL || self.priority(p) >= self.priority(z) {
                break;
            }
            if self.t.left(p) == z {
                self.t.rotate_right(p);
            } else {
                self.t.rotate_left(p);
            }
        }
        true
    }

    fn remove(&mut self, key: &K) -> bool {
        let z = self.t.find(key);
        if z == NIL {
            return false;
        }
        self.remove_node(z);
        true
    }

    fn first(&self) -> Option<K> {
        self.t.first()
    }

    fn pop_first(&mut self) -> Option<K> {
        let n = self.t.leftmost;
        if n == NIL {
            return None;
        }
        let key = self.t.nodes[n as usize].key;
        self.remove_node(n);
        Some(key)
    }

    fn len(&self) -> usize {
        self.t.len
    }

    fn contains(&self, key: &K) -> bool {
        self.t.find(key) != NIL
    }

    fn iter_from(&self, from: Option<K>) -> impl Iterator<Item = K> + '_ {
        self.t.iter_from(from)
    }

    fn clear(&mut self) {
        self.t.clear()
    }
}
