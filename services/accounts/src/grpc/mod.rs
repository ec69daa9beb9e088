//! The gRPC adapter: parse and validate, call the store, map rows to messages.

use chrono::{NaiveDate, Utc};
use nordstern_domain::account::{LifecycleStage, Segment, Tier};
use nordstern_domain::{account::ContractEventKind, lifecycle::derive_lifecycle, validate};
use nordstern_proto::accounts::v1::{self as pb, accounts_service_server::AccountsService};
use nordstern_runtime::bridge::{self, ProtoEnum};
use nordstern_runtime::{status::FieldViolations, wire::*};
use tonic::{Request, Response, Status};

use crate::store::{AccountRow, Balance, ContractEventRow, CsmRow, ProductModuleRow, Store};

mod accounts;
mod bulk;
mod catalog;
mod contracts;
mod csms;
mod portfolios;
mod privacy;

/// The accounts service behind its gRPC contract.
#[derive(Clone)]
pub struct AccountsGrpc {
    store: Store,
}

impl AccountsGrpc {
    pub fn new(store: Store) -> Self {
        AccountsGrpc { store }
    }

    fn currency(&self) -> &str {
        &self.store.rules.currency_code
    }

    fn account_to_proto(&self, row: AccountRow, today: NaiveDate) -> pb::Account {
        let lifecycle = derive_lifecycle(
            &self.store.rules.lifecycle,
            row.start_date,
            row.renewal_date,
            row.churned_on,
            today,
        );
        pb::Account {
            account_id: row.account_id,
            name: row.name,
            crm_id: row.crm_id.unwrap_or_default(),
            domain: row.domain.unwrap_or_default(),
            segment: Segment::to_proto(row.segment) as i32,
            start_date: Some(date_to_proto(row.start_date)),
            renewal_date: row.renewal_date.map(date_to_proto),
            module_keys: row.module_keys,
            csm_id: row.csm_id.unwrap_or_default(),
            arr: Some(money(row.arr_minor, self.currency())),
            tier: Tier::to_proto(row.tier) as i32,
            lifecycle_stage: LifecycleStage::to_proto(lifecycle) as i32,
            assigned_at: row.assigned_at.map(timestamp),
            created_at: Some(timestamp(row.created_at)),
            updated_at: Some(timestamp(row.updated_at)),
            churned_on: row.churned_on.map(date_to_proto),
        }
    }

    fn event_to_proto(&self, row: ContractEventRow) -> pb::ContractEvent {
        pb::ContractEvent {
            event_id: row.event_id,
            account_id: row.account_id,
            kind: ContractEventKind::to_proto(row.kind) as i32,
            arr_change: Some(money(row.arr_change_minor, self.currency())),
            effective_date: Some(date_to_proto(row.effective_date)),
            renewal_date: row.renewal_date.map(date_to_proto),
            idempotency_key: row.idempotency_key,
            recorded_at: Some(timestamp(row.recorded_at)),
            arr_after: Some(money(row.arr_after_minor, self.currency())),
        }
    }

    fn csm_to_proto(&self, row: CsmRow) -> pb::Csm {
        pb::Csm {
            csm_id: row.csm_id,
            name: row.name,
            email: row.email,
            capacity: row.capacity,
            active: row.active,
            account_count: i32::try_from(row.account_count).unwrap_or(i32::MAX),
            portfolio_arr: Some(money(row.portfolio_arr_minor, self.currency())),
        }
    }

    fn module_to_proto(&self, row: ProductModuleRow) -> pb::ProductModule {
        pb::ProductModule {
            module_key: row.module_key,
            name: row.name,
            feature_keys: row.feature_keys,
            list_price: Some(money(row.list_price_minor, self.currency())),
            has_integration: row.has_integration,
        }
    }

    fn plan_to_proto(&self, balance: &Balance) -> pb::BalancePlan {
        pb::BalancePlan {
            portfolios: balance
                .csm_ids
                .iter()
                .zip(&balance.plan.loads)
                .map(|(csm_id, load)| pb::PortfolioLoad {
                    csm_id: csm_id.clone(),
                    tier_a_count: load.tier_counts[0] as i32,
                    tier_b_count: load.tier_counts[1] as i32,
                    tier_c_count: load.tier_counts[2] as i32,
                    arr: Some(money(load.arr, self.currency())),
                })
                .collect(),
            moves: balance
                .moves()
                .map(|(account_id, from, to)| pb::AccountMove {
                    account_id: account_id.to_owned(),
                    from_csm_id: from.unwrap_or_default().to_owned(),
                    to_csm_id: to.to_owned(),
                })
                .collect(),
            arr_max_min_ratio: balance.plan.arr_max_min_ratio(),
            account_count: balance.account_ids.len() as i32,
            csms_not_named_losing_accounts: balance.csms_not_named_losing_accounts(),
        }
    }
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn module_keys(violations: &mut FieldViolations, field: &str, raw: &[String]) -> Vec<String> {
    let mut keys = Vec::with_capacity(raw.len());
    for (index, key) in raw.iter().enumerate() {
        if let Some(key) = violations.check(&format!("{field}[{index}]"), validate::module_key(key))
            && !keys.contains(&key)
        {
            keys.push(key);
        }
    }
    keys
}

type GrpcResult<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl AccountsService for AccountsGrpc {
    async fn create_account(
        &self,
        request: Request<pb::CreateAccountRequest>,
    ) -> GrpcResult<pb::CreateAccountResponse> {
        accounts::create_account(self, request).await
    }

    async fn get_account(
        &self,
        request: Request<pb::GetAccountRequest>,
    ) -> GrpcResult<pb::GetAccountResponse> {
        accounts::get_account(self, request).await
    }

    async fn update_account(
        &self,
        request: Request<pb::UpdateAccountRequest>,
    ) -> GrpcResult<pb::UpdateAccountResponse> {
        accounts::update_account(self, request).await
    }

    async fn list_accounts(
        &self,
        request: Request<pb::ListAccountsRequest>,
    ) -> GrpcResult<pb::ListAccountsResponse> {
        accounts::list_accounts(self, request).await
    }

    async fn batch_get_accounts(
        &self,
        request: Request<pb::BatchGetAccountsRequest>,
    ) -> GrpcResult<pb::BatchGetAccountsResponse> {
        accounts::batch_get_accounts(self, request).await
    }

    async fn upsert_product_module(
        &self,
        request: Request<pb::UpsertProductModuleRequest>,
    ) -> GrpcResult<pb::UpsertProductModuleResponse> {
        catalog::upsert_product_module(self, request).await
    }

    async fn list_product_modules(
        &self,
        request: Request<pb::ListProductModulesRequest>,
    ) -> GrpcResult<pb::ListProductModulesResponse> {
        catalog::list_product_modules(self, request).await
    }

    async fn create_csm(
        &self,
        request: Request<pb::CreateCsmRequest>,
    ) -> GrpcResult<pb::CreateCsmResponse> {
        csms::create_csm(self, request).await
    }

    async fn get_csm(&self, request: Request<pb::GetCsmRequest>) -> GrpcResult<pb::GetCsmResponse> {
        csms::get_csm(self, request).await
    }

    async fn update_csm(
        &self,
        request: Request<pb::UpdateCsmRequest>,
    ) -> GrpcResult<pb::UpdateCsmResponse> {
        csms::update_csm(self, request).await
    }

    async fn list_csms(
        &self,
        request: Request<pb::ListCsmsRequest>,
    ) -> GrpcResult<pb::ListCsmsResponse> {
        csms::list_csms(self, request).await
    }

    async fn assign_account(
        &self,
        request: Request<pb::AssignAccountRequest>,
    ) -> GrpcResult<pb::AssignAccountResponse> {
        csms::assign_account(self, request).await
    }

    async fn get_tier_summary(
        &self,
        request: Request<pb::GetTierSummaryRequest>,
    ) -> GrpcResult<pb::GetTierSummaryResponse> {
        portfolios::get_tier_summary(self, request).await
    }

    async fn plan_portfolio_balance(
        &self,
        request: Request<pb::PlanPortfolioBalanceRequest>,
    ) -> GrpcResult<pb::PlanPortfolioBalanceResponse> {
        portfolios::plan_portfolio_balance(self, request).await
    }

    async fn apply_portfolio_balance(
        &self,
        request: Request<pb::ApplyPortfolioBalanceRequest>,
    ) -> GrpcResult<pb::ApplyPortfolioBalanceResponse> {
        portfolios::apply_portfolio_balance(self, request).await
    }

    async fn record_contract_event(
        &self,
        request: Request<pb::RecordContractEventRequest>,
    ) -> GrpcResult<pb::RecordContractEventResponse> {
        contracts::record_contract_event(self, request).await
    }

    async fn batch_create_accounts(
        &self,
        request: Request<pb::BatchCreateAccountsRequest>,
    ) -> GrpcResult<pb::BatchCreateAccountsResponse> {
        bulk::batch_create_accounts(self, request).await
    }

    async fn batch_record_contract_events(
        &self,
        request: Request<pb::BatchRecordContractEventsRequest>,
    ) -> GrpcResult<pb::BatchRecordContractEventsResponse> {
        bulk::batch_record_contract_events(self, request).await
    }

    async fn list_contract_events(
        &self,
        request: Request<pb::ListContractEventsRequest>,
    ) -> GrpcResult<pb::ListContractEventsResponse> {
        contracts::list_contract_events(self, request).await
    }

    async fn get_revenue_metrics(
        &self,
        request: Request<pb::GetRevenueMetricsRequest>,
    ) -> GrpcResult<pb::GetRevenueMetricsResponse> {
        contracts::get_revenue_metrics(self, request).await
    }

    async fn erase_account(
        &self,
        request: Request<pb::EraseAccountRequest>,
    ) -> GrpcResult<pb::EraseAccountResponse> {
        privacy::erase_account(self, request).await
    }

    async fn export_account(
        &self,
        request: Request<pb::ExportAccountRequest>,
    ) -> GrpcResult<pb::ExportAccountResponse> {
        privacy::export_account(self, request).await
    }
}

fn csm_id_list(raw: &[String]) -> Result<Vec<String>, FieldViolations> {
    let mut v = FieldViolations::new();
    let ids = id_list(&mut v, "csm_ids", raw);
    v.into_result()?;
    Ok(ids)
}

/// A kind to filter contract events by: a known kind, not UNSPECIFIED.
fn kind_filter(value: i32) -> Result<ContractEventKind, String> {
    if value == pb::ContractEventKind::Unspecified as i32 {
        return Err(
            "UNSPECIFIED is not a kind to filter by (leave `kinds` empty for every kind)"
                .to_owned(),
        );
    }
    bridge::required::<ContractEventKind>(value)
}
