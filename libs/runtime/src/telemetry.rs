//! Logs, traces and metrics. A tracer provider is always installed so every request has a
//! real trace id that crosses service hops (W3C `traceparent`); spans and metrics leave
//! the process only when an OTLP endpoint is configured.

use std::sync::OnceLock;

use opentelemetry::{global, propagation::TextMapCompositePropagator, trace::TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{
    Resource,
    metrics::SdkMeterProvider,
    propagation::{BaggagePropagator, TraceContextPropagator},
    trace::{SdkTracerProvider, TracerProviderBuilder},
};
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::TelemetryConfig;

/// Flushes and stops the exporters when the process shuts down; telemetry goes last so
/// the shutdown itself is still traced.
pub struct TelemetryGuard {
    tracer_provider: SdkTracerProvider,
    meter_provider: Option<SdkMeterProvider>,
}

impl TelemetryGuard {
    pub fn shutdown(self) {
        if let Err(error) = self.tracer_provider.shutdown() {
            eprintln!("trace exporter shutdown failed: {error}");
        }
        if let Some(meter_provider) = self.meter_provider
            && let Err(error) = meter_provider.shutdown()
        {
            eprintln!("metric exporter shutdown failed: {error}");
        }
    }

    pub fn tracer_provider(&self) -> &SdkTracerProvider {
        &self.tracer_provider
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("building the OTLP exporter failed: {0}")]
    Exporter(String),
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled,
    #[error("invalid log filter: {0}")]
    Filter(String),
}

/// Installs the global subscriber: human or JSON logs to stderr, the OpenTelemetry layer,
/// and OTLP export when configured. Must run inside a tokio runtime when exporting.
pub fn init(
    config: &TelemetryConfig,
    service_name: &str,
) -> Result<TelemetryGuard, TelemetryError> {
    init_with(config, service_name, |builder| builder, true)
}

/// Like [`init`], letting the caller add to the tracer provider (tests add an in-memory
/// exporter) and choose whether logs are printed at all.
pub fn init_with(
    config: &TelemetryConfig,
    service_name: &str,
    customize_tracer: impl FnOnce(TracerProviderBuilder) -> TracerProviderBuilder,
    print_logs: bool,
) -> Result<TelemetryGuard, TelemetryError> {
    let resource = Resource::builder()
        .with_service_name(service_name.to_owned())
        .build();
    let mut tracer_builder = SdkTracerProvider::builder().with_resource(resource.clone());
    let mut meter_provider = None;
    if let Some(endpoint) = &config.otlp_endpoint {
        let span_exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
            .map_err(|error| TelemetryError::Exporter(error.to_string()))?;
        tracer_builder = tracer_builder.with_batch_exporter(span_exporter);
        let metric_exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
            .map_err(|error| TelemetryError::Exporter(error.to_string()))?;
        let provider = SdkMeterProvider::builder()
            .with_resource(resource)
            .with_periodic_exporter(metric_exporter)
            .build();
        global::set_meter_provider(provider.clone());
        meter_provider = Some(provider);
    }
    let tracer_provider = customize_tracer(tracer_builder).build();
    global::set_tracer_provider(tracer_provider.clone());
    global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));

    let filter = EnvFilter::try_new(&config.log_filter)
        .map_err(|error| TelemetryError::Filter(error.to_string()))?;
    // Traces carry the service's own spans and events, not the transport's debug chatter:
    // unfiltered, every HTTP/2 frame and pool checkout of h2, hyper and sqlx becomes a span
    // or span event, which cost the listener most of its CPU under load.
    let otel_layer = tracing_opentelemetry::layer()
        .with_tracer(tracer_provider.tracer("nordstern"))
        .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    let fmt_layer = print_logs.then(|| {
        if config.log_json {
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(std::io::stderr)
                .boxed()
        } else {
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .boxed()
        }
    });
    tracing_subscriber::registry()
        .with(otel_layer)
        .with(fmt_layer.with_filter(filter))
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    Ok(TelemetryGuard {
        tracer_provider,
        meter_provider,
    })
}

/// Request metrics recorded by the server stack; created lazily from the global meter so
/// they are no-ops until a meter provider is installed.
pub(crate) struct RequestMetrics {
    pub requests: opentelemetry::metrics::Counter<u64>,
    pub duration_seconds: opentelemetry::metrics::Histogram<f64>,
}

pub(crate) fn request_metrics() -> &'static RequestMetrics {
    static METRICS: OnceLock<RequestMetrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let meter = global::meter("nordstern");
        RequestMetrics {
            requests: meter
                .u64_counter("rpc.server.requests")
                .with_description("gRPC requests handled, by method and status code")
                .build(),
            duration_seconds: meter
                .f64_histogram("rpc.server.duration")
                .with_unit("s")
                .with_description("gRPC request handling time")
                .build(),
        }
    })
}
