//! GDPR: erasure and export of an account.

use nordstern_proto::accounts::v1 as pb;
use nordstern_runtime::wire::*;
use tonic::{Request, Response};

use crate::store::ContractEventFilter;

use super::*;

pub(super) async fn erase_account(
    grpc: &AccountsGrpc,
    request: Request<pb::EraseAccountRequest>,
) -> GrpcResult<pb::EraseAccountResponse> {
    let id = required_id("account_id", &request.get_ref().account_id)?;
    let erased = grpc.store.erase_account(&id).await?;
    tracing::info!(account_id = %id, account_erased = erased.account_erased, "account erased");
    Ok(Response::new(pb::EraseAccountResponse {
        contract_events_erased: erased.contract_events as i32,
        assignments_erased: erased.assignments as i32,
        account_erased: erased.account_erased,
    }))
}

pub(super) async fn export_account(
    grpc: &AccountsGrpc,
    request: Request<pb::ExportAccountRequest>,
) -> GrpcResult<pb::ExportAccountResponse> {
    let id = required_id("account_id", &request.get_ref().account_id)?;
    let account = grpc.store.get_account(&id).await?;
    let events = grpc
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
    let assignments = grpc.store.assignments_of(&id).await?;
    Ok(Response::new(pb::ExportAccountResponse {
        account: Some(grpc.account_to_proto(account, today())),
        contract_events: events.into_iter().map(|e| grpc.event_to_proto(e)).collect(),
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
