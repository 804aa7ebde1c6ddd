//! The event trace: a running digest of everything that happened and a
//! ring of the last records, formatted only when a violation is reported.

use std::collections::VecDeque;

use rserpool_proto::Time;

/// One trace record: what happened at a node, with two numbers.
#[derive(Clone, Debug)]
pub struct Rec {
    pub at: Time,
    pub node: usize,
    pub what: &'static str,
    pub a: u64,
    pub b: u64,
    pub detail: Option<String>,
}

/// FNV-1a, 64 bit: stable across builds and platforms.
#[derive(Clone, Copy, Debug)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub fn bytes(&mut self, b: &[u8]) {
        for x in b {
            self.0 ^= u64::from(*x);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    pub fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    pub fn value(self) -> u64 {
        self.0
    }
}

/// The trace of one run.
#[derive(Debug)]
pub struct Trace {
    digest: Fnv,
    tail: VecDeque<Rec>,
    keep: usize,
    pub count: u64,
}

impl Trace {
    pub fn new(keep: usize) -> Trace {
        Trace {
            digest: Fnv::default(),
            tail: VecDeque::with_capacity(keep + 1),
            keep,
            count: 0,
        }
    }

    /// Records an event; `payload` (message bytes) goes into the digest only.
    pub fn rec(
        &mut self,
        at: Time,
        node: usize,
        what: &'static str,
        a: u64,
        b: u64,
        payload: &[u8],
    ) {
        self.digest.u64(at.as_micros());
        self.digest.u64(node as u64);
        self.digest.bytes(what.as_bytes());
        self.digest.u64(a);
        self.digest.u64(b);
        self.digest.bytes(payload);
        self.count += 1;
        self.push(Rec {
            at,
            node,
            what,
            a,
            b,
            detail: None,
        });
    }

    /// Records an event with a text (formatted by the caller: use for
    /// rare events only).
    pub fn note(&mut self, at: Time, node: usize, what: &'static str, detail: String) {
        self.digest.u64(at.as_micros());
        self.digest.u64(node as u64);
        self.digest.bytes(what.as_bytes());
        self.digest.bytes(detail.as_bytes());
        self.count += 1;
        self.push(Rec {
            at,
            node,
            what,
            a: 0,
            b: 0,
            detail: Some(detail),
        });
    }

    fn push(&mut self, r: Rec) {
        if self.keep == 0 {
            return;
        }
        if self.tail.len() == self.keep {
            self.tail.pop_front();
        }
        self.tail.push_back(r);
    }

    pub fn digest(&self) -> u64 {
        self.digest.value()
    }

    /// The last records, one a line.
    pub fn format_tail(&self, names: &dyn Fn(usize) -> String) -> String {
        let mut s = String::new();
        for r in &self.tail {
            let t = r.at.as_micros();
            let line = match &r.detail {
                Some(d) => format!(
                    "  {:>5}.{:06} {:<10} {:<18} {d}\n",
                    t / 1_000_000,
                    t % 1_000_000,
                    names(r.node),
                    r.what
                ),
                None => format!(
                    "  {:>5}.{:06} {:<10} {:<18} {} {}\n",
                    t / 1_000_000,
                    t % 1_000_000,
                    names(r.node),
                    r.what,
                    r.a,
                    r.b
                ),
            };
            s.push_str(&line);
        }
        s
    }
}
