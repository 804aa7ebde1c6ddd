//! `rserpool tls`: a scope CA and certificates for registrars, PEs and
//! pool users (as `consul tls ca create` does), and the `--tls-*` flags
//! the other commands share.

use clap::{Args as ClapArgs, Subcommand};
use rserpool::pki::{self, Role};
use rserpool::transport::tls::{TlsClient, TlsConfig};
use rserpool_proto::wire::{PoolHandle, ServerId};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// The scope's certificate authority.
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
    /// Certificates signed by the scope CA.
    Cert {
        #[command(subcommand)]
        command: CertCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Make a CA: DIR/ca.pem and DIR/ca-key.pem (the key signs every
    /// certificate of the scope: keep it off the hosts that run it).
    Create {
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Make a certificate with the CA in DIR: DIR/NAME.pem and DIR/NAME-key.pem.
    Create(CertArgs),
}

#[derive(Debug, ClapArgs)]
#[command(group(clap::ArgGroup::new("role").required(true).args(["registrar", "pe", "pu"])))]
pub struct CertArgs {
    /// Directory of the CA; the certificate is written there
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// A registrar with this server ID (decimal or 0x-hex), or `any`
    #[arg(long, value_name = "ID")]
    pub registrar: Option<String>,
    /// A pool element allowed into this pool (repeatable; `*` for any pool)
    #[arg(long, value_name = "POOL", num_args = 1..)]
    pub pe: Vec<String>,
    /// A pool user
    #[arg(long)]
    pub pu: bool,
    /// The certificate's name (its common name and file name); PE IDs
    /// belong to it [default: from the role, e.g. registrar-00000011]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// A DNS name or address of the holder (repeatable; optional: peers
    /// check the role, not the name)
    #[arg(long = "host", value_name = "NAME_OR_IP")]
    pub hosts: Vec<String>,
}

impl CertArgs {
    fn role(&self) -> Result<Role, String> {
        if let Some(r) = &self.registrar {
            if r == "any" || r == "*" {
                return Ok(Role::Registrar(None));
            }
            let id = match r.strip_prefix("0x").or_else(|| r.strip_prefix("0X")) {
                Some(hex) => u32::from_str_radix(hex, 16),
                None => r.parse(),
            }
            .map_err(|e| format!("--registrar {r:?}: not a 32-bit ID: {e}"))?;
            return Ok(Role::Registrar(Some(ServerId(id))));
        }
        if !self.pe.is_empty() {
            let pools = self
                .pe
                .iter()
                .map(|p| (p != "*").then(|| PoolHandle::from(p.as_str())))
                .collect();
            return Ok(Role::PoolElement(pools));
        }
        Ok(Role::PoolUser)
    }
}

pub fn run(command: TlsCommand) -> i32 {
    let r = match command {
        TlsCommand::Ca {
            command: CaCommand::Create { dir },
        } => pki::create_ca(&dir).map(|(cert, key)| {
            println!("CA certificate {}", cert.display());
            println!("CA key {}", key.display());
        }),
        TlsCommand::Cert {
            command: CertCommand::Create(args),
        } => {
            let role = match args.role() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("rserpool tls: {e}");
                    return 2;
                }
            };
            pki::create_cert(&args.dir, &role, args.name.as_deref(), &args.hosts).map(
                |(cert, key)| {
                    println!("certificate {}", cert.display());
                    println!("key {}", key.display());
                },
            )
        }
    };
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("rserpool tls: {e}");
            1
        }
    }
}

/// `--tls-ca`, `--tls-cert`, `--tls-key` for PEs, pool users and tools.
#[derive(Debug, Default, Clone, ClapArgs)]
pub struct TlsArgs {
    /// The scope CA's certificate: talk to registrars over TLS (TCP)
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// This endpoint's certificate (a PE's names its pools) [default: none]
    #[arg(long, value_name = "FILE", requires = "tls_ca", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// The TLS configuration the flags give, if any.
    pub fn config(&self) -> Result<Option<TlsConfig>, String> {
        tls_config(
            self.tls_ca.as_ref(),
            self.tls_cert.as_ref(),
            self.tls_key.as_ref(),
        )
    }

    /// The client side of [`TlsArgs::config`].
    pub fn client(&self) -> Result<Option<TlsClient>, String> {
        match self.config()? {
            Some(c) => c.client().map(Some).map_err(|e| e.to_string()),
            None => Ok(None),
        }
    }
}

/// Loads the CA and an optional certificate and key.
pub fn tls_config(
    ca: Option<&PathBuf>,
    cert: Option<&PathBuf>,
    key: Option<&PathBuf>,
) -> Result<Option<TlsConfig>, String> {
    let Some(ca) = ca else {
        if cert.is_some() || key.is_some() {
            return Err("--tls-cert and --tls-key need --tls-ca".into());
        }
        return Ok(None);
    };
    let own = match (cert, key) {
        (Some(c), Some(k)) => Some((c.as_path(), k.as_path())),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    TlsConfig::from_files(ca, own)
        .map(Some)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: TlsCommand,
    }

    fn role(args: &[&str]) -> Result<Role, String> {
        let mut all = vec!["tls", "cert", "create"];
        all.extend_from_slice(args);
        match Cli::try_parse_from(all).map_err(|e| e.to_string())?.command {
            TlsCommand::Cert {
                command: CertCommand::Create(c),
            } => c.role(),
            TlsCommand::Ca { .. } => Err("not a cert command".into()),
        }
    }

    #[test]
    fn roles_come_from_exactly_one_flag() {
        assert_eq!(
            role(&["--registrar", "0x11"]),
            Ok(Role::Registrar(Some(ServerId(0x11))))
        );
        assert_eq!(role(&["--registrar", "any"]), Ok(Role::Registrar(None)));
        assert_eq!(
            role(&["--pe", "echo", "*"]),
            Ok(Role::PoolElement(vec![
                Some(PoolHandle::from("echo")),
                None
            ]))
        );
        assert_eq!(role(&["--pu", "--name", "alice"]), Ok(Role::PoolUser));
        assert!(role(&[]).is_err());
        assert!(role(&["--pu", "--registrar", "1"]).is_err());
        assert!(role(&["--registrar", "x1"]).is_err());
    }
}
