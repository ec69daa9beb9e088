//! What the board's portfolio page costs: `GET /?csm=…` for a CSM with 500 accounts
//! (the page: GetPortfolio, the 90-day trends of every row, the CSM list, rendered to
//! HTML) next to the GetPortfolio RPC alone, on the same server, one request at a time.
//! The goal is a page in under 300 ms of server time.

use std::{sync::Arc, time::Duration};

use hyper_util::rt::TokioIo;
use nordstern_proto::{
    accounts::v1 as accounts_pb,
    gateway::v1::{self as pb, gateway_service_client::GatewayServiceClient},
};
use nordstern_runtime::{Config, shutdown};
use tokio::sync::Mutex;

use super::{load::connect_channels, run_load};
use crate::{App, IMPLEMENTED_ROLES, demo};

#[derive(clap::Args, Debug)]
pub struct BoardArgs {
    /// Accounts of the one CSM whose portfolio is rendered.
    #[arg(long, default_value_t = 500)]
    pub accounts: usize,
    /// Seconds each measurement runs (after one second of warm-up).
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
}

pub async fn run(args: BoardArgs) -> anyhow::Result<()> {
    println!(
        "Board benchmark: the portfolio page of one CSM with {} accounts vs GetPortfolio alone, one request at a time, {} s each, SQLite",
        args.accounts, args.duration_secs
    );
    let data_dir = tempfile::tempdir()?;
    let mut config = super::without_auth(Config {
        data_dir: data_dir.path().to_owned(),
        ..Config::default()
    });
    config.usage.pseudonym_key = Some(demo::DEMO_PSEUDONYM_KEY.to_owned());
    config.scoring.recompute_interval_secs = 0;
    config.gateway.http_listen_addr = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let app = App::build(config.clone(), &IMPLEMENTED_ROLES, listener).await?;
    let url = format!("http://{}", app.local_addr()?);
    let http_addr = app
        .http_addr()
        .ok_or_else(|| anyhow::anyhow!("the HTTP listener did not start"))?;
    let (trigger, signal) = shutdown::channel();
    let server = tokio::spawn(app.run(signal));
    demo::load(
        &demo::Server::unauthenticated(&url),
        &config,
        &demo::DemoOptions {
            accounts: args.accounts,
            csms: 1,
            seed: 7,
        },
    )
    .await?;
    let csm_id = demo::connect(&demo::Server::unauthenticated(&url))
        .await?
        .list_csms(accounts_pb::ListCsmsRequest {
            page_size: 10,
            page_token: String::new(),
        })
        .await?
        .into_inner()
        .csms
        .into_iter()
        .next()
        .map(|csm| csm.csm_id)
        .ok_or_else(|| anyhow::anyhow!("the demo company has no CSM"))?;
    let duration = Duration::from_secs(args.duration_secs);

    let channels = connect_channels(&url, 1).await?;
    let rpc_csm = csm_id.clone();
    let rpc = run_load(&channels, 1, duration, move |channel, _| {
        let csm_id = rpc_csm.clone();
        async move {
            let portfolio = GatewayServiceClient::new(channel)
                .get_portfolio(pb::GetPortfolioRequest {
                    csm_id,
                    period: None,
                })
                .await?
                .into_inner();
            if portfolio.missing_sections.is_empty() {
                Ok(())
            } else {
                Err(tonic::Status::unavailable("a section is missing"))
            }
        }
    })
    .await?;

    let stream = tokio::net::TcpStream::connect(http_addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let connections = vec![Arc::new(Mutex::new(sender))];
    let path = format!("/?csm={csm_id}");
    let page = run_load(&connections, 1, duration, move |sender, _| {
        let path = path.clone();
        async move { super::http::get(&sender, &path).await }
    })
    .await?;

    let ms = |micros: u64| micros as f64 / 1_000.0;
    println!(
        "GetPortfolio RPC ({} accounts): p50 {:.1} ms, p99 {:.1} ms ({} requests, {} errors)",
        args.accounts,
        ms(rpc.p50_micros()),
        ms(rpc.histogram.value_at_quantile(0.99)),
        rpc.requests,
        rpc.errors
    );
    println!(
        "board portfolio page:          p50 {:.1} ms, p99 {:.1} ms ({} requests, {} errors)",
        ms(page.p50_micros()),
        ms(page.histogram.value_at_quantile(0.99)),
        page.requests,
        page.errors
    );
    println!(
        "page vs RPC: {:.2}× p50; goal: page p99 < 300 ms → {}",
        page.p50_micros() as f64 / rpc.p50_micros().max(1) as f64,
        if page.histogram.value_at_quantile(0.99) < 300_000 {
            "met"
        } else {
            "missed"
        }
    );
    trigger.trigger();
    server.await??;
    Ok(())
}
