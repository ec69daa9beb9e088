//! The token check in front of the HTTP/JSON routes: the same tokens, scopes, limits and
//! audit trail as gRPC. Refusals are 401 with `WWW-Authenticate: Bearer`, 403 naming the
//! scope, and 429 with `Retry-After` and the IETF `RateLimit-Policy`/`RateLimit` headers.

use std::sync::Arc;

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderValue, header},
    middleware::Next,
    response::Response,
};
use nordstern_runtime::{guard::with_caller, http_error::json_error};
use tonic::Code;

use crate::{
    Keeper,
    keeper::{RateLimitState, Refusal},
    table,
};

/// Axum middleware: `router.layer(axum::middleware::from_fn_with_state(keeper, authorize))`.
pub async fn authorize(
    State(keeper): State<Arc<Keeper>>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let route_path = matched.as_ref().map(MatchedPath::as_str);
    // The audit names a transcoded route as the protos write it.
    let shown = route_path.map(|path| {
        nordstern_runtime::http_routes::route_of(request.method(), path)
            .map_or(path, |route| route.template.as_str())
    });
    let route = format!(
        "{} {}",
        request.method(),
        shown.unwrap_or(request.uri().path())
    );
    let requirement = table::http_requirement(request.method(), route_path);
    if route_path.is_none()
        || (requirement == table::Requirement::Unlisted
            && route_path.is_some_and(table::is_known_path))
    {
        // No route matched, or the path is served with other methods: the router's own
        // 404 or 405, with no token needed to learn what the OpenAPI document says.
        return next.run(request).await;
    }
    match keeper.decide(&route, requirement, request.headers()) {
        Err(refusal) => refused(refusal),
        Ok((admission, limit)) => {
            let caller = admission.caller.clone();
            let mut response = with_caller(caller, next.run(request)).await;
            if admission.audited {
                let code = grpc_code_of(response.status());
                keeper.audit().record(
                    &route,
                    admission.caller.as_ref(),
                    admission.scope,
                    None,
                    code,
                );
            }
            if let Some(state) = limit {
                rate_limit_headers(&mut response, state, None);
            }
            response
        }
    }
}

fn refused(refusal: Refusal) -> Response {
    let limited = match &refusal {
        Refusal::Limited { limit, retry_after } => Some((*limit, *retry_after)),
        _ => None,
    };
    let unauthenticated = matches!(refusal, Refusal::Unauthenticated(_));
    let mut response = json_error(&refusal.into_status());
    if unauthenticated {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"nordstern\", error=\"invalid_token\""),
        );
    }
    if let Some((limit, retry_after)) = limited {
        let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        rate_limit_headers(
            &mut response,
            RateLimitState {
                limit,
                remaining: 0,
            },
            Some(seconds.max(1)),
        );
    }
    response
}

/// `RateLimit-Policy: "token";q=<burst>;w=<window>` and `RateLimit: "token";r=<left>;t=<reset>`
/// (draft-ietf-httpapi-ratelimit-headers): the bucket holds `burst` requests and refills
/// at the token's rate.
fn rate_limit_headers(response: &mut Response, state: RateLimitState, reset: Option<u64>) {
    let window = u64::from(state.limit.burst)
        .div_ceil(u64::from(state.limit.per_second.max(1)))
        .max(1);
    let reset = reset.unwrap_or(if state.remaining > 0 { 0 } else { 1 });
    let policy = format!("\"token\";q={};w={window}", state.limit.burst);
    let current = format!("\"token\";r={};t={reset}", state.remaining);
    for (name, value) in [("ratelimit-policy", policy), ("ratelimit", current)] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
}

/// The gRPC code an HTTP answer stands for, for the audit trail.
fn grpc_code_of(status: axum::http::StatusCode) -> Code {
    use axum::http::StatusCode;
    match status {
        s if s.is_success() => Code::Ok,
        StatusCode::BAD_REQUEST => Code::InvalidArgument,
        StatusCode::UNAUTHORIZED => Code::Unauthenticated,
        StatusCode::FORBIDDEN => Code::PermissionDenied,
        StatusCode::NOT_FOUND => Code::NotFound,
        StatusCode::CONFLICT => Code::AlreadyExists,
        StatusCode::TOO_MANY_REQUESTS => Code::ResourceExhausted,
        StatusCode::SERVICE_UNAVAILABLE => Code::Unavailable,
        StatusCode::GATEWAY_TIMEOUT => Code::DeadlineExceeded,
        StatusCode::NOT_IMPLEMENTED => Code::Unimplemented,
        _ => Code::Internal,
    }
}
