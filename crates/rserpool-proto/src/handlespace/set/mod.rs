//! The ordered-set role of the handlespace.
//!
//! The paper keeps every set of the handlespace as a balanced tree and
//! compares red-black trees with treaps. Here the sets that need an order
//! (selection orders of adaptive and priority policies, the timer schedule)
//! are written against [`OrderedSet`], and the whole handlespace is generic
//! over a [`SetFamily`], so the benchmark can run the same handlespace code
//! on each implementation.

use std::collections::BTreeSet;

mod arena;
pub mod rbtree;
pub mod treap;

pub use rbtree::RbTree;
pub use treap::Treap;

/// An ordered set of small `Copy` keys.
pub trait OrderedSet<K: Ord + Copy>: Default {
    /// Inserts `key`; false if it was already present.
    fn insert(&mut self, key: K) -> bool;
    /// Removes `key`; false if it was absent.
    fn remove(&mut self, key: &K) -> bool;
    /// The smallest key.
    fn first(&self) -> Option<K>;
    /// Removes and returns the smallest key.
    fn pop_first(&mut self) -> Option<K>;
    /// Number of keys.
    fn len(&self) -> usize;
    /// True when there are no keys.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// True when `key` is in the set.
    fn contains(&self, key: &K) -> bool;
    /// Keys in ascending order, starting at the first key `>= from` (or at
    /// the smallest key when `from` is `None`).
    fn iter_from(&self, from: Option<K>) -> impl Iterator<Item = K> + '_;
    /// Removes every key.
    fn clear(&mut self);
}

/// A choice of [`OrderedSet`] implementation for all ordered sets of a
/// handlespace.
pub trait SetFamily: 'static {
    /// The set type of this family, for keys `K`.
    type Set<K: Ord + Copy>: OrderedSet<K>;
    /// The name used by the benchmark's `--set` option.
    const NAME: &'static str;
}

/// The standard library's B-tree.
#[derive(Debug, Default, Clone, Copy)]
pub struct BTreeFamily;

impl SetFamily for BTreeFamily {
    type Set<K: Ord + Copy> = BTreeSet<K>;
    const NAME: &'static str = "btree";
}

impl<K: Ord + Copy> OrderedSet<K> for BTreeSet<K> {
    fn insert(&mut self, key: K) -> bool {
        BTreeSet::insert(self, key)
    }
    fn remove(&mut self, key: &K) -> bool {
        BTreeSet::remove(self, key)
    }
    fn first(&self) -> Option<K> {
        BTreeSet::first(self).copied()
    }
    fn pop_first(&mut self) -> Option<K> {
        BTreeSet::pop_first(self)
    }
    fn len(&self) -> usize {
        BTreeSet::len(self)
    }
    fn contains(&self, key: &K) -> bool {
        BTreeSet::contains(self, key)
    }
    fn iter_from(&self, from: Option<K>) -> impl Iterator<Item = K> + '_ {
        let lower = match from {
            Some(k) => std::ops::Bound::Included(k),
            None => std::ops::Bound::Unbounded,
        };
        self.range((lower, std::ops::Bound::Unbounded)).copied()
    }
    fn clear(&mut self) {
        BTreeSet::clear(self)
    }
}

/// The arena red-black tree of [`rbtree`].
#[derive(Debug, Default, Clone, Copy)]
pub struct RbTreeFamily;

impl SetFamily for RbTreeFamily {
    type Set<K: Ord + Copy> = RbTree<K>;
    const NAME: &'static str = "rbtree";
}

/// The arena treap of [`treap`].
#[derive(Debug, Default, Clone, Copy)]
pub struct TreapFamily;

impl SetFamily for TreapFamily {
    type Set<K: Ord + Copy> = Treap<K>;
    const NAME: &'static str = "treap";
}
