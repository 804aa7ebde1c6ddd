//! Who is at the other end of an association, and what it may do, as its
//! certificate says (RFC 5352 section 9.2: "having the key constitutes
//! authorization").
//!
//! The transport authenticates the peer (TLS with certificates from the
//! scope's CA); this module only reads the role and the permissions the CA
//! wrote into the certificate, as subjectAltName URIs:
//! - `rserpool:registrar` (any server ID) or `rserpool:registrar:<id>`
//!   (that ID only, decimal or `0x` hex): may speak ENRP;
//! - `rserpool:pe:<pool handle>` (repeatable; `*` for any pool; bytes
//!   outside letters, digits and `-._~` percent-encoded): may register
//!   into that pool;
//! - `rserpool:pu`: a pool user (no rights beyond an anonymous one's).
//!
//! The subject's common name names the identity: a PE ID belongs to the
//! name that registered it. Other URIs are ignored.

use std::fmt;

use crate::wire::{PoolHandle, ServerId};

/// The URI scheme of RSerPool roles.
pub const SCHEME: &str = "rserpool:";

/// A registrar's certificate role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistrarRole {
    /// Any server ID.
    Any,
    /// Only this server ID.
    Id(ServerId),
}

/// Pools a PE certificate may register into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PoolGrant {
    /// `rserpool:pe:*`.
    Any,
    /// `rserpool:pe:<pool handle>`.
    Handle(PoolHandle),
}

/// An authenticated peer: its name and its roles.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    /// The certificate's subject common name (else its first RSerPool URI).
    pub name: String,
    /// May speak ENRP (as which server IDs).
    pub registrar: Option<RegistrarRole>,
    /// Empty: not a pool element.
    pub pools: Vec<PoolGrant>,
    /// `rserpool:pu`: informative (anyone may resolve).
    pub pool_user: bool,
}

impl Identity {
    /// The identity described by a name and subjectAltName URIs.
    pub fn from_uris<'a>(name: Option<&str>, uris: impl IntoIterator<Item = &'a str>) -> Identity {
        let mut id = Identity::default();
        let mut first = None;
        for uri in uris {
            let Some(rest) = uri.strip_prefix(SCHEME) else {
                continue;
            };
            let (role, arg) = match rest.split_once(':') {
                Some((r, a)) => (r, Some(a)),
                None => (rest, None),
            };
            let known = match (role, arg) {
                ("registrar", None) | ("registrar", Some("*")) => {
                    id.registrar = Some(RegistrarRole::Any);
                    true
                }
                ("registrar", Some(a)) => match parse_server_id(a) {
                    Some(s) => {
                        id.registrar = Some(RegistrarRole::Id(s));
                        true
                    }
                    None => false,
                },
                ("pe", Some("*")) => {
                    id.pools.push(PoolGrant::Any);
                    true
                }
                ("pe", Some(a)) => match percent_decode(a) {
                    Some(h) if !h.is_empty() => {
                        id.pools.push(PoolGrant::Handle(PoolHandle(h)));
                        true
                    }
                    _ => false,
                },
                ("pu", None) => {
                    id.pool_user = true;
                    true
                }
                _ => false,
            };
            if known && first.is_none() {
                first = Some(uri.to_string());
            }
        }
        id.name = name
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .or(first)
            .unwrap_or_default();
        id
    }

    /// The identity in a DER certificate (already verified by the
    /// transport); `None` if the certificate does not parse.
    pub fn from_certificate(der: &[u8]) -> Option<Identity> {
        let fields = der::certificate_fields(der)?;
        Some(Identity::from_uris(
            fields.common_name.as_deref(),
            fields.uris.iter().map(String::as_str),
        ))
    }

    /// Whether this identity may register a PE into `pool`.
    pub fn may_register(&self, pool: &PoolHandle) -> bool {
        self.pools.iter().any(|g| match g {
            PoolGrant::Any => true,
            PoolGrant::Handle(h) => h == pool,
        })
    }

    /// Whether this identity may speak ENRP as `id`.
    pub fn may_be_registrar(&self, id: ServerId) -> bool {
        match self.registrar {
            Some(RegistrarRole::Any) => true,
            Some(RegistrarRole::Id(own)) => own == id,
            None => false,
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() {
            f.write_str("(unnamed)")
        } else {
            // Names come from certificates: no control characters in logs.
            for c in self.name.chars() {
                if c.is_control() {
                    write!(f, "\\u{{{:x}}}", c as u32)?;
                } else {
                    write!(f, "{c}")?;
                }
            }
            Ok(())
        }
    }
}

fn parse_server_id(s: &str) -> Option<ServerId> {
    let n = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => s.parse().ok()?,
    };
    Some(ServerId(n))
}

/// A pool handle as the argument of a `rserpool:pe:` URI.
pub fn pool_uri(pool: &PoolHandle) -> String {
    let mut s = format!("{SCHEME}pe:");
    for &b in &pool.0 {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Just enough DER to read a certificate's subject common name and its
/// subjectAltName URIs (RFC 5280), bounds-checked throughout.
mod der {
    pub struct Fields {
        pub common_name: Option<String>,
        pub uris: Vec<String>,
    }

    const SEQUENCE: u8 = 0x30;
    const SET: u8 = 0x31;
    const OID: u8 = 0x06;
    const OCTET_STRING: u8 = 0x04;
    const BOOLEAN: u8 = 0x01;
    const EXTENSIONS: u8 = 0xa3;
    const URI: u8 = 0x86;
    const CN: &[u8] = &[0x55, 0x04, 0x03];
    const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

    /// One tag-length-value: (tag, value, what follows).
    fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = b.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, &x| (acc << 8) | usize::from(x));
            (len, &rest[n..])
        };
        if rest.len() < len {
            return None;
        }
        Some((tag, &rest[..len], &rest[len..]))
    }

    /// The values of a sequence's elements.
    fn elements(mut b: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
        std::iter::from_fn(move || {
            let (tag, value, rest) = tlv(b)?;
            b = rest;
            Some((tag, value))
        })
    }

    fn expect(b: &[u8], want: u8) -> Option<(&[u8], &[u8])> {
        let (tag, value, rest) = tlv(b)?;
        (tag == want).then_some((value, rest))
    }

    pub fn certificate_fields(der: &[u8]) -> Option<Fields> {
        let (cert, _) = expect(der, SEQUENCE)?;
        let (tbs, _) = expect(cert, SEQUENCE)?;
        let mut fields: Vec<(u8, &[u8])> = elements(tbs).collect();
        // version [0] is optional (v1 certificates have none).
        if fields.first().is_some_and(|(t, _)| *t == 0xa0) {
            fields.remove(0);
        }
        // serial, signature, issuer, validity, subject, key, extras...
        let subject = fields.get(4).filter(|(t, _)| *t == SEQUENCE)?.1;
        let common_name = common_name(subject);
        let mut uris = Vec::new();
        if let Some((_, ext)) = fields.iter().skip(6).find(|(t, _)| *t == EXTENSIONS) {
            let (list, _) = expect(ext, SEQUENCE)?;
            for (tag, e) in elements(list) {
                if tag != SEQUENCE {
                    return None;
                }
                let (oid, mut rest) = expect(e, OID)?;
                if let Some((t, _, r)) = tlv(rest) {
                    if t == BOOLEAN {
                        rest = r;
                    }
                }
                let (value, _) = expect(rest, OCTET_STRING)?;
                if oid == SUBJECT_ALT_NAME {
                    let (names, _) = expect(value, SEQUENCE)?;
                    for (t, v) in elements(names) {
                        if t == URI {
                            uris.push(String::from_utf8_lossy(v).into_owned());
                        }
                    }
                }
            }
        }
        Some(Fields { common_name, uris })
    }

    /// The first CN attribute of a Name.
    fn common_name(name: &[u8]) -> Option<String> {
        for (tag, rdn) in elements(name) {
            if tag != SET {
                continue;
            }
            for (tag, atv) in elements(rdn) {
                if tag != SEQUENCE {
                    continue;
                }
                let (oid, rest) = expect(atv, OID)?;
                if oid == CN {
                    let (_, value, _) = tlv(rest)?;
                    return Some(String::from_utf8_lossy(value).into_owned());
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_read_from_uris() {
        let id = Identity::from_uris(
            Some("pe-1"),
            [
                "https://example.org/",
                "rserpool:pe:echo",
                "rserpool:pe:a%20b",
                "rserpool:registrar:0x11",
            ],
        );
        assert_eq!(id.name, "pe-1");
        assert!(id.may_register(&PoolHandle::from("echo")));
        assert!(id.may_register(&PoolHandle(b"a b".to_vec())));
        assert!(!id.may_register(&PoolHandle::from("other")));
        assert!(id.may_be_registrar(ServerId(0x11)));
        assert!(!id.may_be_registrar(ServerId(0x12)));
        assert!(!id.pool_user);
    }

    #[test]
    fn wildcards_and_bare_roles() {
        let id = Identity::from_uris(None, ["rserpool:registrar", "rserpool:pe:*", "rserpool:pu"]);
        assert_eq!(id.name, "rserpool:registrar");
        assert!(id.may_be_registrar(ServerId(7)));
        assert!(id.may_register(&PoolHandle::from("anything")));
        assert!(id.pool_user);
    }

    #[test]
    fn malformed_uris_grant_nothing() {
        let id = Identity::from_uris(
            Some("x"),
            [
                "rserpool:registrar:zz",
                "rserpool:pe:",
                "rserpool:pe:%4",
                "rserpool:pu:extra",
                "rserpool:admin",
            ],
        );
        assert_eq!(id.registrar, None);
        assert!(id.pools.is_empty());
        assert!(!id.pool_user);
    }

    #[test]
    fn pool_uris_round_trip() {
        for h in [&b"echo"[..], b"a b/c", &[0, 255, b'%']] {
            let pool = PoolHandle(h.to_vec());
            let id = Identity::from_uris(None, [pool_uri(&pool).as_str()]);
            assert_eq!(id.pools, vec![PoolGrant::Handle(pool)]);
        }
    }

    /// A certificate made by another tool (`openssl req -x509` with an
    /// RSA key, an O before the CN, a DNS name, a critical extension).
    #[test]
    fn an_openssl_certificate_is_read() {
        let der = include_bytes!("../tests/proto/data/openssl_pe_cert.der");
        let id = Identity::from_certificate(der).unwrap();
        assert_eq!(id.name, "pe-openssl");
        assert!(id.may_register(&PoolHandle::from("echo")));
        assert!(!id.may_register(&PoolHandle::from("other")));
        assert_eq!(id.registrar, Some(RegistrarRole::Id(ServerId(0x10))));
        // Cut anywhere, it fails cleanly (or reads less).
        for n in 0..der.len() {
            let _ = Identity::from_certificate(&der[..n]);
        }
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert_eq!(Identity::from_certificate(&[]), None);
        assert_eq!(Identity::from_certificate(&[0x30, 0x84, 0xff, 0xff]), None);
        assert_eq!(Identity::from_certificate(&[0x30, 0x02, 0x30, 0x00]), None);
        // Every prefix of a small structure fails cleanly.
        let nested = [0x30, 0x06, 0x30, 0x04, 0x02, 0x01, 0x01, 0x00];
        for n in 0..nested.len() {
            assert_eq!(Identity::from_certificate(&nested[..n]), None);
        }
    }
}
