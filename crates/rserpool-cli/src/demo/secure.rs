//! `demo --tls`: the demo's scope with a CA of its own, made in a
//! temporary directory as `rserpool tls` would, and a certificate for
//! every component.

use rserpool::pki::{self, Issued, Role};
use rserpool::transport::tls::{TlsClient, TlsConfig};
use rserpool_proto::wire::{PoolHandle, ServerId};
use std::io;
use std::path::{Path, PathBuf};

/// The scope CA and where its files are.
#[derive(Debug)]
pub struct Scope {
    dir: PathBuf,
    ca: Issued,
    /// The dump probe that reads registrars' handlespaces (a registrar
    /// certificate for any ID: it speaks ENRP).
    probe: TlsClient,
}

impl Scope {
    /// A new CA in a fresh temporary directory.
    pub fn create() -> io::Result<Scope> {
        let dir = std::env::temp_dir().join(format!(
            "rserpool-demo-tls-{:08x}",
            crate::random_u64() as u32
        ));
        pki::create_ca(&dir)?;
        let ca = pki::load_ca(&dir)?;
        let probe = config(&dir, &Role::Registrar(None), "demo-probe")?.client()?;
        Ok(Scope { dir, ca, probe })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A registrar's certificate, for its ID only.
    pub fn registrar(&self, id: ServerId) -> io::Result<TlsConfig> {
        let role = Role::Registrar(Some(id));
        config(&self.dir, &role, &role.default_name())
    }

    /// A PE certificate for one pool, named after the PE.
    pub fn pool_element(&self, pool: &str, name: &str) -> io::Result<TlsConfig> {
        let role = Role::PoolElement(vec![Some(PoolHandle::from(pool))]);
        config(&self.dir, &role, name)
    }

    /// What a pool user needs: the CA only.
    pub fn pool_user(&self) -> io::Result<TlsConfig> {
        TlsConfig::from_pem(self.ca.cert_pem.as_bytes(), None)
    }

    pub fn probe(&self) -> &TlsClient {
        &self.probe
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Issues a certificate into the directory (as `rserpool tls cert
/// create` does) and loads it.
fn config(dir: &Path, role: &Role, name: &str) -> io::Result<TlsConfig> {
    let (cert, key) = pki::create_cert(dir, role, Some(name), &["127.0.0.1".into()])?;
    TlsConfig::from_files(&dir.join(pki::CA_CERT), Some((&cert, &key)))
}
