//! The gRPC adapter: parse and validate, call the store, map rows to messages.

use chrono::{NaiveDate, Utc};
use nordstern_domain::{
    account::ContractEventKind, contract::ContractChange, lifecycle::derive_lifecycle, validate,
};
use nordstern_proto::{
    accounts::v1::{self as pb, accounts_service_server::AccountsService},
    common::v1 as common,
};
use nordstern_runtime::{status::FieldViolations, wire::*};
use tonic::{Request, Response, Status};

use crate::{
    convert::*,
    store::{
        AccountFilter, AccountPatch, AccountRow, Balance, ContractEventFilter, ContractEventRow,
        CsmPatch, CsmRow, MetricScope, NewAccount, NewCsm, ProductModuleRow, Store,
    },
};

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
            segment: nordstern_runtime::wire::segment_to_proto(row.segment) as i32,
            start_date: Some(date_to_proto(row.start_date)),
            renewal_date: row.renewal_date.map(date_to_proto),
            module_keys: row.module_keys,
            csm_id: row.csm_id.unwrap_or_default(),
            arr: Some(money(row.arr_minor, self.currency())),
            tier: tier_to_proto(row.tier) as i32,
            lifecycle_stage: lifecycle_to_proto(lifecycle) as i32,
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
            kind: contract_kind_to_proto(row.kind) as i32,
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
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let key = idempotency_key(&mut v, "request_id", &request.request_id, &request);
        let account = request.account.unwrap_or_default();
        let name = v.check("account.name", validate::account_name(&account.name));
        let crm_id = if account.crm_id.is_empty() {
            None
        } else {
            v.check("account.crm_id", validate::crm_id(&account.crm_id))
        };
        let segment = v.check("account.segment", segment_from_proto(account.segment));
        let start_date = required_date(&mut v, "account.start_date", account.start_date.as_ref());
        let renewal_date = optional_date(
            &mut v,
            "account.renewal_date",
            account.renewal_date.as_ref(),
        );
        let modules = module_keys(&mut v, "account.module_keys", &account.module_keys);
        let csm_id = optional_id(&mut v, "account.csm_id", &account.csm_id);
        let initial_arr = amount(
            &mut v,
            "initial_arr",
            request.initial_arr.as_ref(),
            self.currency(),
        );
        if initial_arr.is_some_and(|arr| arr < 0) {
            v.add("initial_arr.minor_units", "must not be negative");
        }
        let (Some(name), Some(segment), Some(start_date)) = (name, segment, start_date) else {
            // A value is missing only where a violation says why.
            return Err(v.into());
        };
        v.into_result()?;
        let new = NewAccount {
            name,
            crm_id,
            segment,
            start_date,
            renewal_date,
            module_keys: modules,
            csm_id,
            initial_arr,
        };
        let row = self.store.create_account(key, new).await?;
        Ok(Response::new(pb::CreateAccountResponse {
            account: Some(self.account_to_proto(row, today())),
        }))
    }

    async fn get_account(
        &self,
        request: Request<pb::GetAccountRequest>,
    ) -> GrpcResult<pb::GetAccountResponse> {
        let mut v = FieldViolations::new();
        let id = id_field(&mut v, "account_id", &request.get_ref().account_id);
        v.into_result()?;
        let row = self.store.get_account(&id).await?;
        Ok(Response::new(pb::GetAccountResponse {
            account: Some(self.account_to_proto(row, today())),
        }))
    }

    async fn update_account(
        &self,
        request: Request<pb::UpdateAccountRequest>,
    ) -> GrpcResult<pb::UpdateAccountResponse> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let account = request.account.unwrap_or_default();
        let id = id_field(&mut v, "account.account_id", &account.account_id);
        let paths = mask_paths(
            &mut v,
            request.update_mask.as_ref(),
            &[
                "name",
                "crm_id",
                "segment",
                "start_date",
                "renewal_date",
                "module_keys",
            ],
        );
        let mut patch = AccountPatch::default();
        for path in &paths {
            match path.as_str() {
                "name" => {
                    patch.name = v.check("account.name", validate::account_name(&account.name))
                }
                "crm_id" => {
                    patch.crm_id = if account.crm_id.is_empty() {
                        Some(None)
                    } else {
                        v.check("account.crm_id", validate::crm_id(&account.crm_id))
                            .map(Some)
                    }
                }
                "segment" => {
                    patch.segment = v.check("account.segment", segment_from_proto(account.segment))
                }
                "start_date" => {
                    patch.start_date =
                        required_date(&mut v, "account.start_date", account.start_date.as_ref())
                }
                "renewal_date" => {
                    patch.renewal_date = Some(optional_date(
                        &mut v,
                        "account.renewal_date",
                        account.renewal_date.as_ref(),
                    ))
                }
                "module_keys" => {
                    patch.module_keys = Some(module_keys(
                        &mut v,
                        "account.module_keys",
                        &account.module_keys,
                    ))
                }
                _ => {}
            }
        }
        v.into_result()?;
        let row = self.store.update_account(&id, patch).await?;
        Ok(Response::new(pb::UpdateAccountResponse {
            account: Some(self.account_to_proto(row, today())),
        }))
    }

    async fn list_accounts(
        &self,
        request: Request<pb::ListAccountsRequest>,
    ) -> GrpcResult<pb::ListAccountsResponse> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let limit = page_size(&mut v, request.page_size);
        let after = page_token(&mut v, &request.page_token);
        let filter = AccountFilter {
            csm_id: optional_id(&mut v, "csm_id", &request.csm_id),
            segment: optional_segment(&mut v, "segment", request.segment),
            tier: optional_tier(&mut v, "tier", request.tier),
            lifecycle: optional_lifecycle(&mut v, "lifecycle_stage", request.lifecycle_stage),
            unassigned_only: request.unassigned_only,
        };
        if filter.unassigned_only && filter.csm_id.is_some() {
            v.add("unassigned_only", "cannot be combined with csm_id");
        }
        v.into_result()?;
        let today = today();
        let rows = self
            .store
            .list_accounts(&filter, after.as_deref(), limit + 1, today)
            .await?;
        let (accounts, next_page_token) = page(rows, limit, |row| row.account_id.clone());
        Ok(Response::new(pb::ListAccountsResponse {
            accounts: accounts
                .into_iter()
                .map(|row| self.account_to_proto(row, today))
                .collect(),
            next_page_token,
        }))
    }

    async fn batch_get_accounts(
        &self,
        request: Request<pb::BatchGetAccountsRequest>,
    ) -> GrpcResult<pb::BatchGetAccountsResponse> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let ids = id_list(&mut v, "account_ids", &request.account_ids);
        v.into_result()?;
        let rows = self.store.batch_get_accounts(&ids).await?;
        let today = today();
        let mut by_id: std::collections::HashMap<String, AccountRow> = rows
            .into_iter()
            .map(|row| (row.account_id.clone(), row))
            .collect();
        let mut accounts = Vec::with_capacity(ids.len());
        let mut missing_account_ids = Vec::new();
        for id in ids {
            match by_id.remove(&id) {
                Some(row) => accounts.push(self.account_to_proto(row, today)),
                None if accounts.iter().any(|a: &pb::Account| a.account_id == id) => {}
                None => missing_account_ids.push(id),
            }
        }
        Ok(Response::new(pb::BatchGetAccountsResponse {
            accounts,
            missing_account_ids,
        }))
    }

    async fn upsert_product_module(
        &self,
        request: Request<pb::UpsertProductModuleRequest>,
    ) -> GrpcResult<pb::UpsertProductModuleResponse> {
        let module = request.into_inner().module.unwrap_or_default();
        let mut v = FieldViolations::new();
        let module_key = v.check(
            "module.module_key",
            validate::module_key(&module.module_key),
        );
        let name = v.check("module.name", validate::account_name(&module.name));
        let mut feature_keys = Vec::new();
        for (index, key) in module.feature_keys.iter().enumerate() {
            if let Some(key) = v.check(
                &format!("module.feature_keys[{index}]"),
                validate::feature_key(key),
            ) && !feature_keys.contains(&key)
            {
                feature_keys.push(key);
            }
        }
        let list_price = amount(
            &mut v,
            "module.list_price",
            module.list_price.as_ref(),
            self.currency(),
        )
        .unwrap_or(0);
        if list_price < 0 {
            v.add("module.list_price.minor_units", "must not be negative");
        }
        let (Some(module_key), Some(name)) = (module_key, name) else {
            // A value is missing only where a violation says why.
            return Err(v.into());
        };
        v.into_result()?;
        let row = self
            .store
            .upsert_module(ProductModuleRow {
                module_key,
                name,
                feature_keys,
                list_price_minor: list_price,
            })
            .await?;
        Ok(Response::new(pb::UpsertProductModuleResponse {
            module: Some(self.module_to_proto(row)),
        }))
    }

    async fn list_product_modules(
        &self,
        _request: Request<pb::ListProductModulesRequest>,
    ) -> GrpcResult<pb::ListProductModulesResponse> {
        let modules = self.store.list_modules().await?;
        Ok(Response::new(pb::ListProductModulesResponse {
            modules: modules
                .into_iter()
                .map(|m| self.module_to_proto(m))
                .collect(),
        }))
    }

    async fn create_csm(
        &self,
        request: Request<pb::CreateCsmRequest>,
    ) -> GrpcResult<pb::CreateCsmResponse> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let key = idempotency_key(&mut v, "request_id", &request.request_id, &request);
        let csm = request.csm.unwrap_or_default();
        let name = v.check("csm.name", validate::csm_name(&csm.name));
        let email = v.check("csm.email", validate::email(&csm.email));
        if csm.capacity < 0 {
            v.add("csm.capacity", "must not be negative (0 means no limit)");
        }
        let (Some(name), Some(email)) = (name, email) else {
            // A value is missing only where a violation says why.
            return Err(v.into());
        };
        v.into_result()?;
        // A new CSM is active unless the caller explicitly creates them inactive; proto3
        // cannot tell "false" from "unset", so creation always activates.
        let row = self
            .store
            .create_csm(
                key,
                NewCsm {
                    name,
                    email,
                    capacity: csm.capacity,
                    active: true,
                },
            )
            .await?;
        Ok(Response::new(pb::CreateCsmResponse {
            csm: Some(self.csm_to_proto(row)),
        }))
    }

    async fn get_csm(&self, request: Request<pb::GetCsmRequest>) -> GrpcResult<pb::GetCsmResponse> {
        let mut v = FieldViolations::new();
        let id = id_field(&mut v, "csm_id", &request.get_ref().csm_id);
        v.into_result()?;
        let row = self.store.get_csm(&id).await?;
        Ok(Response::new(pb::GetCsmResponse {
            csm: Some(self.csm_to_proto(row)),
        }))
    }

    async fn update_csm(
        &self,
        request: Request<pb::UpdateCsmRequest>,
    ) -> GrpcResult<pb::UpdateCsmResponse> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let csm = request.csm.unwrap_or_default();
        let id = id_field(&mut v, "csm.csm_id", &csm.csm_id);
        let paths = mask_paths(
            &mut v,
            request.update_mask.as_ref(),
            &["name", "email", "capacity", "active"],
        );
        let mut patch = CsmPatch::default();
        for path in &paths {
            match path.as_str() {
                "name" => patch.name = v.check("csm.name", validate::csm_name(&csm.name)),
                "email" => patch.email = v.check("csm.email", validate::email(&csm.email)),
                "capacity" if csm.capacity < 0 => {
                    v.add("csm.capacity", "must not be negative (0 means no limit)")
                }
                "capacity" => patch.capacity = Some(csm.capacity),
                "active" => patch.active = Some(csm.active),
                _ => {}
            }
        }
        v.into_result()?;
        let row = self.store.update_csm(&id, patch).await?;
        Ok(Response::new(pb::UpdateCsmResponse {
            csm: Some(self.csm_to_proto(row)),
        }))
    }

    async fn list_csms(
        &self,
        request: Request<pb::ListCsmsRequest>,
    ) -> GrpcResult<pb::ListCsmsResponse> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let limit = page_size(&mut v, request.page_size);
        let after = page_token(&mut v, &request.page_token);
        v.into_result()?;
        let rows = self.store.list_csms(after.as_deref(), limit + 1).await?;
        let (csms, next_page_token) = page(rows, limit, |row| row.csm_id.clone());
        Ok(Response::new(pb::ListCsmsResponse {
            csms: csms.into_iter().map(|row| self.csm_to_proto(row)).collect(),
            next_page_token,
        }))
    }

    async fn assign_account(
        &self,
        request: Request<pb::AssignAccountRequest>,
    ) -> GrpcResult<pb::AssignAccountResponse> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let account_id = id_field(&mut v, "account_id", &request.account_id);
        let csm_id = id_field(&mut v, "csm_id", &request.csm_id);
        v.into_result()?;
        let (row, previous) = self.store.assign_account(&account_id, &csm_id).await?;
        Ok(Response::new(pb::AssignAccountResponse {
            account: Some(self.account_to_proto(row, today())),
            previous_csm_id: previous.unwrap_or_default(),
        }))
    }

    async fn get_tier_summary(
        &self,
        _request: Request<pb::GetTierSummaryRequest>,
    ) -> GrpcResult<pb::GetTierSummaryResponse> {
        let totals = self.store.tier_totals().await?;
        Ok(Response::new(pb::GetTierSummaryResponse {
            tiers: totals
                .into_iter()
                .map(|total| pb::TierTotals {
                    tier: tier_to_proto(total.tier) as i32,
                    account_count: i32::try_from(total.account_count).unwrap_or(i32::MAX),
                    arr: Some(money(total.arr_minor, self.currency())),
                })
                .collect(),
            tier_a_share: self.store.rules.tiers.a_share,
            tier_b_share: self.store.rules.tiers.b_share,
        }))
    }

    async fn plan_portfolio_balance(
        &self,
        request: Request<pb::PlanPortfolioBalanceRequest>,
    ) -> GrpcResult<pb::PlanPortfolioBalanceResponse> {
        let request = request.into_inner();
        let csm_ids = csm_id_list(&request.csm_ids)?;
        let balance = self.store.plan_balance(&csm_ids, request.sticky).await?;
        Ok(Response::new(pb::PlanPortfolioBalanceResponse {
            plan: Some(self.plan_to_proto(&balance)),
        }))
    }

    async fn apply_portfolio_balance(
        &self,
        request: Request<pb::ApplyPortfolioBalanceRequest>,
    ) -> GrpcResult<pb::ApplyPortfolioBalanceResponse> {
        let request = request.into_inner();
        let csm_ids = csm_id_list(&request.csm_ids)?;
        let balance = self.store.apply_balance(&csm_ids, request.sticky).await?;
        Ok(Response::new(pb::ApplyPortfolioBalanceResponse {
            plan: Some(self.plan_to_proto(&balance)),
        }))
    }

    async fn record_contract_event(
        &self,
        request: Request<pb::RecordContractEventRequest>,
    ) -> GrpcResult<pb::RecordContractEventResponse> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let event = request.event.clone().unwrap_or_default();
        let account_id = id_field(&mut v, "event.account_id", &event.account_id);
        let kind = v.check("event.kind", contract_kind_from_proto(event.kind));
        let arr_change = amount(
            &mut v,
            "event.arr_change",
            event.arr_change.as_ref(),
            self.currency(),
        )
        .unwrap_or(0);
        let effective_date = required_date(
            &mut v,
            "event.effective_date",
            event.effective_date.as_ref(),
        );
        let renewal_date = optional_date(&mut v, "event.renewal_date", event.renewal_date.as_ref());
        if event.idempotency_key.is_empty() {
            v.add(
                "event.idempotency_key",
                "is required, so a retried event is never counted twice",
            );
        }
        let key = idempotency_key(
            &mut v,
            "event.idempotency_key",
            &event.idempotency_key,
            &request,
        );
        let (Some(kind), Some(effective_date), Some(key)) = (kind, effective_date, key) else {
            // A value is missing only where a violation says why.
            return Err(v.into());
        };
        v.into_result()?;
        let change = ContractChange {
            kind,
            arr_change,
            effective_date,
            renewal_date,
        };
        let (event, account) = self
            .store
            .record_contract_event(&account_id, change, key)
            .await?;
        Ok(Response::new(pb::RecordContractEventResponse {
            event: Some(self.event_to_proto(event)),
            account: Some(self.account_to_proto(account, today())),
        }))
    }

    async fn list_contract_events(
        &self,
        request: Request<pb::ListContractEventsRequest>,
    ) -> GrpcResult<pb::ListContractEventsResponse> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let account_id = optional_id(&mut v, "account_id", &request.account_id);
        let limit = page_size(&mut v, request.page_size);
        let after = page_token(&mut v, &request.page_token);
        let kinds: Vec<ContractEventKind> = request
            .kinds
            .iter()
            .enumerate()
            .filter_map(|(at, kind)| v.check(&format!("kinds[{at}]"), kind_filter(*kind)))
            .collect();
        let effective_within = request
            .effective_within
            .as_ref()
            .and_then(|period| required_period(&mut v, "effective_within", Some(period)));
        v.into_result()?;
        let filter = ContractEventFilter {
            account_id,
            kinds,
            effective_within,
        };
        let rows = self
            .store
            .list_contract_events(&filter, after.as_deref(), limit + 1)
            .await?;
        let (events, next_page_token) = page(rows, limit, |row| row.event_id.clone());
        Ok(Response::new(pb::ListContractEventsResponse {
            events: events
                .into_iter()
                .map(|row| self.event_to_proto(row))
                .collect(),
            next_page_token,
        }))
    }

    async fn get_revenue_metrics(
        &self,
        request: Request<pb::GetRevenueMetricsRequest>,
    ) -> GrpcResult<pb::GetRevenueMetricsResponse> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let scope = match request.scope.and_then(|scope| scope.scope) {
            None | Some(common::scope::Scope::Company(false)) => {
                v.add(
                    "scope",
                    "is required: company, segment, csm_id or account_id",
                );
                None
            }
            Some(common::scope::Scope::Company(true)) => Some(MetricScope::Company),
            Some(common::scope::Scope::Segment(segment)) => v
                .check("scope.segment", segment_from_proto(segment))
                .map(MetricScope::Segment),
            Some(common::scope::Scope::CsmId(id)) => {
                v.check("scope.csm_id", uuid(&id)).map(MetricScope::Csm)
            }
            Some(common::scope::Scope::AccountId(id)) => v
                .check("scope.account_id", uuid(&id))
                .map(MetricScope::Account),
        };
        let period = required_period(&mut v, "period", request.period.as_ref());
        let (Some(scope), Some((start, end))) = (scope, period) else {
            // A value is missing only where a violation says why.
            return Err(v.into());
        };
        v.into_result()?;
        let m = self.store.revenue_metrics(&scope, start, end).await?;
        let c = self.currency();
        Ok(Response::new(pb::GetRevenueMetricsResponse {
            metrics: Some(pb::RevenueMetrics {
                start_arr: Some(money(m.start_arr, c)),
                end_arr: Some(money(m.end_arr, c)),
                expansion_arr: Some(money(m.expansion_arr, c)),
                contraction_arr: Some(money(m.contraction_arr, c)),
                churned_arr: Some(money(m.churned_arr, c)),
                new_logo_arr: Some(money(m.new_logo_arr, c)),
                cohort_size: m.cohort_size as i32,
                churned_logos: m.churned_logos as i32,
                net_revenue_retention: m.net_revenue_retention,
                gross_revenue_retention: m.gross_revenue_retention,
                logo_churn_rate: m.logo_churn_rate,
                revenue_churn_rate: m.revenue_churn_rate,
                renewals_due: m.renewals_due as i32,
                renewals_completed: m.renewals_completed as i32,
                renewal_rate: m.renewal_rate,
                average_clv: Some(money(m.average_clv, c)),
                quota_target: Some(money(m.quota_target, c)),
                quota_attainment: m.quota_attainment,
            }),
        }))
    }

    async fn erase_account(
        &self,
        request: Request<pb::EraseAccountRequest>,
    ) -> GrpcResult<pb::EraseAccountResponse> {
        let mut v = FieldViolations::new();
        let id = id_field(&mut v, "account_id", &request.get_ref().account_id);
        v.into_result()?;
        let (events, assignments) = self.store.erase_account(&id).await?;
        tracing::info!(account_id = %id, "account erased");
        Ok(Response::new(pb::EraseAccountResponse {
            contract_events_erased: events as i32,
            assignments_erased: assignments as i32,
        }))
    }

    async fn export_account(
        &self,
        request: Request<pb::ExportAccountRequest>,
    ) -> GrpcResult<pb::ExportAccountResponse> {
        let mut v = FieldViolations::new();
        let id = id_field(&mut v, "account_id", &request.get_ref().account_id);
        v.into_result()?;
        let account = self.store.get_account(&id).await?;
        let events = self
            .store
            .list_contract_events(
                &ContractEventFilter {
                    account_id: Some(id.clone()),
                    ..ContractEventFilter::default()
                },
                None,
                i64::MAX as u64,
            )
            .await?;
        let assignments = self.store.assignments_of(&id).await?;
        Ok(Response::new(pb::ExportAccountResponse {
            account: Some(self.account_to_proto(account, today())),
            contract_events: events.into_iter().map(|e| self.event_to_proto(e)).collect(),
            assignments: assignments
                .into_iter()
                .map(|a| pb::AssignmentRecord {
                    csm_id: a.csm_id,
                    assigned_at: Some(timestamp(a.assigned_at)),
                    unassigned_at: a.unassigned_at.map(timestamp),
                })
                .collect(),
        }))
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
    contract_kind_from_proto(value)
}
