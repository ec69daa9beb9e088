//! The gateway: customer 360 and portfolio views assembled from the other services in
//! parallel under the caller's deadline, ticket routing between support and the CSM, and
//! an HTTP/JSON listener for what CRM integrations pull.

mod fanout;
mod grpc;
mod helpdesk;
pub mod http;
mod role;
pub mod rules;
mod tickets;
pub mod transcode;
mod views;

use std::{sync::Arc, time::Duration};

use nordstern_domain::routing::RoutingRules;
use nordstern_proto::gateway::v1::gateway_service_server::{GatewayService, GatewayServiceServer};
use sea_orm::DatabaseConnection;

pub use grpc::GatewayGrpc;
pub use nordstern_gateway_migration::Migrator;
pub use role::start;
pub use views::Backends;

/// The gateway API, as the HTTP listener (and in-process callers) hold it.
pub type GatewayApi = Arc<dyn GatewayService>;

/// The gateway over an already migrated database.
pub fn gateway(
    db: DatabaseConnection,
    backends: Backends,
    rules: RoutingRules,
    fanout_timeout: Duration,
) -> GatewayGrpc {
    GatewayGrpc::new(
        backends,
        tickets::Tickets::new(db, Arc::new(rules)),
        fanout_timeout,
    )
}

pub fn grpc_service(
    gateway: GatewayGrpc,
    max_request_bytes: usize,
) -> GatewayServiceServer<GatewayGrpc> {
    GatewayServiceServer::new(gateway).max_decoding_message_size(max_request_bytes)
}
