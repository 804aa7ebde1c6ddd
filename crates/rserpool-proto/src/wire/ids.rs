//! Identifiers that name things in RSerPool.

use std::fmt;

/// A pool element identifier: random 32 bits chosen by the home PR, unique
/// within its pool (RFC 5351 section 3.1, RFC 5352 section 2.2.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(transparent))]
pub struct PeId(pub u32);

/// A pool registrar identifier ("ENRP server ID"): 32 bits, unique in an
/// operation scope. Zero means "none" on the wire (e.g. a receiver ID of 0).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(transparent))]
pub struct ServerId(pub u32);

/// The name of a pool: an opaque byte string (RFC 5354 section 3.9).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PoolHandle(pub Vec<u8>);

impl PoolHandle {
    /// A pool handle with these bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        PoolHandle(bytes.into())
    }
    /// The bytes of the handle.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<&str> for PoolHandle {
    fn from(s: &str) -> Self {
        PoolHandle(s.as_bytes().to_vec())
    }
}

impl fmt::Debug for PeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeId({:#010x})", self.0)
    }
}
impl fmt::Display for PeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}
impl fmt::Debug for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerId({:#010x})", self.0)
    }
}
impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

/// Printable bytes are shown as text, anything else as hex, so that logs
/// never carry control characters from the network.
impl fmt::Display for PoolHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.0.is_empty() && self.0.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            // All bytes are ASCII, so this cannot fail.
            f.write_str(&String::from_utf8_lossy(&self.0))
        } else {
            f.write_str("0x")?;
            for b in &self.0 {
                write!(f, "{b:02x}")?;
            }
            Ok(())
        }
    }
}
impl fmt::Debug for PoolHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PoolHandle({self})")
    }
}

/// Serialized as its [`Display`](fmt::Display) text: the handle itself when
/// printable, else `0x` and hex.
#[cfg(feature = "serde")]
impl serde::Serialize for PoolHandle {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
