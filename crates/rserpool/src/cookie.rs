//! Authenticated session cookies (RFC 5355 section 2.16).
//!
//! A pool element hands its session state to the pool user in ASAP
//! COOKIEs; after a failover the pool user echoes the last one to another
//! PE of the pool, which resumes from it. A cookie is opaque to the pool
//! user, but nothing stops it from forging or altering one, or replaying
//! an old one. With a pool secret shared by the pool's PEs, a PE seals
//! every cookie: `"RSC1" | issued (u64 s) | nonce (u64) | state | tag`,
//! the tag the first 16 bytes of HMAC-SHA256 over the pool handle and all
//! that precedes it. A PE of the same pool opens an echoed cookie only if
//! the tag is right (so its state came from a PE of this pool, unaltered)
//! and it is younger than the maximum age (so an old one cannot be
//! replayed forever). Without a secret cookies stay plain, as RSPLIB's.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use std::time::Duration;

const MAGIC: &[u8; 4] = b"RSC1";
const HEAD: usize = 4 + 8 + 8;
const TAG: usize = 16;

/// A pool's cookie secret (at least 16 bytes).
#[derive(Clone)]
pub struct CookieKey(Vec<u8>);

impl fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CookieKey(..)")
    }
}

impl CookieKey {
    /// At least 16 bytes of secret, or `None`.
    pub fn new(secret: impl Into<Vec<u8>>) -> Option<CookieKey> {
        let s = secret.into();
        (s.len() >= 16).then_some(CookieKey(s))
    }

    fn tag(&self, pool: &[u8], sealed: &[u8]) -> [u8; TAG] {
        // HMAC takes a key of any length, so this cannot fail.
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.0) else {
            return [0; TAG];
        };
        mac.update(&(pool.len() as u32).to_be_bytes());
        mac.update(pool);
        mac.update(sealed);
        let full = mac.finalize().into_bytes();
        let mut t = [0; TAG];
        t.copy_from_slice(&full[..TAG]);
        t
    }

    /// The cookie carrying `state` for pool `pool`, issued at `now` (seconds
    /// since the Unix epoch) with a fresh `nonce`.
    pub fn seal(&self, pool: &[u8], state: &[u8], now: u64, nonce: u64) -> Vec<u8> {
        let mut c = Vec::with_capacity(HEAD + state.len() + TAG);
        c.extend_from_slice(MAGIC);
        c.extend_from_slice(&now.to_be_bytes());
        c.extend_from_slice(&nonce.to_be_bytes());
        c.extend_from_slice(state);
        let t = self.tag(pool, &c);
        c.extend_from_slice(&t);
        c
    }

    /// The state of an echoed cookie, if a PE of `pool` sealed it less than
    /// `max_age` before `now`.
    pub fn open<'a>(
        &self,
        pool: &[u8],
        cookie: &'a [u8],
        now: u64,
        max_age: Duration,
    ) -> Result<&'a [u8], CookieError> {
        if cookie.len() < HEAD + TAG || &cookie[..4] != MAGIC {
            return Err(CookieError::NotSealed);
        }
        let (body, tag) = cookie.split_at(cookie.len() - TAG);
        // Constant-time comparison of the tag.
        let expected = self.tag(pool, body);
        let diff = expected
            .iter()
            .zip(tag)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff != 0 {
            return Err(CookieError::BadTag);
        }
        let mut at = [0u8; 8];
        at.copy_from_slice(&body[4..12]);
        let issued = u64::from_be_bytes(at);
        if now.saturating_sub(issued) > max_age.as_secs() {
            return Err(CookieError::Expired {
                age: Duration::from_secs(now.saturating_sub(issued)),
            });
        }
        Ok(&body[HEAD..])
    }
}

/// Why an echoed cookie is not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieError {
    /// Not a sealed cookie (a plain one, or garbage).
    NotSealed,
    /// Altered, forged, or sealed for another pool or with another secret.
    BadTag,
    /// Older than the maximum age.
    Expired {
        /// How old it was.
        age: Duration,
    },
}

impl fmt::Display for CookieError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CookieError::NotSealed => f.write_str("the cookie is not sealed with the pool secret"),
            CookieError::BadTag => f.write_str(
                "the cookie's tag is wrong: altered, forged, or from another pool or secret",
            ),
            CookieError::Expired { age } => {
                write!(
                    f,
                    "the cookie is {} s old, beyond its maximum age",
                    age.as_secs()
                )
            }
        }
    }
}

impl std::error::Error for CookieError {}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn key(b: u8) -> CookieKey {
        CookieKey::new(vec![b; 32]).expect("32 bytes")
    }

    #[test]
    fn a_sealed_cookie_opens_to_its_state() {
        let k = key(1);
        let c = k.seal(b"pool", b"compute 20 13", 1_000, 7);
        assert_eq!(k.open(b"pool", &c, 1_010, DAY), Ok(&b"compute 20 13"[..]));
    }

    #[test]
    fn altered_forged_foreign_and_old_cookies_are_refused() {
        let k = key(1);
        let c = k.seal(b"pool", b"compute 20 13", 1_000, 7);
        // One bit of the state changed.
        let mut altered = c.clone();
        altered[HEAD] ^= 1;
        assert_eq!(
            k.open(b"pool", &altered, 1_010, DAY),
            Err(CookieError::BadTag)
        );
        // The tag changed.
        let mut tag = c.clone();
        let last = tag.len() - 1;
        tag[last] ^= 0x80;
        assert_eq!(k.open(b"pool", &tag, 1_010, DAY), Err(CookieError::BadTag));
        // Another pool, another secret.
        assert_eq!(k.open(b"other", &c, 1_010, DAY), Err(CookieError::BadTag));
        assert_eq!(
            key(2).open(b"pool", &c, 1_010, DAY),
            Err(CookieError::BadTag)
        );
        // A plain cookie, a short one.
        assert_eq!(
            k.open(b"pool", b"compute 20 13", 1_010, DAY),
            Err(CookieError::NotSealed)
        );
        assert_eq!(
            k.open(b"pool", b"RSC1", 1_010, DAY),
            Err(CookieError::NotSealed)
        );
        // Too old; the issue time is covered by the tag, so it cannot be
        // refreshed by hand.
        assert!(matches!(
            k.open(b"pool", &c, 1_000 + 86_401, DAY),
            Err(CookieError::Expired { .. })
        ));
        let mut younger = c.clone();
        younger[4..12].copy_from_slice(&(1_000u64 + 86_400).to_be_bytes());
        assert_eq!(
            k.open(b"pool", &younger, 1_000 + 86_401, DAY),
            Err(CookieError::BadTag)
        );
    }

    #[test]
    fn secrets_are_at_least_16_bytes() {
        assert!(CookieKey::new(vec![0; 15]).is_none());
        assert!(CookieKey::new(vec![0; 16]).is_some());
    }
}
