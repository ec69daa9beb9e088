//! Outgoing gRPC: channels with deadlines, W3C trace context on every call, and retries
//! for idempotent unary calls only (a retried write could apply twice).

use std::{future::Future, time::Duration};

use opentelemetry::propagation::Injector;
use tonic::{
    Code, Request, Status,
    metadata::{MetadataKey, MetadataMap, MetadataValue},
    service::Interceptor,
    transport::{Channel, Endpoint},
};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::GrpcConfig;

/// A lazily connecting channel to `url`; every call gets the configured deadline unless the
/// caller set a shorter one.
pub fn channel(url: &str, grpc: &GrpcConfig) -> Result<Channel, tonic::transport::Error> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .connect_timeout(Duration::from_secs(5))
        .timeout(grpc.client_timeout())
        .tcp_nodelay(true)
        .http2_adaptive_window(true)
        .connect_lazy())
}

/// Puts the current span's trace context into the request metadata (`traceparent`), so the
/// server's spans join the caller's trace.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceContextInterceptor;

impl Interceptor for TraceContextInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        inject_trace_context(request.metadata_mut());
        Ok(request)
    }
}

pub fn inject_trace_context(metadata: &mut MetadataMap) {
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut MetadataInjector(metadata));
    });
}

struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value),
        ) {
            self.0.insert(key, value);
        }
    }
}

/// Runs an idempotent call, retrying with exponential backoff while the server is
/// UNAVAILABLE (restarting, not yet listening, connection reset).
pub async fn retry_idempotent<T, F, Fut>(retries: u32, mut call: F) -> Result<T, Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Err(status) if status.code() == Code::Unavailable && attempt < retries => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn retries_only_unavailable_and_only_as_often_as_allowed() {
        let calls = AtomicU32::new(0);
        let result: Result<(), Status> = retry_idempotent(2, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Status::unavailable("down"))
        })
        .await;
        assert_eq!(result.map_err(|s| s.code()), Err(Code::Unavailable));
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let calls = AtomicU32::new(0);
        let result: Result<(), Status> = retry_idempotent(2, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Status::invalid_argument("bad"))
        })
        .await;
        assert_eq!(result.map_err(|s| s.code()), Err(Code::InvalidArgument));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
