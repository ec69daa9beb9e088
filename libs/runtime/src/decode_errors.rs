//! A request that is not a valid protobuf encoding of its message is the caller's
//! mistake: tonic answers it INTERNAL (as gRPC's status-code guide has it for a library
//! that cannot parse), which tells a caller to retry or page someone. Our servers answer
//! INVALID_ARGUMENT instead, naming what could not be read. Only that answer is changed:
//! it is the one INTERNAL that tonic writes before a handler runs, as a trailers-only
//! response whose message starts with tonic's own words.

use std::task::{Context, Poll};

use http::HeaderValue;
use tower::{Layer, Service};

/// The words tonic's prost codec starts a decoding failure with, percent-encoded as
/// they travel in `grpc-message`.
const TONIC_DECODE_FAILURE: &[u8] = b"failed%20to%20decode%20Protobuf%20message";
/// What we say instead, encoded the same way.
const OUR_WORDS: &[u8] =
    b"the%20request%20is%20not%20a%20valid%20protobuf%20encoding%20of%20its%20message";

#[derive(Clone, Copy)]
pub struct DecodeErrorLayer;

impl<S> Layer<S> for DecodeErrorLayer {
    type Service = DecodeErrors<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DecodeErrors { inner }
    }
}

#[derive(Clone)]
pub struct DecodeErrors<S> {
    inner: S,
}

impl<S, B, ResponseBody> Service<http::Request<B>> for DecodeErrors<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResponseBody>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let future = self.inner.call(request);
        Box::pin(async move {
            let mut response = future.await?;
            as_invalid_argument(response.headers_mut());
            Ok(response)
        })
    }
}

/// Rewrites a trailers-only INTERNAL "failed to decode Protobuf message" answer.
fn as_invalid_argument(headers: &mut http::HeaderMap) {
    let is_internal = headers
        .get("grpc-status")
        .is_some_and(|status| status.as_bytes() == b"13");
    let Some(detail) = headers
        .get("grpc-message")
        .and_then(|message| message.as_bytes().strip_prefix(TONIC_DECODE_FAILURE))
    else {
        return;
    };
    if !is_internal {
        return;
    }
    // The rest is already percent-encoded as grpc-message requires.
    let mut message = OUR_WORDS.to_vec();
    message.extend_from_slice(detail);
    if let Ok(message) = HeaderValue::from_bytes(&message) {
        headers.insert("grpc-status", HeaderValue::from_static("3"));
        headers.insert("grpc-message", message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: &'static str, message: &'static str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-status", HeaderValue::from_static(status));
        headers.insert("grpc-message", HeaderValue::from_static(message));
        headers
    }

    #[test]
    fn only_decoding_failures_become_invalid_argument() {
        let mut decoding = answer(
            "13",
            "failed%20to%20decode%20Protobuf%20message:%20GetAccountRequest.account_id:%20invalid%20wire%20type",
        );
        as_invalid_argument(&mut decoding);
        assert_eq!(decoding["grpc-status"], "3");
        assert_eq!(
            decoding["grpc-message"],
            "the%20request%20is%20not%20a%20valid%20protobuf%20encoding%20of%20its%20message:%20GetAccountRequest.account_id:%20invalid%20wire%20type"
        );
        for (status, message) in [
            ("13", "internal%20error"),
            ("3", "failed%20to%20decode%20Protobuf%20message"),
        ] {
            let mut other = answer(status, message);
            as_invalid_argument(&mut other);
            assert_eq!(other, answer(status, message));
        }
    }
}
