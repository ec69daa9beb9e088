//! Batch writes: each item parsed as its single call parses it, refusals per item with
//! their index, field and reason, the rest written in one transaction.

use nordstern_proto::accounts::v1 as pb;
use nordstern_runtime::{
    batch::{check_size, count, refused_items, violation_refusals, written},
    status::FieldViolations,
};
use tonic::{Request, Response};

use crate::store::AccountItem;

use super::{accounts::parse_new_account, contracts::parse_event, *};

pub(super) async fn batch_create_accounts(
    grpc: &AccountsGrpc,
    request: Request<pb::BatchCreateAccountsRequest>,
) -> GrpcResult<pb::BatchCreateAccountsResponse> {
    let items = request.into_inner().items;
    check_size("items", items.len())?;
    let mut refusals = Vec::new();
    let mut parsed = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        match parse_new_account(grpc, item) {
            Ok((None, new)) if new.crm_id.is_none() => refusals.extend(violation_refusals(
                index,
                FieldViolations::single(
                    "request_id",
                    "request_id or account.crm_id is required, so a batch sent again never creates an account twice",
                ),
            )),
            Ok((key, new)) => parsed.push((index, AccountItem { key, new })),
            Err(violations) => refusals.extend(violation_refusals(index, violations)),
        }
    }
    let (indices, parsed): (Vec<usize>, Vec<AccountItem>) = parsed.into_iter().unzip();
    let outcomes = grpc.store.create_accounts(parsed).await?;
    let today = today();
    let mut response = pb::BatchCreateAccountsResponse::default();
    for (index, account, duplicate) in written(indices, outcomes, &mut refusals) {
        response.accounts.push(pb::CreatedAccount {
            index: index as i32,
            account: Some(grpc.account_to_proto(account, today)),
            duplicate,
        });
    }
    response.created_count = count(&response.accounts, |a| !a.duplicate);
    response.duplicate_count = count(&response.accounts, |a| a.duplicate);
    refusals.sort_by_key(|r| r.index);
    response.refused_count = refused_items(&refusals);
    response.refusals = refusals;
    Ok(Response::new(response))
}

pub(super) async fn batch_record_contract_events(
    grpc: &AccountsGrpc,
    request: Request<pb::BatchRecordContractEventsRequest>,
) -> GrpcResult<pb::BatchRecordContractEventsResponse> {
    let events = request.into_inner().events;
    check_size("events", events.len())?;
    let mut refusals = Vec::new();
    let mut parsed = Vec::with_capacity(events.len());
    for (index, event) in events.into_iter().enumerate() {
        let single = pb::RecordContractEventRequest { event: Some(event) };
        match parse_event(grpc, single) {
            Ok(item) => parsed.push((index, item)),
            Err(violations) => refusals.extend(violation_refusals(index, violations)),
        }
    }
    let (indices, parsed): (Vec<usize>, Vec<_>) = parsed.into_iter().unzip();
    let outcomes = grpc.store.record_contract_events(parsed).await?;
    let mut response = pb::BatchRecordContractEventsResponse::default();
    for (index, event, duplicate) in written(indices, outcomes, &mut refusals) {
        response.events.push(pb::RecordedEvent {
            index: index as i32,
            event: Some(grpc.event_to_proto(event)),
            duplicate,
        });
    }
    response.recorded_count = count(&response.events, |e| !e.duplicate);
    response.duplicate_count = count(&response.events, |e| e.duplicate);
    refusals.sort_by_key(|r| r.index);
    response.refused_count = refused_items(&refusals);
    response.refusals = refusals;
    Ok(Response::new(response))
}
