//! One delivery attempt: a POST over a fresh connection to an address the target check
//! passed (TLS with the host's name for https), under one deadline for everything.

use std::{net::SocketAddr, sync::Arc, sync::OnceLock, time::Duration};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::{TlsConnector, rustls};

use crate::target::Target;

/// The answer's status, or why there was none.
pub async fn post(
    target: &Target,
    address: SocketAddr,
    headers: &[(&str, String)],
    body: Bytes,
    timeout: Duration,
) -> Result<u16, String> {
    match tokio::time::timeout(timeout, attempt(target, address, headers, body)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}

async fn attempt(
    target: &Target,
    address: SocketAddr,
    headers: &[(&str, String)],
    body: Bytes,
) -> Result<u16, String> {
    let tcp = TcpStream::connect(address)
        .await
        .map_err(|error| format!("cannot connect to {address}: {error}"))?;
    let _ = tcp.set_nodelay(true);
    let authority = if (target.https && target.port == 443) || (!target.https && target.port == 80)
    {
        target.host.clone()
    } else {
        format!("{}:{}", target.host, target.port)
    };
    let mut request = http::Request::post(target.path.as_str())
        .header(http::header::HOST, authority)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(
            http::header::USER_AGENT,
            concat!("Nordstern-Webhooks/", env!("CARGO_PKG_VERSION")),
        );
    for (name, value) in headers {
        request = request.header(*name, value.as_str());
    }
    let request = request
        .body(Full::new(body))
        .map_err(|error| format!("cannot build the request: {error}"))?;
    if target.https {
        let name = rustls::pki_types::ServerName::try_from(target.host.clone())
            .map_err(|_| format!("{} is not a valid TLS server name", target.host))?;
        let tls = TlsConnector::from(tls_config())
            .connect(name, tcp)
            .await
            .map_err(|error| format!("TLS with {} failed: {error}", target.host))?;
        exchange(TokioIo::new(tls), request).await
    } else {
        exchange(TokioIo::new(tcp), request).await
    }
}

async fn exchange<T>(io: T, request: http::Request<Full<Bytes>>) -> Result<u16, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|error| format!("HTTP handshake failed: {error}"))?;
    let driver = tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(|error| format!("the request failed: {error}"));
    let status = match response {
        Ok(response) => {
            let status = response.status().as_u16();
            // Read (and drop) the answer so the receiver sees a clean exchange.
            let _ = response.into_body().collect().await;
            Ok(status)
        }
        Err(error) => Err(error),
    };
    driver.abort();
    status
}

/// TLS towards receivers: the Mozilla roots, ring as everywhere else.
fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots =
                rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            // Deprecated only for ring's lack of post-quantum key exchange; the one
            // provider of the whole binary, as for the listeners.
            #[allow(deprecated)]
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|builder| builder.with_root_certificates(roots).with_no_client_auth());
            match config {
                Ok(config) => Arc::new(config),
                // The ring provider supports the default versions; this cannot fail.
                Err(error) => panic!("TLS client configuration: {error}"),
            }
        })
        .clone()
}
