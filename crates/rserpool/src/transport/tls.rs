//! TLS over the TCP mapping (RFC 5352 section 9.2, RFC 5353 section 11):
//! registrars and PEs present certificates from the scope's CA and verify
//! each other's; pool users verify the registrar, and optionally a PE on
//! the data channel (its certificate must name the pool).
//!
//! rustls has no external pre-shared keys: a certificate from the scope CA
//! gives the mutual authentication the RFC asks of them, and its
//! subjectAltName URIs carry the holder's role and pools (see
//! [`rserpool_proto::identity`]). A server certificate is checked against
//! the CA, not against the address dialled (registrars are found by
//! address, from announces and peer lists); whoever dials checks the role
//! the certificate grants instead ([`Expect`]).

use super::Association;
use super::data::DataChannel;
use rserpool_proto::identity::Identity;
use rserpool_proto::wire::PoolHandle;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig,
    SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector, TlsStream};

/// IANA port of ASAP over TLS (RFC 5352 section 6).
pub const ASAP_TLS_PORT: u16 = 3864;
/// IANA port of ENRP over TLS (RFC 5353 section 11).
pub const ENRP_TLS_PORT: u16 = 9902;

/// Whether a listener asks its clients for a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// Every client presents one from the CA (ENRP).
    Required,
    /// Clients may present one (ASAP: PEs do, pool users need not).
    Optional,
}

/// What a client requires of the server's certificate, beyond the CA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// The registrar role.
    Registrar,
    /// Any certificate of the scope.
    Any,
}

/// The scope CA, and this endpoint's certificate chain and key if it has
/// them.
#[derive(Clone)]
pub struct TlsConfig {
    roots: Arc<RootCertStore>,
    own: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("roots", &self.roots.len())
            .field("certificate", &self.own.is_some())
            .finish_non_exhaustive()
    }
}

fn invalid(what: impl fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.to_string())
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsConfig {
    /// From PEM text: the CA certificate(s), and optionally this
    /// endpoint's chain (leaf first) and private key.
    pub fn from_pem(ca: &[u8], own: Option<(&[u8], &[u8])>) -> io::Result<TlsConfig> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca) {
            let cert = cert.map_err(|e| invalid(format!("CA certificate: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| invalid(format!("CA certificate: {e}")))?;
        }
        if roots.is_empty() {
            return Err(invalid("no CA certificate in the CA file"));
        }
        let own = match own {
            None => None,
            Some((chain, key)) => {
                let chain = CertificateDer::pem_slice_iter(chain)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| invalid(format!("certificate: {e}")))?;
                if chain.is_empty() {
                    return Err(invalid("no certificate in the certificate file"));
                }
                let key =
                    PrivateKeyDer::from_pem_slice(key).map_err(|e| invalid(format!("key: {e}")))?;
                Some((chain, Arc::new(key)))
            }
        };
        Ok(TlsConfig {
            roots: Arc::new(roots),
            own,
        })
    }

    /// From PEM files (as `rserpool tls` writes them).
    pub fn from_files(ca: &Path, own: Option<(&Path, &Path)>) -> io::Result<TlsConfig> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))
        };
        let ca = read(ca)?;
        match own {
            None => TlsConfig::from_pem(&ca, None),
            Some((cert, key)) => {
                let (cert, key) = (read(cert)?, read(key)?);
                TlsConfig::from_pem(&ca, Some((&cert, &key)))
            }
        }
    }

    /// Whether this endpoint has a certificate to present.
    pub fn has_certificate(&self) -> bool {
        self.own.is_some()
    }

    /// The server side, for a listener.
    pub fn server(&self, auth: ClientAuth) -> io::Result<TlsServer> {
        let Some((chain, key)) = &self.own else {
            return Err(invalid("a TLS listener needs a certificate and its key"));
        };
        let provider = provider();
        let builder =
            WebPkiClientVerifier::builder_with_provider(self.roots.clone(), provider.clone());
        let verifier = match auth {
            ClientAuth::Required => builder.build(),
            ClientAuth::Optional => builder.allow_unauthenticated().build(),
        }
        .map_err(invalid)?;
        let cfg = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(invalid)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(invalid)?;
        Ok(TlsServer {
            acceptor: TlsAcceptor::from(Arc::new(cfg)),
        })
    }

    /// The client side: presents this endpoint's certificate if it has one.
    pub fn client(&self) -> io::Result<TlsClient> {
        let provider = provider();
        let inner =
            WebPkiServerVerifier::builder_with_provider(self.roots.clone(), provider.clone())
                .build()
                .map_err(invalid)?;
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(invalid)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ScopeVerifier { inner }));
        let cfg = match &self.own {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(invalid)?,
            None => builder.with_no_client_auth(),
        };
        Ok(TlsClient {
            connector: TlsConnector::from(Arc::new(cfg)),
        })
    }
}

/// Accepts TLS on plain TCP associations.
#[derive(Clone)]
pub struct TlsServer {
    acceptor: TlsAcceptor,
}

impl fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsServer")
    }
}

impl TlsServer {
    /// Runs the server handshake on a freshly accepted TCP association;
    /// the result carries the client certificate's identity, if any. The
    /// caller bounds the time it may take.
    pub async fn accept(&self, a: Association) -> io::Result<Association> {
        let (tcp, max) = a.into_tcp_stream()?;
        let stream = TlsStream::from(self.acceptor.accept(tcp).await?);
        let identity = peer_identity(&stream)?;
        Ok(Association::over_tls(stream, max, identity))
    }
}

impl TlsServer {
    /// Runs the server handshake on any TCP stream (the HTTP listener).
    pub async fn accept_tcp(
        &self,
        tcp: TcpStream,
    ) -> io::Result<tokio_rustls::server::TlsStream<TcpStream>> {
        self.acceptor.accept(tcp).await
    }

    /// Runs the server handshake on a pool user's new data channel (a
    /// PE's data endpoint; pool users need no certificate).
    pub async fn accept_data(&self, tcp: TcpStream) -> io::Result<DataChannel> {
        let stream = TlsStream::from(self.acceptor.accept(tcp).await?);
        Ok(DataChannel::over_tls(stream))
    }
}

/// Starts TLS on plain TCP associations this endpoint opened.
#[derive(Clone)]
pub struct TlsClient {
    connector: TlsConnector,
}

impl fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsClient")
    }
}

impl TlsClient {
    /// Runs the client handshake; the server's certificate must come from
    /// the scope CA and grant what `expect` asks.
    pub async fn connect(&self, a: Association, expect: Expect) -> io::Result<Association> {
        let remote = a
            .peer_addr()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no peer address"))?;
        let (tcp, max) = a.into_tcp_stream()?;
        let name = ServerName::IpAddress(remote.ip().into());
        let stream = TlsStream::from(self.connector.connect(name, tcp).await?);
        let identity = peer_identity(&stream)?;
        let ok = match (expect, &identity) {
            (Expect::Any, Some(_)) => true,
            (Expect::Registrar, Some(i)) => i.registrar.is_some(),
            (_, None) => false,
        };
        if !ok {
            let name = identity.map_or_else(|| "(none)".to_string(), |i| i.to_string());
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{remote} presented the certificate of {name}, not a registrar's"),
            ));
        }
        Ok(Association::over_tls(stream, max, identity))
    }
}

impl TlsClient {
    /// Runs the client handshake on a new data channel to a PE of `pool`:
    /// the PE's certificate must come from the scope CA and name the pool.
    pub async fn connect_data(&self, tcp: TcpStream, pool: &PoolHandle) -> io::Result<DataChannel> {
        let remote = tcp.peer_addr()?;
        let name = ServerName::IpAddress(remote.ip().into());
        let stream = TlsStream::from(self.connector.connect(name, tcp).await?);
        match peer_identity(&stream)? {
            Some(i) if i.may_register(pool) => Ok(DataChannel::over_tls(stream)),
            other => Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{remote} presented the certificate of {}, not one of a PE of {pool}",
                    other.map_or_else(|| "(none)".to_string(), |i| i.to_string())
                ),
            )),
        }
    }
}

/// The identity in the peer's end-entity certificate, if it sent one.
fn peer_identity(stream: &TlsStream<TcpStream>) -> io::Result<Option<Identity>> {
    let certs = match stream {
        TlsStream::Client(s) => s.get_ref().1.peer_certificates(),
        TlsStream::Server(s) => s.get_ref().1.peer_certificates(),
    };
    match certs.and_then(|c| c.first()) {
        None => Ok(None),
        Some(der) => Identity::from_certificate(der).map(Some).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "the peer's certificate does not parse",
            )
        }),
    }
}

/// The WebPKI verifier without the name check: the chain must lead to the
/// scope CA; the role is checked by the caller.
#[derive(Debug)]
struct ScopeVerifier {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ScopeVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the name only once the chain verified.
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Accepts associations on `listener` and hands each to `deliver`; with
/// `tls`, after a handshake bounded in time, at most `max_handshakes` at
/// once (more are closed). `deliver` returns false once nobody takes
/// associations any more, which ends the loop.
pub async fn accept_loop<F, Fut>(
    listener: super::Listener,
    tls: Option<(TlsServer, std::time::Duration)>,
    max_handshakes: usize,
    deliver: F,
) where
    F: Fn(Association, std::net::SocketAddr) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    use std::sync::atomic::{AtomicUsize, Ordering};
    let handshakes = Arc::new(AtomicUsize::new(0));
    loop {
        match listener.accept().await {
            Ok((assoc, peer)) => {
                let Some((server, timeout)) = &tls else {
                    if !deliver(assoc, peer).await {
                        return;
                    }
                    continue;
                };
                if handshakes.load(Ordering::Relaxed) >= max_handshakes {
                    tracing::warn!(%peer, "too many TLS handshakes in progress: closing the connection");
                    continue;
                }
                handshakes.fetch_add(1, Ordering::Relaxed);
                let (server, timeout, deliver, count) = (
                    server.clone(),
                    *timeout,
                    deliver.clone(),
                    handshakes.clone(),
                );
                tokio::spawn(async move {
                    let r = tokio::time::timeout(timeout, server.accept(assoc)).await;
                    count.fetch_sub(1, Ordering::Relaxed);
                    match r {
                        Ok(Ok(a)) => {
                            deliver(a, peer).await;
                        }
                        Ok(Err(e)) => tracing::warn!(%peer, "TLS handshake failed: {e}"),
                        Err(_) => tracing::warn!(%peer, "TLS handshake timed out"),
                    }
                });
            }
            Err(e) => {
                // Out of descriptors and the like: do not spin.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}
