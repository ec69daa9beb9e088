//! TLS from PEM files: the gRPC listener (tonic), the HTTP listener (rustls under axum),
//! and what our clients trust and present. One crypto provider, ring: it builds from
//! plain C and assembly with no cmake, which keeps the build lean on small machines.

use std::{io, net::SocketAddr, path::Path, sync::Arc, time::Duration};

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, rustls, server::TlsStream};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use crate::config::TlsConfig;

fn read(name: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|error| format!("{name}: cannot read {}: {error}", path.display()))
}

/// The gRPC listener's TLS, or `None` to serve plaintext.
pub fn grpc_server(tls: &TlsConfig) -> Result<Option<ServerTlsConfig>, String> {
    let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) else {
        return Ok(None);
    };
    let identity = Identity::from_pem(read("tls.cert_file", cert)?, read("tls.key_file", key)?);
    let mut server = ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &tls.client_ca_file {
        server = server.client_ca_root(Certificate::from_pem(read("tls.client_ca_file", ca)?));
    }
    Ok(Some(server))
}

/// What our gRPC clients trust and present on `https://` URLs.
pub fn grpc_client(tls: &TlsConfig) -> Result<Option<ClientTlsConfig>, String> {
    if tls.ca_file.is_none() && tls.client_cert_file.is_none() {
        return Ok(None);
    }
    let mut client = ClientTlsConfig::new();
    if let Some(ca) = &tls.ca_file {
        client = client.ca_certificate(Certificate::from_pem(read("tls.ca_file", ca)?));
    }
    if let (Some(cert), Some(key)) = (&tls.client_cert_file, &tls.client_key_file) {
        client = client.identity(Identity::from_pem(
            read("tls.client_cert_file", cert)?,
            read("tls.client_key_file", key)?,
        ));
    }
    Ok(Some(client))
}

/// The HTTP listener's TLS (HTTP/1.1 over rustls), mutual with `tls.http_mutual`, or
/// `None` to serve plaintext.
pub fn http_acceptor(tls: &TlsConfig) -> Result<Option<TlsAcceptor>, String> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) else {
        return Ok(None);
    };
    let chain = CertificateDer::pem_slice_iter(&read("tls.cert_file", cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("tls.cert_file: {error}"))?;
    let key = PrivateKeyDer::from_pem_slice(&read("tls.key_file", key)?)
        .map_err(|error| format!("tls.key_file: {error}"))?;
    // Deprecated only because ring has no post-quantum key exchange yet; tonic's
    // `tls-ring` makes the same choice for the gRPC listener.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("tls: {error}"))?;
    let client_ca = tls.client_ca_file.as_ref().filter(|_| tls.http_mutual);
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for certificate in CertificateDer::pem_slice_iter(&read("tls.client_ca_file", ca)?) {
                let certificate =
                    certificate.map_err(|error| format!("tls.client_ca_file: {error}"))?;
                roots
                    .add(certificate)
                    .map_err(|error| format!("tls.client_ca_file: {error}"))?;
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .map_err(|error| format!("tls.client_ca_file: {error}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|error| format!("tls.cert_file: {error}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes in flight before new connections wait for a free slot.
const MAX_PENDING_HANDSHAKES: usize = 256;

/// A TCP listener whose connections come out TLS-wrapped. Handshakes run in their own
/// tasks, so one slow or silent client does not hold up the others.
pub struct TlsListener {
    local_addr: SocketAddr,
    handshaken: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    pub fn new(listener: TcpListener, acceptor: TlsAcceptor) -> io::Result<Self> {
        let local_addr = listener.local_addr()?;
        let (sender, handshaken) = tokio::sync::mpsc::channel(64);
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_PENDING_HANDSHAKES));
        tokio::spawn(async move {
            loop {
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::debug!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                if sender.is_closed() {
                    return;
                }
                let (acceptor, sender) = (acceptor.clone(), sender.clone());
                tokio::spawn(async move {
                    let _slot = slot;
                    let _ = stream.set_nodelay(true);
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = sender.send((tls, peer)).await;
                        }
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener {
            local_addr,
            handshaken,
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.handshaken.recv().await {
            Some(accepted) => accepted,
            // The accept task only ends when this listener is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}
