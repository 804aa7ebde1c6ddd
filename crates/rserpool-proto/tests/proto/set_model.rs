//! The arena sets against `BTreeSet` as the model, with every structural
//! invariant checked after each operation.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use rserpool_proto::handlespace::set::{OrderedSet, RbTree, Treap};
use std::collections::BTreeSet;

#[derive(Debug, Clone)]
enum Op {
    Insert(u16),
    Remove(u16),
    PopFirst,
    First,
    Contains(u16),
    IterFrom(Option<u16>),
    Clear,
}

/// Keys from a small range so that removes and duplicates hit often.
fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0u16..512).prop_map(Op::Insert),
        5 => (0u16..512).prop_map(Op::Remove),
        2 => Just(Op::PopFirst),
        1 => Just(Op::First),
        2 => (0u16..512).prop_map(Op::Contains),
        2 => proptest::option::of(0u16..520).prop_map(Op::IterFrom),
        1 => Just(Op::Clear),
    ]
}

/// Runs `ops` on `set` and the model side by side; `check` validates the
/// set's structure after each step.
fn run_against_model<S, E>(mut set: S, ops: &[Op], check: impl Fn(&S) -> Result<(), E>)
where
    S: OrderedSet<u16>,
    E: std::fmt::Debug,
{
    let mut model = BTreeSet::new();
    for (i, op) in ops.iter().enumerate() {
        match *op {
            Op::Insert(k) => assert_eq!(set.insert(k), model.insert(k), "step {i}: {op:?}"),
            Op::Remove(k) => assert_eq!(set.remove(&k), model.remove(&k), "step {i}: {op:?}"),
            Op::PopFirst => assert_eq!(set.pop_first(), model.pop_first(), "step {i}"),
            Op::First => assert_eq!(set.first(), model.first().copied(), "step {i}"),
            Op::Contains(k) => assert_eq!(set.contains(&k), model.contains(&k), "step {i}"),
            Op::IterFrom(from) => {
                let got: Vec<u16> = set.iter_from(from).collect();
                let want: Vec<u16> = match from {
                    Some(f) => model.range(f..).copied().collect(),
                    None => model.iter().copied().collect(),
                };
                assert_eq!(got, want, "step {i}: {op:?}");
            }
            Op::Clear => {
                set.clear();
                model.clear();
            }
        }
        assert_eq!(set.len(), model.len(), "step {i}: {op:?}");
        assert_eq!(set.is_empty(), model.is_empty(), "step {i}");
        if let Err(e) = check(&set) {
            panic!("step {i} ({op:?}) broke an invariant: {e:?}");
        }
    }
    let all: Vec<u16> = set.iter_from(None).collect();
    assert_eq!(all, model.iter().copied().collect::<Vec<_>>());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn rbtree_matches_btreeset(ops in proptest::collection::vec(op(), 0..400)) {
        run_against_model(RbTree::default(), &ops, RbTree::check_invariants);
    }

    #[test]
    fn treap_matches_btreeset(ops in proptest::collection::vec(op(), 0..400)) {
        run_against_model(Treap::default(), &ops, Treap::check_invariants);
    }

    #[test]
    fn treap_with_any_seed_matches_btreeset(
        seed in any::<u64>(),
        ops in proptest::collection::vec(op(), 0..200),
    ) {
        run_against_model(Treap::with_seed(seed), &ops, Treap::check_invariants);
    }
}

/// Ascending, then descending insertion is the worst case for an
/// unbalanced tree; both sets must stay valid and drain in order.
#[test]
fn sorted_insertions_and_drain() {
    let mut rb = RbTree::default();
    let mut tr = Treap::default();
    for k in (0u32..2000).chain((5000u32..7000).rev()) {
        assert!(rb.insert(k));
        assert!(tr.insert(k));
    }
    rb.check_invariants().unwrap();
    tr.check_invariants().unwrap();
    // Expected treap height is about 3 ln n (~ 23 here); a list would be 4000.
    assert!(tr.height() < 60, "treap height {}", tr.height());
    let mut expected = (0u32..2000).chain(5000..7000);
    while let Some(k) = rb.pop_first() {
        assert_eq!(Some(k), expected.next());
        assert_eq!(tr.pop_first(), Some(k));
    }
    assert!(tr.is_empty());
    assert_eq!(expected.next(), None);
    rb.check_invariants().unwrap();
    tr.check_invariants().unwrap();
}

/// Freed nodes are reused: the set still answers correctly after many
/// cycles of filling and emptying through remove.
#[test]
fn reuse_after_removal() {
    let mut rb = RbTree::default();
    let mut tr = Treap::default();
    for round in 0u32..5 {
        for k in 0..300u32 {
            let key = k.wrapping_mul(2_654_435_761) ^ round;
            rb.insert(key);
            tr.insert(key);
        }
        for k in 0..300u32 {
            let key = k.wrapping_mul(2_654_435_761) ^ round;
            assert!(rb.remove(&key));
            assert!(tr.remove(&key));
        }
        assert!(rb.is_empty() && tr.is_empty());
        rb.check_invariants().unwrap();
        tr.check_invariants().unwrap();
    }
}

#[test]
fn iter_from_starts_at_lower_bound() {
    let mut rb = RbTree::default();
    let mut tr = Treap::default();
    for k in [10u32, 20, 30, 40] {
        rb.insert(k);
        tr.insert(k);
    }
    for (from, want) in [
        (Some(0), vec![10, 20, 30, 40]),
        (Some(20), vec![20, 30, 40]),
        (Some(21), vec![30, 40]),
        (Some(41), vec![]),
        (None, vec![10, 20, 30, 40]),
    ] {
        assert_eq!(rb.iter_from(from).collect::<Vec<_>>(), want);
        assert_eq!(tr.iter_from(from).collect::<Vec<_>>(), want);
    }
}
