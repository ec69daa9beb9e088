//! The HTTP/JSON listener: every RPC with a `google.api.http` route in the protos
//! (transcoded, see [`crate::transcode`]) and the OpenAPI document of them at
//! `/v1/openapi.json`. Errors are a gRPC status mapped to its HTTP code with a JSON
//! body in the shape of Google's JSON API errors:
//! `{"error": {"code": 404, "status": "NOT_FOUND", "message": "…", "fieldViolations": […]}}`.

use std::sync::OnceLock;

use axum::{
    Router,
    http::header,
    response::{IntoResponse, Response},
    routing::get,
};
use nordstern_runtime::{
    http_error::json_error, http_routes::descriptor_pool, server::RequestLimits,
    shutdown::ShutdownSignal, tls::TlsListener,
};
use prost_reflect::DynamicMessage;
use tokio::net::TcpListener;
use tonic::Status;

use crate::transcode::{self, Dispatch, dynamic_json, openapi};

/// The routes of the JSON API.
pub fn router(dispatch: Dispatch, limits: RequestLimits, max_body_bytes: usize) -> Router {
    transcode::router(dispatch, limits, max_body_bytes)
        .route(nordstern_auth::table::OPENAPI_PATH, get(openapi_document))
        .fallback(|| async { json_error(&Status::not_found("no such endpoint")) })
        .method_not_allowed_fallback(|| async {
            let mut response = json_error(&Status::unimplemented(
                "this path does not take that method (see /v1/openapi.json)",
            ));
            *response.status_mut() = axum::http::StatusCode::METHOD_NOT_ALLOWED;
            response
        })
}

async fn openapi_document() -> Response {
    static DOCUMENT: OnceLock<Vec<u8>> = OnceLock::new();
    let body = DOCUMENT.get_or_init(|| openapi::document().to_string().into_bytes());
    ([(header::CONTENT_TYPE, "application/json")], body.clone()).into_response()
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

/// The proto3 JSON of `message` (named `message_name`), as the HTTP routes write it.
pub fn to_json(message: &impl prost::Message, message_name: &str) -> Result<Vec<u8>, Status> {
    let descriptor = descriptor_pool()
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
    dynamic_json(&dynamic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nordstern_proto::gateway::v1 as gateway_pb;

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
