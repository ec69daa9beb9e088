//! The versioned cache against real Redis servers: each test that stops, pauses or
//! reconfigures Redis starts its own `redis-server` on a free loopback port (so the shared
//! Redis on 6379 is never touched), and one test uses the shared server under a namespace
//! of its own. `redis-server` must be on PATH; without it these tests fail, loudly.

#[path = "support/redis_server.rs"]
mod redis_server;

use std::{
    future::Future,
    time::{Duration, Instant},
};

use nordstern_runtime::cache::{CacheOptions, CacheStatus, VersionedCache};
use redis_server::RedisServer;

/// A bound on each call while Redis is dead or hung; a correctness bound, not a benchmark.
const CALL_BOUND: Duration = Duration::from_secs(1);
/// How long the cache may take to notice that Redis is back.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(10);

/// Runs one command on a connection of its own (not the cache's).
async fn command(url: &str, args: &[&str]) -> redis::RedisResult<redis::Value> {
    let client = redis::Client::open(url)?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async(&mut connection).await
}

async fn cache_on(url: &str, namespace: &str) -> VersionedCache {
    VersionedCache::connect(Some(url), namespace, CacheOptions::default())
        .await
        .unwrap_or_else(|error| panic!("connect: {error}"))
}

/// Awaits `call` and checks it returned within [`CALL_BOUND`].
async fn bounded<T>(what: &str, call: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let value = call.await;
    let took = started.elapsed();
    assert!(
        took < CALL_BOUND,
        "{what} took {took:?} with Redis unavailable"
    );
    value
}

/// Puts a probe entry and reads it back until Redis serves again; panics at the deadline.
async fn until_recovered(cache: &VersionedCache, probe: &str) -> Duration {
    let started = Instant::now();
    loop {
        cache.put(probe, 1, b"probe").await;
        if cache.get(probe).await.is_some() {
            assert_eq!(cache.status(), CacheStatus::RedisUp);
            return started.elapsed();
        }
        assert!(
            started.elapsed() < RECOVERY_DEADLINE,
            "the cache did not recover within {RECOVERY_DEADLINE:?}; status {:?}",
            cache.status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn entry(version: i64, payload: &[u8]) -> Option<(i64, Vec<u8>)> {
    Some((version, payload.to_vec()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_version_rule_and_get_many() {
    let server = RedisServer::start();
    let cache = cache_on(&server.url(), "test:").await;
    assert!(cache.is_redis());
    assert_eq!(cache.status(), CacheStatus::RedisUp);

    let binary = [0u8, 255, 10, 13, 0];
    cache.put("a", 7, &binary).await;
    assert_eq!(cache.get("a").await, entry(7, &binary));
    cache.put("a", 6, b"older").await;
    assert_eq!(
        cache.get("a").await,
        entry(7, &binary),
        "a lower version never replaces"
    );
    cache.put("a", 7, b"same version").await;
    assert_eq!(
        cache.get("a").await,
        entry(7, &binary),
        "an equal version keeps the payload"
    );
    cache.put("a", 8, b"newer").await;
    assert_eq!(cache.get("a").await, entry(8, b"newer"));

    // Versions beyond 2^53 differ by one, which Lua's doubles could not tell apart.
    let big = 1i64 << 53;
    cache.put("big", big, b"2^53").await;
    cache.put("big", big + 1, b"2^53+1").await;
    assert_eq!(cache.get("big").await, entry(big + 1, b"2^53+1"));
    cache.put("big", big, b"2^53 again").await;
    assert_eq!(cache.get("big").await, entry(big + 1, b"2^53+1"));
    cache.put("big", i64::MAX, b"max").await;
    assert_eq!(cache.get("big").await, entry(i64::MAX, b"max"));

    cache.put("negative", -5, b"-5").await;
    cache.put("negative", -10, b"-10").await;
    cache.put("negative", i64::MIN, b"min").await;
    assert_eq!(cache.get("negative").await, entry(-5, b"-5"));
    cache.put("negative", -3, b"-3").await;
    assert_eq!(cache.get("negative").await, entry(-3, b"-3"));
    cache.put("negative", 0, b"0").await;
    assert_eq!(cache.get("negative").await, entry(0, b"0"));

    assert_eq!(
        cache.get_many(&["negative", "missing", "a", "big"]).await,
        vec![
            entry(0, b"0"),
            None,
            entry(8, b"newer"),
            entry(i64::MAX, b"max")
        ]
    );
    assert_eq!(cache.get_many::<&str>(&[]).await, vec![]);

    cache.remove("a").await;
    assert_eq!(cache.get("a").await, None);
    cache.put("a", 1, b"after removal").await;
    assert_eq!(cache.get("a").await, entry(1, b"after removal"));

    // The namespace isolates: another prefix on the same server sees nothing.
    let other = cache_on(&server.url(), "other:").await;
    assert_eq!(other.get("a").await, None);
    other.put("a", 99, b"other").await;
    cache.remove_namespace().await;
    assert_eq!(cache.get_many(&["a", "big"]).await, vec![None, None]);
    assert_eq!(other.get("a").await, entry(99, b"other"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_redis_reads_miss_quickly_and_the_cache_recovers_on_restart() {
    let mut server = RedisServer::start();
    let cache = cache_on(&server.url(), "test:").await;
    cache.put("a", 1, b"one").await;
    assert_eq!(cache.get("a").await, entry(1, b"one"));

    server.kill();
    for round in 0..30 {
        assert_eq!(bounded("get", cache.get("a")).await, None, "round {round}");
        bounded("put", cache.put("b", round, b"while down")).await;
        assert_eq!(
            bounded("get_many", cache.get_many(&["a", "b"])).await,
            vec![None, None]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(cache.status(), CacheStatus::RedisDown);

    assert!(server.restart(), "redis-server did not restart on its port");
    let took = until_recovered(&cache, "probe").await;
    eprintln!("recovered {took:?} after the restart");
    cache.put("b", 100, b"after").await;
    assert_eq!(cache.get("b").await, entry(100, b"after"));
    assert_eq!(
        cache.get("a").await,
        None,
        "a restart without persistence is empty"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_at_start_is_not_an_error_and_recovers_when_redis_appears() {
    let mut server = RedisServer::stopped();
    let port = server.port;
    let url = server.url();
    let started = Instant::now();
    let cache = cache_on(&url, "test:").await;
    assert!(
        started.elapsed() < CALL_BOUND,
        "connect waited for a dead Redis"
    );
    assert_eq!(cache.status(), CacheStatus::RedisDown);
    assert_eq!(bounded("get", cache.get("a")).await, None);
    bounded("put", cache.put("a", 1, b"one")).await;

    assert!(
        server.restart(),
        "redis-server did not start on port {port}"
    );
    until_recovered(&cache, "probe").await;
    cache.put("a", 2, b"two").await;
    assert_eq!(cache.get("a").await, entry(2, b"two"));

    let malformed = VersionedCache::connect(Some("redis//nope"), "test:", CacheOptions::default());
    assert!(malformed.await.is_err(), "a malformed URL is an error");
    let in_process = VersionedCache::connect(None, "test:", CacheOptions::default()).await;
    assert_eq!(
        in_process.map(|cache| cache.status()).ok(),
        Some(CacheStatus::InProcess)
    );
}

/// Redis keeps its data but refuses our write (out of memory), as in a partition where the
/// old entry survives: after recovery the old entry must not be served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_refused_while_redis_keeps_its_data_is_not_served_stale_after_recovery() {
    let server = RedisServer::start();
    let url = server.url();
    let cache = cache_on(&url, "test:").await;
    cache.put("account-1", 1, b"old score").await;
    cache.put("account-2", 1, b"untouched").await;
    assert_eq!(cache.get("account-1").await, entry(1, b"old score"));

    command(&url, &["CONFIG", "SET", "maxmemory-policy", "noeviction"])
        .await
        .unwrap_or_else(|error| panic!("CONFIG SET: {error}"));
    command(&url, &["CONFIG", "SET", "maxmemory", "1"])
        .await
        .unwrap_or_else(|error| panic!("CONFIG SET: {error}"));
    // The new score is in the database; its write-through fails.
    bounded("put", cache.put("account-1", 2, b"new score")).await;
    assert_eq!(cache.status(), CacheStatus::RedisDown);
    assert_eq!(
        bounded("get", cache.get("account-1")).await,
        None,
        "while down, reads go to the database"
    );
    let raw = command(&url, &["HGET", "test:account-1", "v"]).await;
    assert_eq!(
        raw.ok(),
        Some(redis::Value::BulkString(b"1".to_vec())),
        "the scenario needs Redis to still hold the old entry"
    );

    command(&url, &["CONFIG", "SET", "maxmemory", "0"])
        .await
        .unwrap_or_else(|error| panic!("CONFIG SET: {error}"));
    until_recovered(&cache, "probe").await;
    assert_eq!(
        cache.get("account-1").await,
        None,
        "the entry older than the database was deleted on recovery"
    );
    assert_eq!(cache.get("account-2").await, entry(1, b"untouched"));
    cache.put("account-1", 2, b"new score").await;
    assert_eq!(cache.get("account-1").await, entry(2, b"new score"));
}

/// A hung Redis (all clients paused): calls give up after the command timeout, and a write
/// that did not answer in time is never followed by the older entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_redis_does_not_stall_reads_and_no_older_entry_is_served_after() {
    let server = RedisServer::start();
    let url = server.url();
    let cache = cache_on(&url, "test:").await;
    cache.put("account-1", 1, b"old score").await;

    command(&url, &["CLIENT", "PAUSE", "2000", "ALL"])
        .await
        .unwrap_or_else(|error| panic!("CLIENT PAUSE: {error}"));
    let paused = Instant::now();
    bounded("put", cache.put("account-1", 2, b"new score")).await;
    assert_eq!(cache.status(), CacheStatus::RedisDown);
    while paused.elapsed() < Duration::from_millis(1_500) {
        assert_eq!(bounded("get", cache.get("account-1")).await, None);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    until_recovered(&cache, "probe").await;
    let served = cache.get("account-1").await;
    assert!(
        served.is_none() || served == entry(2, b"new score"),
        "served {served:?} after the outage"
    );
}

/// The shared Redis of the machine (CI and developers run one on 6379), under a namespace
/// no one else uses, removed afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_redis_with_a_unique_namespace_cleans_up_after_itself() {
    let url = "redis://127.0.0.1:6379";
    let namespace = format!("nordstern:test:{}:", uuid::Uuid::new_v4());
    let cache = cache_on(url, &namespace).await;
    assert_eq!(
        cache.status(),
        CacheStatus::RedisUp,
        "the shared Redis on 127.0.0.1:6379 must be running"
    );
    let keys: Vec<String> = (0..50).map(|i| format!("account-{i}")).collect();
    for (i, key) in keys.iter().enumerate() {
        cache.put(key, i as i64, key.as_bytes()).await;
    }
    let entries = cache.get_many(&keys).await;
    for (i, (key, got)) in keys.iter().zip(&entries).enumerate() {
        assert_eq!(got, &entry(i as i64, key.as_bytes()));
    }
    cache.remove_namespace().await;
    assert!(cache.get_many(&keys).await.iter().all(Option::is_none));
    let left = command(url, &["KEYS", &format!("{namespace}*")]).await;
    assert_eq!(left.ok(), Some(redis::Value::Array(vec![])));
}

/// More failed writes than the cache remembers: on recovery it clears its whole namespace
/// (and only its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_refused_writes_clear_the_whole_namespace_on_recovery() {
    let server = RedisServer::start();
    let url = server.url();
    let options = CacheOptions {
        max_stale_keys: 2,
        ..CacheOptions::default()
    };
    let cache = VersionedCache::connect(Some(&url), "test:*[x]:", options)
        .await
        .unwrap_or_else(|error| panic!("connect: {error}"));
    let neighbour = cache_on(&url, "test:").await;
    for key in ["a", "b", "c", "d"] {
        cache.put(key, 1, b"old").await;
    }
    neighbour.put("a", 1, b"neighbour").await;

    command(&url, &["CONFIG", "SET", "maxmemory-policy", "noeviction"])
        .await
        .unwrap_or_else(|error| panic!("CONFIG SET: {error}"));
    command(&url, &["CONFIG", "SET", "maxmemory", "1"])
        .await
        .unwrap_or_else(|error| panic!("CONFIG SET: {error}"));
    for key in ["a", "b", "c"] {
        bounded("put", cache.put(key, 2, b"new")).await;
    }
    command(&url, &["CONFIG", "SET", "maxmemory", "0"])
        .await
        .unwrap_or_else(|error| panic!("CONFIG SET: {error}"));

    until_recovered(&cache, "probe").await;
    assert_eq!(
        cache.get_many(&["a", "b", "c", "d"]).await,
        vec![None, None, None, None],
        "the whole namespace was cleared, including keys never written during the outage"
    );
    assert_eq!(neighbour.get("a").await, entry(1, b"neighbour"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_many_keeps_the_version_rule_in_one_pipeline_and_survives_a_flushed_script_cache() {
    let server = RedisServer::start();
    let cache = cache_on(&server.url(), "many:").await;
    cache.put("a", 5, b"five").await;
    cache
        .put_many(&[
            ("a", 4, b"older".as_slice()),
            ("b", 1, b"one".as_slice()),
            ("c", 2, b"two".as_slice()),
        ])
        .await;
    assert_eq!(
        cache.get_many(&["a", "b", "c"]).await,
        vec![entry(5, b"five"), entry(1, b"one"), entry(2, b"two")]
    );
    // A Redis that lost its scripts (restart, SCRIPT FLUSH) still takes the batch.
    assert!(command(&server.url(), &["SCRIPT", "FLUSH"]).await.is_ok());
    cache
        .put_many(&[("b", 3, b"three".as_slice()), ("c", 1, b"stale".as_slice())])
        .await;
    assert_eq!(
        cache.get_many(&["b", "c"]).await,
        vec![entry(3, b"three"), entry(2, b"two")]
    );
    assert_eq!(cache.status(), CacheStatus::RedisUp);
}
