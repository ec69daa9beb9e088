//! `nordstern bench`: load generators that always measure a bare tonic echo server in the
//! same run, so every figure comes with its ratio to what the machine can do at all.

mod auth;
mod balance;
mod board;
mod bulk_load;
mod churn;
mod customer360;
mod echo;
mod get_account;
mod http;
mod ingest;
mod load;
mod process;
mod scoring;
mod survey_stats;
mod write_scale;

use clap::Subcommand;

pub use echo::spawn_echo_server;
pub use load::{LoadArgs, LoadReport, run_load};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// GetHealthScore with the token check off and on, and a token flooding at three
    /// times its rate beside another one.
    Auth(auth::AuthArgs),
    /// GetAccount throughput and latency on SQLite and PostgreSQL vs the echo baseline.
    GetAccount(get_account::GetAccountArgs),
    /// GET /v1/accounts/{id} over the HTTP/JSON transcoder next to gRPC GetAccount.
    Http(http::HttpArgs),
    /// The board's portfolio page for a CSM of 500 accounts vs GetPortfolio alone.
    Board(board::BoardArgs),
    /// GetCustomer360 p50 at concurrency 1 and throughput at saturation vs echo.
    Customer360(customer360::Customer360Args),
    /// Portfolio balancing time and ARR spread on log-normal ARR.
    Balance(balance::BalanceArgs),
    /// Churn model training time, AUC and scoring rate, next to scikit-learn on the same
    /// CSV and held-out rows.
    Churn(churn::ChurnArgs),
    /// GetHealthScore with a warm cache vs echo, and a recompute of every account end to
    /// end next to the pure model rate.
    Scoring(scoring::ScoringArgs),
    /// Company survey statistics over many responses vs the raw SQL aggregates.
    SurveyStats(survey_stats::SurveyStatsArgs),
    /// Usage ingestion vs a raw PostgreSQL COPY of the same rows, a replay of the same
    /// batches, peak RSS, and summaries streamed for every account.
    Ingest(ingest::IngestArgs),
    /// A CRM's first sync through the batch RPCs (100,000 accounts, 300,000 contract
    /// events) on both stores, sent twice, next to a raw write of the same rows.
    BulkLoad(bulk_load::BulkLoadArgs),
    /// CreateAccount, RecordContractEvent and RecordResponse at 1,000 and at 100,000
    /// existing accounts, on both stores: what a write costs as the company grows.
    WriteScale(write_scale::WriteScaleArgs),
}

pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Auth(args) => auth::run(args).await,
        BenchCommand::GetAccount(args) => get_account::run(args).await,
        BenchCommand::Http(args) => http::run(args).await,
        BenchCommand::Board(args) => board::run(args).await,
        BenchCommand::Balance(args) => balance::run(&args),
        BenchCommand::Customer360(args) => customer360::run(args).await,
        BenchCommand::Churn(args) => churn::run(&args),
        BenchCommand::Scoring(args) => scoring::run(args).await,
        BenchCommand::SurveyStats(args) => survey_stats::run(args).await,
        BenchCommand::Ingest(args) => ingest::run(args).await,
        BenchCommand::WriteScale(args) => write_scale::run(args).await,
        BenchCommand::BulkLoad(args) => bulk_load::run(args).await,
    }
}

/// The configuration with the token check off: every benchmark but `auth` compares the
/// suite with a bare echo server that checks no token either (`bench auth` measures what
/// the check costs).
fn without_auth(mut config: nordstern_runtime::Config) -> nordstern_runtime::Config {
    config.auth.enabled = false;
    config
}

/// Creates (or, by its request id, finds) the NPS campaign a benchmark records answers to.
async fn nps_campaign(
    channel: &tonic::transport::Channel,
    request_id: &str,
) -> anyhow::Result<String> {
    use nordstern_proto::survey::v1::{self as pb, survey_service_client::SurveyServiceClient};
    let campaign = SurveyServiceClient::new(channel.clone())
        .create_campaign(pb::CreateCampaignRequest {
            request_id: request_id.to_owned(),
            campaign: Some(pb::Campaign {
                name: format!("NPS {request_id}"),
                kind: pb::SurveyKind::Nps as i32,
                touchpoint: pb::Touchpoint::Quarterly as i32,
                question_en: "How likely are you to recommend us?".to_owned(),
                question_de: "Wie wahrscheinlich empfehlen Sie uns weiter?".to_owned(),
                ..pb::Campaign::default()
            }),
        })
        .await?
        .into_inner()
        .campaign
        .unwrap_or_default();
    Ok(campaign.campaign_id)
}
