//! TLS between nodes (`rpc.driver = ssl`, EMQX's names): every node presents its certificate
//! (`rpc.certfile`, `rpc.keyfile`) and requires the peer's, both signed by `rpc.cacertfile`
//! (mutual TLS). The cookie handshake still runs inside. rustls with the aws-lc-rs provider.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The certificate files of `rpc.driver = ssl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub certfile: PathBuf,
    pub keyfile: PathBuf,
    pub cacertfile: PathBuf,
}

/// Both sides of mutual TLS for this node.
#[derive(Clone)]
pub struct ClusterTls {
    acceptor: TlsAcceptor,
    connector: TlsConnector,
}

impl std::fmt::Debug for ClusterTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterTls")
    }
}

fn read(key: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("rpc.{key}: cannot read {}: {e}", path.display()))
}

fn certs(key: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read(key, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("rpc.{key}: {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "rpc.{key}: {}: no CERTIFICATE found",
            path.display()
        ));
    }
    Ok(certs)
}

impl ClusterTls {
    /// Loads the files; errors name the key and the file.
    pub fn load(f: &TlsFiles) -> Result<ClusterTls, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let chain = certs("certfile", &f.certfile)?;
        let key = PrivateKeyDer::from_pem_slice(&read("keyfile", &f.keyfile)?)
            .map_err(|e| format!("rpc.keyfile: {}: {e}", f.keyfile.display()))?;
        let mut roots = RootCertStore::empty();
        for c in certs("cacertfile", &f.cacertfile)? {
            roots
                .add(c)
                .map_err(|e| format!("rpc.cacertfile: {}: {e}", f.cacertfile.display()))?;
        }
        let roots = Arc::new(roots);
        let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| format!("rpc.cacertfile: {e}"))?;
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| format!("rpc.certfile/keyfile: {e}"))?;
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| format!("rpc.certfile/keyfile: {e}"))?;
        Ok(ClusterTls {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
        })
    }

    /// The server side of a connection.
    pub async fn accept(&self, sock: TcpStream) -> std::io::Result<(BoxRead, BoxWrite)> {
        let s = self.acceptor.accept(sock).await?;
        let (r, w) = tokio::io::split(s);
        Ok((Box::new(r), Box::new(w)))
    }

    /// The client side of a connection to `host` (its certificate must name it).
    pub async fn connect(
        &self,
        host: &str,
        sock: TcpStream,
    ) -> std::io::Result<(BoxRead, BoxWrite)> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let s = self.connector.connect(name, sock).await?;
        let (r, w) = tokio::io::split(s);
        Ok((Box::new(r), Box::new(w)))
    }
}

/// A reading half of a node connection (TCP or TLS).
pub type BoxRead = Box<dyn AsyncRead + Unpin + Send>;
/// A writing half of a node connection (TCP or TLS).
pub type BoxWrite = Box<dyn AsyncWrite + Unpin + Send>;
