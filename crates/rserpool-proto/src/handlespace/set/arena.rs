//! The node arena shared by the red-black tree and the treap.
//!
//! Nodes live in one `Vec` and refer to each other by `u32` index, so a
//! tree costs one allocation that grows by doubling and is reused through
//! a free list. Parent links make the in-order iterator a plain walk
//! without a stack. What the two trees share is here: node storage, the
//! free list, search, and rotations; each keeps its own balancing.

/// The absent node.
pub(super) const NIL: u32 = u32::MAX;

/// A node; `tag` is the balancing data (colour or priority).
#[derive(Debug, Clone, Copy)]
pub(super) struct Node<K, T> {
    pub(super) key: K,
    pub(super) left: u32,
    pub(super) right: u32,
    pub(super) parent: u32,
    pub(super) tag: T,
}

/// A binary search tree's nodes, root, cached minimum and free list.
#[derive(Debug, Clone)]
pub(super) struct Arena<K, T> {
    pub(super) nodes: Vec<Node<K, T>>,
    pub(super) root: u32,
    /// The node with the smallest key, cached: `first` and `pop_first` are
    /// the timer schedule's hot path.
    pub(super) leftmost: u32,
    /// Head of the free list, linked through `right`.
    pub(super) free: u32,
    pub(super) len: usize,
}

impl<K, T> Default for Arena<K, T> {
    fn default() -> Self {
        Arena {
            nodes: Vec::new(),
            root: NIL,
            leftmost: NIL,
            free: NIL,
            len: 0,
        }
    }
}

impl<K: Ord + Copy, T: Copy> Arena<K, T> {
    /// An empty arena with room for `capacity` nodes.
    pub(super) fn with_capacity(capacity: usize) -> Self {
        Arena {
            nodes: Vec::with_capacity(capacity),
            ..Self::default()
        }
    }

    #[inline]
    pub(super) fn left(&self, n: u32) -> u32 {
        self.nodes[n as usize].left
    }

    #[inline]
    pub(super) fn right(&self, n: u32) -> u32 {
        self.nodes[n as usize].right
    }

    #[inline]
    pub(super) fn parent(&self, n: u32) -> u32 {
        self.nodes[n as usize].parent
    }

    #[inline]
    pub(super) fn set_parent(&mut self, n: u32, p: u32) {
        if n != NIL {
            self.nodes[n as usize].parent = p;
        }
    }

    /// A new leaf under `parent` (not linked in yet), from the free list
    /// if it has one.
    #[inline]
    pub(super) fn alloc(&mut self, key: K, parent: u32, tag: T) -> u32 {
        let node = Node {
            key,
            left: NIL,
            right: NIL,
            parent,
            tag,
        };
        if self.free != NIL {
            let n = self.free;
            self.free = self.nodes[n as usize].right;
            self.nodes[n as usize] = node;
            n
        } else {
            // Index NIL is reserved; a set never holds 2^32 - 1 keys in practice,
            // and u32 indices keep nodes small.
            let n = self.nodes.len() as u32;
            self.nodes.push(node);
            n
        }
    }

    /// Puts an unlinked node on the free list.
    #[inline]
    pub(super) fn release(&mut self, n: u32) {
        self.nodes[n as usize].right = self.free;
        self.nodes[n as usize].left = NIL;
        self.nodes[n as usize].parent = NIL;
        self.free = n;
    }

    /// The node holding `key`, or `NIL`.
    #[inline]
    pub(super) fn find(&self, key: &K) -> u32 {
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

    #[inline]
    pub(super) fn minimum(&self, mut n: u32) -> u32 {
        while n != NIL && self.left(n) != NIL {
            n = self.left(n);
        }
        n
    }

    /// The node holding the smallest key `>= from`.
    #[inline]
    pub(super) fn lower_bound(&self, from: &K) -> u32 {
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

    /// Puts `new` where `old` hangs under its parent.
    #[inline]
    pub(super) fn replace_child(&mut self, parent: u32, old: u32, new: u32) {
        if parent == NIL {
            self.root = new;
        } else if self.left(parent) == old {
            self.nodes[parent as usize].left = new;
        } else {
            self.nodes[parent as usize].right = new;
        }
    }

    #[inline]
    pub(super) fn rotate_left(&mut self, x: u32) {
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

    #[inline]
    pub(super) fn rotate_right(&mut self, x: u32) {
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

    /// The smallest key.
    #[inline]
    pub(super) fn first(&self) -> Option<K> {
        let n = self.leftmost;
        (n != NIL).then(|| self.nodes[n as usize].key)
    }

    /// Keys from the smallest `>= from` (or the smallest) on, in order.
    #[inline]
    pub(super) fn iter_from(&self, from: Option<K>) -> Iter<'_, K, T> {
        let next = match from {
            Some(k) => self.lower_bound(&k),
            None => self.leftmost,
        };
        Iter { arena: self, next }
    }

    /// Empties the arena (it keeps its capacity).
    pub(super) fn clear(&mut self) {
        self.nodes.clear();
        self.root = NIL;
        self.leftmost = NIL;
        self.free = NIL;
        self.len = 0;
    }
}

/// In-order walk along parent links.
#[derive(Debug)]
pub(super) struct Iter<'a, K, T> {
    arena: &'a Arena<K, T>,
    next: u32,
}

impl<K: Ord + Copy, T: Copy> Iterator for Iter<'_, K, T> {
    type Item = K;

    #[inline]
    fn next(&mut self) -> Option<K> {
        if self.next == NIL {
            return None;
        }
        let t = self.arena;
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
