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
