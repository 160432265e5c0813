//! How the client reaches the server: TCP, TLS (rustls, aws-lc-rs), MQTT over WebSocket, or over
//! WebSocket over TLS. [`Transport`] is part of [`crate::ConnectOptions`].

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header};

use linkmq_ws_stream::WsStream;

use crate::error::ClientError;

/// The transport under MQTT.
#[derive(Debug, Clone, Default)]
pub enum Transport {
    /// Plain TCP (port 1883).
    #[default]
    Tcp,
    /// TLS (port 8883).
    Tls(TlsOptions),
    /// MQTT over WebSocket (port 8083), HTTP path e.g. `/mqtt`, subprotocol `mqtt`.
    Ws { path: String },
    /// MQTT over WebSocket over TLS (port 8084).
    Wss { tls: TlsOptions, path: String },
}

/// PEM data: a file, read at connect time, or bytes in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pem {
    File(PathBuf),
    Bytes(Vec<u8>),
}

impl Pem {
    fn read(&self, what: &str) -> Result<Vec<u8>, ClientError> {
        match self {
            Pem::Bytes(b) => Ok(b.clone()),
            Pem::File(p) => std::fs::read(p)
                .map_err(|e| ClientError::Tls(format!("{what}: cannot read {p:?}: {e}"))),
        }
    }

    fn describe(&self) -> String {
        match self {
            Pem::File(p) => format!("{p:?}"),
            Pem::Bytes(_) => "(in-memory PEM)".into(),
        }
    }
}

/// Server Name Indication (EMQX `server_name_indication`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Sni {
    /// The host part of the server address (also the name the certificate is checked against).
    #[default]
    Auto,
    /// Send no SNI (the certificate is still checked against the host part of the address).
    Disable,
    /// Send this name and check the certificate against it.
    Name(String),
}

/// A TLS version the client may offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    V1_2,
    V1_3,
}

/// TLS settings of a client (EMQX `ssl { enable, verify, cacertfile, certfile, keyfile,
/// server_name_indication, versions }`). Build with [`TlsOptions::new`] and the builder methods.
#[derive(Clone, Default)]
pub struct TlsOptions {
    /// Check the server's certificate chain against `ca` and its name (`verify_peer`); false is
    /// `verify_none`: any certificate is accepted (handshake signatures are still checked).
    pub verify: bool,
    /// Trusted CA certificates (`cacertfile`, or PEM in memory).
    pub ca: Vec<Pem>,
    /// Trusted CA certificates in DER (e.g. straight from a test CA).
    pub ca_der: Vec<CertificateDer<'static>>,
    /// Client certificate chain and private key for mutual TLS (`certfile`, `keyfile`).
    pub identity: Option<(Pem, Pem)>,
    /// What SNI to send.
    pub sni: Sni,
    /// Versions offered; empty = TLS 1.2 and 1.3.
    pub versions: Vec<TlsVersion>,
    /// A prepared rustls configuration; when set, every other field but `sni` is ignored.
    pub config: Option<Arc<ClientConfig>>,
}

impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsOptions")
            .field("verify", &self.verify)
            .field("ca", &self.ca.iter().map(Pem::describe).collect::<Vec<_>>())
            .field("ca_der", &self.ca_der.len())
            .field(
                "identity",
                &self.identity.as_ref().map(|(c, _)| c.describe()),
            )
            .field("sni", &self.sni)
            .field("versions", &self.versions)
            .field("config", &self.config.is_some())
            .finish()
    }
}

impl TlsOptions {
    /// Verifying TLS (`verify_peer`) with no trusted CA yet: add one with [`TlsOptions::ca_file`],
    /// [`TlsOptions::ca_pem`] or [`TlsOptions::ca_der`].
    pub fn new() -> Self {
        TlsOptions {
            verify: true,
            ..Default::default()
        }
    }

    /// TLS that accepts any server certificate (`verify_none`).
    pub fn insecure() -> Self {
        TlsOptions::default()
    }

    /// Whether the server certificate is checked (`verify_peer`) or not (`verify_none`).
    pub fn verify(mut self, verify: bool) -> Self {
        self.verify = verify;
        self
    }

    /// Trusts the CA certificates of a PEM file (`cacertfile`).
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca.push(Pem::File(path.into()));
        self
    }

    /// Trusts the CA certificates of PEM text.
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca.push(Pem::Bytes(pem.into()));
        self
    }

    /// Trusts a CA certificate in DER.
    pub fn ca_der(mut self, der: impl Into<CertificateDer<'static>>) -> Self {
        self.ca_der.push(der.into());
        self
    }

    /// Presents this client certificate chain and key, from PEM files (`certfile`, `keyfile`).
    pub fn client_cert_files(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.identity = Some((Pem::File(cert.into()), Pem::File(key.into())));
        self
    }

    /// Presents this client certificate chain and key, from PEM text.
    pub fn client_cert_pem(mut self, cert: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> Self {
        self.identity = Some((Pem::Bytes(cert.into()), Pem::Bytes(key.into())));
        self
    }

    /// Sends (and checks the certificate against) this server name.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.sni = Sni::Name(name.into());
        self
    }

    /// Sends no SNI.
    pub fn no_sni(mut self) -> Self {
        self.sni = Sni::Disable;
        self
    }

    /// Offers only these versions.
    pub fn versions(mut self, versions: &[TlsVersion]) -> Self {
        self.versions = versions.to_vec();
        self
    }

    /// Uses a prepared rustls configuration.
    pub fn rustls_config(mut self, config: Arc<ClientConfig>) -> Self {
        self.config = Some(config);
        self
    }

    /// The rustls configuration these options describe (files are read now).
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, ClientError> {
        if let Some(c) = &self.config {
            let mut c = (**c).clone();
            c.enable_sni = self.sni != Sni::Disable;
            return Ok(Arc::new(c));
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut versions = Vec::new();
        if self.versions.is_empty() || self.versions.contains(&TlsVersion::V1_3) {
            versions.push(&rustls::version::TLS13);
        }
        if self.versions.is_empty() || self.versions.contains(&TlsVersion::V1_2) {
            versions.push(&rustls::version::TLS12);
        }
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| ClientError::Tls(e.to_string()))?;
        let builder = if self.verify {
            let mut roots = rustls::RootCertStore::empty();
            for pem in &self.ca {
                let text = pem.read("cacertfile")?;
                let mut n = 0;
                for cert in CertificateDer::pem_slice_iter(&text) {
                    let cert = cert.map_err(|e| {
                        ClientError::Tls(format!("cacertfile {}: {e}", pem.describe()))
                    })?;
                    roots.add(cert).map_err(|e| {
                        ClientError::Tls(format!("cacertfile {}: {e}", pem.describe()))
                    })?;
                    n += 1;
                }
                if n == 0 {
                    return Err(ClientError::Tls(format!(
                        "cacertfile {}: no CERTIFICATE section found",
                        pem.describe()
                    )));
                }
            }
            for der in &self.ca_der {
                roots
                    .add(der.clone())
                    .map_err(|e| ClientError::Tls(format!("CA certificate: {e}")))?;
            }
            if roots.is_empty() {
                return Err(ClientError::Tls(
                    "verify_peer needs a trusted CA (cacertfile)".into(),
                ));
            }
            builder.with_root_certificates(roots)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert(provider)))
        };
        let mut config = match &self.identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let cert_pem = cert.read("certfile")?;
                let chain = CertificateDer::pem_slice_iter(&cert_pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| ClientError::Tls(format!("certfile {}: {e}", cert.describe())))?;
                if chain.is_empty() {
                    return Err(ClientError::Tls(format!(
                        "certfile {}: no CERTIFICATE section found",
                        cert.describe()
                    )));
                }
                let key_pem = key.read("keyfile")?;
                let key_der = PrivateKeyDer::from_pem_slice(&key_pem)
                    .map_err(|e| ClientError::Tls(format!("keyfile {}: {e}", key.describe())))?;
                builder
                    .with_client_auth_cert(chain, key_der)
                    .map_err(|e| ClientError::Tls(format!("certfile/keyfile: {e}")))?
            }
        };
        config.enable_sni = self.sni != Sni::Disable;
        Ok(Arc::new(config))
    }

    fn server_name_for(&self, addr: &str) -> Result<ServerName<'static>, ClientError> {
        let name = match &self.sni {
            Sni::Name(n) => n.clone(),
            Sni::Auto | Sni::Disable => host_of(addr).to_string(),
        };
        ServerName::try_from(name.clone())
            .map_err(|_| ClientError::Tls(format!("invalid server name {name:?}")))
    }
}

/// "host" of "host:port" / "[v6]:port".
fn host_of(addr: &str) -> &str {
    let host = match addr.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => addr,
    };
    host.trim_start_matches('[').trim_end_matches(']')
}

/// `verify_none`: any certificate, signatures still checked with the provider's algorithms.
#[derive(Debug)]
struct AcceptAnyServerCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Any byte stream the client can run on.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An open connection to the server, before MQTT: a byte stream whatever the transport (the load
/// generator writes its batches straight into it).
pub enum Stream {
    Tcp(TcpStream),
    Other(Box<dyn Io>),
}

/// Opens the transport to `addr`: TCP connect, then the TLS handshake and/or WebSocket upgrade.
pub(crate) async fn open(addr: &str, transport: &Transport) -> Result<Stream, ClientError> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    transport.establish(addr, tcp).await
}

impl Transport {
    /// Runs this transport's handshakes (TLS, WebSocket upgrade) over a connected TCP stream;
    /// `addr` ("host:port") gives the TLS server name and the WebSocket `Host`.
    pub async fn establish(&self, addr: &str, tcp: TcpStream) -> Result<Stream, ClientError> {
        match self {
            Transport::Tcp => Ok(Stream::Tcp(tcp)),
            Transport::Tls(tls) => Ok(Stream::Other(Box::new(tls_connect(addr, tls, tcp).await?))),
            Transport::Ws { path } => Ok(Stream::Other(Box::new(
                ws_connect("ws", addr, path, tcp).await?,
            ))),
            Transport::Wss { tls, path } => {
                let s = tls_connect(addr, tls, tcp).await?;
                Ok(Stream::Other(Box::new(
                    ws_connect("wss", addr, path, s).await?,
                )))
            }
        }
    }
}

async fn tls_connect(
    addr: &str,
    tls: &TlsOptions,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ClientError> {
    let config = tls.client_config()?;
    let name = tls.server_name_for(addr)?;
    Ok(tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?)
}

async fn ws_connect<S: AsyncRead + AsyncWrite + Unpin>(
    scheme: &str,
    addr: &str,
    path: &str,
    stream: S,
) -> Result<WsStream<S>, ClientError> {
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let mut request = format!("{scheme}://{addr}{path}")
        .into_client_request()
        .map_err(|e| ClientError::WebSocket(e.to_string()))?;
    request.headers_mut().insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static("mqtt"),
    );
    let (ws, _response) = tokio_tungstenite::client_async(request, stream)
        .await
        .map_err(|e| match e {
            WsError::Io(e) => ClientError::Io(e),
            e => ClientError::WebSocket(e.to_string()),
        })?;
    Ok(WsStream::new(ws))
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Other(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Other(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Other(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Other(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_strips_port_and_brackets() {
        assert_eq!(host_of("127.0.0.1:8883"), "127.0.0.1");
        assert_eq!(host_of("broker.example:8883"), "broker.example");
        assert_eq!(host_of("[::1]:8883"), "::1");
        assert_eq!(host_of("localhost"), "localhost");
    }

    #[test]
    fn verify_peer_without_a_ca_is_a_clear_error() {
        let err = TlsOptions::new().client_config().unwrap_err();
        assert_eq!(
            err.to_string(),
            "TLS setup failed: verify_peer needs a trusted CA (cacertfile)"
        );
        let err = TlsOptions::new()
            .ca_file("/nonexistent/ca.pem")
            .client_config()
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("TLS setup failed: cacertfile: cannot read \"/nonexistent/ca.pem\""),
            "{err}"
        );
        let err = TlsOptions::new()
            .ca_pem("not pem")
            .client_config()
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "TLS setup failed: cacertfile (in-memory PEM): no CERTIFICATE section found"
        );
    }

    #[test]
    fn insecure_needs_no_ca_and_sni_can_be_disabled() {
        let c = TlsOptions::insecure().no_sni().client_config().unwrap();
        assert!(!c.enable_sni);
        let c = TlsOptions::insecure().client_config().unwrap();
        assert!(c.enable_sni);
    }
}
