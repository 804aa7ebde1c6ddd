//! A red-black tree (Guibas and Sedgewick) kept in an arena.
//!
//! Nodes live in one `Vec` and refer to each other by `u32` index, so a
//! tree costs one allocation that grows by doubling and is reused through
//! a free list: inserting into a tree that had as many keys before does
//! not allocate. Parent links make the in-order iterator a plain walk
//! without a stack.

use super::OrderedSet;
use super::arena::{Arena, NIL};

/// An ordered set as a red-black tree in an arena.
#[derive(Debug, Clone)]
pub struct RbTree<K> {
    /// The nodes; `tag` is the colour (red).
    t: Arena<K, bool>,
}

impl<K> Default for RbTree<K> {
    fn default() -> Self {
        RbTree {
            t: Arena::default(),
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
            t: Arena::with_capacity(capacity),
        }
    }

    fn is_red(&self, n: u32) -> bool {
        n != NIL && self.t.nodes[n as usize].tag
    }

    fn set_black(&mut self, n: u32) {
        if n != NIL {
            self.t.nodes[n as usize].tag = false;
        }
    }

    fn insert_fixup(&mut self, mut z: u32) {
        while self.is_red(self.t.parent(z)) {
            let mut p = self.t.parent(z);
            // A red parent is never the root, so the grandparent exists.
            let g = self.t.parent(p);
            if p == self.t.left(g) {
                let uncle = self.t.right(g);
                if self.is_red(uncle) {
                    self.set_black(p);
                    self.set_black(uncle);
                    self.t.nodes[g as usize].tag = true;
                    z = g;
                    continue;
                }
                if z == self.t.right(p) {
                    z = p;
                    self.t.rotate_left(z);
                    p = self.t.parent(z);
                }
                self.set_black(p);
                self.t.nodes[g as usize].tag = true;
                self.t.rotate_right(g);
            } else {
                let uncle = self.t.left(g);
                if self.is_red(uncle) {
                    self.set_black(p);
                    self.set_black(uncle);
                    self.t.nodes[g as usize].tag = true;
                    z = g;
                    continue;
                }
                if z == self.t.left(p) {
                    z = p;
                    self.t.rotate_right(z);
                    p = self.t.parent(z);
                }
                self.set_black(p);
                self.t.nodes[g as usize].tag = true;
                self.t.rotate_left(g);
            }
        }
        let root = self.t.root;
        self.set_black(root);
    }

    /// Unlinks node `z` and returns it to the free list.
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
        let (x, xp, removed_red);
        let zl = self.t.left(z);
        let zr = self.t.right(z);
        if zl == NIL || zr == NIL {
            x = if zl == NIL { zr } else { zl };
            xp = self.t.parent(z);
            removed_red = self.is_red(z);
            self.t.replace_child(xp, z, x);
            self.t.set_parent(x, xp);
        } else {
            // Two children: the successor `y` takes z's place and colour.
            let y = self.t.minimum(zr);
            removed_red = self.is_red(y);
            x = self.t.right(y);
            if self.t.parent(y) == z {
                xp = y;
            } else {
                xp = self.t.parent(y);
                self.t.nodes[xp as usize].left = x;
                self.t.set_parent(x, xp);
                self.t.nodes[y as usize].right = zr;
                self.t.nodes[zr as usize].parent = y;
            }
            let zp = self.t.parent(z);
            self.t.replace_child(zp, z, y);
            self.t.nodes[y as usize].parent = zp;
            self.t.nodes[y as usize].left = zl;
            self.t.nodes[zl as usize].parent = y;
            self.t.nodes[y as usize].tag = self.t.nodes[z as usize].tag;
        }
        if !removed_red {
            self.remove_fixup(x, xp);
        }
        self.t.release(z);
        self.t.len -= 1;
    }

    /// Restores the black height after a black node left the path through
    /// `x`, whose parent is `xp` (`x` may be absent).
    fn remove_fixup(&mut self, mut x: u32, mut xp: u32) {
        while x != self.t.root && !self.is_red(x) {
            // x carries an extra black, so its sibling exists.
            if x == self.t.left(xp) {
                let mut w = self.t.right(xp);
                if self.is_red(w) {
                    self.set_black(w);
                    self.t.nodes[xp as usize].tag = true;
                    self.t.rotate_left(xp);
                    w = self.t.right(xp);
                }
                if !self.is_red(self.t.left(w)) && !self.is_red(self.t.right(w)) {
                    self.t.nodes[w as usize].tag = true;
                    x = xp;
                    xp = self.t.parent(x);
                } else {
                    if !self.is_red(self.t.right(w)) {
                        let wl = self.t.left(w);
                        self.set_black(wl);
                        self.t.nodes[w as usize].tag = true;
                        self.t.rotate_right(w);
                        w = self.t.right(xp);
                    }
                    self.t.nodes[w as usize].tag = self.t.nodes[xp as usize].tag;
                    self.set_black(xp);
                    let wr = self.t.right(w);
                    self.set_black(wr);
                    self.t.rotate_left(xp);
                    x = self.t.root;
                    break;
                }
            } else {
                let mut w = self.t.left(xp);
                if self.is_red(w) {
                    self.set_black(w);
                    self.t.nodes[xp as usize].tag = true;
                    self.t.rotate_right(xp);
                    w = self.t.left(xp);
                }
                if !self.is_red(self.t.left(w)) && !self.is_red(self.t.right(w)) {
                    self.t.nodes[w as usize].tag = true;
                    x = xp;
                    xp = self.t.parent(x);
                } else {
                    if !self.is_red(self.t.left(w)) {
                        let wr = self.t.right(w);
                        self.set_black(wr);
                        self.t.nodes[w as usize].tag = true;
                        self.t.rotate_left(w);
                        w = self.t.left(xp);
                    }
                    self.t.nodes[w as usize].tag = self.t.nodes[xp as usize].tag;
                    self.set_black(xp);
                    let wl = self.t.left(w);
                    self.set_black(wl);
                    self.t.rotate_right(xp);
                    x = self.t.root;
                    break;
                }
            }
        }
        self.set_black(x);
    }

    /// Checks every red-black and search-tree rule and the arena's
    /// bookkeeping; for tests, it walks the whole tree.
    pub fn check_invariants(&self) -> Result<(), RbViolation> {
        if self.is_red(self.t.root) {
            return Err(RbViolation::RedRoot);
        }
        if self.t.root != NIL && self.t.parent(self.t.root) != NIL {
            return Err(RbViolation::ParentLink);
        }
        if self.t.leftmost != self.t.minimum(self.t.root) {
            return Err(RbViolation::Leftmost);
        }
        let mut count = 0;
        self.check_subtree(self.t.root, None, None, &mut count)?;
        if count != self.t.len {
            return Err(RbViolation::Length);
        }
        let mut free = 0;
        let mut f = self.t.free;
        while f != NIL {
            free += 1;
            if free > self.t.nodes.len() {
                return Err(RbViolation::Arena);
            }
            f = self.t.right(f);
        }
        if free + count != self.t.nodes.len() {
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
        if *count > self.t.nodes.len() {
            return Err(RbViolation::Arena);
        }
        let node = &self.t.nodes[n as usize];
        if low.is_some_and(|l| node.key <= l) || high.is_some_and(|h| node.key >= h) {
            return Err(RbViolation::Order);
        }
        for child in [node.left, node.right] {
            if child != NIL {
                if self.t.parent(child) != n {
                    return Err(RbViolation::ParentLink);
                }
                if node.tag && self.is_red(child) {
                    return Err(RbViolation::RedRed);
                }
            }
        }
        let lh = self.check_subtree(node.left, low, Some(node.key), count)?;
        let rh = self.check_subtree(node.right, Some(node.key), high, count)?;
        if lh != rh {
            return Err(RbViolation::BlackHeight);
        }
        Ok(lh + usize::from(!node.tag))
    }
}

impl<K: Ord + Copy> OrderedSet<K> for RbTree<K> {
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
        let z = self.t.alloc(key, parent, true);
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
        self.insert_fixup(z);
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
