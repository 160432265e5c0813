//! Test certificates made at test time with rcgen: a CA, a server certificate for 127.0.0.1 and
//! localhost, client certificates from the same CA and from another one, written as PEM files.

use std::path::PathBuf;

use linkmq_client::TlsOptions;
use linkmq_net::TlsServerOptions;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

use crate::TestDir;

/// A certificate authority that signs leaf certificates.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    /// A self-signed CA with this common name.
    pub fn new(cn: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.distinguished_name
            .push(DnType::OrganizationName, "linkmq tests");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("ca key");
        Ca {
            issuer: CertifiedIssuer::self_signed(p, key).expect("ca cert"),
        }
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for `sans` (DNS names or IPs): (certificate PEM, key PEM).
    pub fn server(&self, cn: &str, sans: &[&str]) -> (String, String) {
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut p = CertificateParams::new(sans).expect("server params");
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(p)
    }

    /// A certificate for a cluster node, usable as both server and client (mutual TLS between
    /// nodes): (certificate PEM, key PEM).
    pub fn node(&self, cn: &str, sans: &[&str]) -> (String, String) {
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut p = CertificateParams::new(sans).expect("node params");
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        self.sign(p)
    }

    /// A client certificate with this subject: (certificate PEM, key PEM). `org` adds an O.
    pub fn client(&self, cn: &str, org: Option<&str>) -> (String, String) {
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("client params");
        // Subject attributes in the order given (rcgen's default starts with a CN).
        p.distinguished_name = DistinguishedName::new();
        if let Some(o) = org {
            p.distinguished_name.push(DnType::OrganizationName, o);
        }
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(p)
    }

    fn sign(&self, p: CertificateParams) -> (String, String) {
        let key = KeyPair::generate().expect("leaf key");
        let cert = p.signed_by(&key, &self.issuer).expect("sign leaf");
        (cert.pem(), key.serialize_pem())
    }
}

/// A directory of PEM files: `ca.pem`, `server.pem`/`server.key` (127.0.0.1, localhost, signed by
/// the CA), and what [`Pki::client`] writes. Removed on drop.
pub struct Pki {
    pub dir: TestDir,
    pub ca: Ca,
}

impl Pki {
    /// A fresh CA and server certificate in a new temporary directory.
    pub fn new() -> Pki {
        let dir = TestDir::new("linkmq-pki");
        let ca = Ca::new("linkmq test CA");
        let pki = Pki { dir, ca };
        pki.write("ca.pem", &pki.ca.pem());
        let (cert, key) = pki
            .ca
            .server("linkmq test server", &["127.0.0.1", "localhost"]);
        pki.write("server.pem", &cert);
        pki.write("server.key", &key);
        pki
    }

    /// Writes `text` to `name` in the directory; returns the path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::write(&p, text).expect("write pem");
        p
    }

    /// The path of `name` in the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes a client certificate signed by `ca` (this PKI's own CA when `None`) as
    /// `<file>.pem` / `<file>.key`; returns both paths.
    pub fn client(
        &self,
        file: &str,
        cn: &str,
        org: Option<&str>,
        ca: Option<&Ca>,
    ) -> (PathBuf, PathBuf) {
        let (cert, key) = ca.unwrap_or(&self.ca).client(cn, org);
        (
            self.write(&format!("{file}.pem"), &cert),
            self.write(&format!("{file}.key"), &key),
        )
    }

    /// Server-side TLS without client certificates.
    pub fn server_options(&self) -> TlsServerOptions {
        TlsServerOptions::new(self.path("server.pem"), self.path("server.key"))
    }

    /// Server-side mutual TLS: `verify_peer` against this CA, `fail_if_no_peer_cert` as given.
    pub fn mtls_options(&self, fail_if_no_peer_cert: bool) -> TlsServerOptions {
        TlsServerOptions {
            cacertfile: Some(self.path("ca.pem")),
            verify_peer: true,
            fail_if_no_peer_cert,
            ..self.server_options()
        }
    }

    /// Client TLS trusting this CA (`verify_peer`).
    pub fn client_tls(&self) -> TlsOptions {
        TlsOptions::new().ca_file(self.path("ca.pem"))
    }
}

impl Default for Pki {
    fn default() -> Self {
        Pki::new()
    }
}
