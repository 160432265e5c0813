//! TLS for `ssl` and `wss` listeners (rustls, aws-lc-rs provider): the server configuration built
//! from PEM files at start-up, and the identity (CN, DN) of a verified client certificate.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use linkmq_core::registry::PeerCert;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A TLS protocol version rustls can speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2 (`tlsv1.2`).
    V1_2,
    /// TLS 1.3 (`tlsv1.3`).
    V1_3,
}

impl TlsVersion {
    /// Parses an EMQX version name (`tlsv1.3`, `tlsv1.2`); older versions are not supported (`None`).
    pub fn from_emqx(name: &str) -> Option<TlsVersion> {
        match name {
            "tlsv1.3" => Some(TlsVersion::V1_3),
            "tlsv1.2" => Some(TlsVersion::V1_2),
            _ => None,
        }
    }
}

/// A TLS listener's settings (the `ssl_options` of `listeners.ssl|wss.<name>`), files not yet read.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsServerOptions {
    /// PEM certificate chain of the server (`certfile`).
    pub certfile: PathBuf,
    /// PEM private key of the server (`keyfile`).
    pub keyfile: PathBuf,
    /// PEM CA bundle for client certificates (`cacertfile`); required with `verify_peer`.
    pub cacertfile: Option<PathBuf>,
    /// `verify = verify_peer`: ask for a client certificate and check it against `cacertfile`.
    pub verify_peer: bool,
    /// With `verify_peer`: refuse clients that present no certificate.
    pub fail_if_no_peer_cert: bool,
    /// Versions offered (empty = TLS 1.2 and 1.3).
    pub versions: Vec<TlsVersion>,
    /// Cipher suites by OpenSSL or IANA name (empty = rustls' defaults); unknown names are skipped.
    pub ciphers: Vec<String>,
    /// Time allowed for the handshake (EMQX `handshake_timeout`).
    pub handshake_timeout: Duration,
}

impl TlsServerOptions {
    /// Server certificate and key, no client certificates, TLS 1.2 + 1.3, 15 s handshake timeout.
    pub fn new(certfile: impl Into<PathBuf>, keyfile: impl Into<PathBuf>) -> Self {
        TlsServerOptions {
            certfile: certfile.into(),
            keyfile: keyfile.into(),
            cacertfile: None,
            verify_peer: false,
            fail_if_no_peer_cert: false,
            versions: Vec::new(),
            ciphers: Vec::new(),
            handshake_timeout: Duration::from_secs(15),
        }
    }
}

/// Why a TLS listener cannot start. `key` is the `ssl_options` key whose file is at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("ssl_options.{key}: cannot read {path:?}: {source}")]
    Read {
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("ssl_options.{key}: {path:?} is not usable PEM: {why}")]
    Pem {
        key: &'static str,
        path: PathBuf,
        why: String,
    },
    #[error("ssl_options.{key}: {why}")]
    Invalid { key: &'static str, why: String },
}

/// A ready server-side TLS setup: what the acceptor needs per connection.
#[derive(Clone)]
pub struct TlsServer {
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
    pub(crate) handshake_timeout: Duration,
}

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServer")
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl TlsServer {
    /// Reads the PEM files and builds the rustls configuration; every failure names the key and file.
    pub fn from_options(o: &TlsServerOptions) -> Result<TlsServer, TlsSetupError> {
        let config = server_config(o)?;
        Ok(TlsServer::from_config(
            Arc::new(config),
            o.handshake_timeout,
        ))
    }

    /// Wraps a prepared rustls configuration.
    pub fn from_config(config: Arc<ServerConfig>, handshake_timeout: Duration) -> TlsServer {
        TlsServer {
            acceptor: tokio_rustls::TlsAcceptor::from(config),
            handshake_timeout,
        }
    }
}

fn read_file(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsSetupError> {
    std::fs::read(path).map_err(|source| TlsSetupError::Read {
        key,
        path: path.to_path_buf(),
        source,
    })
}

/// Every certificate of a PEM file (at least one).
pub(crate) fn load_certs(
    key: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let pem = read_file(key, path)?;
    let bad = |why: String| TlsSetupError::Pem {
        key,
        path: path.to_path_buf(),
        why,
    };
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no CERTIFICATE section found".into()));
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) of a PEM file.
pub(crate) fn load_key(
    key: &'static str,
    path: &Path,
) -> Result<PrivateKeyDer<'static>, TlsSetupError> {
    let pem = read_file(key, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsSetupError::Pem {
        key,
        path: path.to_path_buf(),
        why: match e {
            rustls_pki_types::pem::Error::NoItemsFound => "no PRIVATE KEY section found".into(),
            e => e.to_string(),
        },
    })
}

/// OpenSSL cipher names (as EMQX lists them) onto rustls suite names.
fn rustls_suite_name(name: &str) -> &str {
    match name {
        "TLS_AES_256_GCM_SHA384" => "TLS13_AES_256_GCM_SHA384",
        "TLS_AES_128_GCM_SHA256" => "TLS13_AES_128_GCM_SHA256",
        "TLS_CHACHA20_POLY1305_SHA256" => "TLS13_CHACHA20_POLY1305_SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384" => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-ECDSA-AES128-GCM-SHA256" => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-ECDSA-CHACHA20-POLY1305" => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "ECDHE-RSA-AES256-GCM-SHA384" => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-RSA-AES128-GCM-SHA256" => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-RSA-CHACHA20-POLY1305" => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        other => other,
    }
}

/// The aws-lc-rs provider restricted to `ciphers` (all of its suites when empty).
pub(crate) fn provider(
    ciphers: &[String],
    versions: &[TlsVersion],
) -> Result<CryptoProvider, String> {
    let mut p = rustls::crypto::aws_lc_rs::default_provider();
    if !ciphers.is_empty() {
        let wanted: Vec<&str> = ciphers
            .iter()
            .flat_map(|c| c.split([',', ':']))
            .map(|c| rustls_suite_name(c.trim()))
            .collect();
        let unknown: Vec<&&str> = wanted
            .iter()
            .filter(|w| {
                !p.cipher_suites
                    .iter()
                    .any(|s| format!("{:?}", s.suite()) == **w)
            })
            .collect();
        if !unknown.is_empty() {
            tracing::warn!(
                ?unknown,
                "cipher suites rustls does not implement are skipped"
            );
        }
        p.cipher_suites
            .retain(|s| wanted.contains(&format!("{:?}", s.suite()).as_str()));
    }
    for v in versions {
        let has = p.cipher_suites.iter().any(|s| match v {
            TlsVersion::V1_3 => s.tls13().is_some(),
            TlsVersion::V1_2 => s.tls13().is_none(),
        });
        if !has {
            return Err(format!("no supported cipher suite for {v:?}"));
        }
    }
    Ok(p)
}

pub(crate) fn protocol_versions(
    versions: &[TlsVersion],
) -> Vec<&'static rustls::SupportedProtocolVersion> {
    let mut out = Vec::new();
    if versions.is_empty() || versions.contains(&TlsVersion::V1_3) {
        out.push(&rustls::version::TLS13);
    }
    if versions.is_empty() || versions.contains(&TlsVersion::V1_2) {
        out.push(&rustls::version::TLS12);
    }
    out
}

fn server_config(o: &TlsServerOptions) -> Result<ServerConfig, TlsSetupError> {
    let certs = load_certs("certfile", &o.certfile)?;
    let key = load_key("keyfile", &o.keyfile)?;
    let provider =
        Arc::new(
            provider(&o.ciphers, &o.versions).map_err(|why| TlsSetupError::Invalid {
                key: "ciphers",
                why,
            })?,
        );
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&protocol_versions(&o.versions))
        .map_err(|e| TlsSetupError::Invalid {
            key: "versions",
            why: e.to_string(),
        })?;
    let builder = if o.verify_peer {
        let Some(ca) = &o.cacertfile else {
            return Err(TlsSetupError::Invalid {
                key: "cacertfile",
                why: "verify = verify_peer needs a cacertfile".into(),
            });
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in load_certs("cacertfile", ca)? {
            roots.add(cert).map_err(|e| TlsSetupError::Pem {
                key: "cacertfile",
                path: ca.clone(),
                why: e.to_string(),
            })?;
        }
        let mut v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        if !o.fail_if_no_peer_cert {
            v = v.allow_unauthenticated();
        }
        let verifier = v.build().map_err(|e| TlsSetupError::Invalid {
            key: "cacertfile",
            why: e.to_string(),
        })?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    builder
        .with_single_cert(certs, key)
        .map_err(|e| TlsSetupError::Pem {
            key: "keyfile",
            path: o.keyfile.clone(),
            why: format!("does not match certfile {:?}: {e}", o.certfile),
        })
}

/// The identity of the client's (end-entity) certificate.
pub(crate) fn peer_cert(conn: &rustls::ServerConnection) -> Option<PeerCert> {
    let cert = conn.peer_certificates()?.first()?;
    let subject = x509_subject(cert.as_ref())?;
    Some(subject_identity(&subject))
}

/// One attribute of a distinguished name: (OID bytes, decoded value).
type Attr = (Vec<u8>, String);

/// CN (all CNs joined with ',', like EMQX) and the RFC 4514 DN (RDNs reversed, ',' between them,
/// '+' inside a multi-valued RDN).
fn subject_identity(rdns: &[Vec<Attr>]) -> PeerCert {
    let cns: Vec<&str> = rdns
        .iter()
        .flatten()
        .filter(|(oid, _)| oid.as_slice() == OID_CN)
        .map(|(_, v)| v.as_str())
        .collect();
    let dn = rdns
        .iter()
        .rev()
        .map(|rdn| {
            rdn.iter()
                .map(|(oid, v)| format!("{}={}", attr_name(oid), escape_rdn_value(v)))
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect::<Vec<_>>()
        .join(",");
    PeerCert {
        common_name: (!cns.is_empty()).then(|| cns.join(",")),
        subject_dn: (!rdns.is_empty()).then_some(dn),
    }
}

const OID_CN: &[u8] = &[0x55, 0x04, 0x03];

fn attr_name(oid: &[u8]) -> String {
    let known: &[(&[u8], &str)] = &[
        (&[0x55, 0x04, 0x04], "SN"),
        (&[0x55, 0x04, 0x2a], "GIVENNAME"),
        (&[0x55, 0x04, 0x2b], "INITIALS"),
        (&[0x55, 0x04, 0x2c], "GENERATIONQUALIFIER"),
        (OID_CN, "CN"),
        (&[0x55, 0x04, 0x07], "L"),
        (&[0x55, 0x04, 0x08], "ST"),
        (&[0x55, 0x04, 0x0a], "O"),
        (&[0x55, 0x04, 0x0b], "OU"),
        (&[0x55, 0x04, 0x0c], "TITLE"),
        (&[0x55, 0x04, 0x06], "C"),
        (&[0x55, 0x04, 0x05], "SERIALNUMBER"),
        (&[0x55, 0x04, 0x41], "PSEUDONYM"),
        (&[0x55, 0x04, 0x09], "STREET"),
        (
            &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19],
            "DC",
        ),
        (
            &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01],
            "UID",
        ),
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01],
            "EMAILADDRESS",
        ),
    ];
    known
        .iter()
        .find(|(o, _)| *o == oid)
        .map(|(_, n)| (*n).to_string())
        .unwrap_or_else(|| dotted_oid(oid))
}

fn dotted_oid(oid: &[u8]) -> String {
    let mut parts = Vec::new();
    let mut acc: u64 = 0;
    for b in oid {
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() {
                let first = (acc / 40).min(2);
                parts.push(first);
                parts.push(acc - first * 40);
            } else {
                parts.push(acc);
            }
            acc = 0;
        }
    }
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// RFC 4514 escaping, as EMQX (esockd) does it.
fn escape_rdn_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let n = v.chars().count();
    for (i, c) in v.chars().enumerate() {
        match c {
            ' ' | '#' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            ' ' if i + 1 == n => out.push_str("\\ "),
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 32 || c as u32 == 127 => out.push_str(&format!("\\{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// One DER TLV: (tag, content, rest).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | usize::from(b);
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The subject of an X.509 certificate as RDNs of (OID, value), in certificate order.
fn x509_subject(der: &[u8]) -> Option<Vec<Vec<Attr>>> {
    let (0x30, cert, _) = tlv(der)? else {
        return None;
    };
    let (0x30, tbs, _) = tlv(cert)? else {
        return None;
    };
    let mut rest = tbs;
    // version [0] EXPLICIT (optional)
    let (tag, _, r) = tlv(rest)?;
    if tag == 0xa0 {
        rest = r;
    }
    // serialNumber, signature, issuer, validity
    for _ in 0..4 {
        rest = tlv(rest)?.2;
    }
    let (0x30, mut name, _) = tlv(rest)? else {
        return None;
    };
    let mut rdns = Vec::new();
    while !name.is_empty() {
        let (0x31, mut set, r) = tlv(name)? else {
            return None;
        };
        name = r;
        let mut rdn = Vec::new();
        while !set.is_empty() {
            let (0x30, atv, r) = tlv(set)? else {
                return None;
            };
            set = r;
            let (0x06, oid, r) = tlv(atv)? else {
                return None;
            };
            let (vtag, value, _) = tlv(r)?;
            rdn.push((oid.to_vec(), decode_string(vtag, value)));
        }
        rdns.push(rdn);
    }
    Some(rdns)
}

fn decode_string(tag: u8, v: &[u8]) -> String {
    match tag {
        // BMPString: UCS-2 big endian
        0x1e => {
            let units: Vec<u16> = v
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        // UniversalString: UCS-4 big endian
        0x1c => v
            .chunks_exact(4)
            .map(|c| {
                char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect(),
        // TeletexString: treated as Latin-1, like EMQX
        0x14 => v.iter().map(|&b| char::from(b)).collect(),
        // UTF8String, PrintableString, IA5String and anything else
        _ => String::from_utf8_lossy(v).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(oid: &[u8], v: &str) -> Attr {
        (oid.to_vec(), v.to_string())
    }

    #[test]
    fn dn_is_rfc4514_reversed_with_escapes() {
        let rdns = vec![
            vec![attr(&[0x55, 0x04, 0x06], "SE")],
            vec![attr(&[0x55, 0x04, 0x0a], "EMQ, Inc")],
            vec![attr(OID_CN, "client"), attr(&[0x55, 0x04, 0x0b], "#ops")],
        ];
        let id = subject_identity(&rdns);
        assert_eq!(id.common_name.as_deref(), Some("client"));
        assert_eq!(
            id.subject_dn.as_deref(),
            Some("CN=client+OU=\\#ops,O=EMQ\\, Inc,C=SE")
        );
    }

    #[test]
    fn several_cns_are_joined_and_unknown_oids_are_dotted() {
        let rdns = vec![
            vec![attr(OID_CN, "a")],
            vec![attr(OID_CN, "b")],
            vec![attr(&[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x01], "x")],
        ];
        let id = subject_identity(&rdns);
        assert_eq!(id.common_name.as_deref(), Some("a,b"));
        assert_eq!(
            id.subject_dn.as_deref(),
            Some("1.3.6.1.4.1.311.1=x,CN=b,CN=a")
        );
    }

    #[test]
    fn no_subject_attributes_no_identity() {
        let id = subject_identity(&[]);
        assert_eq!(id, PeerCert::default());
    }

    #[test]
    fn truncated_der_is_rejected() {
        assert!(x509_subject(&[0x30, 0x82, 0x01]).is_none());
        assert!(x509_subject(&[]).is_none());
    }
}
