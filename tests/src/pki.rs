//! Certificates made in the test: a CA, a server certificate for 127.0.0.1 and localhost,
//! a client certificate from the same CA, and a client certificate from a foreign CA.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

pub struct TestPki {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub foreign_client_cert: PathBuf,
    pub foreign_client_key: PathBuf,
}

fn ca(name: &str) -> (CertificateParams, KeyPair, String) {
    let key = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| panic!("{e}"));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let pem = params
        .self_signed(&key)
        .unwrap_or_else(|e| panic!("{e}"))
        .pem();
    (params, key, pem)
}

fn leaf(names: &[&str], common_name: &str, issuer: &Issuer<'_, KeyPair>) -> (String, String) {
    let key = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .unwrap_or_else(|e| panic!("{e}"));
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    let cert = params
        .signed_by(&key, issuer)
        .unwrap_or_else(|e| panic!("{e}"));
    (cert.pem(), key.serialize_pem())
}

impl TestPki {
    pub fn generate(dir: &Path) -> TestPki {
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            path
        };
        let (ca_params, ca_key, ca_pem) = ca("Nordstern test CA");
        let issuer = Issuer::new(ca_params, ca_key);
        let (server_cert, server_key) = leaf(&["localhost", "127.0.0.1"], "nordstern", &issuer);
        let (client_cert, client_key) = leaf(&["client"], "nordstern client", &issuer);
        let (foreign_params, foreign_key, _) = ca("Someone else's CA");
        let foreign = Issuer::new(foreign_params, foreign_key);
        let (foreign_cert, foreign_key) = leaf(&["client"], "intruder", &foreign);
        TestPki {
            ca: write("ca.pem", &ca_pem),
            server_cert: write("server.pem", &server_cert),
            server_key: write("server.key", &server_key),
            client_cert: write("client.pem", &client_cert),
            client_key: write("client.key", &client_key),
            foreign_client_cert: write("foreign.pem", &foreign_cert),
            foreign_client_key: write("foreign.key", &foreign_key),
        }
    }
}

/// A TLS connection to `addr` trusting `ca`, presenting `client` (cert, key) if given.
pub async fn connect_tls(
    addr: std::net::SocketAddr,
    ca: &Path,
    client: Option<(&Path, &Path)>,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    use std::sync::Arc;
    use tokio_rustls::rustls::{
        self,
        pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject},
    };
    let other = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
    let mut roots = rustls::RootCertStore::empty();
    let ca = CertificateDer::from_pem_file(ca).map_err(|e| other(&e))?;
    roots.add(ca).map_err(|e| other(&e))?;
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| other(&e))?
        .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_file(cert).map_err(|e| other(&e))?],
                PrivateKeyDer::from_pem_file(key).map_err(|e| other(&e))?,
            )
            .map_err(|e| other(&e))?,
        None => builder.with_no_client_auth(),
    };
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = ServerName::try_from("127.0.0.1").map_err(|e| other(&e))?;
    // Under TLS 1.3 a server refuses a client certificate after the client's side of the
    // handshake is done: the refusal shows on the first read, not here.
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}
