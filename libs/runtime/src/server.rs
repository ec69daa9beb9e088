//! The one tonic server of a process: the enabled services plus gRPC health and
//! reflection for exactly those, behind a tower stack that bounds time, concurrency and
//! request size, and a graceful shutdown.

use std::{
    convert::Infallible,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use opentelemetry::{KeyValue, propagation::Extractor};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{body::Body, server::NamedService, service::RoutesBuilder, transport::Server};
use tonic_health::ServingStatus;
use tower::{Layer, Service, ServiceBuilder};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{
    config::GrpcConfig, guard::GuardLayer, shutdown::ShutdownSignal, telemetry::request_metrics,
};

/// The gRPC services one server carries; health and reflection are added for these only.
#[derive(Default)]
pub struct GrpcServices {
    routes: RoutesBuilder,
    names: Vec<&'static str>,
}

impl GrpcServices {
    pub fn new() -> Self {
        GrpcServices::default()
    }

    pub fn add<S>(&mut self, service: S) -> &mut Self
    where
        S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.names.push(S::NAME);
        self.routes.add_service(service);
        self
    }

    pub fn names(&self) -> &[&'static str] {
        &self.names
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// What stands between the network and the services beyond the stack every server has.
#[derive(Default)]
pub struct Protection {
    /// The token check (none: every caller may do everything).
    pub guard: Option<GuardLayer>,
    /// TLS (and mTLS with a client CA) for the listener; none: plaintext.
    pub tls: Option<tonic::transport::ServerTlsConfig>,
    /// Serve gRPC reflection (v1 and v1alpha) for the enabled services.
    pub reflection: bool,
    /// Health follows these stores (none: SERVING until shutdown).
    pub readiness: Option<crate::readiness::Readiness>,
}

/// Longest header list a request may carry: room for a 64 KiB junk `authorization`
/// header to reach the token check and be answered UNAUTHENTICATED, instead of breaking
/// the connection.
const MAX_HEADER_LIST_BYTES: u32 = 128 * 1024;

/// [`serve_protected`] with reflection and no token check or TLS (tests, benchmarks).
pub async fn serve(
    listener: TcpListener,
    grpc: &GrpcConfig,
    services: GrpcServices,
    shutdown: ShutdownSignal,
) -> Result<(), ServeError> {
    let protection = Protection {
        reflection: true,
        ..Protection::default()
    };
    serve_protected(listener, grpc, services, protection, shutdown).await
}

/// Serves `services` on `listener` until `shutdown` fires, then: health NOT_SERVING, stop
/// accepting, let in-flight requests finish within the grace period, return. Requests
/// still running after the grace period are abandoned: the caller is expected to exit,
/// which ends their connections.
pub async fn serve_protected(
    listener: TcpListener,
    grpc: &GrpcConfig,
    services: GrpcServices,
    protection: Protection,
    shutdown: ShutdownSignal,
) -> Result<(), ServeError> {
    let GrpcServices { mut routes, names } = services;
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    for name in &names {
        health_reporter
            .set_service_status(*name, ServingStatus::Serving)
            .await;
    }
    health_reporter
        .set_service_status("", ServingStatus::Serving)
        .await;

    routes.add_service(health_service);
    if protection.reflection {
        // Both versions: grpcurl and grpcio-reflection still speak v1alpha.
        let reflection = || {
            let mut builder = tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(nordstern_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .with_service_name("grpc.health.v1.Health");
            for name in &names {
                builder = builder.with_service_name(*name);
            }
            builder
        };
        routes
            .add_service(reflection().build_v1()?)
            .add_service(reflection().build_v1alpha()?);
    }

    let stack = ServiceBuilder::new()
        // Outermost, so a request's whole time in the server counts against its deadline.
        .layer(DeadlineLayer {
            limits: RequestLimits::of(grpc),
        })
        // Before the concurrency limit, so refused callers take no slot from admitted ones.
        .option_layer(protection.guard)
        // Shed instead of queueing: a caller told RESOURCE_EXHAUSTED can back off or go to
        // another replica, a queued one just times out later.
        .layer(crate::shedding::ShedLayer::new(
            grpc.concurrency_limit,
            grpc.shed_pushback(),
        ))
        // Bounds work in flight across all connections, not per connection.
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            grpc.concurrency_limit,
        ))
        // Admitted work on threads of its own, so shedding never waits behind it.
        .layer(crate::lanes::WorkLaneLayer)
        // Request counts and durations per method, for the OTLP metrics pipeline.
        .layer(MetricsLayer)
        // A body that is not protobuf is the caller's mistake: INVALID_ARGUMENT.
        .layer(crate::decode_errors::DecodeErrorLayer)
        .into_inner();

    if let Some(readiness) = protection.readiness {
        tokio::spawn(readiness.watch(health_reporter.clone(), names.clone(), shutdown.clone()));
    }

    let drain_signal = {
        let shutdown = shutdown.clone();
        let health_reporter = health_reporter.clone();
        let names = names.clone();
        async move {
            shutdown.wait().await;
            // Load balancers see NOT_SERVING first and stop sending new work.
            for name in &names {
                health_reporter
                    .set_service_status(*name, ServingStatus::NotServing)
                    .await;
            }
            health_reporter
                .set_service_status("", ServingStatus::NotServing)
                .await;
        }
    };

    let mut builder = Server::builder();
    if let Some(tls) = protection.tls {
        builder = builder.tls_config(tls)?;
    }
    let server = builder
        .tcp_nodelay(true)
        .http2_max_header_list_size(MAX_HEADER_LIST_BYTES)
        .trace_fn(request_span)
        .layer(stack)
        .add_routes(routes.routes())
        .serve_with_incoming_shutdown(accepted_without_nagle(listener), drain_signal);

    let grace = grpc.shutdown_grace();
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => return result.map_err(ServeError::from),
        () = shutdown.clone().wait() => {}
    }
    match tokio::time::timeout(grace, server).await {
        Ok(result) => result.map_err(ServeError::from),
        Err(_) => {
            tracing::warn!(
                grace_ms = grace.as_millis() as u64,
                "requests still running after the grace period are abandoned"
            );
            Ok(())
        }
    }
}

/// Binds a listener; `127.0.0.1:0` gives an ephemeral port (tests, benchmarks).
pub async fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// One span per request, joined to the caller's trace when it sent `traceparent`.
fn request_span(request: &http::Request<()>) -> tracing::Span {
    let span = tracing::info_span!(
        "grpc.request",
        otel.kind = "server",
        rpc.method = %request.uri().path(),
        // Set when the handler was dropped before it answered: the caller went away
        // (reset the stream) or the deadline cut it off.
        rpc.cancelled = tracing::field::Empty,
    );
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(request.headers()))
    });
    // Fails only when no OpenTelemetry layer is installed, where there is nothing to join.
    let _ = span.set_parent(parent);
    span
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Accepted connections with Nagle's algorithm off. `Server::tcp_nodelay` only applies to
/// listeners tonic binds itself; without this, a response written in several segments
/// waits for the client's delayed ACK (about 40 ms on Linux).
fn accepted_without_nagle(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt;
    TcpListenerStream::new(listener).map(|accepted| {
        let stream = accepted?;
        stream.set_nodelay(true)?;
        Ok(stream)
    })
}

/// Calls that are batch jobs over the whole company, bounded by
/// `grpc.long_request_timeout_ms` instead of `grpc.request_timeout_ms`: training reads
/// every account's history once per slice of outcomes, and at 100,000 accounts that takes
/// longer than any interactive call should.
pub const LONG_RUNNING_METHODS: &[&str] =
    &["/nordstern.scoring.v1.ScoringService/TrainChurnModelFromHistory"];

/// How long the server gives a call, by method.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    pub limit: Duration,
    /// For [`LONG_RUNNING_METHODS`].
    pub long_limit: Duration,
}

impl RequestLimits {
    pub fn of(grpc: &crate::config::GrpcConfig) -> Self {
        RequestLimits {
            limit: grpc.request_timeout(),
            long_limit: grpc.long_request_timeout(),
        }
    }

    /// The limit of the method at `path` (`/package.Service/Method`).
    pub fn for_method(&self, path: &str) -> Duration {
        if LONG_RUNNING_METHODS.contains(&path) {
            self.long_limit
        } else {
            self.limit
        }
    }

    /// The caller's own deadline when it is shorter than the method's limit.
    fn deadline(&self, path: &str, asked: Option<Duration>) -> Duration {
        let limit = self.for_method(path);
        asked.map_or(limit, |asked| asked.min(limit))
    }
}

/// Cuts a request off at the configured timeout or the caller's `grpc-timeout`,
/// whichever is shorter, with DEADLINE_EXCEEDED as the gRPC spec asks (tonic's own server
/// timeout answers CANCELLED, which callers cannot tell from a client-side cancel).
#[derive(Clone, Copy)]
struct DeadlineLayer {
    limits: RequestLimits,
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = DeadlineService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DeadlineService {
            inner,
            limits: self.limits,
        }
    }
}

#[derive(Clone)]
struct DeadlineService<S> {
    inner: S,
    limits: RequestLimits,
}

impl<S, B> Service<http::Request<B>> for DeadlineService<S>
where
    S: Service<http::Request<B>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, S::Error>> + Send>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let asked = request
            .headers()
            .get("grpc-timeout")
            .and_then(|value| value.to_str().ok())
            .and_then(parse_grpc_timeout);
        let deadline = self.limits.deadline(request.uri().path(), asked);
        let arrived = tokio::time::Instant::now();
        request.extensions_mut().insert(Arrival {
            at: arrived,
            deadline: arrived + deadline,
        });
        let future = self.inner.call(request);
        Box::pin(async move {
            match tokio::time::timeout(deadline, future).await {
                Ok(result) => result,
                Err(_) => Ok(tonic::Status::deadline_exceeded(format!(
                    "no answer within the deadline of {} ms",
                    deadline.as_millis()
                ))
                .into_http()),
            }
        })
    }
}

/// When a request reached the server and when its answer is due (the caller's
/// `grpc-timeout` or the configured limit, from arrival): time spent queued before the
/// handler runs counts against the deadline too.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    pub at: tokio::time::Instant,
    pub deadline: tokio::time::Instant,
}

/// How long the caller is prepared to wait, from its `grpc-timeout` header; `None` when it
/// sent none (or an unparsable one).
pub fn caller_timeout(metadata: &tonic::metadata::MetadataMap) -> Option<Duration> {
    metadata
        .get("grpc-timeout")
        .and_then(|value| value.to_str().ok())
        .and_then(parse_grpc_timeout)
}

/// The `grpc-timeout` header: at most 8 digits and a unit (H, M, S, m, u, n).
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[derive(Clone, Copy)]
struct MetricsLayer;

impl<S> Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService { inner }
    }
}

#[derive(Clone)]
struct MetricsService<S> {
    inner: S,
}

impl<S, B> Service<http::Request<B>> for MetricsService<S>
where
    S: Service<http::Request<B>>,
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
        let method = request.uri().path().to_owned();
        let started = Instant::now();
        let future = self.inner.call(request);
        Box::pin(async move {
            // Taken at the first poll: tonic enters the request span around polls, not
            // around `call`.
            let mark = CancellationMark {
                span: tracing::Span::current(),
                finished: false,
            };
            let result = future.await;
            mark.finish();
            let metrics = request_metrics();
            let attributes = [KeyValue::new("rpc.method", method)];
            metrics.requests.add(1, &attributes);
            metrics
                .duration_seconds
                .record(started.elapsed().as_secs_f64(), &attributes);
            result
        })
    }
}

/// Marks the request span as cancelled when the handler's future is dropped before it
/// completed, so a trace shows which backends gave up work for a caller that left.
struct CancellationMark {
    span: tracing::Span,
    finished: bool,
}

impl CancellationMark {
    fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for CancellationMark {
    fn drop(&mut self) {
        if !self.finished {
            self.span.record("rpc.cancelled", true);
            tracing::debug!(parent: &self.span, "request cancelled before it finished");
        }
    }
}

/// Polls `grpc.health.v1` on `url` until `service` reports SERVING or `timeout` passes;
/// what tests and scripts use instead of sleeping.
pub async fn wait_until_serving(url: &str, service: &str, timeout: Duration) -> Result<(), String> {
    wait_until_serving_tls(url, service, timeout, None).await
}

/// [`wait_until_serving`] over TLS for an `https://` URL.
pub async fn wait_until_serving_tls(
    url: &str,
    service: &str,
    timeout: Duration,
    tls: Option<&tonic::transport::ClientTlsConfig>,
) -> Result<(), String> {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let deadline = Instant::now() + timeout;
    let mut endpoint =
        tonic::transport::Endpoint::from_shared(url.to_owned()).map_err(|e| e.to_string())?;
    if let Some(tls) = tls
        && url.starts_with("https://")
    {
        endpoint = endpoint
            .tls_config(tls.clone())
            .map_err(|e| e.to_string())?;
    }
    loop {
        if let Ok(channel) = endpoint.connect().await {
            let mut client = HealthClient::new(channel);
            let request = HealthCheckRequest {
                service: service.to_owned(),
            };
            if let Ok(response) = client.check(request).await
                && response.into_inner().status == ServingStatus::Serving as i32
            {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{url} did not report {service:?} SERVING within {timeout:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_jobs_get_the_long_limit_and_a_shorter_caller_deadline_still_wins() {
        let limits = RequestLimits {
            limit: Duration::from_secs(30),
            long_limit: Duration::from_secs(600),
        };
        let training = "/nordstern.scoring.v1.ScoringService/TrainChurnModelFromHistory";
        let read = "/nordstern.scoring.v1.ScoringService/GetHealthScore";
        assert_eq!(limits.deadline(training, None), limits.long_limit);
        assert_eq!(limits.deadline(read, None), limits.limit);
        let asked = Some(Duration::from_secs(120));
        assert_eq!(limits.deadline(training, asked), Duration::from_secs(120));
        assert_eq!(limits.deadline(read, asked), limits.limit);
        let short = Some(Duration::from_millis(5));
        assert_eq!(limits.deadline(training, short), Duration::from_millis(5));
    }

    #[test]
    fn grpc_timeout_headers_parse_by_unit_and_refuse_malformed_ones() {
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("150m"), Some(Duration::from_millis(150)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_grpc_timeout("99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        for bad in ["", "S", "100", "123456789m", "1x", "-1S", "1.5S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }
}
