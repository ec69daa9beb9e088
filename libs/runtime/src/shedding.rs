//! Sheds requests beyond `grpc.concurrency_limit` at once, with RESOURCE_EXHAUSTED that
//! says when to come back: the `grpc-retry-pushback-ms` trailer of gRPC's retry design
//! and a `google.rpc.RetryInfo` detail. A caller that retries at once turns one excess
//! request into a stream of refusals, and refusing costs the server the same transport
//! work as answering; a caller told when to return leaves the CPU to admitted work.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use tonic::{Status, body::Body};
use tonic_types::{ErrorDetails, StatusExt};
use tower::{BoxError, Layer, Service};

/// The metadata key of gRPC's server pushback (gRFC A6).
pub const PUSHBACK_KEY: &str = "grpc-retry-pushback-ms";

/// The pushback a refused caller was given, if any.
pub fn pushback(status: &Status) -> Option<Duration> {
    let millis = status.metadata().get(PUSHBACK_KEY)?.to_str().ok()?;
    millis.parse().ok().map(Duration::from_millis)
}

#[derive(Clone)]
pub struct ShedLayer {
    refusal: Arc<Status>,
}

impl ShedLayer {
    /// Refuses with a message naming `limit`, telling callers to wait `pushback`.
    pub fn new(limit: usize, pushback: Duration) -> Self {
        let millis = pushback.as_millis();
        let mut details = ErrorDetails::new();
        details.set_retry_info(Some(pushback));
        let mut status = Status::with_error_details(
            tonic::Code::ResourceExhausted,
            format!(
                "the server is at its limit of {limit} requests in flight; retry after {millis} ms"
            ),
            details,
        );
        if let Ok(value) = millis.to_string().parse() {
            status.metadata_mut().insert(PUSHBACK_KEY, value);
        }
        ShedLayer {
            refusal: Arc::new(status),
        }
    }
}

impl<S> Layer<S> for ShedLayer {
    type Service = Shed<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Shed {
            inner,
            refusal: self.refusal.clone(),
            overloaded: false,
        }
    }
}

#[derive(Clone)]
pub struct Shed<S> {
    inner: S,
    refusal: Arc<Status>,
    overloaded: bool,
}

type Answer = Result<http::Response<Body>, BoxError>;

impl<S, B> Service<http::Request<B>> for Shed<S>
where
    S: Service<http::Request<B>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Answer> + Send>>;

    /// Always ready: when the inner service is not, the next request is refused instead of
    /// waiting for a slot.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        match self.inner.poll_ready(cx) {
            Poll::Ready(ready) => {
                self.overloaded = false;
                Poll::Ready(ready.map_err(Into::into))
            }
            Poll::Pending => {
                self.overloaded = true;
                Poll::Ready(Ok(()))
            }
        }
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if self.overloaded {
            let refusal = (*self.refusal).clone();
            return Box::pin(async move { Ok(refusal.into_http()) });
        }
        let answer = self.inner.call(request);
        Box::pin(async move { answer.await.map_err(Into::into) })
    }
}
