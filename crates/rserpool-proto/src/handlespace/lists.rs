//! Intrusive doubly linked lists over slab slots: O(1) insert and unlink
//! with no allocation, for ownership and association sets and the
//! timing wheel's buckets.

pub const NIL: u32 = u32::MAX;

/// One slot's links and the payload its list keeps beside them: what one
/// list operation reads of a slot shares its cache line.
#[derive(Clone, Copy, Debug)]
struct Node<X> {
    prev: u32,
    next: u32,
    extra: X,
}

/// Links of every slot, with an optional per-slot payload `X` (the timing
/// wheel keeps deadlines and buckets there); a list is just its head, kept
/// by the caller.
#[derive(Clone, Debug)]
pub struct Links<X = ()> {
    nodes: Vec<Node<X>>,
}

impl<X> Default for Links<X> {
    fn default() -> Self {
        Links { nodes: Vec::new() }
    }
}

impl<X: Copy + Default> Links<X> {
    /// Makes room for slot `slot`.
    pub fn ensure(&mut self, slot: u32) {
        let need = slot as usize + 1;
        if self.nodes.len() < need {
            self.nodes.resize(
                need,
                Node {
                    prev: NIL,
                    next: NIL,
                    extra: X::default(),
                },
            );
        }
    }

    #[inline]
    pub fn push_front(&mut self, head: &mut u32, slot: u32) {
        let n = &mut self.nodes[slot as usize];
        n.prev = NIL;
        n.next = *head;
        if *head != NIL {
            self.nodes[*head as usize].prev = slot;
        }
        *head = slot;
    }

    /// Links `slot` right after `at`, which is in a list.
    #[inline]
    pub fn insert_after(&mut self, at: u32, slot: u32) {
        let next = self.nodes[at as usize].next;
        let n = &mut self.nodes[slot as usize];
        n.prev = at;
        n.next = next;
        self.nodes[at as usize].next = slot;
        if next != NIL {
            self.nodes[next as usize].prev = slot;
        }
    }

    #[inline]
    pub fn unlink(&mut self, head: &mut u32, slot: u32) {
        let n = &mut self.nodes[slot as usize];
        let (p, nx) = (n.prev, n.next);
        n.prev = NIL;
        n.next = NIL;
        if p == NIL {
            *head = nx;
        } else {
            self.nodes[p as usize].next = nx;
        }
        if nx != NIL {
            self.nodes[nx as usize].prev = p;
        }
    }

    #[inline]
    pub fn next(&self, slot: u32) -> u32 {
        self.nodes[slot as usize].next
    }

    #[inline]
    pub fn prev(&self, slot: u32) -> u32 {
        self.nodes[slot as usize].prev
    }

    /// Sets `slot`'s links directly (a circular list kept by the caller).
    #[inline]
    pub fn set_next(&mut self, slot: u32, next: u32) {
        self.nodes[slot as usize].next = next;
    }

    /// Sets `slot`'s links directly (a circular list kept by the caller).
    #[inline]
    pub fn set_prev(&mut self, slot: u32, prev: u32) {
        self.nodes[slot as usize].prev = prev;
    }

    /// The payload of `slot`, if room was made for it.
    #[inline]
    pub fn extra(&self, slot: u32) -> Option<&X> {
        self.nodes.get(slot as usize).map(|n| &n.extra)
    }

    /// The payload of `slot`; room must have been made for it.
    #[inline]
    pub fn extra_mut(&mut self, slot: u32) -> &mut X {
        &mut self.nodes[slot as usize].extra
    }

    /// Slots of the list starting at `head`.
    pub fn iter(&self, head: u32) -> ListIter<'_, X> {
        ListIter {
            links: self,
            at: head,
        }
    }
}

#[derive(Debug)]
pub struct ListIter<'a, X = ()> {
    links: &'a Links<X>,
    at: u32,
}

impl<X> Iterator for ListIter<'_, X> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        if self.at == NIL {
            return None;
        }
        let s = self.at;
        self.at = self.links.nodes[s as usize].next;
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_unlink_iterate() {
        let mut l: Links = Links::default();
        l.ensure(9);
        let mut head = NIL;
        for s in [1, 5, 9, 3] {
            l.push_front(&mut head, s);
        }
        assert_eq!(l.iter(head).collect::<Vec<_>>(), [3, 9, 5, 1]);
        l.unlink(&mut head, 9);
        l.unlink(&mut head, 3);
        assert_eq!(l.iter(head).collect::<Vec<_>>(), [5, 1]);
        l.insert_after(5, 9);
        l.insert_after(1, 3);
        assert_eq!(l.iter(head).collect::<Vec<_>>(), [5, 9, 1, 3]);
        for s in [9, 3, 1, 5] {
            l.unlink(&mut head, s);
        }
        assert_eq!(head, NIL);
    }
}
