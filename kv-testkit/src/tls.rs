//! [`TestCa`]: a private certificate authority and a server certificate it
//! signed, written as PEM files for one test's TLS server and clients.
//!
//! The server certificate is a leaf signed by the CA, not the CA itself:
//! webpki (rustls' verifier) refuses a CA certificate presented as a
//! server's own (`CaUsedAsEndEntity`), as browsers do.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The names the server certificate is valid for.
pub const SERVER_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// `ca.pem`, `cert.pem` and `key.pem` in a directory: a fresh CA, and a
/// server certificate for [`SERVER_NAMES`] signed by it with its key.
#[derive(Debug, Clone)]
pub struct TestCa {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl TestCa {
    /// Generates a CA and a server certificate (ECDSA P-256) and writes
    /// them into `dir`, which must exist.
    ///
    /// # Panics
    ///
    /// When generating or writing fails.
    pub fn create(dir: &Path) -> TestCa {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "kv-store test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
        ];
        let ca_key = KeyPair::generate().expect("a CA key");
        let ca_cert = ca_params.self_signed(&ca_key).expect("a CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);

        let names: Vec<String> = SERVER_NAMES.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("server certificate parameters");
        params
            .distinguished_name
            .push(DnType::CommonName, "kv-store test server");
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("a server key");
        let cert = params
            .signed_by(&key, &issuer)
            .expect("a server certificate");

        let ca = TestCa {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        write(&ca.ca, &ca_cert.pem());
        write(&ca.cert, &cert.pem());
        write(&ca.key, &key.serialize_pem());
        ca
    }

    /// The CA certificate (what clients pass as `--cacert`).
    pub fn ca_pem(&self) -> &Path {
        &self.ca
    }

    /// The server certificate (`--tls-cert`).
    pub fn cert_pem(&self) -> &Path {
        &self.cert
    }

    /// The server's private key (`--tls-key`).
    pub fn key_pem(&self) -> &Path {
        &self.key
    }

    /// `--tls-cert CERT --tls-key KEY`, for the server's arguments.
    pub fn server_args(&self) -> [String; 4] {
        [
            "--tls-cert".into(),
            self.cert.display().to_string(),
            "--tls-key".into(),
            self.key.display().to_string(),
        ]
    }
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
