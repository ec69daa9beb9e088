//! The server stack every service runs behind, exercised with a real tonic server on
//! loopback and a handler the test holds open: load shedding, the request timeout, and
//! draining in-flight requests on shutdown.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use nordstern_proto::bench::v1::{
    EchoRequest, EchoResponse,
    echo_service_client::EchoServiceClient,
    echo_service_server::{EchoService, EchoServiceServer},
};
use nordstern_runtime::{
    config::GrpcConfig,
    server::{GrpcServices, serve, wait_until_serving},
    shutdown,
};
use tokio::sync::Semaphore;
use tonic::{Code, Request, Response, Status};

/// Echoes once the test hands it a permit, so the test decides how long requests run.
struct HeldEcho {
    permits: Arc<Semaphore>,
    entered: Arc<AtomicUsize>,
}

#[tonic::async_trait]
impl EchoService for HeldEcho {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        self.entered.fetch_add(1, Ordering::SeqCst);
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Status::aborted("closed"))?;
        permit.forget();
        Ok(Response::new(EchoResponse {
            payload: request.into_inner().payload,
        }))
    }
}

struct Running {
    url: String,
    permits: Arc<Semaphore>,
    entered: Arc<AtomicUsize>,
    trigger: shutdown::ShutdownTrigger,
    server: tokio::task::JoinHandle<Result<(), nordstern_runtime::server::ServeError>>,
}

async fn start(grpc: GrpcConfig) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let url = format!(
        "http://{}",
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    );
    let permits = Arc::new(Semaphore::new(0));
    let entered = Arc::new(AtomicUsize::new(0));
    let mut services = GrpcServices::new();
    services.add(EchoServiceServer::new(HeldEcho {
        permits: permits.clone(),
        entered: entered.clone(),
    }));
    let (trigger, signal) = shutdown::channel();
    let server = tokio::spawn(async move { serve(listener, &grpc, services, signal).await });
    wait_until_serving(
        &url,
        "nordstern.bench.v1.EchoService",
        Duration::from_secs(10),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    Running {
        url,
        permits,
        entered,
        trigger,
        server,
    }
}

async fn client(url: &str) -> EchoServiceClient<tonic::transport::Channel> {
    EchoServiceClient::connect(url.to_owned())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

impl Running {
    /// Waits until `count` requests have reached the handler (bounded, no fixed sleeps).
    async fn until_entered(&self, count: usize) {
        for _ in 0..1000 {
            if self.entered.load(Ordering::SeqCst) >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("{count} requests never reached the handler");
    }
}

fn echo() -> EchoRequest {
    EchoRequest {
        payload: vec![1, 2, 3],
    }
}

#[tokio::test]
async fn requests_over_the_concurrency_limit_are_shed_with_resource_exhausted() {
    let running = start(GrpcConfig {
        concurrency_limit: 1,
        shed_pushback_ms: 250,
        ..GrpcConfig::default()
    })
    .await;
    let mut first_client = client(&running.url).await;
    let first = tokio::spawn(async move { first_client.echo(echo()).await });
    running.until_entered(1).await;
    let shed = client(&running.url)
        .await
        .echo(echo())
        .await
        .err()
        .unwrap_or_else(|| panic!("the second request was admitted"));
    assert_eq!(shed.code(), Code::ResourceExhausted);
    assert!(shed.message().contains("limit of 1 request"), "{shed:?}");
    // Told when to come back, both ways gRPC clients read it.
    assert_eq!(
        nordstern_runtime::shedding::pushback(&shed),
        Some(Duration::from_millis(250))
    );
    let retry_info = tonic_types::StatusExt::get_details_retry_info(&shed);
    assert_eq!(
        retry_info.and_then(|info| info.retry_delay),
        Some(Duration::from_millis(250))
    );
    running.permits.add_permits(1);
    let answered = first.await.unwrap_or_else(|e| panic!("{e}"));
    assert!(answered.is_ok(), "{answered:?}");
    // With the slot free again, the next request is served.
    running.permits.add_permits(1);
    assert!(client(&running.url).await.echo(echo()).await.is_ok());
    running.trigger.trigger();
    assert!(running.server.await.is_ok());
}

#[tokio::test]
async fn a_request_over_the_timeout_is_cut_off() {
    let running = start(GrpcConfig {
        request_timeout_ms: 100,
        ..GrpcConfig::default()
    })
    .await;
    let started = std::time::Instant::now();
    let status = client(&running.url)
        .await
        .echo(echo())
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(
        status,
        Some(Code::DeadlineExceeded),
        "a server-side timeout is DEADLINE_EXCEEDED, as the gRPC spec asks"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    running.trigger.trigger();
    assert!(running.server.await.is_ok());
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish_within_the_grace_period() {
    let running = start(GrpcConfig {
        shutdown_grace_ms: 5_000,
        ..GrpcConfig::default()
    })
    .await;
    let mut in_flight_client = client(&running.url).await;
    let in_flight = tokio::spawn(async move { in_flight_client.echo(echo()).await });
    running.until_entered(1).await;
    running.trigger.trigger();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !running.server.is_finished(),
        "the server waits for the request in flight"
    );
    running.permits.add_permits(1);
    let answered = in_flight.await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        answered.is_ok(),
        "the in-flight request was drained, not dropped: {answered:?}"
    );
    let stopped = tokio::time::timeout(Duration::from_secs(5), running.server).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
}

/// `serve` gives up on a request still running after the grace period and returns, so the
/// process can exit (which ends the abandoned connection with it).
#[tokio::test]
async fn shutdown_stops_waiting_after_the_grace_period() {
    let running = start(GrpcConfig {
        shutdown_grace_ms: 200,
        ..GrpcConfig::default()
    })
    .await;
    let mut stuck_client = client(&running.url).await;
    let stuck = tokio::spawn(async move { stuck_client.echo(echo()).await });
    running.until_entered(1).await;
    let started = std::time::Instant::now();
    running.trigger.trigger();
    let stopped = tokio::time::timeout(Duration::from_secs(5), running.server).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "stopped after the grace period"
    );
    assert!(!stuck.is_finished(), "the stuck request was never answered");
}
