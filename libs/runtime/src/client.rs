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

use crate::config::{Config, GrpcConfig};

/// What our outgoing calls present: TLS trust and a client certificate for `https://`
/// URLs, and a bearer credential (the service credential between our own processes, a
/// user's token in the command line).
#[derive(Clone, Default)]
pub struct ClientSecurity {
    pub tls: Option<tonic::transport::ClientTlsConfig>,
    pub bearer: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl ClientSecurity {
    /// What the processes of one installation present to each other.
    pub fn for_services(config: &Config) -> Result<Self, String> {
        let bearer = match (&config.auth.service_credential, config.auth.enabled) {
            (Some(credential), true) => Some(bearer_value(credential)?),
            _ => None,
        };
        Ok(ClientSecurity {
            tls: crate::tls::grpc_client(&config.tls)?,
            bearer,
        })
    }

    /// A client presenting `token` (the command line, tests).
    pub fn with_token(mut self, token: &str) -> Result<Self, String> {
        self.bearer = Some(bearer_value(token)?);
        Ok(self)
    }
}

fn bearer_value(secret: &str) -> Result<MetadataValue<tonic::metadata::Ascii>, String> {
    let mut value = MetadataValue::try_from(format!("Bearer {secret}"))
        .map_err(|_| "a token must be printable ASCII".to_owned())?;
    value.set_sensitive(true);
    Ok(value)
}

/// A lazily connecting channel to `url`; every call gets the configured deadline unless the
/// caller set a shorter one.
pub fn channel(
    url: &str,
    grpc: &GrpcConfig,
    tls: Option<&tonic::transport::ClientTlsConfig>,
) -> Result<Channel, tonic::transport::Error> {
    Ok(endpoint(url, grpc, tls)?.connect_lazy())
}

fn endpoint(
    url: &str,
    grpc: &GrpcConfig,
    tls: Option<&tonic::transport::ClientTlsConfig>,
) -> Result<Endpoint, tonic::transport::Error> {
    let mut endpoint = Endpoint::from_shared(url.to_owned())?
        .connect_timeout(Duration::from_secs(5))
        .timeout(grpc.client_timeout())
        .tcp_nodelay(true)
        .http2_adaptive_window(true);
    if let Some(tls) = tls
        && url.starts_with("https://")
    {
        endpoint = endpoint.tls_config(tls.clone())?;
    }
    Ok(endpoint)
}

/// A channel for one caller: `url` with the caller's TLS settings, every call carrying its
/// bearer credential and trace context.
pub type SecureChannel = tonic::service::interceptor::InterceptedService<Channel, Outgoing>;

/// Connects at once, so an unreachable server or a failed TLS handshake is reported here.
pub async fn secure_channel(
    url: &str,
    grpc: &GrpcConfig,
    security: &ClientSecurity,
) -> Result<SecureChannel, tonic::transport::Error> {
    let channel = endpoint(url, grpc, security.tls.as_ref())?
        .connect()
        .await?;
    Ok(tonic::service::interceptor::InterceptedService::new(
        channel,
        Outgoing::new(security),
    ))
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
    pub fn connect_lazy(
        url: &str,
        grpc: &GrpcConfig,
        tls: Option<&tonic::transport::ClientTlsConfig>,
    ) -> Result<Self, tonic::transport::Error> {
        let channels = (0..grpc.client_connections.max(1))
            .map(|_| channel(url, grpc, tls))
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

/// Metadata naming the caller a service acts for (its token's id and name), trusted only
/// next to the service credential.
pub const CALLER_ID_HEADER: &str = "x-nordstern-caller-id";
pub const CALLER_NAME_HEADER: &str = "x-nordstern-caller-name";

/// What every outgoing call carries: the current span's trace context (`traceparent`), so
/// the server's spans join the caller's trace; the bearer credential; and the caller this
/// task serves, so the audit trail names who asked, not only which service.
#[derive(Clone, Default)]
pub struct Outgoing {
    bearer: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl Outgoing {
    pub fn new(security: &ClientSecurity) -> Self {
        Outgoing {
            bearer: security.bearer.clone(),
        }
    }
}

impl Interceptor for Outgoing {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let metadata = request.metadata_mut();
        inject_trace_context(metadata);
        if let Some(bearer) = &self.bearer {
            metadata.insert("authorization", bearer.clone());
            if let Some(caller) = crate::guard::current_caller() {
                for (header, value) in [
                    (CALLER_ID_HEADER, &caller.token_id),
                    (CALLER_NAME_HEADER, &caller.token_name),
                ] {
                    if let Ok(value) = MetadataValue::try_from(value.as_ref()) {
                        metadata.insert(header, value);
                    }
                }
            }
        }
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

/// Whether the server never took the call: it is UNAVAILABLE, or the server's graceful
/// GOAWAY (NO_ERROR) named a last stream before this one. tonic reports the latter as
/// INTERNAL ("h2 protocol error"), while HTTP/2 guarantees such a stream was not
/// processed, so it is as safe to send again as UNAVAILABLE.
pub fn not_taken(status: &Status) -> bool {
    status.code() == Code::Unavailable
        || (status.code() == Code::Internal
            && std::iter::successors(std::error::Error::source(status), |error| error.source())
                .filter_map(|error| error.downcast_ref::<h2::Error>())
                .any(|error| {
                    error.is_go_away()
                        && error.is_remote()
                        && error.reason() == Some(h2::Reason::NO_ERROR)
                }))
}

/// Runs an idempotent call, retrying with exponential backoff while the server did not
/// take it ([`not_taken`]: restarting, not yet listening, connection reset, closing).
pub async fn retry_idempotent<T, F, Fut>(retries: u32, call: F) -> Result<T, Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    retry_while(retries, call, |status, attempt| {
        not_taken(status).then(|| backoff(attempt))
    })
    .await
}

/// How long a RESOURCE_EXHAUSTED refusal (a token's rate limit, the server's in-flight
/// limit) asks the caller to wait, from its `google.rpc.RetryInfo`.
pub fn retry_delay(status: &Status) -> Option<Duration> {
    use tonic_types::StatusExt;
    if status.code() != Code::ResourceExhausted {
        return None;
    }
    status
        .get_details_retry_info()
        .and_then(|info| info.retry_delay)
}

/// Runs a call that is safe to send again (idempotent, or refused before the server took
/// it) the way a bulk loader should: a refusal that names a delay ([`retry_delay`]) is
/// sent again after that delay, and a call the server did not take ([`not_taken`]) after
/// a short backoff, up to `retries` times. Not for calls inside a service, where waiting
/// would hold the caller's own request.
pub async fn retry_patiently<T, F, Fut>(retries: u32, call: F) -> Result<T, Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    retry_while(retries, call, |status, attempt| match retry_delay(status) {
        Some(delay) => Some(delay.max(Duration::from_millis(1))),
        None => not_taken(status).then(|| backoff(attempt)),
    })
    .await
}

/// 50 ms, doubling with each attempt up to 3.2 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(50 << attempt.min(6))
}

/// Sends `call` again after the wait `wait(status, attempt)` names, while it names one
/// and fewer than `retries` attempts were repeated.
async fn retry_while<T, F, Fut>(
    retries: u32,
    mut call: F,
    wait: impl Fn(&Status, u32) -> Option<Duration>,
) -> Result<T, Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Err(status) if attempt < retries => match wait(&status, attempt) {
                Some(pause) => {
                    attempt += 1;
                    tokio::time::sleep(pause).await;
                }
                None => return Err(status),
            },
            result => return result,
        }
    }
}

/// One in-process call with what a call over the network gets: the caller's deadline
/// (capped by `grpc.client_timeout_ms`), answered DEADLINE_EXCEEDED when it passes, and
/// the request metrics, marked in-process.
pub async fn local_call<T>(
    method: &'static str,
    limit: Duration,
    caller_timeout: Option<Duration>,
    call: impl Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    use opentelemetry::KeyValue;
    let deadline = caller_timeout.map_or(limit, |asked| asked.min(limit));
    let started = std::time::Instant::now();
    let result = match tokio::time::timeout(deadline, call).await {
        Ok(result) => result,
        Err(_) => Err(Status::deadline_exceeded(format!(
            "no answer within the deadline of {} ms",
            deadline.as_millis()
        ))),
    };
    let metrics = crate::telemetry::request_metrics();
    let attributes = [
        KeyValue::new("rpc.method", method),
        KeyValue::new("rpc.transport", "in_process"),
    ];
    metrics.requests.add(1, &attributes);
    metrics
        .duration_seconds
        .record(started.elapsed().as_secs_f64(), &attributes);
    result
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
        $remote:ident, $local:ident: $client:ident => $service:ident {
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
                    $crate::client::Outgoing,
                >,
            >,
            retries: u32,
        }

        impl $remote {
            pub fn connect(
                url: &str,
                grpc: &$crate::config::GrpcConfig,
                security: &$crate::client::ClientSecurity,
            ) -> Result<Self, ::tonic::transport::Error> {
                let client = $client::with_interceptor(
                    $crate::client::ChannelPool::connect_lazy(url, grpc, security.tls.as_ref())?,
                    $crate::client::Outgoing::new(security),
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

        /// The service in this process, behind the same deadline and metrics as a call
        /// over the network, so the embedded mode keeps the promises of the split one.
        #[derive(Clone)]
        pub struct $local {
            inner: ::std::sync::Arc<dyn $service<$($stream = $crate::client::BoxStream<$sresponse>),*>>,
            limit: ::std::time::Duration,
        }

        impl $local {
            pub fn new(
                inner: ::std::sync::Arc<dyn $service<$($stream = $crate::client::BoxStream<$sresponse>),*>>,
                grpc: &$crate::config::GrpcConfig,
            ) -> Self {
                $local { inner, limit: grpc.client_timeout() }
            }

            pub fn into_api(
                self,
            ) -> ::std::sync::Arc<dyn $service<$($stream = $crate::client::BoxStream<$sresponse>),*>> {
                ::std::sync::Arc::new(self)
            }
        }

        #[::tonic::async_trait]
        impl $service for $local {
            $(
                async fn $method(
                    &self,
                    request: ::tonic::Request<$request>,
                ) -> Result<::tonic::Response<$response>, ::tonic::Status> {
                    let timeout = $crate::server::caller_timeout(request.metadata());
                    $crate::client::local_call(
                        concat!(stringify!($service), "/", stringify!($method)),
                        self.limit,
                        timeout,
                        self.inner.$method(request),
                    )
                    .await
                }
            )*
            $(
                type $stream = $crate::client::BoxStream<$sresponse>;

                async fn $smethod(
                    &self,
                    request: ::tonic::Request<$srequest>,
                ) -> Result<::tonic::Response<Self::$stream>, ::tonic::Status> {
                    self.inner.$smethod(request).await
                }
            )*
            $(
                async fn $cmethod(
                    &self,
                    request: ::tonic::Request<::tonic::Streaming<$crequest>>,
                ) -> Result<::tonic::Response<$cresponse>, ::tonic::Status> {
                    self.inner.$cmethod(request).await
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
