//! The webhook store on a real SQLite file: a relayed event makes one delivery per
//! active subscription and is never taken twice; attempts move a delivery to delivered
//! or, past its window, dead; the sweep forgets finished deliveries but not pending ones.

use nordstern_domain::webhook::{DeliveryStatus, EventType, PayloadFormat};
use nordstern_outbox::OutboxEvent;
use nordstern_webhooks::store::{AttemptOutcome, Store, SubscriptionRow};

const HOUR: i64 = 3_600 * 1_000_000;

fn subscription(id: &str, types: &[&str], active: bool) -> SubscriptionRow {
    SubscriptionRow {
        subscription_id: id.to_owned(),
        url: "https://hooks.example.com/in".to_owned(),
        event_types: types.iter().map(|t| (*t).to_owned()).collect(),
        active,
        format: PayloadFormat::Standard,
        description: String::new(),
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned(),
        previous_secret: None,
        previous_secret_expires_at: None,
        created_at: 0,
    }
}

#[tokio::test]
async fn relay_deliver_and_sweep() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = nordstern_runtime::Config {
        data_dir: dir.path().to_owned(),
        ..Default::default()
    };
    let store = Store::open(&config).await.unwrap_or_else(|e| panic!("{e}"));
    for row in [
        subscription("s-alerts", &["alert.raised"], true),
        subscription("s-all", &["alert.raised", "account.erased"], true),
        subscription("s-off", &["alert.raised"], false),
    ] {
        store
            .create_subscription(&row, None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let alert = OutboxEvent::new(EventType::AlertRaised, serde_json::json!({"alertId": "a"}));
    let erased = OutboxEvent::new(
        EventType::AccountErased,
        serde_json::json!({"accountId": "x"}),
    );
    let now = 10 * HOUR;
    let events = [alert.clone(), erased.clone()];
    // An event nobody subscribed to is not kept.
    let unheard = OutboxEvent::new(EventType::ChurnModelActivated, serde_json::json!({}));
    assert_eq!(
        store
            .accept_events(std::slice::from_ref(&unheard), now, 24 * HOUR)
            .await
            .unwrap_or(9),
        0
    );
    assert_eq!(
        store.payload(&unheard.event_id).await.unwrap_or_default(),
        None
    );
    let made = store
        .accept_events(&events, now, 24 * HOUR)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        made, 3,
        "two active subscriptions hear of the alert, one of the erasure"
    );
    // A relay that crashed before clearing its outbox offers them again: nothing new.
    let again = store
        .accept_events(&events, now, 24 * HOUR)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again, 0);

    let due = store.due(now, 10).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(due.len(), 3);
    assert!(
        store
            .lease(&due[0].delivery_id, now, now + HOUR)
            .await
            .unwrap_or(false)
    );
    assert!(
        !store
            .lease(&due[0].delivery_id, now, now + HOUR)
            .await
            .unwrap_or(true),
        "leased once"
    );
    store
        .record_attempt(
            &due[0].delivery_id,
            now,
            &AttemptOutcome {
                response_code: 204,
                error: String::new(),
                next_attempt_at: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .record_attempt(
            &due[1].delivery_id,
            now,
            &AttemptOutcome {
                response_code: 503,
                error: "503".into(),
                next_attempt_at: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let delivered = store
        .delivery(&due[0].delivery_id)
        .await
        .unwrap_or_default();
    assert_eq!(
        delivered.map(|d| (d.status, d.attempts, d.last_response_code)),
        Some((DeliveryStatus::Delivered, 1, 204))
    );
    let dead = store
        .delivery(&due[1].delivery_id)
        .await
        .unwrap_or_default();
    assert_eq!(dead.map(|d| d.status), Some(DeliveryStatus::Dead));
    assert_eq!(
        store
            .due(now, 10)
            .await
            .map(|d| d.len())
            .unwrap_or_default(),
        1
    );

    // The sweep forgets the finished two, keeps the pending one and its event.
    let (deliveries, _) = store
        .sweep(now + HOUR)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(deliveries, 2);
    assert_eq!(
        store
            .due(now, 10)
            .await
            .map(|d| d.len())
            .unwrap_or_default(),
        1
    );
    let pending_event = &store.due(now, 10).await.unwrap_or_default()[0].event_id;
    assert!(
        store
            .payload(pending_event)
            .await
            .unwrap_or_default()
            .is_some()
    );
}
