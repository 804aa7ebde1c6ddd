//! A red-black tree (Guibas and Sedgewick) kept in an arena.
//!
//! Nodes live in one `Vec` and refer to each other by `u32` index, so a
//! tree costs one allocation that grows by doubling and is reused through
//! a free list: inserting into a tree that had as many keys before does
//! not allocate. Parent links make the in-order iterator a plain walk
//! without a stack.

use super::OrderedSet;

/// The absent node.
const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Node<K> {
    key: K,
    left: u32,
    right: u32,
    parent: u32,
    red: bool,
}

/// An ordered set as a red-black tree in an arena.
#[derive(Debug, Clone)]
pub struct RbTree<K> {
    nodes: Vec<Node<K>>,
    root: u32,
    /// The node with the smallest key, cached: `first` and `pop_first` are
    /// the timer schedule's hot path.
    leftmost: u32,
    /// Head of the free list, linked through `right`.
    free: u32,
    len: usize,
}

impl<K> Default for RbTree<K> {
    fn default() -> Self {
        RbTree {
            nodes: Vec::new(),
            root: NIL,
            leftmost: NIL,
            free: NIL,
            len: 0,
        }
    }
}

/// Which rule of a red-black tree a check found broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RbViolation {
    /// The root is red.
    RedRoot,
    /// A red node has a red child.
    RedRed,
    /// Two paths from one node to its leaves pass different numbers of black nodes.
    BlackHeight,
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

impl<K: Ord + Copy> RbTree<K> {
    /// An empty tree with room for `capacity` keys.
    pub fn with_capacity(capacity: usize) -> Self {
        RbTree {
            nodes: Vec::with_capacity(capacity),
            ..Self::default()
        }
    }

    fn is_red(&self, n: u32) -> bool {
        n != NIL && self.nodes[n as usize].red
    }

    fn left(&self, n: u32) -> u32 {
        self.nodes[n as usize].left
    }

    fn right(&self, n: u32) -> u32 {
        self.nodes[n as usize].right
    }

    fn parent(&self, n: u32) -> u32 {
        self.nodes[n as usize].parent
    }

    fn set_parent(&mut self, n: u32, p: u32) {
        if n != NIL {
            self.nodes[n as usize].parent = p;
        }
    }

    fn set_black(&mut self, n: u32) {
        if n != NIL {
            self.nodes[n as usize].red = false;
        }
    }

    fn alloc(&mut self, key: K, parent: u32) -> u32 {
        let node = Node {
            key,
            left: NIL,
            right: NIL,
            parent,
            red: true,
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

    /// Puts `new` where `old` hangs under its parent.
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

    fn insert_fixup(&mut self, mut z: u32) {
        while self.is_red(self.parent(z)) {
            let mut p = self.parent(z);
            // A red parent is never the root, so the grandparent exists.
            let g = self.parent(p);
            if p == self.left(g) {
                let uncle = self.right(g);
                if self.is_red(uncle) {
                    self.set_black(p);
                    self.set_black(uncle);
                    self.nodes[g as usize].red = true;
                    z = g;
                    continue;
                }
                if z == self.right(p) {
                    z = p;
                    self.rotate_left(z);
                    p = self.parent(z);
                }
                self.set_black(p);
                self.nodes[g as usize].red = true;
                self.rotate_right(g);
            } else {
                let uncle = self.left(g);
                if self.is_red(uncle) {
                    self.set_black(p);
                    self.set_black(uncle);
                    self.nodes[g as usize].red = true;
                    z = g;
                    continue;
                }
                if z == self.left(p) {
                    z = p;
                    self.rotate_right(z);
                    p = self.parent(z);
                }
                self.set_black(p);
                self.nodes[g as usize].red = true;
                self.rotate_left(g);
            }
        }
        let root = self.root;
        self.set_black(root);
    }

    /// Unlinks node `z` and returns it to the free list.
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
        let (x, xp, removed_red);
        let zl = self.left(z);
        let zr = self.right(z);
        if zl == NIL || zr == NIL {
            x = if zl == NIL { zr } else { zl };
            xp = self.parent(z);
            removed_red = self.is_red(z);
            self.replace_child(xp, z, x);
            self.set_parent(x, xp);
        } else {
            // Two children: the successor `y` takes z's place and colour.
            let y = self.minimum(zr);
            removed_red = self.is_red(y);
            x = self.right(y);
            if self.parent(y) == z {
                xp = y;
            } else {
                xp = self.parent(y);
                self.nodes[xp as usize].left = x;
                self.set_parent(x, xp);
                self.nodes[y as usize].right = zr;
                self.nodes[zr as usize].parent = y;
            }
            let zp = self.parent(z);
            self.replace_child(zp, z, y);
            self.nodes[y as usize].parent = zp;
            self.nodes[y as usize].left = zl;
            self.nodes[zl as usize].parent = y;
            self.nodes[y as usize].red = self.nodes[z as usize].red;
        }
        if !removed_red {
            self.remove_fixup(x, xp);
        }
        self.release(z);
        self.len -= 1;
    }

    /// Restores the black height after a black node left the path through
    /// `x`, whose parent is `xp` (`x` may be absent).
    fn remove_fixup(&mut self, mut x: u32, mut xp: u32) {
        while x != self.root && !self.is_red(x) {
            // x carries an extra black, so its sibling exists.
            if x == self.left(xp) {
                let mut w = self.right(xp);
                if self.is_red(w) {
                    self.set_black(w);
                    self.nodes[xp as usize].red = true;
                    self.rotate_left(xp);
                    w = self.right(xp);
                }
                if !self.is_red(self.left(w)) && !self.is_red(self.right(w)) {
                    self.nodes[w as usize].red = true;
                    x = xp;
                    xp = self.parent(x);
                } else {
                    if !self.is_red(self.right(w)) {
                        let wl = self.left(w);
                        self.set_black(wl);
                        self.nodes[w as usize].red = true;
                        self.rotate_right(w);
                        w = self.right(xp);
                    }
                    self.nodes[w as usize].red = self.nodes[xp as usize].red;
                    self.set_black(xp);
                    let wr = self.right(w);
                    self.set_black(wr);
                    self.rotate_left(xp);
                    x = self.root;
                    break;
                }
            } else {
                let mut w = self.left(xp);
                if self.is_red(w) {
                    self.set_black(w);
                    self.nodes[xp as usize].red = true;
                    self.rotate_right(xp);
                    w = self.left(xp);
                }
                if !self.is_red(self.left(w)) && !self.is_red(self.right(w)) {
                    self.nodes[w as usize].red = true;
                    x = xp;
                    xp = self.parent(x);
                } else {
                    if !self.is_red(self.left(w)) {
                        let wr = self.right(w);
                        self.set_black(wr);
                        self.nodes[w as usize].red = true;
                        self.rotate_left(w);
                        w = self.left(xp);
                    }
                    self.nodes[w as usize].red = self.nodes[xp as usize].red;
                    self.set_black(xp);
                    let wl = self.left(w);
                    self.set_black(wl);
                    self.rotate_right(xp);
                    x = self.root;
                    break;
                }
            }
        }
        self.set_black(x);
    }

    /// Checks every red-black and search-tree rule and the arena's
    /// bookkeeping; for tests, it walks the whole tree.
    pub fn check_invariants(&self) -> Result<(), RbViolation> {
        if self.is_red(self.root) {
            return Err(RbViolation::RedRoot);
        }
        if self.root != NIL && self.parent(self.root) != NIL {
            return Err(RbViolation::ParentLink);
        }
        if self.leftmost != self.minimum(self.root) {
            return Err(RbViolation::Leftmost);
        }
        let mut count = 0;
        self.check_subtree(self.root, None, None, &mut count)?;
        if count != self.len {
            return Err(RbViolation::Length);
        }
        let mut free = 0;
        let mut f = self.free;
        while f != NIL {
            free += 1;
            if free > self.nodes.len() {
                return Err(RbViolation::Arena);
            }
            f = self.right(f);
        }
        if free + count != self.nodes.len() {
            return Err(RbViolation::Arena);
        }
        Ok(())
    }

    /// Returns the black height of the subtree at `n`.
    fn check_subtree(
        &self,
        n: u32,
        low: Option<K>,
        high: Option<K>,
        count: &mut usize,
    ) -> Result<usize, RbViolation> {
        if n == NIL {
            return Ok(1);
        }
        *count += 1;
        if *count > self.nodes.len() {
            return Err(RbViolation::Arena);
        }
        let node = &self.nodes[n as usize];
        if low.is_some_and(|l| node.key <= l) || high.is_some_and(|h| node.key >= h) {
            return Err(RbViolation::Order);
        }
        for child in [node.left, node.right] {
            if child != NIL {
                if self.parent(child) != n {
                    return Err(RbViolation::ParentLink);
                }
                if node.red && self.is_red(child) {
                    return Err(RbViolation::RedRed);
                }
            }
        }
        let lh = self.check_subtree(node.left, low, Some(node.key), count)?;
        let rh = self.check_subtree(node.right, Some(node.key), high, count)?;
        if lh != rh {
            return Err(RbViolation::BlackHeight);
        }
        Ok(lh + usize::from(!node.red))
    }
}

impl<K: Ord + Copy> OrderedSet<K> for RbTree<K> {
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
        self.insert_fixup(z);
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
        Iter { tree: self, next }
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
    tree: &'a RbTree<K>,
    next: u32,
}

impl<K: Ord + Copy> Iterator for Iter<'_, K> {
    type Item = K;

    fn next(&mut self) -> Option<K> {
        if self.next == NIL {
            return None;
        }
        let t = self.tree;
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
