//! A treap (Aragon and Seidel) kept in an arena.
//!
//! A treap is a search tree by key and a max-heap by a random priority
//! drawn at insertion, which keeps it balanced in expectation without any
//! colour bookkeeping. Priorities come from a small generator owned by
//! the set, so runs are reproducible and the core needs no global RNG.
//! Nodes live in one `Vec`, linked by `u32` index with a free list, as in
//! the red-black tree.

use super::OrderedSet;

/// The absent node.
const NIL: u32 = u32::MAX;

/// Seed of sets made by `Default`.
const DEFAULT_SEED: u64 = 0x5EED_7EA9_0000_0001;

#[derive(Debug, Clone, Copy)]
struct Node<K> {
    key: K,
    left: u32,
    right: u32,
    parent: u32,
    priority: u32,
}

/// An ordered set as a treap in an arena.
#[derive(Debug, Clone)]
pub struct Treap<K> {
    nodes: Vec<Node<K>>,
    root: u32,
    /// The node with the smallest key, cached: `first` and `pop_first` are
    /// the timer schedule's hot path.
    leftmost: u32,
    /// Head of the free list, linked through `right`.
    free: u32,
    len: usize,
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
            nodes: Vec::new(),
            root: NIL,
            leftmost: NIL,
            free: NIL,
            len: 0,
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
    fn left(&self, n: u32) -> u32 {
        self.nodes[n as usize].left
    }

    fn right(&self, n: u32) -> u32 {
        self.nodes[n as usize].right
    }

    fn parent(&self, n: u32) -> u32 {
        self.nodes[n as usize].parent
    }

    fn priority(&self, n: u32) -> u32 {
        self.nodes[n as usize].priority
    }

    fn set_parent(&mut self, n: u32, p: u32) {
        if n != NIL {
            self.nodes[n as usize].parent = p;
        }
    }

    fn alloc(&mut self, key: K, parent: u32) -> u32 {
        let node = Node {
            key,
            left: NIL,
            right: NIL,
            parent,
            priority: self.next_priority(),
        };
        if self.free != NIL {
            let n = self.free;
            self.free = self.nodes[n as usize].right;
            self.nodes[n as usize] = node;
            n
        } else {
            let n = self.nodes.len() as u32;
            self.nodes.push(node);
            n
        }
    }

    fn release(&mut self, n: u32) {
        self.nodes[n as usize].right = self.free;
        self.nodes[n as usize].left = NIL;
        self.nodes[n as usize].parent = NIL;
        self.free = n;
    }

    fn find(&self, key: &K) -> u32 {
        let mut cur = self.root;
        while cur != NIL {
            let node = &self.nodes[cur as usize];
            match key.cmp(&node.key) {
                std::cmp::Ordering::Less => cur = node.left,
                std::cmp::Ordering::Greater => cur = node.right,
                std::cmp::Ordering::Equal => return cur,
            }
        }
        NIL
    }

    fn minimum(&self, mut n: u32) -> u32 {
        while n != NIL && self.left(n) != NIL {
            n = self.left(n);
        }
        n
    }

    /// The node holding the smallest key `>= from`.
    fn lower_bound(&self, from: &K) -> u32 {
        let mut cur = self.root;
        let mut best = NIL;
        while cur != NIL {
            let node = &self.nodes[cur as usize];
            if node.key < *from {
                cur = node.right;
            } else {
                best = cur;
                cur = node.left;
            }
        }
        best
    }

    fn replace_child(&mut self, parent: u32, old: u32, new: u32) {
        if parent == NIL {
            self.root = new;
        } else if self.left(parent) == old {
            self.nodes[parent as usize].left = new;
        } else {
            self.nodes[parent as usize].right = new;
        }
    }

    fn rotate_left(&mut self, x: u32) {
        let y = self.right(x);
        let y_left = self.left(y);
        self.nodes[x as usize].right = y_left;
        self.set_parent(y_left, x);
        let xp = self.parent(x);
        self.nodes[y as usize].parent = xp;
        self.replace_child(xp, x, y);
        self.nodes[y as usize].left = x;
        self.nodes[x as usize].parent = y;
    }

    fn rotate_right(&mut self, x: u32) {
        let y = self.left(x);
        let y_right = self.right(y);
        self.nodes[x as usize].left = y_right;
        self.set_parent(y_right, x);
        let xp = self.parent(x);
        self.nodes[y as usize].parent = xp;
        self.replace_child(xp, x, y);
        self.nodes[y as usize].right = x;
        self.nodes[x as usize].parent = y;
    }

    /// Rotates `z` down until it is a leaf, then unlinks and frees it.
    fn remove_node(&mut self, z: u32) {
        if z == self.leftmost {
            // The leftmost node has no left child: its successor is the
            // minimum of its right subtree, else its parent. Unlinking
            // moves links, not keys, so that index stays valid.
            let r = self.right(z);
            self.leftmost = if r != NIL {
                self.minimum(r)
            } else {
                self.parent(z)
            };
        }
        loop {
            let l = self.left(z);
            let r = self.right(z);
            if l == NIL && r == NIL {
                break;
            }
            // The child with the higher priority moves up over z.
            if r == NIL || (l != NIL && self.priority(l) > self.priority(r)) {
                self.rotate_right(z);
            } else {
                self.rotate_left(z);
            }
        }
        let p = self.parent(z);
        self.replace_child(p, z, NIL);
        self.release(z);
        self.len -= 1;
    }

    /// Checks the search-tree order, the heap order of priorities and the
    /// arena's bookkeeping; for tests, it walks the whole treap.
    pub fn check_invariants(&self) -> Result<(), TreapViolation> {
        if self.root != NIL && self.parent(self.root) != NIL {
            return Err(TreapViolation::ParentLink);
        }
        if self.leftmost != self.minimum(self.root) {
            return Err(TreapViolation::Leftmost);
        }
        let mut count = 0;
        self.check_subtree(self.root, None, None, &mut count)?;
        if count != self.len {
            return Err(TreapViolation::Length);
        }
        let mut free = 0;
        let mut f = self.free;
        while f != NIL {
            free += 1;
            if free > self.nodes.len() {
                return Err(TreapViolation::Arena);
            }
            f = self.right(f);
        }
        if free + count != self.nodes.len() {
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
        if *count > self.nodes.len() {
            return Err(TreapViolation::Arena);
        }
        let node = &self.nodes[n as usize];
        if low.is_some_and(|l| node.key <= l) || high.is_some_and(|h| node.key >= h) {
            return Err(TreapViolation::Order);
        }
        for child in [node.left, node.right] {
            if child != NIL {
                if self.parent(child) != n {
                    return Err(TreapViolation::ParentLink);
                }
                if self.priority(child) > node.priority {
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
        if self.root != NIL {
            stack.push((self.root, 1));
        }
        while let Some((n, d)) = stack.pop() {
            max = max.max(d);
            for c in [self.left(n), self.right(n)] {
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
        let mut cur = self.root;
        let mut went_left = false;
        while cur != NIL {
            parent = cur;
            let node = &self.nodes[cur as usize];
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
        let z = self.alloc(key, parent);
        if self.leftmost == NIL || key < self.nodes[self.leftmost as usize].key {
            self.leftmost = z;
        }
        if parent == NIL {
            self.root = z;
        } else if went_left {
            self.nodes[parent as usize].left = z;
        } else {
            self.nodes[parent as usize].right = z;
        }
        self.len += 1;
        // Rotate the new leaf up while it outranks its parent.
        loop {
            let p = self.parent(z);
            if p == NIL || self.priority(p) >= self.priority(z) {
                break;
            }
            if self.left(p) == z {
                self.rotate_right(p);
            } else {
                self.rotate_left(p);
            }
        }
        true
    }

    fn remove(&mut self, key: &K) -> bool {
        let z = self.find(key);
        if z == NIL {
            return false;
        }
        self.remove_node(z);
        true
    }

    fn first(&self) -> Option<K> {
        let n = self.leftmost;
        (n != NIL).then(|| self.nodes[n as usize].key)
    }

    fn pop_first(&mut self) -> Option<K> {
        let n = self.leftmost;
        if n == NIL {
            return None;
        }
        let key = self.nodes[n as usize].key;
        self.remove_node(n);
        Some(key)
    }

    fn len(&self) -> usize {
        self.len
    }

    fn contains(&self, key: &K) -> bool {
        self.find(key) != NIL
    }

    fn iter_from(&self, from: Option<K>) -> impl Iterator<Item = K> + '_ {
        let next = match from {
            Some(k) => self.lower_bound(&k),
            None => self.leftmost,
        };
        Iter { treap: self, next }
    }

    fn clear(&mut self) {
        self.nodes.clear();
        self.root = NIL;
        self.leftmost = NIL;
        self.free = NIL;
        self.len = 0;
    }
}

/// In-order walk along parent links.
#[derive(Debug)]
struct Iter<'a, K> {
    treap: &'a Treap<K>,
    next: u32,
}

impl<K: Ord + Copy> Iterator for Iter<'_, K> {
    type Item = K;

    fn next(&mut self) -> Option<K> {
        if self.next == NIL {
            return None;
        }
        let t = self.treap;
        let n = self.next;
        let key = t.nodes[n as usize].key;
        self.next = if t.right(n) != NIL {
            t.minimum(t.right(n))
        } else {
            let mut child = n;
            let mut p = t.parent(n);
            while p != NIL && t.right(p) == child {
                child = p;
                p = t.parent(p);
            }
            p
        };
        Some(key)
    }
}
