//! The gateway: customer 360 and portfolio views assembled from the other services in
//! parallel under the caller's deadline, ticket routing between support and the CSM, and
//! an HTTP/JSON listener for what CRM integrations pull.

pub use nordstern_gateway_migration::Migrator;
