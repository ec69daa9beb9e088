//! A real Redis killed and restarted under the service.

use super::*;

/// A real Redis under the service is killed and restarted: reads keep answering from the
/// database with no client-visible error, and the cache fills again on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_run_reads_fall_back_to_the_database_and_the_cache_recovers() {
    use nordstern_tests::{Backend, Topology, redis_server::RedisServer};

    let mut redis = RedisServer::start();
    let url = redis.url();
    let suite = TestSuite::start_with(Backend::Postgres, Topology::OneServer, |config| {
        config.redis_url = Some(url.clone());
    })
    .await;
    let mut accounts_client = accounts(&suite).await;
    let mut ids = Vec::new();
    for index in 0..3 {
        let name = format!("Cached {index}");
        ids.push(
            create(
                &mut accounts_client,
                NewAccount {
                    name: &name,
                    ..NewAccount::default()
                },
            )
            .await,
        );
    }
    let mut client = scoring(&suite).await;
    recompute_all(&mut client).await;
    let namespace = suite.config().scoring.cache_namespace.clone();
    let cached_keys = |url: String, namespace: String| async move {
        let client = redis::Client::open(url).unwrap_or_else(|e| panic!("{e}"));
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{namespace}*"))
            .query_async(&mut connection)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        keys.len()
    };
    assert_eq!(
        cached_keys(url.clone(), namespace.clone()).await,
        3,
        "written through"
    );
    let before = health(&mut client, &ids[0]).await;

    redis.kill();
    for _ in 0..3 {
        let started = std::time::Instant::now();
        assert_eq!(health(&mut client, &ids[0]).await, before);
        let batch = client
            .batch_get_health_scores(pb::BatchGetHealthScoresRequest {
                account_ids: ids.clone(),
            })
            .await
            .unwrap_or_else(|s| panic!("batch with Redis down: {s}"))
            .into_inner();
        assert_eq!(batch.health_scores.len(), 3);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "a dead Redis stalled reads"
        );
    }
    // Recomputing while Redis is down stores new versions in the database only.
    recompute_all(&mut client).await;
    assert_eq!(
        health(&mut client, &ids[0]).await.version,
        before.version + 1
    );

    assert!(
        redis.restart(),
        "redis-server did not come back on its port"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        // Reads after recovery refill the cache from the database.
        for id in &ids {
            assert_eq!(health(&mut client, id).await.version, before.version + 1);
        }
        if cached_keys(url.clone(), namespace.clone()).await == 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the cache did not recover"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // New scores are written through again: with the cache emptied and no read in
    // between, only the recompute can have put the keys back.
    {
        let client = redis::Client::open(url.clone()).unwrap_or_else(|e| panic!("{e}"));
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let () = redis::cmd("FLUSHALL")
            .query_async(&mut connection)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(cached_keys(url.clone(), namespace.clone()).await, 0);
    recompute_all(&mut client).await;
    assert_eq!(
        cached_keys(url.clone(), namespace.clone()).await,
        3,
        "the recompute after recovery wrote through"
    );
    assert_eq!(
        health(&mut client, &ids[0]).await.version,
        before.version + 2
    );
    suite.stop().await;
}

/// Issue 17, scenario 9: 10,000 score updates (200 recomputes of 50 accounts) on
/// PostgreSQL with the Redis cache, while two readers read them all the time. A read
/// never answers a version older than what was committed a second before it started,
/// and no reader ever sees an account's version go back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn score_reads_are_never_stale_by_more_than_a_second_nor_go_back() {
    use nordstern_tests::{Backend, Topology};
    use std::{
        collections::HashMap,
        sync::{Arc, Mutex},
        time::{Duration as StdDuration, Instant},
    };

    const ACCOUNTS: usize = 50;
    const ROUNDS: i64 = 200;
    let suite = TestSuite::start(Backend::Postgres, Topology::OneServer).await;
    let mut accounts_client = accounts(&suite).await;
    let mut ids = Vec::with_capacity(ACCOUNTS);
    for index in 0..ACCOUNTS {
        let name = format!("Konsistent {index}");
        ids.push(
            create(
                &mut accounts_client,
                NewAccount {
                    name: &name,
                    ..NewAccount::default()
                },
            )
            .await,
        );
    }
    let mut writer = scoring(&suite).await;
    recompute_all(&mut writer).await;
    let read_all = |mut client: Scoring, ids: Vec<String>| async move {
        client
            .batch_get_health_scores(pb::BatchGetHealthScoresRequest { account_ids: ids })
            .await
            .unwrap_or_else(|s| panic!("read: {s}"))
            .into_inner()
            .health_scores
            .into_iter()
            .map(|score| (score.account_id, score.version))
            .collect::<HashMap<String, i64>>()
    };
    let base = read_all(scoring(&suite).await, ids.clone()).await;
    assert_eq!(base.len(), ACCOUNTS);

    // (when a recompute returned, how many had returned by then)
    let committed: Arc<Mutex<Vec<(Instant, i64)>>> = Arc::default();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for reader in 0..2 {
        let client = scoring(&suite).await;
        let (ids, base, committed, done) =
            (ids.clone(), base.clone(), committed.clone(), done.clone());
        readers.push(tokio::spawn(async move {
            let mut seen: HashMap<String, i64> = HashMap::new();
            let mut reads = 0u64;
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                let started = Instant::now();
                // Rounds that had committed a second before this read started.
                let settled = committed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .filter(|(at, _)| *at + StdDuration::from_secs(1) <= started)
                    .map(|(_, rounds)| *rounds)
                    .max()
                    .unwrap_or(0);
                let versions = if reader == 0 {
                    read_all(client.clone(), ids.clone()).await
                } else {
                    let id = ids[(reads as usize) % ids.len()].clone();
                    let mut single = client.clone();
                    let score = single
                        .get_health_score(pb::GetHealthScoreRequest { account_id: id.clone() })
                        .await
                        .unwrap_or_else(|s| panic!("read: {s}"))
                        .into_inner()
                        .health_score
                        .unwrap_or_default();
                    HashMap::from([(id, score.version)])
                };
                for (id, version) in versions {
                    let rounds_seen = version - base[&id];
                    assert!(
                        rounds_seen >= settled,
                        "{id}: version {version} is {} rounds behind what committed a second earlier",
                        settled - rounds_seen
                    );
                    let previous = seen.insert(id.clone(), version).unwrap_or(i64::MIN);
                    assert!(version >= previous, "{id}: version went back from {previous} to {version}");
                }
                reads += 1;
            }
            reads
        }));
    }
    let started = Instant::now();
    for round in 1..=ROUNDS {
        let response = writer
            .recompute_health_scores(pb::RecomputeHealthScoresRequest {
                account_ids: ids.clone(),
                all_accounts: false,
            })
            .await
            .unwrap_or_else(|s| panic!("recompute: {s}"))
            .into_inner();
        assert_eq!(response.accounts_scored as usize, ACCOUNTS);
        committed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((Instant::now(), round));
    }
    let writing = started.elapsed();
    // Readers keep going past the last commit, so the last round is checked as settled.
    tokio::time::sleep(StdDuration::from_millis(1_200)).await;
    done.store(true, std::sync::atomic::Ordering::Release);
    let mut total_reads = 0;
    for reader in readers {
        total_reads += reader.await.unwrap_or_else(|e| panic!("reader: {e}"));
    }
    let last = read_all(scoring(&suite).await, ids.clone()).await;
    for id in &ids {
        assert_eq!(last[id], base[id] + ROUNDS, "{id}: every update is stored");
    }
    println!(
        "cache consistency: {} updates in {:.1} s, {total_reads} reads checked, none stale by a second, none going back",
        ACCOUNTS as i64 * ROUNDS,
        writing.as_secs_f64()
    );
    suite.stop().await;
}
