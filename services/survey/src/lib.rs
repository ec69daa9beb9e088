//! The survey service: NPS, CES and CSAT campaigns, invitations with unguessable tokens,
//! responses, and statistics for any scope with their margin of error.

mod convert;
mod grpc;
pub mod remote;
mod role;
mod store;

use nordstern_accounts::remote::AccountsApi;
use nordstern_proto::survey::v1::survey_service_server::SurveyServiceServer;
use sea_orm::DatabaseConnection;

pub use grpc::SurveyGrpc;
pub use nordstern_survey_migration::Migrator;
pub use role::start;
pub use store::Store;

/// The gRPC service over an already migrated database; `accounts` checks account ids
/// and resolves portfolio and segment scopes.
pub fn service(db: DatabaseConnection, accounts: AccountsApi) -> SurveyGrpc {
    SurveyGrpc::new(Store::new(db), accounts)
}

pub fn grpc_service(
    service: SurveyGrpc,
    max_request_bytes: usize,
) -> SurveyServiceServer<SurveyGrpc> {
    SurveyServiceServer::new(service).max_decoding_message_size(max_request_bytes)
}
