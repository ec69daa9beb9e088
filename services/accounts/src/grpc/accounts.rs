//! Accounts: create, read, update, list.

use nordstern_domain::validate;
use nordstern_proto::accounts::v1 as pb;
use nordstern_runtime::idempotency::IdempotencyKey;
use nordstern_runtime::paging::{PageRequest, page};
use nordstern_runtime::{status::FieldViolations, wire::*};
use tonic::{Request, Response};

use crate::{
    convert::*,
    store::{AccountFilter, AccountPatch, AccountRow, NewAccount},
};

use super::*;

pub(super) async fn create_account(
    grpc: &AccountsGrpc,
    request: Request<pb::CreateAccountRequest>,
) -> GrpcResult<pb::CreateAccountResponse> {
    let (key, new) = parse_new_account(grpc, &request.into_inner())?;
    let row = grpc.store.create_account(key, new).await?;
    Ok(Response::new(pb::CreateAccountResponse {
        account: Some(grpc.account_to_proto(row, today())),
    }))
}

/// A CreateAccount request checked field by field: its idempotency key and the account.
pub(super) fn parse_new_account(
    grpc: &AccountsGrpc,
    request: &pb::CreateAccountRequest,
) -> Result<(Option<IdempotencyKey>, NewAccount), FieldViolations> {
    let mut v = FieldViolations::new();
    let key = idempotency_key(&mut v, "request_id", &request.request_id, request);
    let account = request.account.clone().unwrap_or_default();
    let name = v.check("account.name", validate::account_name(&account.name));
    let crm_id = if account.crm_id.is_empty() {
        None
    } else {
        v.check("account.crm_id", validate::crm_id(&account.crm_id))
    };
    let domain = if account.domain.is_empty() {
        None
    } else {
        v.check("account.domain", validate::web_domain(&account.domain))
    };
    let segment = v.check(
        "account.segment",
        bridge::required::<Segment>(account.segment),
    );
    let start_date = required_date(&mut v, "account.start_date", account.start_date.as_ref());
    let renewal_date = optional_date(
        &mut v,
        "account.renewal_date",
        account.renewal_date.as_ref(),
    );
    let modules = module_keys(&mut v, "account.module_keys", &account.module_keys);
    let csm_id = optional_id(&mut v, "account.csm_id", &account.csm_id);
    let assigned_at = optional_past_instant(&mut v, "assigned_at", request.assigned_at.as_ref());
    if request.assigned_at.is_some() && account.csm_id.is_empty() {
        v.add(
            "assigned_at",
            "needs account.csm_id: the CSM who took the account over",
        );
    }
    let initial_arr = amount(
        &mut v,
        "initial_arr",
        request.initial_arr.as_ref(),
        grpc.currency(),
    );
    if initial_arr.is_some_and(|arr| arr < 0) {
        v.add("initial_arr.minor_units", "must not be negative");
    }
    let (Some(name), Some(segment), Some(start_date)) = (name, segment, start_date) else {
        // A value is missing only where a violation says why.
        return Err(v);
    };
    v.into_result()?;
    Ok((
        key,
        NewAccount {
            name,
            crm_id,
            domain,
            segment,
            start_date,
            renewal_date,
            module_keys: modules,
            csm_id,
            assigned_at,
            initial_arr,
        },
    ))
}

pub(super) async fn get_account(
    grpc: &AccountsGrpc,
    request: Request<pb::GetAccountRequest>,
) -> GrpcResult<pb::GetAccountResponse> {
    let id = required_id("account_id", &request.get_ref().account_id)?;
    let row = grpc.store.get_account(&id).await?;
    Ok(Response::new(pb::GetAccountResponse {
        account: Some(grpc.account_to_proto(row, today())),
    }))
}

pub(super) async fn update_account(
    grpc: &AccountsGrpc,
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
            "domain",
            "segment",
            "start_date",
            "renewal_date",
            "module_keys",
        ],
    );
    let mut patch = AccountPatch::default();
    for path in &paths {
        match path.as_str() {
            "name" => patch.name = v.check("account.name", validate::account_name(&account.name)),
            "crm_id" => {
                patch.crm_id = if account.crm_id.is_empty() {
                    Some(None)
                } else {
                    v.check("account.crm_id", validate::crm_id(&account.crm_id))
                        .map(Some)
                }
            }
            "domain" => {
                patch.domain = if account.domain.is_empty() {
                    Some(None)
                } else {
                    v.check("account.domain", validate::web_domain(&account.domain))
                        .map(Some)
                }
            }
            "segment" => {
                patch.segment = v.check(
                    "account.segment",
                    bridge::required::<Segment>(account.segment),
                )
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
    let row = grpc.store.update_account(&id, patch).await?;
    Ok(Response::new(pb::UpdateAccountResponse {
        account: Some(grpc.account_to_proto(row, today())),
    }))
}

pub(super) async fn list_accounts(
    grpc: &AccountsGrpc,
    request: Request<pb::ListAccountsRequest>,
) -> GrpcResult<pb::ListAccountsResponse> {
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    let paging = PageRequest::parse_id(&mut v, request.page_size, &request.page_token);
    let (limit, after) = (paging.limit, paging.after_id().map(str::to_owned));
    let filter = AccountFilter {
        csm_id: optional_id(&mut v, "csm_id", &request.csm_id),
        segment: bridge::optional_field::<Segment>(&mut v, "segment", request.segment),
        tier: bridge::optional_field::<Tier>(&mut v, "tier", request.tier),
        lifecycle: bridge::optional_field::<LifecycleStage>(
            &mut v,
            "lifecycle_stage",
            request.lifecycle_stage,
        ),
        unassigned_only: request.unassigned_only,
        crm_id: (!request.crm_id.is_empty()).then(|| request.crm_id.clone()),
        domain: if request.domain.is_empty() {
            None
        } else {
            v.check("domain", validate::web_domain(&request.domain))
        },
    };
    if filter.unassigned_only && filter.csm_id.is_some() {
        v.add("unassigned_only", "cannot be combined with csm_id");
    }
    v.into_result()?;
    let today = today();
    let rows = grpc
        .store
        .list_accounts(&filter, after.as_deref(), limit + 1, today)
        .await?;
    let (accounts, next_page_token) = page(rows, limit, |row| row.account_id.clone());
    Ok(Response::new(pb::ListAccountsResponse {
        accounts: accounts
            .into_iter()
            .map(|row| grpc.account_to_proto(row, today))
            .collect(),
        next_page_token,
    }))
}

pub(super) async fn batch_get_accounts(
    grpc: &AccountsGrpc,
    request: Request<pb::BatchGetAccountsRequest>,
) -> GrpcResult<pb::BatchGetAccountsResponse> {
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    let ids = id_list(&mut v, "account_ids", &request.account_ids);
    v.into_result()?;
    let rows = grpc.store.batch_get_accounts(&ids).await?;
    let today = today();
    let mut by_id: std::collections::HashMap<String, AccountRow> = rows
        .into_iter()
        .map(|row| (row.account_id.clone(), row))
        .collect();
    let mut accounts = Vec::with_capacity(ids.len());
    let mut missing_account_ids = Vec::new();
    for id in ids {
        match by_id.remove(&id) {
            Some(row) => accounts.push(grpc.account_to_proto(row, today)),
            None if accounts.iter().any(|a: &pb::Account| a.account_id == id) => {}
            None => missing_account_ids.push(id),
        }
    }
    Ok(Response::new(pb::BatchGetAccountsResponse {
        accounts,
        missing_account_ids,
    }))
}
