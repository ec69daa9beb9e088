//! Company survey statistics over a million responses, next to the raw SQL of the same
//! aggregates over the same rows in the same run.

use std::time::{Duration, Instant};

use nordstern_proto::{
    common::v1 as common,
    survey::v1::{GetSurveyStatsRequest, survey_service_client::SurveyServiceClient},
};
use nordstern_runtime::{
    Config, Role, shutdown,
    storage::{self, StorageTarget, execute, query_all},
};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};

use super::get_account::Backend;
use crate::{App, scratch_db::ScratchDatabase};

#[derive(clap::Args, Debug)]
pub struct SurveyStatsArgs {
    /// Responses loaded before measuring (NPS, CES and CSAT in turn, over 365 days).
    #[arg(long, default_value_t = 1_000_000)]
    pub responses: u64,
    /// Repetitions of each measurement; the median is reported.
    #[arg(long, default_value_t = 7)]
    pub runs: usize,
    #[arg(long, value_enum, default_value = "both")]
    pub backend: Backend,
    /// PostgreSQL server to create a scratch database on.
    #[arg(long, default_value_t = crate::scratch_db::admin_url())]
    pub database_url: String,
}

pub async fn run(args: SurveyStatsArgs) -> anyhow::Result<()> {
    println!(
        "GetSurveyStats benchmark: company scope, {} responses, median of {} runs",
        args.responses, args.runs
    );
    if matches!(args.backend, Backend::Sqlite | Backend::Both) {
        let data_dir = tempfile::tempdir()?;
        let config = Config {
            data_dir: data_dir.path().to_owned(),
            ..Config::default()
        };
        measure("SQLite", config, &args).await?;
    }
    if matches!(args.backend, Backend::Postgres | Backend::Both) {
        let database = ScratchDatabase::create(&args.database_url, "nordstern_bench").await?;
        let config = Config {
            database_url: Some(database.url.clone()),
            ..Config::default()
        };
        let result = measure("PostgreSQL", config, &args).await;
        database.drop_now().await?;
        result?;
    }
    Ok(())
}

async fn measure(name: &str, config: Config, args: &SurveyStatsArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    // Measured against a bare echo, which checks no token either.
    let config = super::without_auth(config);
    let app = App::build(config.clone(), &[Role::Accounts, Role::Survey], listener).await?;
    let url = format!("http://{}", app.local_addr()?);
    let (trigger, signal) = shutdown::channel();
    let server = tokio::spawn(app.run(signal));

    let target = match &config.database_url {
        Some(url) => StorageTarget::Postgres { url },
        None => StorageTarget::Sqlite {
            data_dir: &config.data_dir,
        },
    };
    let db = storage::open::<nordstern_survey::Migrator>(target, Role::Survey, 2).await?;
    let loading = Instant::now();
    load(&db, args.responses).await?;
    println!(
        "{name}: loaded {} responses in {:.1} s",
        args.responses,
        loading.elapsed().as_secs_f64()
    );

    let today = chrono::Utc::now().date_naive();
    let start = today - chrono::Duration::days(365);
    let end = today + chrono::Duration::days(1);
    let mut client = SurveyServiceClient::new(
        tonic::transport::Endpoint::from_shared(url)?
            .connect()
            .await?,
    );
    let request = GetSurveyStatsRequest {
        scope: Some(common::Scope {
            scope: Some(common::scope::Scope::Company(true)),
        }),
        window: Some(common::Period {
            start_date: Some(nordstern_runtime::wire::date_to_proto(start)),
            end_date: Some(nordstern_runtime::wire::date_to_proto(end)),
        }),
    };
    let start_at = nordstern_runtime::wire::midnight(start);
    let end_at = nordstern_runtime::wire::midnight(end);
    // Warm both paths once (plans, caches), then alternate so drift hits both alike.
    let stats = client
        .get_survey_stats(request.clone())
        .await?
        .into_inner()
        .stats
        .unwrap_or_default();
    raw_aggregates(&db, start_at, end_at).await?;
    let (mut service, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..args.runs.max(1) {
        let started = Instant::now();
        client.get_survey_stats(request.clone()).await?;
        service.push(started.elapsed());
        let started = Instant::now();
        raw_aggregates(&db, start_at, end_at).await?;
        raw.push(started.elapsed());
    }
    let (service, raw) = (median(service), median(raw));
    println!(
        "{name}: GetSurveyStats {:.1} ms, raw SQL {:.1} ms, ratio {:.2}× (goal ≤ 1.5×); NPS {:.1} ± {:.2} over {} respondents",
        service.as_secs_f64() * 1000.0,
        raw.as_secs_f64() * 1000.0,
        service.as_secs_f64() / raw.as_secs_f64(),
        stats.nps.and_then(|n| n.nps).unwrap_or(f64::NAN),
        stats
            .nps
            .and_then(|n| n.margin_of_error)
            .unwrap_or(f64::NAN),
        stats.nps.map(|n| n.respondent_count).unwrap_or(0)
    );
    db.close().await?;
    trigger.trigger();
    server.await??;
    Ok(())
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Generated responses straight into the survey tables: 2,000 accounts with 5 respondents
/// each, kinds in turn, scores spread over each scale, dates over the last 365 days.
async fn load(db: &DatabaseConnection, responses: u64) -> anyhow::Result<()> {
    execute(
        db,
        "INSERT INTO campaigns (campaign_id, name, kind, touchpoint, question_de, question_en, created_at) VALUES \
         ('bench-nps', 'NPS', 'NPS', 'QUARTERLY', 'de', 'en', $1), \
         ('bench-ces', 'CES', 'CES', 'SUPPORT', 'de', 'en', $1), \
         ('bench-csat', 'CSAT', 'CSAT', 'SUPPORT', 'de', 'en', $1)",
        vec![chrono::Utc::now().into()],
    )
    .await?;
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => format!(
            "INSERT INTO responses (response_id, campaign_id, invitation_id, account_id, respondent_id, kind, touchpoint, \
               score, nps_category, comment, churn_reason, churn_reason_text, responded_at, recorded_at) \
             SELECT 'r' || n, 'bench-' || lower(kind), NULL, 'account-' || (n % 2000), 'person-' || (n % 10000), kind, \
               'QUARTERLY', score, \
               CASE WHEN kind <> 'NPS' THEN NULL WHEN score >= 9 THEN 'PROMOTER' WHEN score >= 7 THEN 'PASSIVE' ELSE 'DETRACTOR' END, \
               '', NULL, '', now() - (n % 365) * interval '1 day', now() \
             FROM (SELECT n, (ARRAY['NPS','CES','CSAT'])[1 + n % 3] AS kind, \
                     CASE n % 3 WHEN 0 THEN (n * 7) % 11 WHEN 1 THEN 1 + (n * 7) % 7 ELSE 1 + (n * 7) % 5 END AS score \
                   FROM generate_series(1, {responses}) AS n) generated"
        ),
        _ => format!(
            "WITH RECURSIVE series(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM series WHERE n < {responses}) \
             INSERT INTO responses (response_id, campaign_id, invitation_id, account_id, respondent_id, kind, touchpoint, \
               score, nps_category, comment, churn_reason, churn_reason_text, responded_at, recorded_at) \
             SELECT 'r' || n, 'bench-' || lower(kind), NULL, 'account-' || (n % 2000), 'person-' || (n % 10000), kind, \
               'QUARTERLY', score, \
               CASE WHEN kind <> 'NPS' THEN NULL WHEN score >= 9 THEN 'PROMOTER' WHEN score >= 7 THEN 'PASSIVE' ELSE 'DETRACTOR' END, \
               '', NULL, '', strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now', '-' || (n % 365) || ' days'), \
               strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now') \
             FROM (SELECT n, CASE n % 3 WHEN 0 THEN 'NPS' WHEN 1 THEN 'CES' ELSE 'CSAT' END AS kind, \
                     CASE n % 3 WHEN 0 THEN (n * 7) % 11 WHEN 1 THEN 1 + (n * 7) % 7 ELSE 1 + (n * 7) % 5 END AS score \
                   FROM series) generated"
        ),
    };
    execute(db, &sql, Vec::new()).await?;
    // Steady state, as autovacuum leaves a table: statistics and the visibility map.
    let analyze = match db.get_database_backend() {
        DbBackend::Postgres => "VACUUM ANALYZE responses",
        _ => "ANALYZE",
    };
    db.execute_unprepared(analyze).await?;
    Ok(())
}

/// The baseline: the aggregates the statistics need, written by hand and run directly
/// on the database connection, without gRPC, scope resolution or the comparison window.
async fn raw_aggregates(
    db: &DatabaseConnection,
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let window = || vec![start.into(), end.into()];
    query_all(
        db,
        "SELECT nps_category, COUNT(*) AS n FROM ( \
           SELECT nps_category, ROW_NUMBER() OVER (PARTITION BY account_id, respondent_id \
             ORDER BY responded_at DESC, response_id DESC) AS latest \
           FROM responses WHERE kind = 'NPS' AND responded_at >= $1 AND responded_at < $2) answers \
         WHERE latest = 1 GROUP BY nps_category",
        window(),
    )
    .await?;
    query_all(
        db,
        "SELECT kind, COUNT(*) AS n, SUM(score) AS score_sum FROM responses \
         WHERE responded_at >= $1 AND responded_at < $2 GROUP BY kind",
        window(),
    )
    .await?;
    query_all(
        db,
        "SELECT COUNT(*) AS sent FROM invitations WHERE invited_at >= $1 AND invited_at < $2",
        window(),
    )
    .await?;
    Ok(())
}
