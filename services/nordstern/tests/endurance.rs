//! The long fault scenarios of issue 17, run by hand (not in CI):
//! `cargo test --release -p nordstern --test endurance -- --ignored --nocapture --test-threads=1`.
//!
//! - Overload (scenario 3): ten times as many callers as `grpc.concurrency_limit` admits.
//!   The excess is refused RESOURCE_EXHAUSTED within 10 ms, the admitted requests' p99
//!   stays within 2× of their p99 without the excess, and RSS stays under 512 MiB.
//! - Soak (scenario 8): `NORDSTERN_SOAK_SECS` (600) at half the measured capacity. RSS
//!   grows less than 10 %, open descriptors stay within ±5 %, and the median per-interval
//!   p99 of the last third is within 20 % of the first third's; the curve is printed as a
//!   table.
//!
//! Both run the real binary on SQLite, with the load from this process on loopback. For
//! the overload, the server and the callers get cores of their own (`taskset`), since in
//! production the callers are other machines; refused callers wait the server's pushback.

use std::{
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use nordstern_proto::accounts::v1::{
    self as accounts_pb, accounts_service_client::AccountsServiceClient,
};
use tonic::{Code, transport::Endpoint};

mod support;
use support::{Channel, Server, Storage, authorized, create_account, create_token};

const LIMIT: usize = 32;

/// One soak sample: seconds since the start, p99 (ms), RSS (bytes), open descriptors,
/// requests answered in the interval.
type Sample = (u64, f64, u64, usize, usize);

/// RSS (bytes) and open descriptors of a process.
fn resources(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count);
    (rss_kib * 1024, fds)
}

/// In production the callers are other machines; here they would take the server's CPU
/// and their own scheduling delays would count as the server's latency. So the server's
/// threads get the last core and the callers (this process) the others, as two machines
/// would, until the returned guard gives this process every core back (the soak runs in
/// the same process after). The guard says what was done, for the figures.
fn separate_cores(server: u32) -> CoresSeparated {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if cores < 2 {
        return CoresSeparated::describing("one core: server and callers share it");
    }
    let (server_cpu, caller_cpus) = ((cores - 1).to_string(), format!("0-{}", cores - 2));
    if pin(&server_cpu, server) && pin(&caller_cpus, std::process::id()) {
        CoresSeparated {
            what: format!("server on CPU {server_cpu}, callers on CPU {caller_cpus}"),
            every_core: Some(format!("0-{}", cores - 1)),
        }
    } else {
        CoresSeparated::describing("taskset failed: server and callers share the cores")
    }
}

fn pin(cpus: &str, pid: u32) -> bool {
    std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid.to_string()])
        .output()
        .is_ok_and(|output| output.status.success())
}

struct CoresSeparated {
    what: String,
    /// This process's CPUs to restore.
    every_core: Option<String>,
}

impl CoresSeparated {
    fn describing(what: &str) -> Self {
        CoresSeparated {
            what: what.to_owned(),
            every_core: None,
        }
    }
}

impl Drop for CoresSeparated {
    fn drop(&mut self) {
        if let Some(cpus) = &self.every_core {
            pin(cpus, std::process::id());
        }
    }
}

/// HTTP/2 connections the callers spread over, as many callers' would be.
const CONNECTIONS: usize = 32;

type Client = AccountsServiceClient<Channel>;

async fn start(limit: usize) -> (tempfile::TempDir, Server, Vec<Client>) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let storage = Storage::Sqlite(dir.path().join("data"));
    let token = create_token(&storage, &["admin"]);
    let limit = limit.to_string();
    let server = Server::start(
        &storage,
        &[
            ("NORDSTERN_GRPC__CONCURRENCY_LIMIT", limit.as_str()),
            // The load is one token's: no rate limit in the way of the measurement.
            ("NORDSTERN_AUTH__DEFAULT_RATE_PER_SECOND", "0"),
        ],
    )
    .await;
    let endpoint = Endpoint::from_shared(server.url.clone()).unwrap_or_else(|e| panic!("{e}"));
    let clients: Vec<Client> = (0..CONNECTIONS)
        .map(|_| AccountsServiceClient::new(authorized(endpoint.clone(), &token)))
        .collect();
    let mut seeding = clients[0].clone();
    for index in 0..200 {
        create_account(&mut seeding, &format!("Last {index}"), 1_000_000 + index)
            .await
            .unwrap_or_else(|s| panic!("seed: {s}"));
    }
    (dir, server, clients)
}

/// One read that costs the server a little work: a page of 100 accounts.
async fn list(mut client: AccountsServiceClient<Channel>) -> Result<(), tonic::Status> {
    client
        .list_accounts(accounts_pb::ListAccountsRequest {
            page_size: 100,
            ..Default::default()
        })
        .await
        .map(|_| ())
}

#[derive(Default)]
struct Tally {
    admitted: Option<Histogram<u64>>,
    refused: Option<Histogram<u64>>,
    other: Vec<Code>,
}

/// What a refused caller does before it tries again.
#[derive(Clone, Copy)]
enum Backoff {
    /// Waits the server's pushback, spread over ±50 % so the callers do not return
    /// together, as gRPC's retry design asks of clients.
    Pushback,
    /// Ignores the pushback and waits this long.
    Fixed(Duration),
}

impl Backoff {
    fn wait(self, status: &tonic::Status, caller: usize) -> Duration {
        match self {
            Backoff::Fixed(wait) => wait,
            Backoff::Pushback => {
                let pushback = nordstern_runtime::shedding::pushback(status)
                    .unwrap_or_else(|| panic!("no pushback on {status:?}"));
                pushback.mul_f64(0.5 + (caller % 16) as f64 / 16.0)
            }
        }
    }
}

/// `callers` loops of `list` for `duration`; a refused caller waits as `backoff` says
/// before it tries again.
async fn run_callers(
    clients: &[Client],
    callers: usize,
    duration: Duration,
    backoff: Backoff,
) -> Tally {
    let tally = Arc::new(Mutex::new(Tally {
        admitted: Histogram::new(3).ok(),
        refused: Histogram::new(3).ok(),
        other: Vec::new(),
    }));
    let until = Instant::now() + duration;
    let tasks: Vec<_> = (0..callers)
        .map(|caller| {
            let (client, tally) = (clients[caller % clients.len()].clone(), tally.clone());
            tokio::spawn(async move {
                while Instant::now() < until {
                    let started = Instant::now();
                    let result = list(client.clone()).await;
                    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                    let wait = {
                        let mut tally = tally.lock().unwrap_or_else(PoisonError::into_inner);
                        match result {
                            Ok(()) => {
                                let _ = tally.admitted.as_mut().map(|h| h.record(micros));
                                None
                            }
                            Err(status) if status.code() == Code::ResourceExhausted => {
                                let _ = tally.refused.as_mut().map(|h| h.record(micros));
                                Some(backoff.wait(&status, caller))
                            }
                            Err(status) => {
                                tally.other.push(status.code());
                                None
                            }
                        }
                    };
                    if let Some(wait) = wait {
                        tokio::time::sleep(wait).await;
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    Arc::try_unwrap(tally)
        .map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner))
        .unwrap_or_default()
}

impl Tally {
    /// Counts and latencies, the admitted p99 also as a multiple of `base_p99`.
    fn summary(&self, base_p99: f64) -> String {
        let (admitted, refused) = (self.admitted.as_ref(), self.refused.as_ref());
        format!(
            "{} admitted, p50 {:.1} ms, p99 {:.1} ms ({:.2}×); {} refused RESOURCE_EXHAUSTED in p50 {:.2} ms, p99 {:.2} ms",
            admitted.map_or(0, Histogram::len),
            ms(admitted, 0.5),
            ms(admitted, 0.99),
            ms(admitted, 0.99) / base_p99.max(0.001),
            refused.map_or(0, Histogram::len),
            ms(refused, 0.5),
            ms(refused, 0.99),
        )
    }
}

fn ms(histogram: Option<&Histogram<u64>>, quantile: f64) -> f64 {
    histogram.map_or(0.0, |h| h.value_at_quantile(quantile) as f64 / 1_000.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: run by hand, see the module docs"]
async fn overload_at_ten_times_the_limit() {
    let (_dir, server, clients) = start(LIMIT).await;
    let pid = server.pid();
    let cores = separate_cores(pid);
    println!("overload: {}", cores.what);
    let window = Duration::from_secs(8);
    list(clients[0].clone())
        .await
        .unwrap_or_else(|s| panic!("{s}"));
    let calm = run_callers(&clients, LIMIT, window, Backoff::Pushback).await;
    let peak_rss = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak_rss, sampling) = (peak_rss.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Acquire) {
                peak_rss.fetch_max(resources(pid).0, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let storm = run_callers(&clients, LIMIT * 10, window, Backoff::Pushback).await;
    // For the record, not a bound: callers that ignore the pushback and return after
    // 10 ms make the server spend its CPU on refusals.
    let impatient = run_callers(
        &clients,
        LIMIT * 10,
        window,
        Backoff::Fixed(Duration::from_millis(10)),
    )
    .await;
    sampling.store(false, Ordering::Release);
    let _ = sampler.await;
    let calm_p99 = ms(calm.admitted.as_ref(), 0.99);
    let (storm_p99, refused_p99) = (
        ms(storm.admitted.as_ref(), 0.99),
        ms(storm.refused.as_ref(), 0.99),
    );
    let peak_mib = peak_rss.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0);
    println!(
        "overload: limit {LIMIT}; {LIMIT} callers: {}; peak RSS {peak_mib:.0} MiB",
        calm.summary(calm_p99)
    );
    println!(
        "overload: {} callers waiting the pushback: {}",
        LIMIT * 10,
        storm.summary(calm_p99)
    );
    println!(
        "overload: {} callers retrying after 10 ms: {}",
        LIMIT * 10,
        impatient.summary(calm_p99)
    );
    let others: Vec<_> = [&calm, &storm, &impatient]
        .iter()
        .flat_map(|tally| tally.other.iter())
        .collect();
    assert!(others.is_empty(), "other answers: {others:?}");
    assert!(
        storm.refused.as_ref().is_some_and(|h| !h.is_empty()),
        "nothing was refused"
    );
    assert!(refused_p99 <= 10.0, "refusals took {refused_p99} ms at p99");
    assert!(
        storm_p99 <= 2.0 * calm_p99,
        "admitted p99 {storm_p99} ms vs {calm_p99} ms without the excess"
    );
    assert!(peak_mib < 512.0, "RSS {peak_mib} MiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: run by hand, see the module docs"]
async fn soak_at_half_capacity() {
    let seconds: u64 = std::env::var("NORDSTERN_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let (_dir, server, clients) = start(1024).await;
    let client = clients[0].clone();
    let pid = server.pid();
    let cores = separate_cores(pid);
    println!("soak: {}", cores.what);
    // Capacity: as fast as LIMIT callers go.
    let measured = run_callers(&clients, LIMIT, Duration::from_secs(5), Backoff::Pushback).await;
    let capacity = measured.admitted.as_ref().map_or(0, Histogram::len) as f64 / 5.0;
    let rate = (capacity / 2.0).max(1.0);
    println!("soak: capacity {capacity:.0} rps, running at {rate:.0} rps for {seconds} s");
    let interval = Duration::from_secs((seconds / 10).max(1));
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let until = Instant::now() + Duration::from_secs(seconds);
    let histogram = Arc::new(Mutex::new(
        Histogram::<u64>::new(3).unwrap_or_else(|e| panic!("{e}")),
    ));
    let failures = Arc::new(AtomicU64::new(0));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    let started = Instant::now();
    let mut next_sample = started + interval;
    let mut in_flight = Vec::new();
    while Instant::now() < until {
        tick.tick().await;
        let (caller, recorded, failed) = (client.clone(), histogram.clone(), failures.clone());
        in_flight.push(tokio::spawn(async move {
            let begun = Instant::now();
            match list(caller).await {
                Ok(()) => {
                    let micros = u64::try_from(begun.elapsed().as_micros()).unwrap_or(u64::MAX);
                    let _ = recorded
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .record(micros);
                }
                Err(_) => {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
        if Instant::now() >= next_sample {
            next_sample += interval;
            in_flight.retain(|task: &tokio::task::JoinHandle<()>| !task.is_finished());
            let mut h = histogram.lock().unwrap_or_else(PoisonError::into_inner);
            let (rss, fds) = resources(pid);
            samples
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((
                    started.elapsed().as_secs(),
                    h.value_at_quantile(0.99) as f64 / 1_000.0,
                    rss,
                    fds,
                    h.len() as usize,
                ));
            h.reset();
        }
    }
    for task in in_flight {
        let _ = task.await;
    }
    let samples = std::mem::take(&mut *samples.lock().unwrap_or_else(PoisonError::into_inner));
    println!("| after s | requests | p99 ms | RSS MiB | open fds |");
    println!("| ---: | ---: | ---: | ---: | ---: |");
    for (at, p99, rss, fds, count) in &samples {
        println!(
            "| {at} | {count} | {p99:.2} | {:.1} | {fds} |",
            *rss as f64 / (1024.0 * 1024.0)
        );
    }
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "requests failed during the soak"
    );
    assert!(samples.len() >= 3, "too short to judge: {samples:?}");
    // The first sample is the warm-up; compare the rest with the second.
    let base = samples[1];
    let last = samples[samples.len() - 1];
    let rss_growth = last.2 as f64 / base.2 as f64 - 1.0;
    let fd_change = last.3 as f64 / base.3 as f64 - 1.0;
    let third = (samples.len() - 1) / 3;
    // The median of each third's per-interval p99: one noisy minute on a shared machine
    // is not a trend.
    let median = |part: &[Sample]| {
        let mut p99s: Vec<f64> = part.iter().map(|s| s.1).collect();
        p99s.sort_by(f64::total_cmp);
        p99s[p99s.len() / 2]
    };
    let early = median(&samples[1..=third.max(1)]);
    let late = median(&samples[samples.len() - third.max(1)..]);
    println!(
        "soak: RSS {:+.1} %, open fds {:+.1} %, p99 {early:.2} → {late:.2} ms ({:+.1} %)",
        rss_growth * 100.0,
        fd_change * 100.0,
        (late / early - 1.0) * 100.0
    );
    assert!(rss_growth < 0.10, "RSS grew {:.1} %", rss_growth * 100.0);
    assert!(
        fd_change.abs() <= 0.05,
        "open fds changed {:.1} %",
        fd_change * 100.0
    );
    assert!(
        (late / early - 1.0).abs() <= 0.20,
        "p99 moved from {early:.2} to {late:.2} ms"
    );
}
