//! Usage scenarios: the remote client is here, with the known company and its usage and
//! the helpers the other files share; ingestion (rejections, exactly-once, batches side
//! by side), summaries and chart series, erasure and export, and retention have files of
//! their own.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use nordstern_proto::{
    accounts::v1 as accounts_pb,
    common::v1 as common,
    usage::v1::{self as pb, usage_service_client::UsageServiceClient},
};
use nordstern_runtime::{
    Role,
    wire::{MAX_BATCH, date_to_proto, timestamp},
};
use nordstern_tests::Channel;
use nordstern_tests::TestSuite;
use tonic::Code;

use crate::support::*;

mod ingest;
mod privacy;
mod retention;
mod summaries;

type Usage = UsageServiceClient<Channel>;

async fn usage(suite: &TestSuite) -> Usage {
    UsageServiceClient::new(suite.channel(Role::Usage).await)
}

fn login(id: &str, account_id: &str, user: &str, at: DateTime<Utc>) -> pb::UsageEvent {
    pb::UsageEvent {
        event_id: id.to_owned(),
        account_id: account_id.to_owned(),
        user_id: user.to_owned(),
        kind: pb::UsageEventKind::Login as i32,
        occurred_at: Some(timestamp(at)),
        ..pb::UsageEvent::default()
    }
}

fn feature(
    id: &str,
    account_id: &str,
    user: &str,
    key: &str,
    quantity: i64,
    at: DateTime<Utc>,
) -> pb::UsageEvent {
    pb::UsageEvent {
        kind: pb::UsageEventKind::FeatureUsed as i32,
        feature_key: key.to_owned(),
        quantity,
        ..login(id, account_id, user, at)
    }
}

fn other(
    id: &str,
    account_id: &str,
    kind: pb::UsageEventKind,
    ticket: &str,
    at: DateTime<Utc>,
) -> pb::UsageEvent {
    pb::UsageEvent {
        kind: kind as i32,
        ticket_id: ticket.to_owned(),
        ..login(id, account_id, "", at)
    }
}

async fn ingest(client: &mut Usage, events: Vec<pb::UsageEvent>) -> pb::IngestEventsResponse {
    client
        .ingest_events(pb::IngestEventsRequest { events })
        .await
        .unwrap_or_else(|status| panic!("ingest: {status}"))
        .into_inner()
}

async fn export(
    client: &mut Usage,
    account_id: &str,
) -> (Vec<pb::UsageEvent>, Vec<pb::DailyUsage>) {
    let mut stream = client
        .export_account_usage(pb::ExportAccountUsageRequest {
            account_id: account_id.to_owned(),
        })
        .await
        .unwrap_or_else(|status| panic!("export: {status}"))
        .into_inner();
    let (mut events, mut days) = (Vec::new(), Vec::new());
    while let Some(chunk) = stream
        .message()
        .await
        .unwrap_or_else(|status| panic!("{status}"))
    {
        events.extend(chunk.events);
        days.extend(chunk.daily_usage);
    }
    (events, days)
}

async fn summary(client: &mut Usage, account_id: &str, as_of: DateTime<Utc>) -> pb::UsageSummary {
    client
        .get_usage_summary(pb::GetUsageSummaryRequest {
            account_id: account_id.to_owned(),
            as_of: Some(timestamp(as_of)),
        })
        .await
        .unwrap_or_else(|status| panic!("summary: {status}"))
        .into_inner()
        .summary
        .unwrap_or_default()
}

fn days_ago(now: DateTime<Utc>, days: i64) -> DateTime<Utc> {
    now - Duration::days(days)
}

fn period(from: DateTime<Utc>, days: i64) -> Option<common::Period> {
    Some(common::Period {
        start_date: Some(date_to_proto(from.date_naive())),
        end_date: Some(date_to_proto(from.date_naive() + Duration::days(days))),
    })
}

struct Company {
    a: String,
    b: String,
    c: String,
    d: String,
}

/// Catalog analytics = {dashboards, reports, alerts}; CSM Clara has A (buys analytics),
/// B and C (SME); D is enterprise without a CSM.
async fn company(suite: &TestSuite) -> Company {
    let mut client = accounts(suite).await;
    client
        .upsert_product_module(accounts_pb::UpsertProductModuleRequest {
            module: Some(accounts_pb::ProductModule {
                module_key: "analytics".to_owned(),
                name: "Analytics".to_owned(),
                feature_keys: vec![
                    "dashboards".to_owned(),
                    "reports".to_owned(),
                    "alerts".to_owned(),
                ],
                list_price: eur(1_200_000),
                has_integration: false,
            }),
        })
        .await
        .unwrap_or_else(|status| panic!("catalog: {status}"));
    let csm = create_csm(&mut client, "Clara Berg", 50).await;
    let create = |name: &str, segment: common::Segment, modules: &[&str]| {
        let mut request = new_account(name, 1_000_000);
        if let Some(account) = request.account.as_mut() {
            account.segment = segment as i32;
            account.module_keys = modules.iter().map(|m| (*m).to_owned()).collect();
        }
        let mut client = client.clone();
        async move {
            client
                .create_account(request)
                .await
                .unwrap_or_else(|status| panic!("create: {status}"))
                .into_inner()
                .account
                .unwrap_or_default()
                .account_id
        }
    };
    let a = create("Amsel AG", common::Segment::Sme, &["analytics"]).await;
    let b = create("Buchfink KG", common::Segment::Sme, &[]).await;
    let c = create("Dohle GmbH", common::Segment::Sme, &[]).await;
    let d = create("Elster SE", common::Segment::Enterprise, &[]).await;
    for account_id in [&a, &b, &c] {
        client
            .assign_account(accounts_pb::AssignAccountRequest {
                account_id: account_id.clone(),
                csm_id: csm.csm_id.clone(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|status| panic!("assign: {status}"));
    }
    Company { a, b, c, d }
}

/// A: u1 daily logins and heavy use recently, u2 and u3 earlier, a sync, three tickets;
/// B: 20 logins; C: nothing; D: 5 logins.
async fn load_known_usage(client: &mut Usage, company: &Company, now: DateTime<Utc>) {
    use pb::UsageEventKind as K;
    let a = company.a.as_str();
    let mut events = vec![
        login("a1", a, "u1", days_ago(now, 1)),
        login("a2", a, "u1", days_ago(now, 2)),
        login("a3", a, "u1", days_ago(now, 3)),
        login("a4", a, "u2", days_ago(now, 10)),
        login("a5", a, "u3", days_ago(now, 60)),
        pb::UsageEvent {
            quantity: 10,
            ..login("a6", a, "u1", days_ago(now, 50))
        },
        pb::UsageEvent {
            quantity: 10,
            ..login("a7", a, "u1", days_ago(now, 70))
        },
        pb::UsageEvent {
            quantity: 10,
            ..login("a8", a, "u1", days_ago(now, 100))
        },
        feature("a9", a, "u1", "dashboards", 4, days_ago(now, 1)),
        feature("a10", a, "u2", "reports", 2, days_ago(now, 40)),
        feature("a11", a, "u1", "workflows", 1, days_ago(now, 5)),
        other("a12", a, K::IntegrationSync, "", days_ago(now, 3)),
        other("a13", a, K::TicketOpened, "T1", days_ago(now, 20)),
        other("a14", a, K::TicketResolved, "T1", days_ago(now, 18)),
        other("a15", a, K::TicketOpened, "T2", days_ago(now, 10)),
        other("a16", a, K::TicketResolved, "T2", days_ago(now, 9)),
        other("a17", a, K::TicketOpened, "T3", days_ago(now, 5)),
        pb::UsageEvent {
            quantity: 20,
            ..login("b1", &company.b, "u9", days_ago(now, 2))
        },
        pb::UsageEvent {
            quantity: 5,
            ..login("d1", &company.d, "u7", days_ago(now, 2))
        },
    ];
    // Resolution before opening arrives (out of order) still pairs up.
    events.swap(13, 14);
    let response = ingest(client, events).await;
    assert_eq!(
        (response.accepted_count, response.rejected_count),
        (19, 0),
        "{response:?}"
    );
    // "workflows" is in no module of the catalog: stored, and named in the answer.
    let unknown: Vec<(&str, i64)> = response
        .unknown_features
        .iter()
        .map(|f| (f.feature_key.as_str(), f.event_count))
        .collect();
    assert_eq!(unknown, [("workflows", 1)]);
}

fn window(summary: &pb::UsageSummary, days: i32) -> (i32, i32, i64) {
    let window = match days {
        7 => summary.last_7_days,
        30 => summary.last_30_days,
        _ => summary.last_90_days,
    }
    .unwrap_or_default();
    (window.active_users, window.active_days, window.logins)
}

/// A usage server made of nothing but `RemoteUsage` in front of the real one: unary calls,
/// the client stream and both server streams cross the extra hop unchanged, and errors
/// keep their code and field details.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_of_remote_usage_serves_the_same_contract() {
    use nordstern_proto::usage::v1::usage_service_server::UsageServiceServer;
    use nordstern_runtime::config::GrpcConfig;
    use nordstern_tests::{Backend, Topology};
    use nordstern_usage::remote::RemoteUsage;
    use tokio_stream::StreamExt;

    let suite = TestSuite::start(Backend::Sqlite, Topology::ServerPerRole).await;
    let account = create_account(&mut accounts(&suite).await, "Proxied GmbH", 50_000).await;
    let id = account.account_id.as_str();
    let remote = RemoteUsage::connect(
        suite.url(Role::Usage),
        &GrpcConfig::default(),
        &suite.security(),
    )
    .unwrap_or_else(|error| panic!("{error}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let proxy_url = format!(
        "http://{}",
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    );
    let proxy = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(UsageServiceServer::new(remote))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    // The proxy checks no token; the clients behind it present the suite's own.
    let mut client = UsageServiceClient::new(
        nordstern_runtime::client::secure_channel(
            &proxy_url,
            &GrpcConfig::default(),
            &Default::default(),
        )
        .await
        .unwrap_or_else(|error| panic!("{error}")),
    );

    let now = Utc::now();
    let unary = ingest(&mut client, vec![login("p1", id, "ann", days_ago(now, 1))]).await;
    assert_eq!(unary.accepted_count, 1);
    let streamed = client
        .ingest_event_stream(tokio_stream::iter([
            pb::IngestEventStreamRequest {
                events: vec![login("p2", id, "bob", days_ago(now, 2))],
            },
            pb::IngestEventStreamRequest {
                events: vec![login("p1", id, "ann", days_ago(now, 1))],
            },
        ]))
        .await
        .unwrap_or_else(|status| panic!("stream: {status}"))
        .into_inner();
    assert_eq!(
        (
            streamed.batch_count,
            streamed.accepted_count,
            streamed.duplicate_count
        ),
        (2, 1, 1)
    );

    let summaries: Vec<pb::StreamUsageSummariesResponse> = client
        .stream_usage_summaries(pb::StreamUsageSummariesRequest {
            account_ids: vec![account.account_id.clone()],
            as_of: None,
        })
        .await
        .unwrap_or_else(|status| panic!("summaries: {status}"))
        .into_inner()
        .collect::<Result<_, _>>()
        .await
        .unwrap_or_else(|status| panic!("summaries: {status}"));
    let logins_30: i64 = summaries
        .iter()
        .flat_map(|response| &response.summaries)
        .filter(|summary| summary.account_id == id)
        .map(|summary| summary.last_30_days.map_or(0, |w| w.logins))
        .sum();
    assert_eq!(logins_30, 2);

    let (events, _) = export(&mut client, id).await;
    assert_eq!(
        events.len(),
        2,
        "both stored events come back through the proxy"
    );

    let status = client
        .get_usage_summary(pb::GetUsageSummaryRequest {
            account_id: "x".to_owned(),
            as_of: None,
        })
        .await
        .err()
        .unwrap_or_else(|| panic!("expected an error"));
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        nordstern_runtime::status::field_violations(&status)
            .first()
            .map(|(field, _)| field.as_str()),
        Some("account_id")
    );
    proxy.abort();
    suite.stop().await;
}
