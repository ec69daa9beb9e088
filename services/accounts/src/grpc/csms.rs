//! CSMs and handoffs.

use nordstern_domain::validate;
use nordstern_proto::accounts::v1 as pb;
use nordstern_runtime::paging::{PageRequest, page};
use nordstern_runtime::{status::FieldViolations, wire::*};
use tonic::{Request, Response};

use crate::store::{CsmPatch, NewCsm};

use super::*;

pub(super) async fn create_csm(
    grpc: &AccountsGrpc,
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
    let row = grpc
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
        csm: Some(grpc.csm_to_proto(row)),
    }))
}

pub(super) async fn get_csm(
    grpc: &AccountsGrpc,
    request: Request<pb::GetCsmRequest>,
) -> GrpcResult<pb::GetCsmResponse> {
    let id = required_id("csm_id", &request.get_ref().csm_id)?;
    let row = grpc.store.get_csm(&id).await?;
    Ok(Response::new(pb::GetCsmResponse {
        csm: Some(grpc.csm_to_proto(row)),
    }))
}

pub(super) async fn update_csm(
    grpc: &AccountsGrpc,
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
    let row = grpc.store.update_csm(&id, patch).await?;
    Ok(Response::new(pb::UpdateCsmResponse {
        csm: Some(grpc.csm_to_proto(row)),
    }))
}

pub(super) async fn list_csms(
    grpc: &AccountsGrpc,
    request: Request<pb::ListCsmsRequest>,
) -> GrpcResult<pb::ListCsmsResponse> {
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    let paging = PageRequest::parse_id(&mut v, request.page_size, &request.page_token);
    let (limit, after) = (paging.limit, paging.after_id().map(str::to_owned));
    v.into_result()?;
    let rows = grpc.store.list_csms(after.as_deref(), limit + 1).await?;
    let (csms, next_page_token) = page(rows, limit, |row| row.csm_id.clone());
    Ok(Response::new(pb::ListCsmsResponse {
        csms: csms.into_iter().map(|row| grpc.csm_to_proto(row)).collect(),
        next_page_token,
    }))
}

pub(super) async fn assign_account(
    grpc: &AccountsGrpc,
    request: Request<pb::AssignAccountRequest>,
) -> GrpcResult<pb::AssignAccountResponse> {
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    let account_id = id_field(&mut v, "account_id", &request.account_id);
    let csm_id = id_field(&mut v, "csm_id", &request.csm_id);
    let effective_at = optional_past_instant(&mut v, "effective_at", request.effective_at.as_ref());
    v.into_result()?;
    let (row, previous) = grpc
        .store
        .assign_account(&account_id, &csm_id, effective_at)
        .await?;
    Ok(Response::new(pb::AssignAccountResponse {
        account: Some(grpc.account_to_proto(row, today())),
        previous_csm_id: previous.unwrap_or_default(),
    }))
}
