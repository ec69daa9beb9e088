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
