//! The accounts API as other services hold it: `Arc<dyn AccountsService>`, whether the
//! service runs in the same process ([`local`]) or behind gRPC ([`RemoteAccounts`]).
//! Callers do not know which, so one code path serves both deployment modes.

use std::sync::Arc;

use nordstern_runtime::{
    Role,
    config::GrpcConfig,
    start::{RoleContext, StartError},
};

use nordstern_proto::accounts::v1::{
    self as pb, accounts_service_client::AccountsServiceClient,
    accounts_service_server::AccountsService,
};
use tonic::{Request, Status};

use crate::AccountsGrpc;

/// The accounts API, local or remote.
pub type AccountsApi = Arc<dyn AccountsService>;

pub fn local(service: AccountsGrpc, grpc: &GrpcConfig) -> AccountsApi {
    LocalAccounts::new(Arc::new(service), grpc).into_api()
}

/// The accounts service for a role that calls it: the one started in this process, or a
/// client of `endpoints.accounts`.
pub fn api(context: &RoleContext) -> Result<AccountsApi, StartError> {
    context.api(
        Role::Accounts,
        RemoteAccounts::connect,
        RemoteAccounts::into_api,
    )
}

nordstern_runtime::remote_service! {
    /// The accounts service over gRPC.
    RemoteAccounts, LocalAccounts: AccountsServiceClient => AccountsService {
        unary {
            create_account(pb::CreateAccountRequest) -> pb::CreateAccountResponse, |r| !r.request_id.is_empty();
            get_account(pb::GetAccountRequest) -> pb::GetAccountResponse, |_| true;
            update_account(pb::UpdateAccountRequest) -> pb::UpdateAccountResponse, |_| true;
            list_accounts(pb::ListAccountsRequest) -> pb::ListAccountsResponse, |_| true;
            batch_get_accounts(pb::BatchGetAccountsRequest) -> pb::BatchGetAccountsResponse, |_| true;
            upsert_product_module(pb::UpsertProductModuleRequest) -> pb::UpsertProductModuleResponse, |_| true;
            list_product_modules(pb::ListProductModulesRequest) -> pb::ListProductModulesResponse, |_| true;
            create_csm(pb::CreateCsmRequest) -> pb::CreateCsmResponse, |r| !r.request_id.is_empty();
            get_csm(pb::GetCsmRequest) -> pb::GetCsmResponse, |_| true;
            update_csm(pb::UpdateCsmRequest) -> pb::UpdateCsmResponse, |_| true;
            list_csms(pb::ListCsmsRequest) -> pb::ListCsmsResponse, |_| true;
            assign_account(pb::AssignAccountRequest) -> pb::AssignAccountResponse, |_| true;
            get_tier_summary(pb::GetTierSummaryRequest) -> pb::GetTierSummaryResponse, |_| true;
            plan_portfolio_balance(pb::PlanPortfolioBalanceRequest) -> pb::PlanPortfolioBalanceResponse, |_| true;
            apply_portfolio_balance(pb::ApplyPortfolioBalanceRequest) -> pb::ApplyPortfolioBalanceResponse, |r| !r.sticky;
            record_contract_event(pb::RecordContractEventRequest) -> pb::RecordContractEventResponse, |_| true;
            batch_create_accounts(pb::BatchCreateAccountsRequest) -> pb::BatchCreateAccountsResponse, |_| true;
            batch_record_contract_events(pb::BatchRecordContractEventsRequest) -> pb::BatchRecordContractEventsResponse, |_| true;
            list_contract_events(pb::ListContractEventsRequest) -> pb::ListContractEventsResponse, |_| true;
            get_revenue_metrics(pb::GetRevenueMetricsRequest) -> pb::GetRevenueMetricsResponse, |_| true;
            erase_account(pb::EraseAccountRequest) -> pb::EraseAccountResponse, |_| false;
            export_account(pb::ExportAccountRequest) -> pb::ExportAccountResponse, |_| true;
        }
        server_streaming {}
        client_streaming {}
    }
}

/// Every account matching `filter`, page by page at the largest page size.
pub async fn list_all_accounts(
    accounts: &AccountsApi,
    mut filter: pb::ListAccountsRequest,
) -> Result<Vec<pb::Account>, Status> {
    filter.page_size = nordstern_runtime::paging::MAX_PAGE_SIZE;
    nordstern_runtime::paging::all_pages(filter, |filter| {
        accounts.list_accounts(Request::new(filter))
    })
    .await
}

/// [`list_all_accounts`], with `each` run on every page while the next one is listed;
/// answers the accounts and what `each` answered per page, in page order.
pub async fn list_all_accounts_overlapped<T, Each>(
    accounts: &AccountsApi,
    mut filter: pb::ListAccountsRequest,
    each: impl Fn(&[pb::Account]) -> Each,
) -> Result<(Vec<pb::Account>, Vec<T>), Status>
where
    Each: std::future::Future<Output = Result<T, Status>>,
{
    filter.page_size = nordstern_runtime::paging::MAX_PAGE_SIZE;
    nordstern_runtime::paging::all_pages_overlapped(
        filter,
        |filter| accounts.list_accounts(Request::new(filter)),
        each,
    )
    .await
}

/// The accounts among `ids` (any number, fetched in batches), and the ids naming none.
pub async fn batch_get_all_accounts(
    accounts: &AccountsApi,
    ids: &[String],
) -> Result<(Vec<pb::Account>, Vec<String>), Status> {
    let mut found = Vec::with_capacity(ids.len());
    let mut missing = Vec::new();
    for chunk in ids.chunks(nordstern_runtime::wire::MAX_BATCH) {
        let response = accounts
            .batch_get_accounts(Request::new(pb::BatchGetAccountsRequest {
                account_ids: chunk.to_vec(),
            }))
            .await?
            .into_inner();
        found.extend(response.accounts);
        missing.extend(response.missing_account_ids);
    }
    Ok((found, missing))
}
