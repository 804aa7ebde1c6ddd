//! The ENRP handlespace checksum: a 16-bit one's-complement sum (RFC 1071)
//! over each PE's pool handle and PE ID, kept incrementally.
//!
//! A PE contributes the 16-bit words of its pool handle (an odd last byte
//! padded with a zero byte) plus the two 16-bit words of its PE ID in
//! network byte order; the handle and the PE ID are summed separately, as
//! RSPLIB does. Sums are kept as exact integers (`u64`), so adding and
//! removing PEs in any order gives the same value as summing from scratch;
//! the 16-bit value is folded and complemented only when read. Words are
//! taken in network byte order; RSPLIB loads them in host order, which on
//! little-endian hosts yields the byte-swapped value (RFC 1071's byte-order
//! independence), so the wire layer writes this value in network order.

use crate::wire::PeId;

/// A finished 16-bit handlespace checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Checksum(pub u16);

/// An unfolded sum of PE contributions; add and subtract freely.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ChecksumSum(pub(crate) u64);

impl ChecksumSum {
    /// No PEs: the sum of nothing.
    pub const EMPTY: ChecksumSum = ChecksumSum(0);

    #[inline]
    /// Adds one PE's part (see [`pe_part`]).
    pub fn add(&mut self, part: u64) {
        self.0 = self.0.wrapping_add(part);
    }
    #[inline]
    /// Takes one PE's part out again.
    pub fn sub(&mut self, part: u64) {
        self.0 = self.0.wrapping_sub(part);
    }
    /// Folds the carries into 16 bits and complements.
    pub fn finish(self) -> Checksum {
        let mut s = self.0;
        while s >> 16 != 0 {
            s = (s & 0xffff) + (s >> 16);
        }
        Checksum(!(s as u16))
    }
}

/// The sum of a pool handle's 16-bit words (network order, odd byte padded).
pub fn handle_sum(handle: &[u8]) -> u64 {
    let mut chunks = handle.chunks_exact(2);
    let mut sum: u64 = 0;
    for c in &mut chunks {
        sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

/// One PE's contribution given its pool's [`handle_sum`].
#[inline]
pub fn pe_part(handle_sum: u64, pe: PeId) -> u64 {
    handle_sum + u64::from(pe.0 >> 16) + u64::from(pe.0 & 0xffff)
}

/// The checksum over a list of (pool handle, PE ID), from scratch.
pub fn compute<'a>(entries: impl IntoIterator<Item = (&'a [u8], PeId)>) -> Checksum {
    let mut s = ChecksumSum::EMPTY;
    for (h, pe) in entries {
        s.add(pe_part(handle_sum(h), pe));
    }
    s.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example_words() {
        // RFC 1071 section 3 example: words 0001 f203 f4f5 f6f7 sum to
        // ddf2 (folded), checksum is its complement 220d.
        let h = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        let mut s = ChecksumSum::EMPTY;
        s.add(handle_sum(&h));
        assert_eq!(s.finish(), Checksum(!0xddf2));
    }

    #[test]
    fn odd_handle_pads_and_pe_id_is_separate() {
        // "abc" = 0x6162 + 0x6300; PE ID 0x01020304 = 0x0102 + 0x0304.
        let part = pe_part(handle_sum(b"abc"), PeId(0x0102_0304));
        assert_eq!(part, 0x6162 + 0x6300 + 0x0102 + 0x0304);
        let mut s = ChecksumSum::EMPTY;
        s.add(part);
        assert_eq!(
            s.finish(),
            Checksum(!(0x6162u16 + 0x6300 + 0x0102 + 0x0304))
        );
    }

    #[test]
    fn incremental_equals_scratch_in_any_order() {
        let items: Vec<(Vec<u8>, PeId)> = (0..500u32)
            .map(|i| {
                (
                    vec![b'p', (i % 7) as u8, 0xff],
                    PeId(i.wrapping_mul(0x9e37_79b9)),
                )
            })
            .collect();
        let mut s = ChecksumSum::EMPTY;
        for (h, p) in &items {
            s.add(pe_part(handle_sum(h), *p));
        }
        for (h, p) in items.iter().step_by(3) {
            s.sub(pe_part(handle_sum(h), *p));
        }
        let rest = items
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 != 0)
            .map(|(_, (h, p))| (h.as_slice(), *p));
        assert_eq!(s.finish(), compute(rest));
        assert_eq!(ChecksumSum::EMPTY.finish(), Checksum(0xffff));
    }
}
