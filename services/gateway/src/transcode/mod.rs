//! HTTP/JSON for every RPC that declares a `google.api.http` route in the protos: one
//! generic handler reads the route's request from the path, the query string and the
//! JSON body, calls the RPC in this process, and writes its answer as proto3 JSON
//! (lowerCamelCase names, enum names, 64-bit integers as strings, RFC 3339 times, default
//! values written out). Errors are the gRPC status as the shared JSON error body.

mod dispatch;
pub mod openapi;
mod request;

use axum::{
    Router,
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{MethodFilter, on},
};
use nordstern_runtime::{
    http_error::json_error,
    http_routes::{HttpRoute, http_routes},
    server::RequestLimits,
};
use prost::Message;
use prost_reflect::{DynamicMessage, SerializeOptions};
use tonic::Status;

pub use dispatch::Dispatch;
use request::{Incoming, input_message};

#[derive(Clone)]
struct Transcoder {
    dispatch: Dispatch,
    /// The deadline each HTTP request gets on the gRPC side, by method.
    limits: RequestLimits,
    /// The largest body read, as for a gRPC message.
    max_body_bytes: usize,
}

/// A router serving every annotated RPC.
pub fn router(dispatch: Dispatch, limits: RequestLimits, max_body_bytes: usize) -> Router {
    let transcoder = Transcoder {
        dispatch,
        limits,
        max_body_bytes,
    };
    http_routes()
        .iter()
        .fold(Router::new(), |router, route| {
            let Ok(filter) = MethodFilter::try_from(route.method.clone()) else {
                return router;
            };
            router.route(
                &route.router_path,
                on(
                    filter,
                    move |State(transcoder): State<Transcoder>,
                          Path(path): Path<Vec<(String, String)>>,
                          RawQuery(query): RawQuery,
                          body: axum::body::Body| async move {
                        transcoder.serve(route, path, query, body).await
                    },
                ),
            )
        })
        .with_state(transcoder)
}

impl Transcoder {
    async fn serve(
        &self,
        route: &'static HttpRoute,
        path: Vec<(String, String)>,
        query: Option<String>,
        body: axum::body::Body,
    ) -> Response {
        let body: Bytes = match axum::body::to_bytes(body, self.max_body_bytes).await {
            Ok(body) => body,
            Err(_) => {
                let mut response = json_error(&Status::resource_exhausted(format!(
                    "the body is larger than {} bytes",
                    self.max_body_bytes
                )));
                *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
                return response;
            }
        };
        // The router names the parameters p0, p1, … in the route's order.
        let mut path = path;
        path.sort_by_key(|(name, _)| name[1..].parse::<usize>().unwrap_or(usize::MAX));
        let path: Vec<String> = path.into_iter().map(|(_, value)| value).collect();
        let input = match input_message(
            route,
            &Incoming {
                path: &path,
                query: query.as_deref(),
                body: &body,
            },
        ) {
            Ok(input) => input,
            Err(violations) => return json_error(&violations.into()),
        };
        let answer = self
            .dispatch
            .call(
                &route.grpc_path,
                input.encode_to_vec(),
                self.limits.for_method(&route.grpc_path),
            )
            .await
            .and_then(|bytes| {
                DynamicMessage::decode(route.rpc.output(), bytes)
                    .map_err(|error| nordstern_runtime::status::internal(&error))
            })
            .and_then(|output| dynamic_json(&output));
        match answer {
            Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
            Err(status) => json_error(&status),
        }
    }
}

/// The proto3 JSON of `message`, with default values written out so CRM mappings see
/// every field.
pub fn dynamic_json(message: &DynamicMessage) -> Result<Vec<u8>, Status> {
    let mut body = Vec::new();
    let mut serializer = serde_json::Serializer::new(&mut body);
    message
        .serialize_with_options(
            &mut serializer,
            &SerializeOptions::new().skip_default_fields(false),
        )
        .map_err(|error| nordstern_runtime::status::internal(&error))?;
    Ok(body)
}
