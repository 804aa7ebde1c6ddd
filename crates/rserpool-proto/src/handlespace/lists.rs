//! Intrusive doubly linked lists over slab slots: O(1) insert and unlink
//! with no allocation, for ownership and association sets and the
//! timing wheel's buckets.

pub const NIL: u32 = u32::MAX;

/// Links of every slot; a list is just its head, kept by the caller.
#[derive(Clone, Debug, Default)]
pub struct Links {
    prev: Vec<u32>,
    next: Vec<u32>,
}

impl Links {
    /// Makes room for slot `slot`.
    pub fn ensure(&mut self, slot: u32) {
        let need = slot as usize + 1;
        if self.next.len() < need {
            self.prev.resize(need, NIL);
            self.next.resize(need, NIL);
        }
    }

    #[inline]
    pub fn push_front(&mut self, head: &mut u32, slot: u32) {
        let s = slot as usize;
        self.prev[s] = NIL;
        self.next[s] = *head;
        if *head != NIL {
            self.prev[*head as usize] = slot;
        }
        *head = slot;
    }

    #[inline]
    pub fn unlink(&mut self, head: &mut u32, slot: u32) {
        let s = slot as usize;
        let (p, n) = (self.prev[s], self.next[s]);
        if p == NIL {
            *head = n;
        } else {
            self.next[p as usize] = n;
        }
        if n != NIL {
            self.prev[n as usize] = p;
        }
        self.prev[s] = NIL;
        self.next[s] = NIL;
    }

    #[inline]
    pub fn next(&self, slot: u32) -> u32 {
        self.next[slot as usize]
    }

    /// Slots of the list starting at `head`.
    pub fn iter(&self, head: u32) -> ListIter<'_> {
        ListIter {
            links: self,
            at: head,
        }
    }
}

#[derive(Debug)]
pub struct ListIter<'a> {
    links: &'a Links,
    at: u32,
}

impl Iterator for ListIter<'_> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        if self.at == NIL {
            return None;
        }
        let s = self.at;
        self.at = self.links.next[s as usize];
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_unlink_iterate() {
        let mut l = Links::default();
        l.ensure(9);
        let mut head = NIL;
        for s in [1, 5, 9, 3] {
            l.push_front(&mut head, s);
        }
        assert_eq!(l.iter(head).collect::<Vec<_>>(), [3, 9, 5, 1]);
        l.unlink(&mut head, 9);
        l.unlink(&mut head, 3);
        assert_eq!(l.iter(head).collect::<Vec<_>>(), [5, 1]);
        l.unlink(&mut head, 1);
        l.unlink(&mut head, 5);
        assert_eq!(head, NIL);
    }
}
