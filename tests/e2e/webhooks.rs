//! Webhooks out, end to end: every event type reaches its subscribers once, signed as
//! Standard Webhooks says; a receiver that fails for 5 s gets the event later; the
//! delivery log, a manual redelivery under the same `webhook-id`, a secret rotation that
//! signs with both secrets, and subscriptions that would reach inside the network refused.

use std::time::Duration;

use nordstern_proto::{
    accounts::v1 as accounts_pb,
    common::v1 as common,
    gateway::v1::{self as gateway_pb, gateway_service_client::GatewayServiceClient},
    scoring::v1 as scoring_pb,
    webhooks::v1::{self as pb, webhook_service_client::WebhookServiceClient},
};
use nordstern_runtime::Role;
use nordstern_tests::{TestSuite, receiver::Receiver};

use crate::in_every_combination;
use crate::scoring::{NewAccount, create, scoring, steady_usage};
use crate::support::{accounts, assert_invalid, create_csm};

in_every_combination!(every_event_reaches_its_subscribers_once_signed);

const ALL_TYPES: [&str; 5] = [
    "alert.raised",
    "health.color_changed",
    "ticket.routed",
    "churn_model.activated",
    "account.erased",
];

fn subscription(url: &str, event_types: &[&str]) -> pb::CreateSubscriptionRequest {
    pb::CreateSubscriptionRequest {
        request_id: String::new(),
        subscription: Some(pb::Subscription {
            url: url.to_owned(),
            event_types: event_types.iter().map(|t| (*t).to_owned()).collect(),
            active: true,
            format: pb::PayloadFormat::Standard as i32,
            ..Default::default()
        }),
    }
}

pub(crate) fn thresholds(
    green_min: f64,
    yellow_min: f64,
) -> scoring_pb::UpdateScoringConfigRequest {
    scoring_pb::UpdateScoringConfigRequest {
        config: Some(scoring_pb::ScoringConfig {
            color_thresholds: Some(scoring_pb::ColorThresholds {
                green_min,
                yellow_min,
            }),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["color_thresholds".to_owned()],
        }),
        validate_only: false,
    }
}

fn of_type<'a>(
    received: &'a [nordstern_tests::receiver::Received],
    event_type: &str,
) -> Vec<&'a nordstern_tests::receiver::Received> {
    received
        .iter()
        .filter(|r| r.body["type"] == event_type)
        .collect()
}

async fn every_event_reaches_its_subscribers_once_signed(suite: &TestSuite) {
    let healthy = Receiver::start().await;
    let flaky = Receiver::start().await;
    let mut hooks = WebhookServiceClient::new(suite.channel(Role::Gateway).await);
    let everything = hooks
        .create_subscription(subscription(&healthy.url(), &ALL_TYPES))
        .await
        .unwrap_or_else(|s| panic!("subscribe: {s}"))
        .into_inner();
    healthy.trust(&everything.secret);
    let subscription_id = everything
        .subscription
        .as_ref()
        .map(|s| s.subscription_id.clone())
        .unwrap_or_default();
    let tickets = hooks
        .create_subscription(subscription(&flaky.url(), &["ticket.routed"]))
        .await
        .unwrap_or_else(|s| panic!("subscribe: {s}"))
        .into_inner();
    flaky.trust(&tickets.secret);
    flaky.fail_for(Duration::from_secs(5));
    let chat = Receiver::start().await;
    let mut slack = subscription(&chat.url(), &["health.color_changed"]);
    if let Some(s) = slack.subscription.as_mut() {
        s.format = pb::PayloadFormat::Slack as i32;
    }
    let slack = hooks
        .create_subscription(slack)
        .await
        .unwrap_or_else(|s| panic!("subscribe: {s}"))
        .into_inner();
    chat.trust(&slack.secret);

    // Targets inside the network and unknown event types are refused, by field.
    for internal in [
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "ftp://x/y",
    ] {
        assert_invalid(
            hooks
                .create_subscription(subscription(internal, &["alert.raised"]))
                .await,
            &["subscription.url"],
        );
    }
    assert_invalid(
        hooks
            .create_subscription(subscription(&healthy.url(), &["alert.fired"]))
            .await,
        &["subscription.event_types[0]"],
    );

    // One change of each kind.
    let mut accounts_client = accounts(suite).await;
    let csm = create_csm(&mut accounts_client, "Vera Wolf", 50).await;
    let account = create(
        &mut accounts_client,
        NewAccount {
            name: "Kunde KG",
            csm_id: &csm.csm_id,
            ..NewAccount::default()
        },
    )
    .await;
    steady_usage(suite, &account, &[]).await;
    let mut scoring_client = scoring(suite).await;
    for (green, yellow) in [(1.0, 0.5), (99.0, 98.0)] {
        scoring_client
            .update_scoring_config(thresholds(green, yellow))
            .await
            .unwrap_or_else(|s| panic!("thresholds: {s}"));
    }
    GatewayServiceClient::new(suite.channel(Role::Gateway).await)
        .route_ticket(gateway_pb::RouteTicketRequest {
            idempotency_key: "zendesk-1".to_owned(),
            account_id: account.clone(),
            subject: "Kündigung".to_owned(),
            body: "Wir möchten unseren Vertrag kündigen.".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("route: {s}"));
    scoring_client
        .activate_churn_model(scoring_pb::ActivateChurnModelRequest {
            model_id: "default".to_owned(),
        })
        .await
        .unwrap_or_else(|s| panic!("activate: {s}"));
    let leaving = accounts_client
        .create_account(accounts_pb::CreateAccountRequest {
            request_id: String::new(),
            account: Some(accounts_pb::Account {
                name: "Weg GmbH".to_owned(),
                crm_id: "SF-0815".to_owned(),
                segment: common::Segment::Sme as i32,
                start_date: Some(common::Date {
                    year: 2025,
                    month: 1,
                    day: 1,
                }),
                ..Default::default()
            }),
            initial_arr: crate::support::eur(1_000_000),
            assigned_at: None,
        })
        .await
        .unwrap_or_else(|s| panic!("create: {s}"))
        .into_inner()
        .account
        .unwrap_or_default();
    accounts_client
        .erase_account(accounts_pb::EraseAccountRequest {
            account_id: leaving.account_id.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("erase: {s}"));

    // The healthy receiver: each type, signed, for the right account.
    let received = healthy
        .until(Duration::from_secs(20), |r| {
            ALL_TYPES.iter().all(|t| !of_type(r, t).is_empty())
        })
        .await;
    for event_type in ALL_TYPES {
        assert!(
            !of_type(&received, event_type).is_empty(),
            "no {event_type} in {received:#?}"
        );
    }
    for delivery in &received {
        assert_eq!(delivery.valid_signatures, 1, "{delivery:?}");
        assert!(delivery.webhook_id.starts_with("msg_"), "{delivery:?}");
        assert!((delivery.timestamp - chrono::Utc::now().timestamp()).abs() < 60);
    }
    let mut ids: Vec<&str> = received.iter().map(|r| r.webhook_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        received.len(),
        "a receiver that answered got nothing twice"
    );
    let drop = of_type(&received, "health.color_changed")
        .into_iter()
        .find(|r| r.body["data"]["color"] == "RED")
        .unwrap_or_else(|| panic!("no change to red in {received:#?}"));
    assert_eq!(drop.body["data"]["accountId"], account.as_str());
    assert_eq!(drop.body["data"]["accountName"], "Kunde KG");
    assert_eq!(drop.body["data"]["direction"], "worse");
    let alert = of_type(&received, "alert.raised")[0];
    assert_eq!(alert.body["data"]["accountId"], account.as_str());
    let routed = of_type(&received, "ticket.routed")[0];
    assert_eq!(
        routed.body["data"]["destination"], "CSM",
        "{:?}",
        routed.body
    );
    assert_eq!(routed.body["data"]["assigneeCsmId"], csm.csm_id.as_str());
    let erased = of_type(&received, "account.erased")[0];
    assert_eq!(erased.body["data"]["crmId"], "SF-0815");
    assert_eq!(
        of_type(&received, "churn_model.activated")[0].body["data"]["modelId"],
        "default"
    );

    // The chat tool got the colour change as one line of text, signed too.
    let lines = chat
        .until(Duration::from_secs(10), |r| {
            r.iter().any(|d| {
                d.body["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("turned RED"))
            })
        })
        .await;
    let line = lines
        .iter()
        .find(|d| {
            d.body["text"]
                .as_str()
                .is_some_and(|t| t.contains("turned RED"))
        })
        .unwrap_or_else(|| panic!("no colour change text in {lines:#?}"));
    assert!(
        line.body["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Kunde KG"),
        "{line:?}"
    );
    assert_eq!(line.valid_signatures, 1);

    // The receiver that failed for 5 s got the ticket later, under one webhook-id.
    let flaky_received = flaky
        .until(Duration::from_secs(40), |r| r.iter().any(|d| d.accepted))
        .await;
    let accepted: Vec<_> = flaky_received.iter().filter(|d| d.accepted).collect();
    assert_eq!(accepted.len(), 1, "{flaky_received:#?}");
    assert!(
        flaky_received.len() >= 2,
        "it failed first: {flaky_received:#?}"
    );
    assert!(
        flaky_received
            .iter()
            .all(|d| d.webhook_id == accepted[0].webhook_id)
    );
    // The log records an attempt after the receiver answered it: wait for the record.
    let tickets_log = pb::ListDeliveriesRequest {
        subscription_id: tickets
            .subscription
            .as_ref()
            .map(|s| s.subscription_id.clone())
            .unwrap_or_default(),
        ..Default::default()
    };
    let recorded = std::time::Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = hooks
            .list_deliveries(tickets_log.clone())
            .await
            .unwrap_or_else(|s| panic!("log: {s}"))
            .into_inner()
            .deliveries;
        let done = log
            .iter()
            .all(|d| d.status == pb::DeliveryStatus::Delivered as i32);
        if done || std::time::Instant::now() > recorded {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(
        log[0].status,
        pb::DeliveryStatus::Delivered as i32,
        "{log:?}"
    );
    assert_eq!(
        log[0].attempts,
        i32::try_from(flaky_received.len()).unwrap_or_default()
    );
    assert_eq!(log[0].last_response_code, 204);

    // A new secret signs beside the old one; a redelivery keeps its webhook-id.
    let rotated = hooks
        .rotate_subscription_secret(pb::RotateSubscriptionSecretRequest {
            subscription_id: subscription_id.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("rotate: {s}"))
        .into_inner();
    healthy.trust(&rotated.secret);
    let alert_delivery = hooks
        .list_deliveries(pb::ListDeliveriesRequest {
            subscription_id: subscription_id.clone(),
            event_id: alert.webhook_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("log: {s}"))
        .into_inner()
        .deliveries;
    assert_eq!(alert_delivery.len(), 1);
    hooks
        .redeliver_delivery(pb::RedeliverDeliveryRequest {
            delivery_id: alert_delivery[0].delivery_id.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("redeliver: {s}"));
    let again = healthy
        .until(Duration::from_secs(10), |r| {
            r.iter()
                .filter(|d| d.webhook_id == alert.webhook_id)
                .count()
                == 2
        })
        .await;
    let copies: Vec<_> = again
        .iter()
        .filter(|d| d.webhook_id == alert.webhook_id)
        .collect();
    assert_eq!(
        copies.len(),
        2,
        "a receiver dedupes by webhook-id: {again:#?}"
    );
    assert_eq!((copies[1].signatures, copies[1].valid_signatures), (2, 2));
}
