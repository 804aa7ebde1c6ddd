//! Bounds-checked reads of fixed-width integers from byte slices.
//!
//! Every read returns `None` instead of panicking, so that parsers written
//! with `?` are total over arbitrary input.

/// Byte order of a capture file section (network headers are always big-endian).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endian {
    /// Most significant byte first (network byte order).
    Big,
    /// Least significant byte first (the byte order of x86 and most ARM hosts).
    Little,
}

impl Endian {
    /// The `u16` at byte offset `at`; `None` if it runs past the end.
    pub fn u16(self, b: &[u8], at: usize) -> Option<u16> {
        let a: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(match self {
            Endian::Big => u16::from_be_bytes(a),
            Endian::Little => u16::from_le_bytes(a),
        })
    }

    /// The `u32` at byte offset `at`; `None` if it runs past the end.
    pub fn u32(self, b: &[u8], at: usize) -> Option<u32> {
        let a: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(match self {
            Endian::Big => u32::from_be_bytes(a),
            Endian::Little => u32::from_le_bytes(a),
        })
    }

    /// The `u64` at byte offset `at`; `None` if it runs past the end.
    pub fn u64(self, b: &[u8], at: usize) -> Option<u64> {
        let a: [u8; 8] = b.get(at..at.checked_add(8)?)?.try_into().ok()?;
        Some(match self {
            Endian::Big => u64::from_be_bytes(a),
            Endian::Little => u64::from_le_bytes(a),
        })
    }
}

/// The big-endian `u16` at `at`, the byte order of every network header.
pub fn be16(b: &[u8], at: usize) -> Option<u16> {
    Endian::Big.u16(b, at)
}

/// The big-endian `u32` at `at`, the byte order of every network header.
pub fn be32(b: &[u8], at: usize) -> Option<u32> {
    Endian::Big.u32(b, at)
}

/// Rounds `n` up to a multiple of four, saturating instead of overflowing.
pub fn pad4(n: usize) -> usize {
    n.saturating_add(3) & !3
}
