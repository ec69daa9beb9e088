//! The HTTP/JSON listener CRM integrations pull from: an account's health, the health
//! list (`changed_since`, cursor pagination) and the customer 360, as proto3 JSON (the
//! canonical mapping: lowerCamelCase names, enum names, 64-bit integers as strings,
//! RFC 3339 timestamps). Errors are a gRPC status mapped to its HTTP code with a JSON
//! body in the shape of Google's JSON API errors:
//! `{"error": {"code": 404, "status": "NOT_FOUND", "message": "…", "fieldViolations": […]}}`.

use std::{collections::HashMap, sync::OnceLock, time::Duration};

use axum::{
    Router,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::header,
    response::{IntoResponse, Response},
    routing::get,
};
use nordstern_proto::{common::v1 as common, gateway::v1 as gateway_pb, scoring::v1 as scoring_pb};
use nordstern_runtime::{
    client::outgoing, http_error::json_error, shutdown::ShutdownSignal, tls::TlsListener,
    wire::timestamp,
};
use nordstern_scoring::remote::ScoringApi;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use tokio::net::TcpListener;
use tonic::Status;

use crate::GatewayApi;

#[derive(Clone)]
struct Api {
    gateway: GatewayApi,
    scoring: ScoringApi,
    /// The deadline each HTTP request gets on the gRPC side.
    timeout: Duration,
}

const ACCOUNT_HEALTH: &str = "/v1/accounts/{account_id}/health";
const CUSTOMER_360: &str = "/v1/accounts/{account_id}/customer360";
const HEALTH_SCORES: &str = "/v1/health-scores";

/// Every route as (method, path), for the scope table's completeness test.
pub const ROUTES: [(&str, &str); 3] = [
    ("GET", ACCOUNT_HEALTH),
    ("GET", CUSTOMER_360),
    ("GET", HEALTH_SCORES),
];

/// The routes of the JSON API.
pub fn router(gateway: GatewayApi, scoring: ScoringApi, timeout: Duration) -> Router {
    Router::new()
        .route(ACCOUNT_HEALTH, get(account_health))
        .route(CUSTOMER_360, get(customer360))
        .route(HEALTH_SCORES, get(health_scores))
        .fallback(|| async { json_error(&Status::not_found("no such endpoint")) })
        .with_state(Api {
            gateway,
            scoring,
            timeout,
        })
}

/// Serves `router` on `listener` (over TLS with `tls`) until `shutdown`, then lets
/// running requests finish.
pub async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    router: Router,
    shutdown: ShutdownSignal,
) -> std::io::Result<()> {
    match tls {
        Some(acceptor) => {
            axum::serve(TlsListener::new(listener, acceptor)?, router)
                .with_graceful_shutdown(shutdown.wait())
                .await
        }
        None => {
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown.wait())
                .await
        }
    }
}

async fn account_health(State(api): State<Api>, Path(account_id): Path<String>) -> Response {
    let request = scoring_pb::GetHealthScoreRequest { account_id };
    let result = api
        .scoring
        .get_health_score(outgoing(request, Some(api.timeout)))
        .await;
    respond(result, "nordstern.scoring.v1.GetHealthScoreResponse")
}

async fn customer360(State(api): State<Api>, Path(account_id): Path<String>) -> Response {
    let request = gateway_pb::GetCustomer360Request { account_id };
    let result = api
        .gateway
        .get_customer360(outgoing(request, Some(api.timeout)))
        .await;
    respond(result, "nordstern.gateway.v1.GetCustomer360Response")
}

/// `GET /v1/health-scores?changed_since=2026-11-01T00:00:00Z&page_size=500&page_token=…`
/// with optional `color`, `csm_id` and `segment` filters (enum values by name, e.g.
/// `RED`, `ENTERPRISE`).
async fn health_scores(
    State(api): State<Api>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let Query(query) = match query {
        Ok(query) => query,
        Err(rejection) => return json_error(&Status::invalid_argument(rejection.body_text())),
    };
    let request = match list_request(&query) {
        Ok(request) => request,
        Err(status) => return json_error(&status),
    };
    let result = api
        .scoring
        .list_health_scores(outgoing(request, Some(api.timeout)))
        .await;
    respond(result, "nordstern.scoring.v1.ListHealthScoresResponse")
}

fn list_request(
    query: &HashMap<String, String>,
) -> Result<scoring_pb::ListHealthScoresRequest, Status> {
    let mut violations = nordstern_runtime::status::FieldViolations::new();
    const KNOWN: [&str; 6] = [
        "page_size",
        "page_token",
        "changed_since",
        "color",
        "csm_id",
        "segment",
    ];
    for name in query.keys() {
        if !KNOWN.contains(&name.as_str()) {
            violations.add(
                name.clone(),
                format!("unknown parameter (known: {})", KNOWN.join(", ")),
            );
        }
    }
    let text = |name: &str| query.get(name).map(String::as_str).unwrap_or_default();
    let page_size = match query.get("page_size") {
        None => 0,
        Some(raw) => violations
            .check(
                "page_size",
                raw.parse::<i32>()
                    .map_err(|_| "must be an integer".to_owned()),
            )
            .unwrap_or_default(),
    };
    let changed_since = query.get("changed_since").and_then(|raw| {
        violations.check(
            "changed_since",
            chrono::DateTime::parse_from_rfc3339(raw)
                .map(|at| timestamp(at.to_utc()))
                .map_err(|_| "must be an RFC 3339 time such as 2026-11-01T00:00:00Z".to_owned()),
        )
    });
    let color = enum_parameter(
        &mut violations,
        "color",
        text("color"),
        "HEALTH_COLOR_",
        |name| common::HealthColor::from_str_name(name).map(|c| c as i32),
    );
    let segment = enum_parameter(
        &mut violations,
        "segment",
        text("segment"),
        "SEGMENT_",
        |name| common::Segment::from_str_name(name).map(|s| s as i32),
    );
    violations.into_result()?;
    Ok(scoring_pb::ListHealthScoresRequest {
        page_size,
        page_token: text("page_token").to_owned(),
        color,
        csm_id: text("csm_id").to_owned(),
        segment,
        changed_since,
    })
}

/// An enum given by its short name (`RED`) or by the full name the API writes
/// (`HEALTH_COLOR_RED`), in any case, so a CRM can feed back the values it read; empty
/// means unset.
fn enum_parameter(
    violations: &mut nordstern_runtime::status::FieldViolations,
    field: &str,
    raw: &str,
    prefix: &str,
    parse: impl Fn(&str) -> Option<i32>,
) -> i32 {
    if raw.is_empty() {
        return 0;
    }
    let name = raw.to_ascii_uppercase();
    let full = if name.starts_with(prefix) {
        name
    } else {
        format!("{prefix}{name}")
    };
    violations
        .check(
            field,
            parse(&full).ok_or_else(|| format!("unknown value `{raw}`")),
        )
        .unwrap_or_default()
}

fn respond<M: prost::Message>(
    result: Result<tonic::Response<M>, Status>,
    message_name: &str,
) -> Response {
    match result.and_then(|response| to_json(&response.into_inner(), message_name)) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(status) => json_error(&status),
    }
}

/// The proto3 JSON of `message`, with default values written out so CRM mappings see
/// every field.
pub fn to_json(message: &impl prost::Message, message_name: &str) -> Result<Vec<u8>, Status> {
    let descriptor = descriptors()
        .get_message_by_name(message_name)
        .ok_or_else(|| {
            tracing::error!(
                message_name,
                "the JSON encoder has no descriptor for this message"
            );
            Status::internal("internal error")
        })?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .map_err(|error| nordstern_runtime::status::internal(&error))?;
    let mut body = Vec::new();
    let mut serializer = serde_json::Serializer::new(&mut body);
    dynamic
        .serialize_with_options(
            &mut serializer,
            &SerializeOptions::new().skip_default_fields(false),
        )
        .map_err(|error| nordstern_runtime::status::internal(&error))?;
    Ok(body)
}

fn descriptors() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(nordstern_proto::FILE_DESCRIPTOR_SET)
            // The set is generated at build time from our own protos.
            .unwrap_or_else(|error| panic!("the built-in descriptor set is invalid: {error}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nordstern_runtime::status::field_violations;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn list_parameters_parse_and_bad_ones_are_named() {
        let request = list_request(&query(&[
            ("changed_since", "2026-11-01T10:00:00+01:00"),
            ("color", "red"),
            ("page_size", "50"),
        ]))
        .unwrap_or_default();
        assert_eq!(request.page_size, 50);
        assert_eq!(request.color, common::HealthColor::Red as i32);
        assert_eq!(
            request.changed_since.map(|t| t.seconds),
            Some(1_793_523_600)
        );

        // The names the API itself writes are accepted too.
        let full = list_request(&query(&[
            ("color", "HEALTH_COLOR_RED"),
            ("segment", "SEGMENT_SME"),
        ]))
        .unwrap_or_default();
        assert_eq!(full.color, common::HealthColor::Red as i32);
        assert_eq!(full.segment, common::Segment::Sme as i32);

        let status = list_request(&query(&[
            ("changed_since", "yesterday"),
            ("color", "PURPLE"),
            ("page_size", "many"),
            ("colour", "RED"),
        ]))
        .err()
        .unwrap_or_else(|| Status::ok(""));
        let mut fields: Vec<String> = field_violations(&status)
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        fields.sort();
        assert_eq!(fields, ["changed_since", "color", "colour", "page_size"]);
    }

    #[test]
    fn messages_become_proto3_json() {
        let response = gateway_pb::GetCustomer360Response {
            missing_sections: vec![gateway_pb::Section::Health as i32],
            ..Default::default()
        };
        let json =
            to_json(&response, "nordstern.gateway.v1.GetCustomer360Response").unwrap_or_default();
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap_or_default();
        assert_eq!(value["missingSections"][0], "SECTION_HEALTH");
        assert_eq!(value["contractEvents"], serde_json::json!([]));
    }
}
