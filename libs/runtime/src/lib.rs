//! What every Nordstern service shares: roles, layered configuration, telemetry, the
//! gRPC server and client stacks, database connections, idempotency keys and shutdown.

pub mod batch;
pub mod bridge;
pub mod cache;
pub mod client;
pub mod config;
pub mod decode_errors;
pub mod error;
pub mod guard;
pub mod http_error;
pub mod http_routes;
pub mod idempotency;
pub mod lanes;
pub mod paging;
pub mod readiness;
pub mod role;
pub mod server;
pub mod shedding;
pub mod shutdown;
pub mod start;
pub mod status;
pub mod storage;
pub mod telemetry;
pub mod tls;
pub mod wire;

pub use config::Config;
pub use role::Role;
