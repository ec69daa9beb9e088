//! The outside tools over HTTP/JSON: a CRM creating and updating accounts and recording
//! contracts, a product-analytics pipeline sending a Segment-style batch, a help desk's
//! ticket webhook, a CSM tool working alerts, and the OpenAPI document checked by a
//! real validator.

use nordstern_runtime::config::{TrackConfig, TrackEventConfig};
use nordstern_tests::{Backend, TestSuite, Topology, http::HttpResponse};
use serde_json::{Value, json};

use crate::in_every_combination;
use crate::support::{accounts, create_csm};

in_every_combination!(http_routes_serve_what_outside_tools_send);

fn track_mapping() -> TrackConfig {
    let event = |event: &str, kind: &str| TrackEventConfig {
        event: event.to_owned(),
        kind: kind.to_owned(),
        feature: None,
        feature_property: None,
        ticket_property: None,
    };
    TrackConfig {
        account_property: None,
        events: vec![
            event("Signed In", "login"),
            TrackEventConfig {
                feature_property: Some("feature".to_owned()),
                ..event("Feature Used", "feature_used")
            },
        ],
    }
}

async fn call(
    suite: &TestSuite,
    token: &str,
    method: &str,
    path: &str,
    body: &Value,
) -> HttpResponse {
    let bearer = format!("Bearer {token}");
    let headers = [("Authorization", bearer.as_str())];
    if body.is_null() {
        nordstern_tests::http::request(suite.http_addr(), method, path, &headers).await
    } else {
        nordstern_tests::http::send_json(
            suite.http_addr(),
            method,
            path,
            &headers,
            &body.to_string(),
        )
        .await
    }
}

/// The answer's JSON, after checking its status.
fn expect(response: HttpResponse, status: u16) -> Value {
    assert_eq!(response.status, status, "{}", response.body);
    assert_eq!(response.header("content-type"), Some("application/json"));
    response.json()
}

fn violated_fields(error: &Value) -> Vec<String> {
    error["error"]["fieldViolations"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|f| f["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn http_routes_serve_what_outside_tools_send(suite: &mut TestSuite) {
    // A pipeline's token, made before the restart that turns the mapping on (a token made
    // while servers run reaches them within the refresh interval).
    let pipeline = suite.create_token("segment", &["usage:write"], 0).await;
    suite
        .restart_with(|config| config.usage.track = track_mapping())
        .await;
    let admin = suite.admin_token().to_owned();
    let csm = create_csm(&mut accounts(suite).await, "Jana Vogel", 0).await;

    // A CRM's first sync: create, find by CRM id, update, record a contract.
    let created = expect(
        call(
            suite,
            &admin,
            "POST",
            "/v1/accounts",
            &json!({
                "requestId": "crm-sync-0042",
                "account": {
                    "name": "Kunde GmbH", "crmId": "SF-0042", "domain": "Kunde.de", "segment": "SEGMENT_SME",
                    "startDate": {"year": 2025, "month": 3, "day": 1},
                    "renewalDate": {"year": 2027, "month": 3, "day": 1},
                    "csmId": csm.csm_id
                },
                "initialArr": {"currencyCode": "EUR", "minorUnits": "6000000"}
            }),
        )
        .await,
        200,
    );
    let account_id = created["account"]["accountId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        created["account"]["arr"]["minorUnits"], "6000000",
        "{created}"
    );
    let found = expect(
        call(
            suite,
            &admin,
            "GET",
            "/v1/accounts?crm_id=SF-0042",
            &Value::Null,
        )
        .await,
        200,
    );
    assert_eq!(
        found["accounts"][0]["accountId"],
        account_id.as_str(),
        "{found}"
    );
    let updated = expect(
        call(
            suite,
            &admin,
            "PATCH",
            &format!("/v1/accounts/{account_id}"),
            &json!({
                "account": {"name": "Kunde Holding GmbH"}, "updateMask": "name"
            }),
        )
        .await,
        200,
    );
    assert_eq!(
        updated["account"]["name"], "Kunde Holding GmbH",
        "{updated}"
    );
    let recorded = expect(
        call(
            suite,
            &admin,
            "POST",
            &format!("/v1/accounts/{account_id}/contract-events"),
            &json!({
                "kind": "CONTRACT_EVENT_KIND_EXPANSION",
                "arrChange": {"currencyCode": "EUR", "minorUnits": "1200000"},
                "effectiveDate": {"year": 2026, "month": 6, "day": 1},
                "idempotencyKey": "sf-opp-77"
            }),
        )
        .await,
        200,
    );
    assert_eq!(
        recorded["event"]["arrAfter"]["minorUnits"], "7200000",
        "{recorded}"
    );

    // The same sync in bulk: a refused item named by index and field, the rest written;
    // sent again, nothing is written twice.
    let start = json!({"year": 2025, "month": 4, "day": 1});
    let bulk = json!({"items": [
        {"account": {"name": "Bulk Eins GmbH", "crmId": "SF-0100", "segment": "SEGMENT_SME", "startDate": start},
         "initialArr": {"currencyCode": "EUR", "minorUnits": "500000"}},
        {"account": {"name": "", "crmId": "SF-0101", "segment": "SEGMENT_SME", "startDate": start}}
    ]});
    let first = expect(
        call(suite, &admin, "POST", "/v1/accounts/batch", &bulk).await,
        200,
    );
    assert_eq!(
        (
            &first["createdCount"],
            &first["refusals"][0]["index"],
            &first["refusals"][0]["field"]
        ),
        (&json!(1), &json!(1), &json!("account.name")),
        "{first}"
    );
    let bulk_id = first["accounts"][0]["account"]["accountId"].clone();
    let again = expect(
        call(suite, &admin, "POST", "/v1/accounts/batch", &bulk).await,
        200,
    );
    assert_eq!(
        (
            &again["createdCount"],
            &again["duplicateCount"],
            &again["accounts"][0]["account"]["accountId"]
        ),
        (&json!(0), &json!(1), &bulk_id),
        "{again}"
    );
    let events = json!({"events": [
        {"accountId": bulk_id, "kind": "CONTRACT_EVENT_KIND_EXPANSION",
         "arrChange": {"currencyCode": "EUR", "minorUnits": "100000"},
         "effectiveDate": {"year": 2025, "month": 6, "day": 1}, "idempotencyKey": "sf-bulk-1"}
    ]});
    let recorded = expect(
        call(suite, &admin, "POST", "/v1/contract-events/batch", &events).await,
        200,
    );
    assert_eq!(
        recorded["events"][0]["event"]["arrAfter"]["minorUnits"], "600000",
        "{recorded}"
    );

    // A product-analytics pipeline's batch, with the fields such pipelines add.
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let batch = json!({"batch": [
        {"type": "track", "event": "Signed In", "userId": "u-1", "timestamp": now,
         "messageId": "m-1", "context": {"groupId": account_id, "library": {"name": "analytics.js"}},
         "anonymousId": "a-1", "integrations": {}},
        {"type": "track", "event": "Feature Used", "userId": "u-1", "timestamp": now,
         "messageId": "m-2", "context": {"groupId": account_id}, "properties": {"feature": "reports"}},
        {"type": "track", "event": "Page Viewed", "userId": "u-1", "timestamp": now,
         "messageId": "m-3", "context": {"groupId": account_id}},
        {"type": "identify", "userId": "u-1", "messageId": "m-4", "traits": {"email": "u@kunde.de"}},
        {"type": "track", "event": "Signed In", "userId": "u-2", "timestamp": now, "messageId": "m-5"}
    ], "sentAt": now});
    let ingested = expect(
        call(suite, &admin, "POST", "/v1/track/batch", &batch).await,
        200,
    );
    assert_eq!(ingested["acceptedCount"], 2, "{ingested}");
    assert_eq!(ingested["unmappedCount"], 2, "{ingested}");
    assert_eq!(ingested["rejectedCount"], 1, "{ingested}");
    assert_eq!(ingested["rejectedEvents"][0]["index"], 4, "{ingested}");
    let mut unmapped: Vec<&str> = ingested["unmappedEvents"]
        .as_array()
        .map(|v| v.iter().filter_map(|e| e["event"].as_str()).collect())
        .unwrap_or_default();
    unmapped.sort_unstable();
    assert_eq!(unmapped, ["Page Viewed", "identify"]);
    // A pipeline's retry writes nothing twice.
    let again = expect(
        call(suite, &admin, "POST", "/v1/track/batch", &batch).await,
        200,
    );
    assert_eq!(
        (
            again["acceptedCount"].clone(),
            again["duplicateCount"].clone()
        ),
        (json!(0), json!(2)),
        "{again}"
    );
    let usage = expect(
        call(
            suite,
            &admin,
            "GET",
            &format!("/v1/accounts/{account_id}/usage"),
            &Value::Null,
        )
        .await,
        200,
    );
    assert!(usage.to_string().contains("reports"), "{usage}");

    // A help desk's ticket-created webhook, found by the organisation's CRM id.
    let webhook = json!({
        "ticketId": "zd-981",
        "subject": "Kündigung unseres Vertrags",
        "body": "Hallo, wir möchten unseren Vertrag zum Jahresende kündigen.",
        "requester": {"email": "it@kunde.de", "name": "IT"},
        "organization": {"externalId": "SF-0042", "name": "Kunde GmbH", "domainNames": ["kunde.de"]},
        "via": {"channel": "web"}
    });
    let routed = expect(
        call(suite, &admin, "POST", "/v1/helpdesk/tickets", &webhook).await,
        200,
    );
    assert_eq!(routed["accountId"], account_id.as_str(), "{routed}");
    assert_eq!(routed["destination"], "TICKET_DESTINATION_CSM", "{routed}");
    assert_eq!(routed["assigneeEmail"], csm.email.as_str(), "{routed}");
    assert_eq!(
        routed["category"], "TICKET_CATEGORY_CANCELLATION",
        "{routed}"
    );
    assert_eq!(routed["priority"], "TICKET_PRIORITY_HIGH", "{routed}");
    let resent = expect(
        call(suite, &admin, "POST", "/v1/helpdesk/tickets", &webhook).await,
        200,
    );
    assert_eq!(
        resent["ticketId"], routed["ticketId"],
        "a re-sent webhook is routed once"
    );
    let mut stranger = webhook.clone();
    stranger["ticketId"] = json!("zd-982");
    stranger["organization"]["externalId"] = json!("SF-9999");
    let unknown = expect(
        call(suite, &admin, "POST", "/v1/helpdesk/tickets", &stranger).await,
        404,
    );
    assert_eq!(unknown["error"]["status"], "NOT_FOUND");
    // Without an external id: the organisation's domains, then the requester's e-mail.
    assert_eq!(created["account"]["domain"], "kunde.de", "{created}");
    for (ticket_id, organization, email) in [
        (
            "zd-983",
            json!({"domainNames": ["unbekannt.example", "KUNDE.de"]}),
            "it@anders.example",
        ),
        ("zd-984", json!({"name": "Kunde"}), "einkauf@kunde.de"),
    ] {
        let by_domain = expect(
            call(
                suite,
                &admin,
                "POST",
                "/v1/helpdesk/tickets",
                &json!({
                    "ticketId": ticket_id, "subject": "Rechnung", "body": "Frage zur Rechnung",
                    "requester": {"email": email}, "organization": organization
                }),
            )
            .await,
            200,
        );
        assert_eq!(by_domain["accountId"], account_id.as_str(), "{by_domain}");
    }

    // The help desk closes the ticket; a survey tool records an answer.
    let resolved = expect(
        call(
            suite,
            &admin,
            "POST",
            &format!(
                "/v1/tickets/{}/resolve",
                routed["ticketId"].as_str().unwrap_or_default()
            ),
            &json!({
                "accountId": account_id
            }),
        )
        .await,
        200,
    );
    assert_eq!(resolved["alreadyResolved"], false, "{resolved}");
    let campaign = crate::scoring::nps_campaign(suite).await;
    let answered = expect(
        call(
            suite,
            &admin,
            "POST",
            &format!("/v1/campaigns/{campaign}/responses"),
            &json!({
                "idempotencyKey": "typeform-1", "accountId": account_id,
                "respondentId": "r-1", "score": 9, "comment": "Gute Betreuung"
            }),
        )
        .await,
        200,
    );
    assert_eq!(answered["response"]["score"], 9, "{answered}");
    let off_scale = expect(
        call(
            suite,
            &admin,
            "POST",
            &format!("/v1/campaigns/{campaign}/responses"),
            &json!({
                "idempotencyKey": "typeform-2", "accountId": account_id,
                "respondentId": "r-2", "score": 11
            }),
        )
        .await,
        400,
    );
    assert_eq!(violated_fields(&off_scale), ["score"], "{off_scale}");

    // A CSM tool: recompute, the alert queue, the at-risk list and the portfolio. A new
    // account nobody owns is an alert for certain.
    expect(
        call(
            suite,
            &admin,
            "POST",
            &format!("/v1/accounts/{account_id}/health/recompute"),
            &json!({}),
        )
        .await,
        200,
    );
    let today = chrono::Utc::now().date_naive();
    let orphan = expect(
        call(suite, &admin, "POST", "/v1/accounts", &json!({
            "account": {
                "name": "Neu ohne CSM GmbH", "segment": "SEGMENT_SME",
                "startDate": {"year": chrono::Datelike::year(&today), "month": chrono::Datelike::month(&today), "day": chrono::Datelike::day(&today)}
            },
            "initialArr": {"currencyCode": "EUR", "minorUnits": "1200000"}
        }))
        .await,
        200,
    );
    let orphan_id = orphan["account"]["accountId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    expect(
        call(
            suite,
            &admin,
            "POST",
            &format!("/v1/accounts/{orphan_id}/health/recompute"),
            &json!({}),
        )
        .await,
        200,
    );
    let alerts = expect(
        call(
            suite,
            &admin,
            "GET",
            &format!(
                "/v1/alerts?account_id={orphan_id}&statuses=open&alert_types=unassigned_account"
            ),
            &Value::Null,
        )
        .await,
        200,
    );
    let alert_id = alerts["alerts"][0]["alertId"]
        .as_str()
        .unwrap_or_else(|| panic!("no open UNASSIGNED_ACCOUNT alert: {alerts}"))
        .to_owned();
    let acknowledged = expect(
        call(
            suite,
            &admin,
            "POST",
            &format!("/v1/alerts/{alert_id}/acknowledge"),
            &json!({}),
        )
        .await,
        200,
    );
    assert_eq!(
        acknowledged["alert"]["status"], "ALERT_STATUS_ACKNOWLEDGED",
        "{acknowledged}"
    );
    let resolved = expect(
        call(
            suite,
            &admin,
            "POST",
            &format!("/v1/alerts/{alert_id}/resolve"),
            &json!({}),
        )
        .await,
        200,
    );
    assert_eq!(
        resolved["alert"]["status"], "ALERT_STATUS_RESOLVED",
        "{resolved}"
    );
    expect(
        call(
            suite,
            &admin,
            "GET",
            "/v1/at-risk-accounts?page_size=10",
            &Value::Null,
        )
        .await,
        200,
    );
    let portfolio = expect(
        call(
            suite,
            &admin,
            "GET",
            &format!("/v1/csms/{}/portfolio", csm.csm_id),
            &Value::Null,
        )
        .await,
        200,
    );
    assert!(portfolio.to_string().contains(&account_id), "{portfolio}");

    // The same scopes as gRPC: a pipeline's token sends usage and nothing else.
    expect(
        call(
            suite,
            &pipeline,
            "POST",
            "/v1/track/batch",
            &json!({"batch": []}),
        )
        .await,
        200,
    );
    let refused = expect(
        call(suite, &pipeline, "POST", "/v1/accounts", &json!({})).await,
        403,
    );
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("accounts:write"),
        "{refused}"
    );

    // Bad input is named by field; a wrong method is 405.
    let typo = expect(
        call(
            suite,
            &admin,
            "POST",
            "/v1/accounts",
            &json!({"acount": {}}),
        )
        .await,
        400,
    );
    assert_eq!(violated_fields(&typo), ["body"], "{typo}");
    let on_query = expect(
        call(
            suite,
            &admin,
            "GET",
            "/v1/alerts?statuses=SOMETIMES&page_size=x",
            &Value::Null,
        )
        .await,
        400,
    );
    let mut fields = violated_fields(&on_query);
    fields.sort();
    assert_eq!(fields, ["page_size", "statuses"], "{on_query}");
    let not_json = nordstern_tests::http::send_json(
        suite.http_addr(),
        "POST",
        "/v1/track/batch",
        &[("Authorization", &format!("Bearer {admin}"))],
        "{\"batch\": [",
    )
    .await;
    assert_eq!(violated_fields(&expect(not_json, 400)), ["body"]);
    let wrong_method = call(suite, &admin, "GET", "/v1/track/batch", &Value::Null).await;
    assert_eq!(wrong_method.status, 405, "{}", wrong_method.body);
}

/// The document describes every route and passes a real OpenAPI 3.1 validator
/// (`openapi-spec-validator`, installed by `.ci/run`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_served_without_a_token_and_validates() {
    let suite = TestSuite::start(Backend::Sqlite, Topology::OneServer).await;
    let response =
        nordstern_tests::http::request(suite.http_addr(), "GET", "/v1/openapi.json", &[]).await;
    let document = expect(response, 200);
    assert_eq!(document["openapi"], "3.1.0");
    for path in [
        "/v1/track/batch",
        "/v1/helpdesk/tickets",
        "/v1/accounts/{account_id}/health",
    ] {
        assert!(
            document["paths"][path].is_object(),
            "{path} is not documented"
        );
    }
    let file = tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("temp file: {e}"));
    std::fs::write(file.path(), document.to_string()).unwrap_or_else(|e| panic!("write: {e}"));
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import json, sys\nfrom openapi_spec_validator import validate\nvalidate(json.load(open(sys.argv[1])))\nprint('valid')",
        ])
        .arg(file.path())
        .output()
        .unwrap_or_else(|e| panic!("python3: {e}"));
    assert!(
        output.status.success(),
        "the OpenAPI document does not validate (pip install openapi-spec-validator):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    suite.stop().await;
}
