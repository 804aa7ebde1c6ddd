//! A Fenwick (binary indexed) tree of weights over a pool's member array:
//! O(log n) weight update and weighted draw, O(log n) append, O(1) removal
//! of the last position.

#[derive(Clone, Debug, Default)]
pub struct Fenwick {
    /// 1-based partial sums; `tree[0]` unused.
    tree: Vec<u64>,
    weights: Vec<u64>,
}

impl Fenwick {
    fn prefix(&self, mut i: usize) -> u64 {
        let mut s = 0u64;
        while i > 0 {
            s = s.wrapping_add(self.tree[i]);
            i &= i - 1;
        }
        s
    }

    pub fn total(&self) -> u64 {
        self.prefix(self.weights.len())
    }

    pub fn weight(&self, pos: usize) -> u64 {
        self.weights.get(pos).copied().unwrap_or(0)
    }

    pub fn push(&mut self, w: u64) {
        if self.tree.is_empty() {
            self.tree.push(0);
        }
        let n = self.weights.len() + 1;
        let low = n & n.wrapping_neg();
        let node = w
            .wrapping_add(self.prefix(n - 1))
            .wrapping_sub(self.prefix(n - low));
        self.tree.push(node);
        self.weights.push(w);
    }

    pub fn set(&mut self, pos: usize, w: u64) {
        let Some(old) = self.weights.get_mut(pos) else {
            return;
        };
        let delta = w.wrapping_sub(*old);
        *old = w;
        let mut i = pos + 1;
        while i < self.tree.len() {
            self.tree[i] = self.tree[i].wrapping_add(delta);
            i += i & i.wrapping_neg();
        }
    }

    /// Drops the last position (callers move the last member into a hole
    /// with [`Fenwick::set`] first).
    pub fn pop(&mut self) {
        if self.weights.pop().is_some() {
            self.tree.pop();
        }
    }

    /// The position whose weight interval contains `r` (`r < total()`).
    pub fn find(&self, mut r: u64) -> usize {
        let n = self.weights.len();
        let mut pos = 0usize;
        let mut step = if n == 0 {
            0
        } else {
            1usize << (usize::BITS - 1 - n.leading_zeros())
        };
        while step > 0 {
            let next = pos + step;
            if next <= n && self.tree[next] <= r {
                pos = next;
                r -= self.tree[next];
            }
            step >>= 1;
        }
        pos.min(n.saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_sums_and_find_match_linear_scan() {
        let mut f = Fenwick::default();
        let mut w: Vec<u64> = Vec::new();
        for i in 0..37u64 {
            let x = (i * 7919) % 13;
            f.push(x);
            w.push(x);
        }
        f.set(5, 100);
        w[5] = 100;
        f.set(36, 0);
        w[36] = 0;
        f.set(30, w[35]);
        w[30] = w[35];
        f.pop();
        f.pop();
        w.pop();
        w.pop();
        assert_eq!(f.total(), w.iter().sum::<u64>());
        for r in 0..f.total() {
            let mut acc = 0;
            let want = w
                .iter()
                .position(|x| {
                    acc += x;
                    acc > r
                })
                .unwrap();
            assert_eq!(f.find(r), want, "r={r}");
        }
        // Push after pops rebuilds the node from the remaining sums.
        f.push(4);
        w.push(4);
        assert_eq!(f.total(), w.iter().sum::<u64>());
    }
}
