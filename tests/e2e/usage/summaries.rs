//! Summaries on known data (windows, breadth, trend, percentiles, tickets), batch and
//! streamed summaries against the same peers, a stream of many chunks, summaries at many
//! instants (batched and streamed), and chart series by day and week.

use super::*;
use crate::in_every_combination;

in_every_combination!(
    summary_on_known_data,
    batch_and_stream_summaries_rank_against_the_same_peers,
    a_stream_of_many_chunks_equals_batch_summaries,
    summaries_at_many_instants_equal_one_call_per_instant,
    streamed_summaries_at_equal_the_batch_and_take_more_accounts,
    timeseries_by_day_and_week,
);

async fn summary_on_known_data(suite: &TestSuite) {
    let company = company(suite).await;
    let mut client = usage(suite).await;
    let now = Utc::now();
    load_known_usage(&mut client, &company, now).await;

    let a = summary(&mut client, &company.a, now).await;
    assert_eq!(window(&a, 7), (1, 4, 3));
    assert_eq!(window(&a, 30), (2, 5, 4));
    assert_eq!(window(&a, 90), (3, 9, 25));
    let features: Vec<(&str, &str, i64, i64, i32)> = a
        .features
        .iter()
        .map(|f| {
            (
                f.feature_key.as_str(),
                f.module_key.as_str(),
                f.uses_last_30_days,
                f.uses_last_90_days,
                f.users_last_30_days,
            )
        })
        .collect();
    assert_eq!(
        features,
        [
            ("dashboards", "analytics", 4, 4, 1),
            ("workflows", "", 1, 1, 1),
            ("alerts", "analytics", 0, 0, 0),
            ("reports", "analytics", 0, 2, 0),
        ]
    );
    assert_eq!(
        (a.purchased_features_used, a.purchased_features_total),
        (2, 3)
    );
    assert_eq!(a.feature_breadth.map(|b| (b * 1000.0).round()), Some(667.0));
    assert!(a.integration_live);
    assert_eq!(
        a.last_integration_sync_on,
        Some(date_to_proto(days_ago(now, 3).date_naive()))
    );
    // Last 30 days: 4 logins + 5 feature uses; the 90 days before: 30 + 1 logins + 2 uses.
    assert_eq!(a.usage_last_30_days, 9);
    assert_eq!(a.usage_prior_monthly_average, 11.0);
    assert_eq!(a.usage_trend.map(|t| (t * 1000.0).round()), Some(818.0));
    // Portfolio and segment (both A, B, C): usage 9, 20, 0.
    assert_eq!(
        (a.portfolio_percentile, a.portfolio_peer_count),
        (Some(50.0), 3)
    );
    assert_eq!(
        (a.segment_percentile, a.segment_peer_count),
        (Some(50.0), 3)
    );
    assert_eq!((a.open_tickets, a.tickets_last_30_days), (1, 3));
    assert_eq!(
        a.median_time_to_resolution.map(|d| d.seconds),
        Some(36 * 3600)
    );

    let b = summary(&mut client, &company.b, now).await;
    assert_eq!(
        (b.portfolio_percentile, b.segment_percentile),
        (Some(100.0), Some(100.0))
    );
    assert_eq!(b.usage_trend, None);
    assert!(!b.integration_live);
    assert_eq!(b.last_integration_sync_on, None);
    let c = summary(&mut client, &company.c, now).await;
    assert_eq!(
        (c.portfolio_percentile, c.usage_last_30_days, window(&c, 90)),
        (Some(0.0), 0, (0, 0, 0))
    );
    assert_eq!(c.feature_breadth, None);
    let d = summary(&mut client, &company.d, now).await;
    assert_eq!((d.portfolio_percentile, d.portfolio_peer_count), (None, 0));
    assert_eq!((d.segment_percentile, d.segment_peer_count), (None, 1));

    // As of 60 days ago, the recent events are in the future and do not count.
    let earlier = summary(&mut client, &company.a, days_ago(now, 60)).await;
    assert_eq!(window(&earlier, 30), (2, 2, 11));
    assert_eq!(earlier.open_tickets, 0);
    assert_eq!(earlier.last_integration_sync_on, None);

    // A last sync before the 120 days the daily totals cover is found further back.
    let old_sync = days_ago(now, 200);
    ingest(
        &mut client,
        vec![other(
            "b2",
            &company.b,
            pb::UsageEventKind::IntegrationSync,
            "",
            old_sync,
        )],
    )
    .await;
    let b = summary(&mut client, &company.b, now).await;
    assert_eq!(
        (b.last_integration_sync_on, b.integration_live),
        (Some(date_to_proto(old_sync.date_naive())), false)
    );

    assert_invalid(
        client
            .get_usage_summary(pb::GetUsageSummaryRequest {
                account_id: "nope".to_owned(),
                as_of: None,
            })
            .await,
        &["account_id"],
    );
    assert_code(
        client
            .get_usage_summary(pb::GetUsageSummaryRequest {
                account_id: uuid::Uuid::new_v4().to_string(),
                as_of: None,
            })
            .await,
        Code::NotFound,
    );
}

async fn batch_and_stream_summaries_rank_against_the_same_peers(suite: &TestSuite) {
    let company = company(suite).await;
    let mut client = usage(suite).await;
    let now = Utc::now();
    load_known_usage(&mut client, &company, now).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let batch = client
        .batch_get_usage_summaries(pb::BatchGetUsageSummariesRequest {
            account_ids: vec![company.b.clone(), unknown.clone(), company.a.clone()],
            as_of: Some(timestamp(now)),
        })
        .await
        .unwrap_or_else(|status| panic!("batch: {status}"))
        .into_inner();
    let ids: Vec<&str> = batch
        .summaries
        .iter()
        .map(|s| s.account_id.as_str())
        .collect();
    assert_eq!(ids, [company.b.as_str(), company.a.as_str()]);
    assert_eq!(batch.missing_account_ids, [unknown]);
    let single = summary(&mut client, &company.a, now).await;
    assert_eq!(batch.summaries[1], single);

    let streamed = stream_everyone(&mut client, now).await;
    let mut ids: Vec<String> = streamed.iter().map(|s| s.account_id.clone()).collect();
    ids.sort();
    let mut expected = vec![
        company.a.clone(),
        company.b.clone(),
        company.c.clone(),
        company.d.clone(),
    ];
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(
        streamed.iter().find(|s| s.account_id == company.a),
        Some(&single)
    );

    assert_invalid(
        client
            .batch_get_usage_summaries(pb::BatchGetUsageSummariesRequest {
                account_ids: vec!["x".to_owned()],
                as_of: None,
            })
            .await,
        &["account_ids[0]"],
    );
}

/// More accounts than several streamed chunks, which are read side by side: every account
/// is streamed once, with the summary a batch call gives for it.
async fn a_stream_of_many_chunks_equals_batch_summaries(suite: &TestSuite) {
    const ACCOUNTS: usize = 1_234;
    let ids = create_accounts_in_bulk(&mut accounts(suite).await, "stream", ACCOUNTS).await;
    let mut client = usage(suite).await;
    let now = Utc::now();
    // Every third account logs in, by one of five users, on a day of the last 40.
    let events: Vec<pb::UsageEvent> = ids
        .iter()
        .enumerate()
        .filter(|(n, _)| n % 3 == 0)
        .map(|(n, id)| {
            let at = days_ago(now, (n % 40) as i64);
            login(&format!("s{n}"), id, &format!("u{}", n % 5), at)
        })
        .collect();
    for batch in events.chunks(500) {
        let response = ingest(&mut client, batch.to_vec()).await;
        assert_eq!(response.accepted_count as usize, batch.len());
    }

    let mut streamed = HashMap::new();
    for summary in stream_everyone(&mut client, now).await {
        let id = summary.account_id.clone();
        assert!(
            streamed.insert(id.clone(), summary).is_none(),
            "{id} streamed twice"
        );
    }
    assert_eq!(streamed.len(), ACCOUNTS);
    let logins: i64 = streamed
        .values()
        .map(|s| s.last_90_days.map_or(0, |w| w.logins))
        .sum();
    assert_eq!(logins as usize, events.len());

    for chunk in ids.chunks(1_000) {
        let batch = client
            .batch_get_usage_summaries(pb::BatchGetUsageSummariesRequest {
                account_ids: chunk.to_vec(),
                as_of: Some(timestamp(now)),
            })
            .await
            .unwrap_or_else(|status| panic!("batch: {status}"))
            .into_inner();
        assert_eq!(batch.summaries.len(), chunk.len());
        for summary in batch.summaries {
            assert_eq!(streamed.get(&summary.account_id), Some(&summary));
        }
    }
}

/// Every account's summary as of `as_of`, through `StreamUsageSummaries`.
async fn stream_everyone(client: &mut Usage, as_of: DateTime<Utc>) -> Vec<pb::UsageSummary> {
    let answer = client
        .stream_usage_summaries(pb::StreamUsageSummariesRequest {
            account_ids: vec![],
            as_of: Some(timestamp(as_of)),
        })
        .await;
    all_messages(answer, "stream")
        .await
        .into_iter()
        .flat_map(|chunk| chunk.summaries)
        .collect()
}

/// Every message of a stream, in order; a refused call or a failed message panics.
async fn all_messages<T>(
    answer: Result<tonic::Response<tonic::Streaming<T>>, tonic::Status>,
    call: &str,
) -> Vec<T> {
    let mut stream = answer
        .unwrap_or_else(|status| panic!("{call}: {status}"))
        .into_inner();
    let mut messages = Vec::new();
    while let Some(message) = stream
        .message()
        .await
        .unwrap_or_else(|status| panic!("{call}, message: {status}"))
    {
        messages.push(message);
    }
    messages
}

/// History training reads summaries of many cut-off days in one call; each must equal
/// the summary of a call for its instant alone, peers ranked as on that day.
async fn summaries_at_many_instants_equal_one_call_per_instant(suite: &TestSuite) {
    let company = company(suite).await;
    let mut client = usage(suite).await;
    let now = Utc::now();
    load_known_usage(&mut client, &company, now).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let queries = [
        (
            now,
            vec![company.a.clone(), unknown.clone(), company.b.clone()],
        ),
        (
            days_ago(now, 45),
            vec![company.a.clone(), company.c.clone()],
        ),
        (
            days_ago(now, 60),
            vec![company.b.clone(), company.d.clone()],
        ),
        (days_ago(now, 45), vec![company.d.clone()]),
    ];
    let at = |as_of: DateTime<Utc>, ids: &[String]| pb::UsageSummariesAt {
        as_of: Some(timestamp(as_of)),
        account_ids: ids.to_vec(),
    };
    let results = client
        .batch_get_usage_summaries_at(pb::BatchGetUsageSummariesAtRequest {
            queries: queries.iter().map(|(as_of, ids)| at(*as_of, ids)).collect(),
        })
        .await
        .unwrap_or_else(|status| panic!("at: {status}"))
        .into_inner()
        .results;
    assert_eq!(results.len(), queries.len());
    for ((as_of, ids), result) in queries.iter().zip(&results) {
        let alone = client
            .batch_get_usage_summaries(pb::BatchGetUsageSummariesRequest {
                account_ids: ids.clone(),
                as_of: Some(timestamp(*as_of)),
            })
            .await
            .unwrap_or_else(|status| panic!("batch: {status}"))
            .into_inner();
        assert_eq!(result, &alone, "as of {as_of}");
    }
    assert_eq!(results[0].missing_account_ids, [unknown]);
    // A ranks in the middle of its SME peers now (9 against 20 and 0), first 45 days ago
    // (21 against 0 and 0): each instant ranks against its own day.
    let a_rank = |result: &pb::BatchGetUsageSummariesResponse| {
        result
            .summaries
            .iter()
            .find(|s| s.account_id == company.a)
            .and_then(|s| s.segment_percentile)
    };
    assert_eq!(a_rank(&results[0]), Some(50.0));
    assert_eq!(a_rank(&results[1]), Some(100.0));

    let request =
        |queries: Vec<pb::UsageSummariesAt>| pb::BatchGetUsageSummariesAtRequest { queries };
    assert_invalid(
        client
            .batch_get_usage_summaries_at(request(vec![
                pb::UsageSummariesAt {
                    as_of: None,
                    account_ids: vec![company.a.clone()],
                },
                at(now, &["x".to_owned()]),
            ]))
            .await,
        &["queries[0].as_of", "queries[1].account_ids[0]"],
    );
    assert_invalid(
        client
            .batch_get_usage_summaries_at(request(vec![
                at(now, std::slice::from_ref(&company.a)),
                at(days_ago(now, 63), std::slice::from_ref(&company.a)),
            ]))
            .await,
        &["queries"],
    );
    let many: Vec<String> = (0..=MAX_BATCH)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    assert_invalid(
        client
            .batch_get_usage_summaries_at(request(vec![
                at(now, &many[..500]),
                at(now, &many[500..]),
            ]))
            .await,
        &["queries"],
    );
}

/// Training asks for the summaries of many cut-off days and up to 20,000 accounts as a
/// stream: every query is answered in order, in chunks of at most 500, with what the
/// batch call answers for it.
async fn streamed_summaries_at_equal_the_batch_and_take_more_accounts(suite: &TestSuite) {
    let company = company(suite).await;
    let mut client = usage(suite).await;
    let now = Utc::now();
    load_known_usage(&mut client, &company, now).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let at = |as_of: DateTime<Utc>, ids: &[String]| pb::UsageSummariesAt {
        as_of: Some(timestamp(as_of)),
        account_ids: ids.to_vec(),
    };
    let queries = vec![
        at(
            now,
            &[company.a.clone(), unknown.clone(), company.b.clone()],
        ),
        at(days_ago(now, 45), &[company.c.clone(), company.a.clone()]),
        at(days_ago(now, 20), std::slice::from_ref(&unknown)),
        at(days_ago(now, 60), std::slice::from_ref(&company.d)),
    ];
    let request =
        |queries: Vec<pb::UsageSummariesAt>| pb::BatchGetUsageSummariesAtRequest { queries };
    let streamed = stream_at(&mut client, request(queries.clone())).await;
    let batched = client
        .batch_get_usage_summaries_at(request(queries.clone()))
        .await
        .unwrap_or_else(|status| panic!("batch at: {status}"))
        .into_inner()
        .results;
    assert_eq!(streamed, batched);
    assert_eq!(streamed[2].missing_account_ids, [unknown]);
    assert!(streamed[2].summaries.is_empty());

    // More accounts than a batch call takes: A 1,200 times, in chunks of 500.
    let many_a = vec![company.a.clone(); 1_200];
    let messages = raw_stream_at(&mut client, request(vec![at(now, &many_a)])).await;
    let sizes: Vec<(i32, usize)> = messages
        .iter()
        .map(|m| (m.query_index, m.summaries.len()))
        .collect();
    assert_eq!(sizes, [(0, 500), (0, 500), (0, 200)]);
    let a_now = &batched[0].summaries[0];
    assert!(
        messages
            .iter()
            .flat_map(|m| &m.summaries)
            .all(|summary| summary == a_now)
    );
    assert_invalid(
        client
            .batch_get_usage_summaries_at(request(vec![at(now, &many_a)]))
            .await,
        &["queries"],
    );

    let too_many = vec![company.a.clone(); 20_001];
    assert_invalid(
        client
            .stream_usage_summaries_at(request(vec![at(now, &too_many)]))
            .await,
        &["queries"],
    );
    assert_invalid(
        client
            .stream_usage_summaries_at(request(vec![
                pb::UsageSummariesAt {
                    as_of: None,
                    account_ids: vec![company.a.clone()],
                },
                at(days_ago(now, 63), &["x".to_owned()]),
            ]))
            .await,
        &["queries[0].as_of", "queries[1].account_ids[0]"],
    );
}

/// Every message of a `StreamUsageSummariesAt`.
async fn raw_stream_at(
    client: &mut Usage,
    request: pb::BatchGetUsageSummariesAtRequest,
) -> Vec<pb::StreamUsageSummariesAtResponse> {
    all_messages(client.stream_usage_summaries_at(request).await, "stream at").await
}

/// A `StreamUsageSummariesAt` put together per query, as the batch call answers: each
/// query's messages must come in order, after those of the queries before it.
async fn stream_at(
    client: &mut Usage,
    request: pb::BatchGetUsageSummariesAtRequest,
) -> Vec<pb::BatchGetUsageSummariesResponse> {
    let queries = request.queries.len();
    let mut results: Vec<pb::BatchGetUsageSummariesResponse> = Vec::new();
    for message in raw_stream_at(client, request).await {
        let index = usize::try_from(message.query_index).unwrap_or(usize::MAX);
        assert!(
            index + 1 == results.len() || index == results.len(),
            "query {index} answered out of order"
        );
        if index == results.len() {
            results.push(pb::BatchGetUsageSummariesResponse::default());
        }
        let result = &mut results[index];
        result.summaries.extend(message.summaries);
        result
            .missing_account_ids
            .extend(message.missing_account_ids);
    }
    assert_eq!(results.len(), queries, "every query is answered");
    results
}

async fn timeseries_by_day_and_week(suite: &TestSuite) {
    let company = company(suite).await;
    let mut client = usage(suite).await;
    let now = Utc::now();
    load_known_usage(&mut client, &company, now).await;
    let series = |metric: pb::UsageMetric,
                  granularity: pb::Granularity,
                  from: DateTime<Utc>,
                  days: i64,
                  feature_key: &str| {
        let request = pb::GetUsageTimeseriesRequest {
            account_id: company.a.clone(),
            metric: metric as i32,
            granularity: granularity as i32,
            period: period(from, days),
            feature_key: feature_key.to_owned(),
        };
        let mut client = client.clone();
        async move {
            client
                .get_usage_timeseries(request)
                .await
                .unwrap_or_else(|status| panic!("series: {status}"))
                .into_inner()
                .points
        }
    };
    use pb::{Granularity as G, UsageMetric as M};
    let values = |points: &[pb::UsagePoint]| points.iter().map(|p| p.value).collect::<Vec<_>>();
    let logins = series(M::Logins, G::Day, days_ago(now, 3), 4, "").await;
    assert_eq!(values(&logins), [1, 1, 1, 0]);
    assert_eq!(
        logins[0].start_date,
        Some(date_to_proto(days_ago(now, 3).date_naive()))
    );
    let dashboards = series(M::FeatureUses, G::Day, days_ago(now, 2), 3, "dashboards").await;
    assert_eq!(values(&dashboards), [0, 4, 0]);
    let users = series(M::ActiveUsers, G::Day, days_ago(now, 10), 1, "").await;
    assert_eq!(values(&users), [1]);
    let tickets = series(M::TicketsOpened, G::Day, days_ago(now, 20), 21, "").await;
    assert_eq!(values(&tickets).iter().sum::<i64>(), 3);

    let weeks = series(M::Logins, G::Week, days_ago(now, 119), 120, "").await;
    assert_eq!(values(&weeks).iter().sum::<i64>(), 35);
    for pair in weeks.windows(2) {
        let (Some(first), Some(second)) = (&pair[0].start_date, &pair[1].start_date) else {
            panic!("bucket without a date");
        };
        let first =
            chrono::NaiveDate::from_ymd_opt(first.year, first.month as u32, first.day as u32);
        let second =
            chrono::NaiveDate::from_ymd_opt(second.year, second.month as u32, second.day as u32);
        assert_eq!(first.map(|d| d + Duration::days(7)), second);
        assert_eq!(
            first.map(|d| chrono::Datelike::weekday(&d)),
            Some(chrono::Weekday::Mon)
        );
    }

    assert_invalid(
        client
            .get_usage_timeseries(pb::GetUsageTimeseriesRequest {
                account_id: company.a.clone(),
                feature_key: "dashboards".to_owned(),
                ..pb::GetUsageTimeseriesRequest::default()
            })
            .await,
        &["metric", "feature_key", "granularity", "period"],
    );
    assert_invalid(
        client
            .get_usage_timeseries(pb::GetUsageTimeseriesRequest {
                account_id: company.a.clone(),
                metric: M::Logins as i32,
                granularity: G::Day as i32,
                period: period(days_ago(now, 1_000), 900),
                feature_key: String::new(),
            })
            .await,
        &["period"],
    );
}
