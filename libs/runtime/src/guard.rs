//! The gate in front of every gRPC service: a tower layer that asks a [`Gatekeeper`]
//! whether a request may pass, answers the refusal itself when not, runs the admitted
//! request with the caller's identity in scope (so calls to other services forward it),
//! and reports the outcome of audited requests. What a token is and which scope a method
//! needs is the gatekeeper's business (`nordstern-auth`); this module only knows requests.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use bytes::{Buf, Bytes};
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use tonic::{Code, Status, body::Body};
use tower::{Layer, Service};

/// Who made a request, as far as the audit trail is concerned. Never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub token_id: Arc<str>,
    pub token_name: Arc<str>,
    /// Set when another Nordstern service made the call on the token's behalf.
    pub via_service: bool,
}

/// A request that may pass.
#[derive(Debug, Clone)]
pub struct Admission {
    /// `None` for requests that need no token (health checks, reflection).
    pub caller: Option<Caller>,
    /// The scope the method needed, for the audit trail.
    pub scope: &'static str,
    /// Whether the outcome goes to the audit trail (writes, erasures, exports, tokens).
    pub audited: bool,
}

/// Decides on requests by their method and headers. Implementations must be cheap: this
/// runs before every request.
pub trait Gatekeeper: Send + Sync + 'static {
    /// Admits the request, or refuses it with the status to answer (UNAUTHENTICATED,
    /// PERMISSION_DENIED, RESOURCE_EXHAUSTED). A refusal is recorded by the gatekeeper.
    fn admit(&self, method: &str, headers: &http::HeaderMap) -> Result<Admission, Status>;

    /// The field numbers leading to the request's `account_id` (e.g. `[1]`, or `[1, 2]`
    /// for `event.account_id`), for audited unary methods; empty when it has none.
    fn account_field_path(&self, method: &str) -> &[u32];

    /// Records the outcome of an admitted, audited request.
    fn record(&self, method: &str, admission: &Admission, account_id: Option<String>, code: Code);
}

tokio::task_local! {
    /// The caller of the request this task is serving, for outgoing calls to forward.
    static CALLER: Option<Caller>;
}

/// The caller of the request being served, when a gate admitted one in this task.
pub fn current_caller() -> Option<Caller> {
    CALLER.try_with(Clone::clone).ok().flatten()
}

/// Runs `future` as serving `caller`, for work that continues a request elsewhere.
pub async fn with_caller<F: Future>(caller: Option<Caller>, future: F) -> F::Output {
    CALLER.scope(caller, future).await
}

#[derive(Clone)]
pub struct GuardLayer {
    gatekeeper: Arc<dyn Gatekeeper>,
    max_request_bytes: usize,
}

impl GuardLayer {
    pub fn new(gatekeeper: Arc<dyn Gatekeeper>, max_request_bytes: usize) -> Self {
        GuardLayer {
            gatekeeper,
            max_request_bytes,
        }
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Guard {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Guard<S> {
    inner: S,
    layer: GuardLayer,
}

impl<S> Service<http::Request<Body>> for Guard<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let gatekeeper = self.layer.gatekeeper.clone();
        let method = request.uri().path().to_owned();
        let admission = match gatekeeper.admit(&method, request.headers()) {
            Ok(admission) => admission,
            Err(status) => return Box::pin(async move { Ok(status.into_http()) }),
        };
        // The readied service handles this request; a clone takes its place for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let max_request_bytes = self.layer.max_request_bytes;
        Box::pin(async move {
            let path = gatekeeper.account_field_path(&method);
            let (request, account_id) = if admission.audited && !path.is_empty() {
                match peek_account_id(request, path, max_request_bytes).await {
                    Ok(peeked) => peeked,
                    Err(status) => return Ok(status.into_http()),
                }
            } else {
                (request, None)
            };
            let response = CALLER
                .scope(admission.caller.clone(), inner.call(request))
                .await?;
            if admission.audited {
                gatekeeper.record(&method, &admission, account_id, response_code(&response));
            }
            Ok(response)
        })
    }
}

/// The status of a response whose error came before any message (trailers-only, as tonic
/// answers a handler's `Err`); otherwise OK. A stream that fails later reports in its
/// trailers, which this does not wait for.
fn response_code(response: &http::Response<Body>) -> Code {
    response
        .headers()
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<i32>().ok())
        .map_or(Code::Ok, Code::from_i32)
}

/// Reads the body of a unary request (bounded by the request-size limit), finds the
/// account id in its first message, and hands back an equal request.
async fn peek_account_id(
    request: http::Request<Body>,
    path: &[u32],
    max_request_bytes: usize,
) -> Result<(http::Request<Body>, Option<String>), Status> {
    let (parts, body) = request.into_parts();
    // The gRPC frame header (flag and length) comes on top of the message.
    let limited = http_body_util::Limited::new(body, max_request_bytes.saturating_add(5));
    let bytes = match limited.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            return Err(Status::resource_exhausted(format!(
                "the request is larger than the limit of {max_request_bytes} bytes"
            )));
        }
        Err(_) => return Err(Status::cancelled("the request body ended early")),
    };
    let account_id = first_message(&bytes).and_then(|message| string_at(message, path));
    Ok((
        http::Request::from_parts(parts, Body::new(http_body_util::Full::new(bytes))),
        account_id,
    ))
}

/// The first gRPC message of a body, unless it is compressed or cut short.
fn first_message(body: &[u8]) -> Option<&[u8]> {
    let (&compressed, rest) = body.split_first()?;
    if compressed != 0 || rest.len() < 4 {
        return None;
    }
    let length = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    rest.get(4..4 + length)
}

/// The string at a path of field numbers through nested messages, read straight off the
/// protobuf wire format (no decoding of the rest of the message).
fn string_at(message: &[u8], path: &[u32]) -> Option<String> {
    let (&field, deeper) = path.split_first()?;
    let value = length_delimited_field(message, field)?;
    if deeper.is_empty() {
        String::from_utf8(value.to_vec())
            .ok()
            .filter(|text| !text.is_empty())
    } else {
        string_at(value, deeper)
    }
}

/// The last occurrence of a length-delimited field (protobuf's "last one wins").
fn length_delimited_field(message: &[u8], wanted: u32) -> Option<&[u8]> {
    let mut buffer = Bytes::copy_from_slice(message);
    let mut offset = 0usize;
    let mut found = None;
    while buffer.has_remaining() {
        let before = buffer.remaining();
        let key = prost::encoding::decode_varint(&mut buffer).ok()?;
        let (number, wire_type) = ((key >> 3) as u32, key & 7);
        match wire_type {
            0 => {
                prost::encoding::decode_varint(&mut buffer).ok()?;
            }
            1 | 5 => {
                let width = if wire_type == 1 { 8 } else { 4 };
                if buffer.remaining() < width {
                    return None;
                }
                buffer.advance(width);
            }
            2 => {
                let length =
                    usize::try_from(prost::encoding::decode_varint(&mut buffer).ok()?).ok()?;
                if buffer.remaining() < length {
                    return None;
                }
                let start = offset + (before - buffer.remaining());
                if number == wanted {
                    found = message.get(start..start + length);
                }
                buffer.advance(length);
            }
            // Groups are not used by proto3 messages.
            _ => return None,
        }
        offset += before - buffer.remaining();
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[derive(Clone, PartialEq, prost::Message)]
    struct Inner {
        #[prost(string, tag = "1")]
        event_id: String,
        #[prost(string, tag = "2")]
        account_id: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct Outer {
        #[prost(int64, tag = "3")]
        amount: i64,
        #[prost(message, optional, tag = "1")]
        event: Option<Inner>,
        #[prost(double, tag = "4")]
        share: f64,
        #[prost(string, tag = "5")]
        account_id: String,
    }

    fn framed(message: &impl Message) -> Vec<u8> {
        let bytes = message.encode_to_vec();
        let mut frame = vec![0];
        frame.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        frame.extend_from_slice(&bytes);
        frame
    }

    #[test]
    fn finds_top_level_and_nested_account_ids_past_other_fields() {
        let outer = Outer {
            amount: -5,
            event: Some(Inner {
                event_id: "e-1".to_owned(),
                account_id: "nested-account".to_owned(),
            }),
            share: 0.5,
            account_id: "top-account".to_owned(),
        };
        let frame = framed(&outer);
        let message = first_message(&frame);
        assert_eq!(
            message.and_then(|m| string_at(m, &[5])).as_deref(),
            Some("top-account")
        );
        assert_eq!(
            message.and_then(|m| string_at(m, &[1, 2])).as_deref(),
            Some("nested-account")
        );
        assert_eq!(message.and_then(|m| string_at(m, &[7])), None);
    }

    #[test]
    fn garbage_and_compressed_frames_give_no_account_and_no_panic() {
        assert_eq!(first_message(&[]), None);
        assert_eq!(first_message(&[1, 0, 0, 0, 1, 0]), None);
        assert_eq!(first_message(&[0, 0, 0, 0, 9, 1]), None);
        for garbage in [
            &[0x0a, 0xff][..],
            &[0x0a, 0x05, 0x01],
            &[
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
            &[0x0b],
            &[0x09, 1, 2],
        ] {
            assert_eq!(string_at(garbage, &[1]), None, "{garbage:?}");
        }
    }
}
