//! The baseline: a tonic server with one RPC that returns its input and nothing else.

use std::net::SocketAddr;

use nordstern_proto::bench::v1::{
    EchoRequest, EchoResponse,
    echo_service_server::{EchoService, EchoServiceServer},
};
use tokio_stream::wrappers::TcpListenerStream as TcpIncoming;
use tonic::{Request, Response, Status};

struct Echo;

#[tonic::async_trait]
impl EchoService for Echo {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        Ok(Response::new(EchoResponse {
            payload: request.into_inner().payload,
        }))
    }
}

/// Starts the echo server on an ephemeral loopback port; it stops with the runtime.
pub async fn spawn_echo_server() -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(
        tonic::transport::Server::builder()
            .tcp_nodelay(true)
            .add_service(EchoServiceServer::new(Echo))
            .serve_with_incoming(TcpIncoming::new(listener)),
    );
    Ok(addr)
}

/// The baseline run: echo requests of 64 bytes under `load`, printed and returned.
pub async fn measure_echo(load: &super::LoadArgs) -> anyhow::Result<super::LoadReport> {
    use nordstern_proto::bench::v1::echo_service_client::EchoServiceClient;
    let addr = spawn_echo_server().await?;
    let channels =
        super::load::connect_channels(&format!("http://{addr}"), load.connections).await?;
    let report = super::run_load(
        &channels,
        load.concurrency,
        std::time::Duration::from_secs(load.duration_secs),
        |channel, _| async move {
            EchoServiceClient::new(channel)
                .echo(EchoRequest {
                    payload: vec![0; 64],
                })
                .await
                .map(|_| ())
        },
    )
    .await?;
    println!("{}", report.line("echo (bare tonic)"));
    Ok(report)
}
