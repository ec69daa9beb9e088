//! TLS and mutual TLS with certificates made in the test: the gRPC and HTTP listeners,
//! the command line's and the services' own clients, and the refusals.

use std::time::Duration;

use nordstern_proto::accounts::v1::{
    ListCsmsRequest, accounts_service_client::AccountsServiceClient,
};
use nordstern_runtime::{Role, client::ClientSecurity, config::GrpcConfig};
use nordstern_tests::{
    Backend, TestSuite, Topology,
    pki::{TestPki, connect_tls},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn tls_client(
    ca: Option<&std::path::Path>,
    cert: Option<(&std::path::Path, &std::path::Path)>,
) -> ClientSecurity {
    let config = nordstern_runtime::config::TlsConfig {
        ca_file: ca.map(Into::into),
        client_cert_file: cert.map(|(c, _)| c.into()),
        client_key_file: cert.map(|(_, k)| k.into()),
        ..Default::default()
    };
    ClientSecurity {
        tls: nordstern_runtime::tls::grpc_client(&config).unwrap_or_else(|e| panic!("{e}")),
        bearer: None,
    }
}

/// Whether a call to the accounts service with `security` (plus the admin token) gets an
/// answer at all; a failed handshake is an error of the connection, not a status.
async fn reaches(suite: &TestSuite, url: &str, security: ClientSecurity) -> bool {
    let security = security
        .with_token(suite.admin_token())
        .unwrap_or_else(|e| panic!("{e}"));
    let grpc = GrpcConfig {
        client_timeout_ms: 3_000,
        ..GrpcConfig::default()
    };
    let Ok(channel) = nordstern_runtime::client::secure_channel(url, &grpc, &security).await else {
        return false;
    };
    AccountsServiceClient::new(channel)
        .list_csms(ListCsmsRequest::default())
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_between_every_server_and_for_every_client() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let pki = TestPki::generate(dir.path());
    let suite = TestSuite::start_with(Backend::Sqlite, Topology::ServerPerRole, |config| {
        config.tls.cert_file = Some(pki.server_cert.clone());
        config.tls.key_file = Some(pki.server_key.clone());
        config.tls.client_ca_file = Some(pki.ca.clone());
        config.tls.http_mutual = true;
        // The services' own clients: trust the CA, present a certificate from it.
        config.tls.ca_file = Some(pki.ca.clone());
        config.tls.client_cert_file = Some(pki.client_cert.clone());
        config.tls.client_key_file = Some(pki.client_key.clone());
    })
    .await;
    let accounts_url = suite.url(Role::Accounts).to_owned();
    assert!(accounts_url.starts_with("https://"), "{accounts_url}");

    // The gateway's 360 calls four servers over mutual TLS with the service credential.
    let mut accounts = crate::support::accounts(&suite).await;
    let account = crate::support::create_account(&mut accounts, "Secure GmbH", 10_000).await;
    let view = nordstern_proto::gateway::v1::gateway_service_client::GatewayServiceClient::new(
        suite.channel(Role::Gateway).await,
    )
    .get_customer360(nordstern_proto::gateway::v1::GetCustomer360Request {
        account_id: account.account_id.clone(),
    })
    .await
    .unwrap_or_else(|status| panic!("{status}"))
    .into_inner();
    assert!(
        view.missing_sections.is_empty(),
        "{:?}",
        view.missing_sections
    );

    let client = Some((pki.client_cert.as_path(), pki.client_key.as_path()));
    let foreign = Some((
        pki.foreign_client_cert.as_path(),
        pki.foreign_client_key.as_path(),
    ));
    assert!(reaches(&suite, &accounts_url, tls_client(Some(&pki.ca), client)).await);
    assert!(
        !reaches(&suite, &accounts_url, tls_client(Some(&pki.ca), None)).await,
        "a client without a certificate got in"
    );
    assert!(
        !reaches(&suite, &accounts_url, tls_client(Some(&pki.ca), foreign)).await,
        "a client with a foreign CA's certificate got in"
    );
    let plaintext = accounts_url.replace("https://", "http://");
    assert!(
        !reaches(&suite, &plaintext, ClientSecurity::default()).await,
        "plaintext got in"
    );

    // The HTTP listener: the same certificates, the same refusals.
    let addr = suite.http_addr();
    let bearer = format!("Bearer {}", suite.admin_token());
    let stream = connect_tls(addr, &pki.ca, client)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let response = nordstern_tests::http::request_on(
        stream,
        "GET",
        &format!("/v1/accounts/{}/health", account.account_id),
        &[("Authorization", &bearer)],
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.body);
    for (what, identity) in [("no certificate", None), ("a foreign certificate", foreign)] {
        let refused = match connect_tls(addr, &pki.ca, identity).await {
            Err(_) => true,
            Ok(mut stream) => {
                let request =
                    "GET /v1/health-scores HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
                let _ = stream.write_all(request.as_bytes()).await;
                let mut answer = Vec::new();
                let read =
                    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
                        .await;
                !matches!(read, Ok(Ok(_))) || answer.is_empty()
            }
        };
        assert!(refused, "the HTTP listener served a client with {what}");
    }
    suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_without_client_certificates_serves_any_client_that_trusts_the_ca() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let pki = TestPki::generate(dir.path());
    let suite = TestSuite::start_with(Backend::Sqlite, Topology::OneServer, |config| {
        config.tls.cert_file = Some(pki.server_cert.clone());
        config.tls.key_file = Some(pki.server_key.clone());
        config.tls.ca_file = Some(pki.ca.clone());
    })
    .await;
    let url = suite.url(Role::Accounts).to_owned();
    assert!(reaches(&suite, &url, tls_client(Some(&pki.ca), None)).await);
    // HTTPS for outside tools, which present no client certificate.
    let stream = connect_tls(suite.http_addr(), &pki.ca, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let bearer = format!("Bearer {}", suite.admin_token());
    let response = nordstern_tests::http::request_on(
        stream,
        "GET",
        "/v1/health-scores",
        &[("Authorization", &bearer)],
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.body);
    // A client that does not trust our CA refuses the server.
    let other_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let other = TestPki::generate(other_dir.path());
    assert!(!reaches(&suite, &url, tls_client(Some(&other.ca), None)).await);
    assert!(
        !reaches(
            &suite,
            &url.replace("https://", "http://"),
            ClientSecurity::default()
        )
        .await
    );
    suite.stop().await;
}
