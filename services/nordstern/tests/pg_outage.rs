//! PostgreSQL stopped mid-ingestion (issue 17, scenario 1), on a private cluster the test
//! makes with `initdb` on a free port (never the shared one): `pg_ctl stop -m immediate`
//! while a pipeline sends usage batches, and a restart 5 s later. Clients see only
//! UNAVAILABLE or CANCELLED and retry; health goes NOT_SERVING within 2 s and SERVING again
//! within 5 s of PostgreSQL's return; the process never restarts; and every acknowledged
//! event is stored exactly once, its rollups exact.

use std::{
    collections::HashSet,
    path::PathBuf,
    process::Command,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use nordstern_proto::{
    accounts::v1::accounts_service_client::AccountsServiceClient,
    usage::v1::{self as pb, usage_service_client::UsageServiceClient},
};
use nordstern_runtime::wire::timestamp;
use tonic::{Code, transport::Endpoint};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

mod support;
use support::{Server, Storage, authorized, create_account, create_token};

const OUTAGE: Duration = Duration::from_secs(5);
/// (time since the start, the status health answered, or none when it did not answer)
type HealthLog = Vec<(Duration, Option<i32>)>;
const BATCH: usize = 50;

/// A PostgreSQL cluster of the test's own, run as the `postgres` user when the test runs
/// as root (initdb refuses root).
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl Cluster {
    fn create() -> Cluster {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .unwrap_or_else(|e| panic!("PostgreSQL's binaries (apt-get install postgresql): {e}"))
            .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
            .filter(|bin| bin.join("initdb").exists())
            .max()
            .unwrap_or_else(|| panic!("no initdb under /usr/lib/postgresql"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("free port: {e}"));
        let cluster = Cluster { bin, dir, port };
        if is_root() {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(cluster.dir.path()));
        }
        let data = cluster.data();
        cluster.pg(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        cluster.start();
        cluster
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// One of PostgreSQL's tools, as the user that may run it.
    fn tool(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        let mut command = if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        command.current_dir(self.dir.path());
        command
    }

    fn pg(&self, tool: &str, args: &[&str]) {
        run(self.tool(tool).args(args));
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("postgres.log").display().to_string();
        self.pg(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        );
    }

    fn stop_immediately(&self) {
        self.pg(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(if is_root() { "runuser" } else { "true" }).status();
        let data = self.data();
        let program = self.bin.join("pg_ctl");
        let mut command = if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        let _ = command
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn run(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_mid_ingestion_loses_nothing_and_health_follows() {
    let cluster = Cluster::create();
    let storage = Storage::Postgres(cluster.url());
    let token = create_token(&storage, &["admin"]);
    let mut server = Server::start(&storage, &[]).await;
    let endpoint = Endpoint::from_shared(server.url.clone()).unwrap_or_else(|e| panic!("{e}"));
    let mut accounts = AccountsServiceClient::new(authorized(endpoint.clone(), &token));
    let account_id = create_account(&mut accounts, "Ausfall GmbH", 1_000_000)
        .await
        .unwrap_or_else(|s| panic!("account: {s}"));

    // Health, every 50 ms, on its own connection.
    let started = Instant::now();
    let health_log: Arc<Mutex<HealthLog>> = Arc::default();
    let watcher = {
        let (log, endpoint) = (health_log.clone(), endpoint.clone());
        tokio::spawn(async move {
            let mut health = HealthClient::new(endpoint.connect_lazy());
            loop {
                let status = health
                    .check(HealthCheckRequest::default())
                    .await
                    .ok()
                    .map(|r| r.into_inner().status);
                log.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((started.elapsed(), status));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    // The pipeline: batches of logins, each sent until it is acknowledged.
    let errors: Arc<Mutex<Vec<Code>>> = Arc::default();
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop_sending = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pipeline = {
        let (errors, acknowledged, stop) =
            (errors.clone(), acknowledged.clone(), stop_sending.clone());
        let mut usage = UsageServiceClient::new(authorized(endpoint.clone(), &token));
        let account_id = account_id.clone();
        tokio::spawn(async move {
            let mut batch = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                let ids: Vec<String> = (0..BATCH).map(|i| format!("outage-{batch}-{i}")).collect();
                let events: Vec<pb::UsageEvent> = ids
                    .iter()
                    .map(|id| pb::UsageEvent {
                        event_id: id.clone(),
                        account_id: account_id.clone(),
                        user_id: "ann".to_owned(),
                        kind: pb::UsageEventKind::Login as i32,
                        occurred_at: Some(timestamp(
                            chrono::Utc::now() - chrono::Duration::seconds(5),
                        )),
                        ..Default::default()
                    })
                    .collect();
                loop {
                    let mut request = tonic::Request::new(pb::IngestEventsRequest {
                        events: events.clone(),
                    });
                    request.set_timeout(Duration::from_secs(3));
                    match usage.ingest_events(request).await {
                        Ok(response) => {
                            let response = response.into_inner();
                            assert_eq!(response.rejected_count, 0, "{response:?}");
                            acknowledged
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .extend(ids.iter().cloned());
                            break;
                        }
                        Err(status) => {
                            errors
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .push(status.code());
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
                batch += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let stopped_at = started.elapsed();
    cluster.stop_immediately();
    tokio::time::sleep(OUTAGE).await;
    let restarted_at = started.elapsed();
    cluster.start();
    tokio::time::sleep(Duration::from_secs(6)).await;
    stop_sending.store(true, std::sync::atomic::Ordering::Release);
    pipeline.await.unwrap_or_else(|e| panic!("pipeline: {e}"));
    watcher.abort();

    // The process went on serving; it did not exit.
    assert_eq!(
        server.exited_within(Duration::ZERO).await,
        None,
        "the server exited:\n{}",
        server.log_tail()
    );

    let errors = std::mem::take(&mut *errors.lock().unwrap_or_else(PoisonError::into_inner));
    let odd: Vec<&Code> = errors
        .iter()
        .filter(|c| !matches!(c, Code::Unavailable | Code::Cancelled))
        .collect();
    assert!(
        odd.is_empty(),
        "answers other than UNAVAILABLE or CANCELLED: {odd:?}\n{}",
        server.log_tail()
    );
    assert!(!errors.is_empty(), "the outage was never seen");

    let log = std::mem::take(&mut *health_log.lock().unwrap_or_else(PoisonError::into_inner));
    let serving = ServingStatus::Serving as i32;
    let not_serving_at = log
        .iter()
        .find(|(at, status)| *at > stopped_at && *status != Some(serving))
        .map(|(at, _)| *at - stopped_at)
        .unwrap_or_else(|| panic!("health never left SERVING: {log:?}"));
    let serving_again_at = log
        .iter()
        .find(|(at, status)| *at > restarted_at && *status == Some(serving))
        .map(|(at, _)| *at - restarted_at)
        .unwrap_or_else(|| panic!("health never came back: {log:?}"));
    let reported_not_serving = log
        .iter()
        .any(|(at, status)| *at > stopped_at && *status == Some(ServingStatus::NotServing as i32));
    assert!(
        reported_not_serving,
        "health answered, but never NOT_SERVING: {log:?}"
    );
    assert!(
        not_serving_at <= Duration::from_secs(2),
        "NOT_SERVING after {not_serving_at:?}"
    );
    assert!(
        serving_again_at <= Duration::from_secs(5),
        "SERVING again after {serving_again_at:?}"
    );

    // Every acknowledged event exactly once, and the rollup counts them all.
    let acknowledged: HashSet<String> = acknowledged
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .cloned()
        .collect();
    let mut usage = UsageServiceClient::new(authorized(endpoint, &token));
    let mut stream = usage
        .export_account_usage(pb::ExportAccountUsageRequest {
            account_id: account_id.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("export: {s}"))
        .into_inner();
    let mut stored = Vec::new();
    while let Some(chunk) = stream
        .message()
        .await
        .unwrap_or_else(|s| panic!("export: {s}"))
    {
        stored.extend(chunk.events.into_iter().map(|e| e.event_id));
    }
    let distinct: HashSet<String> = stored.iter().cloned().collect();
    assert_eq!(distinct.len(), stored.len(), "an event is stored twice");
    assert!(
        acknowledged.is_subset(&distinct),
        "{} acknowledged events are lost",
        acknowledged.difference(&distinct).count()
    );
    let logins = usage
        .get_usage_summary(pb::GetUsageSummaryRequest {
            account_id,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("summary: {s}"))
        .into_inner()
        .summary
        .unwrap_or_default()
        .last_7_days
        .unwrap_or_default()
        .logins;
    assert_eq!(
        logins as usize,
        distinct.len(),
        "the daily rollup disagrees with the events"
    );
    println!(
        "PostgreSQL stopped for {OUTAGE:?} mid-ingestion: {} events acknowledged, {} stored, none twice; {} refused calls ({} UNAVAILABLE); NOT_SERVING {:.0} ms after the stop, SERVING {:.0} ms after the restart",
        acknowledged.len(),
        distinct.len(),
        errors.len(),
        errors.iter().filter(|c| **c == Code::Unavailable).count(),
        not_serving_at.as_secs_f64() * 1e3,
        serving_again_at.as_secs_f64() * 1e3
    );
    drop(server);
    drop(cluster);
}
