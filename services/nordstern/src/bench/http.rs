//! What the HTTP/JSON transcoder costs: `GET /v1/accounts/{id}` next to gRPC GetAccount on
//! the same server (every service in one process, SQLite), and both next to the bare
//! tonic echo, in one run.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use nordstern_proto::accounts::v1::{self as pb, accounts_service_client::AccountsServiceClient};
use nordstern_runtime::{Config, shutdown};
use tokio::sync::Mutex;
use tonic::Status;

use super::{
    LoadArgs,
    echo::measure_echo,
    get_account::print_ratio,
    get_account::seed,
    load::{account_for, connect_channels},
    run_load,
};
use crate::App;

#[derive(clap::Args, Debug)]
pub struct HttpArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// Accounts created before measuring; reads pick among them.
    #[arg(long, default_value_t = 1000)]
    pub accounts: usize,
}

pub async fn run(args: HttpArgs) -> anyhow::Result<()> {
    let duration = Duration::from_secs(args.load.duration_secs);
    println!(
        "HTTP/JSON benchmark: {} concurrent requests, {} s per run, {} accounts",
        args.load.concurrency, args.load.duration_secs, args.accounts
    );
    let echo = measure_echo(&args.load).await?;
    let data_dir = tempfile::tempdir()?;
    let mut config = super::without_auth(Config {
        data_dir: data_dir.path().to_owned(),
        ..Config::default()
    });
    config.usage.pseudonym_key = Some("bench-http-pseudonym-key-0123456789abcdef".to_owned());
    config.gateway.http_listen_addr = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let app = App::build(config.clone(), &crate::IMPLEMENTED_ROLES, listener).await?;
    let url = format!("http://{}", app.local_addr()?);
    let http_addr = app
        .http_addr()
        .ok_or_else(|| anyhow::anyhow!("the HTTP listener did not start"))?;
    let (trigger, signal) = shutdown::channel();
    let server = tokio::spawn(app.run(signal));
    let ids = Arc::new(seed(&url, &config, args.accounts).await?);

    let channels = connect_channels(&url, args.load.connections).await?;
    let grpc_ids = ids.clone();
    let grpc = run_load(
        &channels,
        args.load.concurrency,
        duration,
        move |channel, n| {
            let account_id = account_for(&grpc_ids, n);
            async move {
                AccountsServiceClient::new(channel)
                    .get_account(pb::GetAccountRequest { account_id })
                    .await
                    .map(|_| ())
            }
        },
    )
    .await?;

    // One HTTP/1.1 keep-alive connection per concurrent caller, as a CRM's pool would hold.
    let mut connections = Vec::with_capacity(args.load.concurrency);
    for _ in 0..args.load.concurrency.max(1) {
        let stream = tokio::net::TcpStream::connect(http_addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        connections.push(Arc::new(Mutex::new(sender)));
    }
    let http_ids = ids.clone();
    let http = run_load(
        &connections,
        args.load.concurrency,
        duration,
        move |sender, n| {
            let path = format!("/v1/accounts/{}", account_for(&http_ids, n));
            async move { get(&sender, &path).await }
        },
    )
    .await?;

    print_ratio("gRPC GetAccount", &grpc, &echo);
    print_ratio("HTTP GET /v1/accounts/{id}", &http, &echo);
    println!(
        "HTTP/JSON vs gRPC on the same server: {:.2}× rps, {:.2}× p50",
        http.rps() / grpc.rps(),
        http.p50_micros() as f64 / grpc.p50_micros().max(1) as f64
    );
    trigger.trigger();
    server.await??;
    Ok(())
}

/// `GET path` on a kept-alive HTTP/1.1 connection; only a 2xx answer counts.
pub(super) async fn get(
    sender: &Mutex<SendRequest<Empty<Bytes>>>,
    path: &str,
) -> Result<(), Status> {
    let request = http::Request::get(path)
        .header(http::header::HOST, "bench")
        .body(Empty::new())
        .map_err(|e| Status::internal(e.to_string()))?;
    let mut sender = sender.lock().await;
    sender
        .ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let ok = response.status().is_success();
    response
        .into_body()
        .collect()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    if ok {
        Ok(())
    } else {
        Err(Status::unknown("not 2xx"))
    }
}
