//! A scope CA and certificates for registrars, PEs and pool users, with no
//! other tool (as `consul tls ca create` does): what `rserpool tls` and
//! `rserpool demo --tls` use.
//!
//! The CA signs end-entity certificates whose subjectAltName URIs carry
//! the role (see [`rserpool_proto::identity`]); every certificate serves
//! both as TLS client and server certificate. Keys are ECDSA P-256.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rserpool_proto::identity::{Identity, SCHEME, pool_uri};
use rserpool_proto::wire::{PoolHandle, ServerId};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The CA's file names in its directory.
pub const CA_CERT: &str = "ca.pem";
/// The CA's key file name (readable by its owner only).
pub const CA_KEY: &str = "ca-key.pem";

const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 86_400);
const LEAF_VALIDITY: Duration = Duration::from_secs(825 * 86_400);

/// What a certificate allows its holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// A registrar; `None` for any server ID.
    Registrar(Option<ServerId>),
    /// A PE of these pools (`None`: any pool).
    PoolElement(Vec<Option<PoolHandle>>),
    /// A pool user (its certificate is optional).
    PoolUser,
}

impl Role {
    fn uris(&self) -> Vec<String> {
        match self {
            Role::Registrar(None) => vec![format!("{SCHEME}registrar")],
            Role::Registrar(Some(id)) => vec![format!("{SCHEME}registrar:{id}")],
            Role::PoolElement(pools) => pools
                .iter()
                .map(|p| match p {
                    None => format!("{SCHEME}pe:*"),
                    Some(h) => pool_uri(h),
                })
                .collect(),
            Role::PoolUser => vec![format!("{SCHEME}pu")],
        }
    }

    /// A default certificate name for this role.
    pub fn default_name(&self) -> String {
        match self {
            Role::Registrar(None) => "registrar".into(),
            Role::Registrar(Some(id)) => format!("registrar-{:08x}", id.0),
            Role::PoolElement(pools) => {
                let first = pools
                    .first()
                    .and_then(|p| p.as_ref())
                    .map_or_else(|| "any".to_string(), |h| sanitize(&h.to_string()));
                format!("pe-{first}")
            }
            Role::PoolUser => "pu".into(),
        }
    }
}

/// Letters, digits, `-` and `_` only: the name becomes a file name.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A certificate and its key, PEM-encoded.
#[derive(Clone)]
pub struct Issued {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key (PKCS#8).
    pub key_pem: String,
}

impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued").finish_non_exhaustive()
    }
}

fn pki_error(e: impl fmt::Display) -> io::Error {
    io::Error::other(format!("certificate: {e}"))
}

fn validity(p: &mut CertificateParams, d: Duration) {
    let now = SystemTime::now();
    p.not_before = (now - Duration::from_secs(3600)).into();
    p.not_after = (now + d).into();
}

fn ca_params(name: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p
}

/// A new scope CA (self-signed), named with a random suffix so that two
/// scopes' CAs never share a name.
pub fn new_ca() -> io::Result<Issued> {
    let name = format!("rserpool scope CA {:08x}", crate::random_seed() as u32);
    let key = KeyPair::generate().map_err(pki_error)?;
    let mut p = ca_params(&name);
    validity(&mut p, CA_VALIDITY);
    let cert = p.self_signed(&key).map_err(pki_error)?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A certificate for `role`, named `name`, valid for `hosts` (DNS names
/// or addresses; optional: roles are what peers check), signed by `ca`.
pub fn issue(ca: &Issued, role: &Role, name: &str, hosts: &[String]) -> io::Result<Issued> {
    let ca_der = CertificateDer::from_pem_slice(ca.cert_pem.as_bytes()).map_err(pki_error)?;
    let ca_name = Identity::from_certificate(&ca_der)
        .map(|i| i.name)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| pki_error("the CA certificate has no common name"))?;
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(pki_error)?;
    let issuer = Issuer::new(ca_params(&ca_name), ca_key);

    let mut p = CertificateParams::default();
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.use_authority_key_identifier_extension = true;
    validity(&mut p, LEAF_VALIDITY);
    for uri in role.uris() {
        p.subject_alt_names
            .push(SanType::URI(uri.try_into().map_err(pki_error)?));
    }
    for h in hosts {
        p.subject_alt_names.push(match h.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(h.clone().try_into().map_err(pki_error)?),
        });
    }
    let key = KeyPair::generate().map_err(pki_error)?;
    let cert = p.signed_by(&key, &issuer).map_err(pki_error)?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Writes a PEM file; keys readable by the owner only.
fn write(path: &Path, text: &str, secret: bool) -> io::Result<()> {
    let with_path = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    std::fs::write(path, text).map_err(with_path)?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(with_path)?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    Ok(())
}

/// Creates `dir/ca.pem` and `dir/ca-key.pem` (refuses to overwrite a CA).
pub fn create_ca(dir: &Path) -> io::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let (cert, key) = (dir.join(CA_CERT), dir.join(CA_KEY));
    if cert.exists() || key.exists() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} holds a CA already", dir.display()),
        ));
    }
    let ca = new_ca()?;
    write(&cert, &ca.cert_pem, false)?;
    write(&key, &ca.key_pem, true)?;
    Ok((cert, key))
}

/// Reads the CA in `dir`.
pub fn load_ca(dir: &Path) -> io::Result<Issued> {
    let read = |name: &str| {
        let p = dir.join(name);
        std::fs::read_to_string(&p)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))
    };
    Ok(Issued {
        cert_pem: read(CA_CERT)?,
        key_pem: read(CA_KEY)?,
    })
}

/// Issues a certificate with the CA in `dir` and writes `dir/NAME.pem`
/// and `dir/NAME-key.pem`.
pub fn create_cert(
    dir: &Path,
    role: &Role,
    name: Option<&str>,
    hosts: &[String],
) -> io::Result<(PathBuf, PathBuf)> {
    let ca = load_ca(dir)?;
    let name = name.map_or_else(|| role.default_name(), str::to_string);
    let file = sanitize(&name);
    let issued = issue(&ca, role, &name, hosts)?;
    let (cert, key) = (
        dir.join(format!("{file}.pem")),
        dir.join(format!("{file}-key.pem")),
    );
    write(&cert, &issued.cert_pem, false)?;
    write(&key, &issued.key_pem, true)?;
    Ok((cert, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rserpool_proto::identity::{PoolGrant, RegistrarRole};

    fn identity_of(i: &Issued) -> Identity {
        let der = CertificateDer::from_pem_slice(i.cert_pem.as_bytes()).unwrap();
        Identity::from_certificate(&der).unwrap()
    }

    #[test]
    fn issued_certificates_carry_their_roles() {
        let ca = new_ca().unwrap();
        let r = issue(&ca, &Role::Registrar(Some(ServerId(0x11))), "pr-a", &[]).unwrap();
        let id = identity_of(&r);
        assert_eq!(id.name, "pr-a");
        assert_eq!(id.registrar, Some(RegistrarRole::Id(ServerId(0x11))));
        assert!(id.pools.is_empty());

        let pools = vec![
            Some(PoolHandle::from("echo")),
            Some(PoolHandle(vec![0, 1])),
            None,
        ];
        let pe = issue(
            &ca,
            &Role::PoolElement(pools),
            "pe 1",
            &["127.0.0.1".into(), "pe.example".into()],
        )
        .unwrap();
        let id = identity_of(&pe);
        assert_eq!(id.name, "pe 1");
        assert_eq!(id.registrar, None);
        assert_eq!(
            id.pools,
            vec![
                PoolGrant::Handle(PoolHandle::from("echo")),
                PoolGrant::Handle(PoolHandle(vec![0, 1])),
                PoolGrant::Any
            ]
        );

        let pu = issue(&ca, &Role::PoolUser, "user", &[]).unwrap();
        let id = identity_of(&pu);
        assert!(id.pool_user && id.registrar.is_none() && id.pools.is_empty());
    }

    #[test]
    fn the_ca_names_itself() {
        let ca = new_ca().unwrap();
        let id = identity_of(&ca);
        assert!(id.name.starts_with("rserpool scope CA "), "{}", id.name);
        assert_eq!(id.registrar, None);
    }

    #[test]
    fn files_are_written_and_a_ca_is_not_overwritten() {
        let dir = std::env::temp_dir().join(format!("rserpool-pki-{:x}", crate::random_seed()));
        create_ca(&dir).unwrap();
        assert_eq!(
            create_ca(&dir).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        let (cert, key) = create_cert(&dir, &Role::PoolUser, Some("u/1"), &[]).unwrap();
        assert!(cert.ends_with("u_1.pem") && key.ends_with("u_1-key.pem"));
        let cfg =
            crate::transport::tls::TlsConfig::from_files(&dir.join(CA_CERT), Some((&cert, &key)))
                .unwrap();
        assert!(cfg.has_certificate());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
