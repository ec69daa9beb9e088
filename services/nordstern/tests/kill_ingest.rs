//! An acknowledgement means committed: `kill -9` of the service at any moment loses no
//! acknowledged event, and a client that retries unacknowledged batches ends with exactly
//! the distinct events stored.
//!
//! Each test runs the real `nordstern serve` binary (SQLite in a temporary data directory,
//! or PostgreSQL in a scratch database), and sends a fixed, deterministic sequence of
//! `IngestEvents` batches. Some batches repeat events of the batch before or within
//! themselves, as a sloppy sender would. Meanwhile a killer sends SIGKILL to the server at
//! random moments — after a random number of acknowledged batches, plus a random part of
//! a batch's round trip, so the kill lands before, during or after a commit — restarts it
//! on the same storage, and publishes its new address. The client retries every batch that
//! got no response until one comes, and never resends an acknowledged one; the last batch
//! is followed at once by one more SIGKILL, so even the latest commit must have reached
//! storage before it was acknowledged.
//!
//! Then, read back through the API after the last restart:
//! - every account's export holds each event exactly once and exactly the distinct events
//!   sent, with their content: an acknowledged event that a kill lost would be missing
//!   (it is never resent), an event committed twice would be listed twice;
//! - the daily rollups add up to exactly those events, so a retried batch whose first
//!   attempt committed did not count twice there either;
//! - every response is consistent with all-or-nothing batches: `accepted + duplicates` is
//!   the batch size, nothing is rejected, and a batch's `accepted_count` is either all of
//!   its new events or — only for a batch that was retried, whose earlier attempt had
//!   committed before the kill ate the response — zero.
//!
//! The test also checks that it proved something: at least one kill hit a batch in
//! flight, and at least one batch had to be retried.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use chrono::DateTime;
use nordstern::scratch_db::{self, ScratchDatabase};
use nordstern_proto::{
    accounts::v1::{self as accounts_pb, accounts_service_client::AccountsServiceClient},
    common::v1 as common,
    usage::v1::{self as pb, usage_service_client::UsageServiceClient},
};
use nordstern_runtime::wire::timestamp;
use rand::{Rng, SeedableRng, rngs::StdRng};
use tokio::{sync::watch, time::Instant};
use tonic::transport::Endpoint;

mod support;
#[path = "kill_ingest/verify.rs"]
mod verify;
use support::{Channel, Server, Storage, authorized, create_token};
use verify::verify;

const ACCOUNTS: usize = 4;
const BATCHES: usize = 60;
const BATCH_SIZE: usize = 200;
/// SIGKILLs while the client sends; one more follows the last acknowledgement.
const KILLS: usize = 4;
/// Users, feature keys and the time span the generated events spread over.
const USERS: usize = 23;
const FEATURES: usize = 5;
const SPAN_SECS: usize = 4 * 24 * 3600;
/// Whole scenario, server starts included; the client alone gets a little less.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(55);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(45);
/// Per call; long enough that no call times out while the server lives.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn sqlite_kill_9_loses_no_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("temp dir: {error}"));
    run_bounded("sqlite", Storage::Sqlite(dir.path().join("data"))).await;
}

#[tokio::test]
async fn postgres_kill_9_loses_no_acknowledged_event() {
    let database = ScratchDatabase::create(&scratch_db::admin_url(), "nordstern_kill_ingest")
        .await
        .unwrap_or_else(|error| panic!("scratch PostgreSQL database: {error}"));
    run_bounded("postgres", Storage::Postgres(database.url.clone())).await;
    database
        .drop_now()
        .await
        .unwrap_or_else(|error| panic!("dropping the scratch database: {error}"));
}

async fn run_bounded(backend: &str, storage: Storage) {
    tokio::time::timeout(SCENARIO_TIMEOUT, scenario(backend, &storage))
        .await
        .unwrap_or_else(|_| panic!("[{backend}] scenario took longer than {SCENARIO_TIMEOUT:?}"));
}

async fn scenario(backend: &str, storage: &Storage) {
    let started = Instant::now();
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(7, |elapsed| elapsed.as_nanos() as u64);
    let mut rng = StdRng::seed_from_u64(seed);

    let token = create_token(
        storage,
        &[
            "accounts:write",
            "usage:write",
            "usage:read",
            // Verification reads every stored event back through the GDPR export.
            "privacy:export",
        ],
    );
    let server = Server::start(storage, &[]).await;
    let accounts = create_accounts(&server.url, &token).await;
    let workload = Workload::new(accounts);

    let shared = Shared::default();
    let (publish, servers) = watch::channel(Published {
        generation: 0,
        url: server.url.clone(),
    });
    let client_deadline = Instant::now() + CLIENT_TIMEOUT;
    let ((records, client_stats), (mut server, kill_stats)) = tokio::join!(
        send_all(&workload, &shared, servers, &token, client_deadline),
        kill_repeatedly(server, storage, &shared, &publish, &mut rng),
    );

    // The last batch was acknowledged a moment ago: it must survive an immediate kill.
    server.kill();
    drop(server);
    let server = Server::start(storage, &[]).await;
    let stored = verify(&server.url, &token, &workload, &records).await;
    drop(server);

    let retried_batches = records.iter().filter(|r| r.attempts > 1).count();
    let lost_acks = records
        .iter()
        .zip(&workload.expected_new)
        .filter(|(r, new)| r.attempts > 1 && r.accepted == 0 && **new > 0)
        .count();
    println!(
        "[{backend}] seed {seed}: {} kills while sending ({} with a batch in flight) + 1 after \
         the last ack; {} failed attempts ({:?}), {retried_batches} batches retried, \
         {lost_acks} of them committed before the kill ate the response; {stored} distinct \
         events of {} sent stored exactly once; {:.1} s",
        kill_stats.kills,
        kill_stats.in_flight,
        client_stats.failed_attempts,
        client_stats.codes,
        workload.sent_events(),
        started.elapsed().as_secs_f64(),
    );
    assert!(
        kill_stats.in_flight > 0,
        "[{backend}] no kill hit a batch in flight; the test proved nothing (seed {seed})"
    );
    assert!(
        retried_batches > 0,
        "[{backend}] no batch needed a retry; the test proved nothing (seed {seed})"
    );
}

/// The deterministic sequence of batches and what storing it exactly once must give.
struct Workload {
    accounts: Vec<String>,
    /// Second the generated `occurred_at` values count back from.
    base_secs: i64,
    /// Event numbers of each batch; see [`Workload::event`].
    batches: Vec<Vec<usize>>,
    requests: Vec<pb::IngestEventsRequest>,
    /// Per batch: its events not sent in an earlier batch nor earlier in itself.
    expected_new: Vec<usize>,
    /// Every distinct event sent, in first-sent order.
    distinct: Vec<usize>,
}

impl Workload {
    fn new(accounts: Vec<String>) -> Self {
        let base_secs = chrono::Utc::now().timestamp() - 60;
        let mut batches = Vec::with_capacity(BATCHES);
        for batch in 0..BATCHES {
            let mut events: Vec<usize> = (batch * BATCH_SIZE..(batch + 1) * BATCH_SIZE).collect();
            if batch % 6 == 5 {
                // Resends the start of the (acknowledged) batch before.
                for (slot, event) in events.iter_mut().rev().take(10).enumerate() {
                    *event = (batch - 1) * BATCH_SIZE + slot;
                }
            }
            if batch % 10 == 4 {
                // The same event twice in one batch.
                events[BATCH_SIZE - 1] = events[0];
            }
            batches.push(events);
        }
        let mut seen = HashSet::new();
        let mut distinct = Vec::new();
        let expected_new = batches
            .iter()
            .map(|events| {
                events
                    .iter()
                    .filter(|&&event| {
                        let new = seen.insert(event);
                        if new {
                            distinct.push(event);
                        }
                        new
                    })
                    .count()
            })
            .collect();
        let mut workload = Workload {
            accounts,
            base_secs,
            batches,
            requests: Vec::new(),
            expected_new,
            distinct,
        };
        workload.requests = workload
            .batches
            .iter()
            .map(|events| pb::IngestEventsRequest {
                events: events.iter().map(|&n| workload.event(n)).collect(),
            })
            .collect();
        workload
    }

    fn sent_events(&self) -> usize {
        self.batches.iter().map(Vec::len).sum()
    }

    fn event_id(n: usize) -> String {
        format!("kill-ingest-{n:06}")
    }

    fn account(&self, n: usize) -> &str {
        &self.accounts[n % self.accounts.len()]
    }

    fn kind(n: usize) -> pb::UsageEventKind {
        match n % 3 {
            0 => pb::UsageEventKind::Login,
            1 => pb::UsageEventKind::FeatureUsed,
            _ => pb::UsageEventKind::IntegrationSync,
        }
    }

    fn quantity(n: usize) -> i64 {
        1 + (n / 3 % 4) as i64
    }

    fn feature_key(n: usize) -> String {
        match Self::kind(n) {
            pb::UsageEventKind::FeatureUsed => format!("feature-{}", n % FEATURES),
            _ => String::new(),
        }
    }

    /// Spread over the last days; some events share a second, which export pages by.
    fn occurred_at_secs(&self, n: usize) -> i64 {
        self.base_secs - (n * 7_919 % SPAN_SECS) as i64
    }

    /// Event number `n`, the same every time it is built.
    fn event(&self, n: usize) -> pb::UsageEvent {
        let kind = Self::kind(n);
        let user_id = match kind {
            pb::UsageEventKind::IntegrationSync => String::new(),
            _ => format!("user-{}", n % USERS),
        };
        pb::UsageEvent {
            event_id: Self::event_id(n),
            account_id: self.account(n).to_owned(),
            user_id,
            kind: kind as i32,
            occurred_at: DateTime::from_timestamp(self.occurred_at_secs(n), 0).map(timestamp),
            quantity: Self::quantity(n),
            feature_key: Self::feature_key(n),
            ticket_id: String::new(),
            properties: HashMap::from([("batch_probe".to_owned(), format!("{}", n % 7))]),
        }
    }
}

/// State the client and the killer share.
#[derive(Default)]
struct Shared {
    /// SIGKILLs sent so far; raised just before each one.
    kills: AtomicU64,
    /// A batch has been sent and its answer not yet received.
    in_flight: AtomicBool,
    acknowledged_batches: AtomicUsize,
    /// Smoothed round trip of an acknowledged batch.
    round_trip_micros: AtomicU64,
    done: AtomicBool,
}

/// The server the client should talk to: started after `generation` kills.
#[derive(Clone)]
struct Published {
    generation: u64,
    url: String,
}

#[derive(Debug, Default, Clone, Copy)]
struct BatchRecord {
    attempts: u32,
    accepted: i32,
    duplicates: i32,
    rejected: i32,
}

#[derive(Debug, Default)]
struct ClientStats {
    failed_attempts: usize,
    codes: BTreeMap<String, usize>,
}

/// A lazy channel whose calls carry `token`.
fn usage_client(url: &str, token: &str) -> UsageServiceClient<Channel> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .unwrap_or_else(|error| panic!("endpoint {url}: {error}"))
        .connect_timeout(Duration::from_secs(2))
        .timeout(CALL_TIMEOUT);
    UsageServiceClient::new(authorized(endpoint, token))
}

/// Sends every batch in order, each until it is acknowledged. A failure is accepted only
/// when a kill explains it: otherwise the service failed on its own, and the test with it.
async fn send_all(
    workload: &Workload,
    shared: &Shared,
    mut servers: watch::Receiver<Published>,
    token: &str,
    deadline: Instant,
) -> (Vec<BatchRecord>, ClientStats) {
    let mut current = servers.borrow_and_update().clone();
    let mut client = usage_client(&current.url, token);
    let mut records = Vec::with_capacity(workload.requests.len());
    let mut stats = ClientStats::default();
    for (batch, request) in workload.requests.iter().enumerate() {
        let mut record = BatchRecord::default();
        loop {
            if servers.has_changed().unwrap_or(false) {
                current = servers.borrow_and_update().clone();
                client = usage_client(&current.url, token);
            }
            record.attempts += 1;
            let sent = std::time::Instant::now();
            shared.in_flight.store(true, Ordering::SeqCst);
            let result = client.ingest_events(request.clone()).await;
            shared.in_flight.store(false, Ordering::SeqCst);
            match result {
                Ok(response) => {
                    let response = response.into_inner();
                    record.accepted = response.accepted_count;
                    record.duplicates = response.duplicate_count;
                    record.rejected = response.rejected_count;
                    let micros = sent.elapsed().as_micros() as u64;
                    let smoothed = match shared.round_trip_micros.load(Ordering::SeqCst) {
                        0 => micros,
                        previous => (previous * 7 + micros) / 8,
                    };
                    shared.round_trip_micros.store(smoothed, Ordering::SeqCst);
                    break;
                }
                Err(status) => {
                    assert!(
                        shared.kills.load(Ordering::SeqCst) > current.generation,
                        "batch {batch} failed while its server was alive: {status:?}"
                    );
                    stats.failed_attempts += 1;
                    *stats
                        .codes
                        .entry(format!("{:?}", status.code()))
                        .or_default() += 1;
                    assert!(
                        Instant::now() < deadline,
                        "batch {batch} still unacknowledged after {CLIENT_TIMEOUT:?}"
                    );
                    // The server this client knew is gone; wait for its successor.
                    let generation = current.generation;
                    current = tokio::time::timeout_at(
                        deadline,
                        servers.wait_for(|published| published.generation > generation),
                    )
                    .await
                    .unwrap_or_else(|_| panic!("no server came back for batch {batch}"))
                    .unwrap_or_else(|error| panic!("the killer is gone: {error}"))
                    .clone();
                    client = usage_client(&current.url, token);
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "the batches took longer than {CLIENT_TIMEOUT:?}"
        );
        records.push(record);
        shared.acknowledged_batches.fetch_add(1, Ordering::SeqCst);
    }
    shared.done.store(true, Ordering::SeqCst);
    (records, stats)
}

#[derive(Debug, Default)]
struct KillStats {
    kills: usize,
    in_flight: usize,
}

/// Kills the server [`KILLS`] times while the client sends: after a random number of
/// acknowledged batches (one random stretch of the sequence per kill) plus a random part
/// of a round trip, so a kill may come before, during or after a commit. Restarts it on
/// the same storage each time and publishes the new address once it serves.
async fn kill_repeatedly(
    mut server: Server,
    storage: &Storage,
    shared: &Shared,
    publish: &watch::Sender<Published>,
    rng: &mut StdRng,
) -> (Server, KillStats) {
    let mut stats = KillStats::default();
    let stretch = BATCHES / (KILLS + 1);
    for kill in 0..KILLS {
        let from = kill * stretch + stretch / 2;
        let threshold = rng.random_range(from..from + stretch);
        while shared.acknowledged_batches.load(Ordering::SeqCst) < threshold
            && !shared.done.load(Ordering::SeqCst)
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let round_trip = shared.round_trip_micros.load(Ordering::SeqCst).max(1_000);
        let jitter = rng.random_range(0..=round_trip * 3 / 2);
        tokio::time::sleep(Duration::from_micros(jitter)).await;
        if shared.done.load(Ordering::SeqCst) {
            break;
        }
        if shared.in_flight.load(Ordering::SeqCst) {
            stats.in_flight += 1;
        }
        let generation = shared.kills.fetch_add(1, Ordering::SeqCst) + 1;
        server.kill();
        stats.kills += 1;
        drop(server);
        server = Server::start(storage, &[]).await;
        publish.send_replace(Published {
            generation,
            url: server.url.clone(),
        });
    }
    (server, stats)
}

async fn create_accounts(url: &str, token: &str) -> Vec<String> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .unwrap_or_else(|error| panic!("endpoint {url}: {error}"))
        .timeout(CALL_TIMEOUT);
    let mut client = AccountsServiceClient::new(authorized(endpoint, token));
    let mut ids = Vec::with_capacity(ACCOUNTS);
    for index in 0..ACCOUNTS {
        let account = client
            .create_account(accounts_pb::CreateAccountRequest {
                request_id: format!("kill-ingest-account-{index}"),
                account: Some(accounts_pb::Account {
                    name: format!("Kill Ingest {index}"),
                    segment: common::Segment::Sme as i32,
                    start_date: Some(common::Date {
                        year: 2025,
                        month: 1,
                        day: 1,
                    }),
                    renewal_date: Some(common::Date {
                        year: 2026,
                        month: 1,
                        day: 1,
                    }),
                    ..accounts_pb::Account::default()
                }),
                initial_arr: Some(common::Money {
                    minor_units: 1_000_000,
                    currency_code: "EUR".to_owned(),
                }),
                assigned_at: None,
            })
            .await
            .unwrap_or_else(|status| panic!("create account {index}: {status:?}"))
            .into_inner()
            .account
            .unwrap_or_else(|| panic!("create account {index}: no account in the response"));
        ids.push(account.account_id);
    }
    ids
}
