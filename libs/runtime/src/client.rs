//! Outgoing gRPC: channels with deadlines, W3C trace context on every call, and retries
//! for idempotent unary calls only (a retried write could apply twice).

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

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

/// `grpc.client_connections` HTTP/2 connections to one service, taken in turn per call.
/// One connection serialises its frames through one socket and one task on each side,
/// which caps a busy caller (the gateway fans every request out to four services)
/// well below what the backend can serve.
#[derive(Clone)]
pub struct ChannelPool {
    channels: Arc<[Channel]>,
    next: Arc<AtomicUsize>,
}

impl ChannelPool {
    pub fn connect_lazy(url: &str, grpc: &GrpcConfig) -> Result<Self, tonic::transport::Error> {
        let channels = (0..grpc.client_connections.max(1))
            .map(|_| channel(url, grpc))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ChannelPool {
            channels: channels.into(),
            next: Arc::new(AtomicUsize::new(0)),
        })
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for ChannelPool {
    type Response = http::Response<tonic::body::Body>;
    type Error = tonic::transport::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    // Readiness is awaited per call on the channel the call goes to.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.channels.len();
        let mut channel = self.channels[turn].clone();
        Box::pin(async move {
            tower::ServiceExt::ready(&mut channel).await?;
            tower::Service::call(&mut channel, request).await
        })
    }
}

/// A request for another service carrying `message` and the deadline the incoming call
/// had, so the backend stops when the caller would no longer wait.
pub fn outgoing<T>(message: T, timeout: Option<Duration>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(timeout) = timeout {
        request.set_timeout(timeout);
    }
    request
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

/// The stream type of every server-streaming RPC, local or remote, so that
/// `Arc<dyn Service<…Stream = BoxStream<…>>>` names either.
pub type BoxStream<T> =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Largest response a service client accepts (batch reads of many records).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

#[doc(hidden)]
pub mod __private {
    pub use tokio_stream::StreamExt;
}

/// Declares `$remote`, a gRPC client of another service that implements that service's
/// generated server trait, so callers hold `Arc<dyn Trait>` whether the service runs in
/// this process or behind the network, and one code path serves both deployment modes.
/// Every call carries the caller's trace context and the configured deadline; unary calls
/// for which `$safe(&request)` holds (reads, writes with an idempotency key) are retried
/// on UNAVAILABLE. Server streams are passed through; a client stream is forwarded item
/// by item and ends where the inbound one breaks (its caller sees its own error).
#[macro_export]
macro_rules! remote_service {
    (
        $(#[$meta:meta])*
        $remote:ident: $client:ident => $service:ident {
            unary { $($method:ident($request:ty) -> $response:ty, $safe:expr;)* }
            server_streaming { $($smethod:ident($srequest:ty) -> $sresponse:ty as $stream:ident;)* }
            client_streaming { $($cmethod:ident($crequest:ty) -> $cresponse:ty;)* }
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone)]
        pub struct $remote {
            client: $client<
                ::tonic::service::interceptor::InterceptedService<
                    $crate::client::ChannelPool,
                    $crate::client::TraceContextInterceptor,
                >,
            >,
            retries: u32,
        }

        impl $remote {
            pub fn connect(
                url: &str,
                grpc: &$crate::config::GrpcConfig,
            ) -> Result<Self, ::tonic::transport::Error> {
                let client = $client::with_interceptor(
                    $crate::client::ChannelPool::connect_lazy(url, grpc)?,
                    $crate::client::TraceContextInterceptor,
                )
                .max_decoding_message_size($crate::client::MAX_RESPONSE_BYTES);
                Ok($remote { client, retries: grpc.client_retries })
            }

            pub fn into_api(
                self,
            ) -> ::std::sync::Arc<dyn $service<$($stream = $crate::client::BoxStream<$sresponse>),*>> {
                ::std::sync::Arc::new(self)
            }
        }

        #[::tonic::async_trait]
        impl $service for $remote {
            $(
                async fn $method(
                    &self,
                    request: ::tonic::Request<$request>,
                ) -> Result<::tonic::Response<$response>, ::tonic::Status> {
                    let timeout = $crate::server::caller_timeout(request.metadata());
                    let message = request.into_inner();
                    let safe: fn(&$request) -> bool = $safe;
                    let retries = if safe(&message) { self.retries } else { 0 };
                    $crate::client::retry_idempotent(retries, || {
                        let mut client = self.client.clone();
                        let request = $crate::client::outgoing(message.clone(), timeout);
                        async move { client.$method(request).await }
                    })
                    .await
                }
            )*
            $(
                type $stream = $crate::client::BoxStream<$sresponse>;

                async fn $smethod(
                    &self,
                    request: ::tonic::Request<$srequest>,
                ) -> Result<::tonic::Response<Self::$stream>, ::tonic::Status> {
                    let timeout = $crate::server::caller_timeout(request.metadata());
                    let request = $crate::client::outgoing(request.into_inner(), timeout);
                    let response = self.client.clone().$smethod(request).await?;
                    let stream: Self::$stream = Box::pin(response.into_inner());
                    Ok(::tonic::Response::new(stream))
                }
            )*
            $(
                async fn $cmethod(
                    &self,
                    request: ::tonic::Request<::tonic::Streaming<$crequest>>,
                ) -> Result<::tonic::Response<$cresponse>, ::tonic::Status> {
                    let inbound = $crate::client::__private::StreamExt::map_while(
                        request.into_inner(),
                        Result::ok,
                    );
                    self.client.clone().$cmethod(inbound).await
                }
            )*
        }
    };
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
