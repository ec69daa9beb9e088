//! A change committed is announced even when the server dies before the announcement
//! leaves: the real `nordstern serve` erases an account (the `account.erased` event is in
//! the accounts outbox, written by the erasure's transaction) while its relay is held
//! back, is killed with SIGKILL before anything was sent, and the next server on the same
//! storage delivers the event, once.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use nordstern::scratch_db::{self, ScratchDatabase};
use nordstern_proto::{
    accounts::v1::{self as accounts_pb, accounts_service_client::AccountsServiceClient},
    common::v1 as common,
    webhooks::v1::{self as pb, webhook_service_client::WebhookServiceClient},
};
use tonic::transport::Endpoint;

mod support;
use support::{Server, Storage, authorized, create_token};

const SCENARIO_TIMEOUT: Duration = Duration::from_secs(60);
/// The first server relays its outbox only this rarely: never, within the test.
const HELD_BACK_MS: &str = "3600000";

#[tokio::test]
async fn sqlite_an_erasure_committed_before_kill_9_is_announced_after_restart() {
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("temp dir: {error}"));
    bounded(Storage::Sqlite(dir.path().join("data"))).await;
}

#[tokio::test]
async fn postgres_an_erasure_committed_before_kill_9_is_announced_after_restart() {
    let database = ScratchDatabase::create(&scratch_db::admin_url(), "nordstern_kill_webhook")
        .await
        .unwrap_or_else(|error| panic!("scratch PostgreSQL database: {error}"));
    bounded(Storage::Postgres(database.url.clone())).await;
    database
        .drop_now()
        .await
        .unwrap_or_else(|error| panic!("dropping the scratch database: {error}"));
}

async fn bounded(storage: Storage) {
    tokio::time::timeout(SCENARIO_TIMEOUT, scenario(&storage))
        .await
        .unwrap_or_else(|_| panic!("the scenario took longer than {SCENARIO_TIMEOUT:?}"));
}

/// (webhook-id, body) of every delivery.
type Deliveries = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

async fn receiver() -> (String, Deliveries) {
    let deliveries: Deliveries = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let app = Router::new()
        .route(
            "/hook",
            post(
                |State(deliveries): State<Deliveries>, headers: HeaderMap, body: Bytes| async move {
                    let id = headers
                        .get("webhook-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                    deliveries
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((id, body));
                },
            ),
        )
        .with_state(deliveries.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), deliveries)
}

fn received(deliveries: &Deliveries) -> Vec<(String, serde_json::Value)> {
    deliveries
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

async fn scenario(storage: &Storage) {
    let token = create_token(storage, &["admin"]);
    let (url, deliveries) = receiver().await;
    let loopback = [("NORDSTERN_WEBHOOKS__ALLOWED_HOSTS", "[\"127.0.0.1\"]")];
    let mut held_back = loopback.to_vec();
    held_back.push(("NORDSTERN_WEBHOOKS__POLL_INTERVAL_MS", HELD_BACK_MS));
    let mut server = Server::start(storage, &held_back).await;
    let endpoint =
        Endpoint::from_shared(server.url.clone()).unwrap_or_else(|error| panic!("{error}"));
    let mut hooks = WebhookServiceClient::new(authorized(endpoint.clone(), &token));
    hooks
        .create_subscription(pb::CreateSubscriptionRequest {
            request_id: String::new(),
            subscription: Some(pb::Subscription {
                url: url.clone(),
                event_types: vec!["account.erased".to_owned()],
                active: true,
                format: pb::PayloadFormat::Standard as i32,
                ..Default::default()
            }),
        })
        .await
        .unwrap_or_else(|s| panic!("subscribe: {s}\n{}", server.log_tail()));
    let mut accounts = AccountsServiceClient::new(authorized(endpoint, &token));
    let account = accounts
        .create_account(accounts_pb::CreateAccountRequest {
            request_id: String::new(),
            account: Some(accounts_pb::Account {
                name: "Abschied GmbH".to_owned(),
                crm_id: "SF-KILL-9".to_owned(),
                segment: common::Segment::Sme as i32,
                start_date: Some(common::Date {
                    year: 2025,
                    month: 1,
                    day: 1,
                }),
                ..Default::default()
            }),
            initial_arr: Some(common::Money {
                minor_units: 100_000,
                currency_code: "EUR".to_owned(),
            }),
            assigned_at: None,
        })
        .await
        .unwrap_or_else(|s| panic!("create: {s}"))
        .into_inner()
        .account
        .unwrap_or_default();
    let erased = accounts
        .erase_account(accounts_pb::EraseAccountRequest {
            account_id: account.account_id.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("erase: {s}"))
        .into_inner();
    assert!(erased.account_erased);

    // Committed, not announced: the relay is held back. Then SIGKILL.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        received(&deliveries).is_empty(),
        "nothing may leave before the kill"
    );
    server.kill();

    let server = Server::start(storage, &loopback).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while received(&deliveries).is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A little longer, to see that it came once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = received(&deliveries);
    assert_eq!(got.len(), 1, "{got:?}\n{}", server.log_tail());
    assert_eq!(got[0].1["type"], "account.erased");
    assert_eq!(got[0].1["data"]["accountId"], account.account_id.as_str());
    assert_eq!(got[0].1["data"]["crmId"], "SF-KILL-9");
    assert!(got[0].0.starts_with("msg_"), "{got:?}");
}
