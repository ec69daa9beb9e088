//! Usage summaries, one, many, or every account streamed.

use std::collections::HashMap;

use nordstern_proto::{
    accounts::v1 as accounts_pb,
    usage::v1::{self as pb},
};
use nordstern_runtime::{client::BoxStream, error::ServiceError, status::FieldViolations, wire::*};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::*;

pub(super) async fn get_usage_summary(
    grpc: &UsageGrpc,
    request: Request<pb::GetUsageSummaryRequest>,
) -> Result<Response<pb::GetUsageSummaryResponse>, Status> {
    let request = request.into_inner();
    let account_id = account_id_field(&request.account_id)?;
    let as_of = as_of(request.as_of.as_ref());
    let (accounts, _) = grpc
        .fetch_accounts(std::slice::from_ref(&account_id))
        .await?;
    if accounts.is_empty() {
        return Err(ServiceError::NotFound(format!("account {account_id}")).into());
    }
    let catalog = grpc.catalog().await?;
    let peers = grpc.peer_groups(&accounts, as_of, None).await?;
    let summary = grpc
        .summaries(&accounts, &catalog, &peers, as_of)
        .await?
        .pop();
    Ok(Response::new(pb::GetUsageSummaryResponse { summary }))
}

pub(super) async fn batch_get_usage_summaries(
    grpc: &UsageGrpc,
    request: Request<pb::BatchGetUsageSummariesRequest>,
) -> Result<Response<pb::BatchGetUsageSummariesResponse>, Status> {
    let request = request.into_inner();
    let mut violations = FieldViolations::new();
    let ids = id_list(&mut violations, "account_ids", &request.account_ids);
    violations.into_result().map_err(ServiceError::from)?;
    let as_of = as_of(request.as_of.as_ref());
    let (mut accounts, missing_account_ids) = grpc.fetch_accounts(&ids).await?;
    let order: HashMap<&String, usize> = ids.iter().enumerate().map(|(i, id)| (id, i)).collect();
    accounts.sort_by_key(|account| {
        order
            .get(&account.account_id)
            .copied()
            .unwrap_or(usize::MAX)
    });
    let catalog = grpc.catalog().await?;
    let peers = grpc.peer_groups(&accounts, as_of, None).await?;
    let summaries = grpc.summaries(&accounts, &catalog, &peers, as_of).await?;
    Ok(Response::new(pb::BatchGetUsageSummariesResponse {
        summaries,
        missing_account_ids,
    }))
}

pub(super) async fn stream_usage_summaries(
    grpc: &UsageGrpc,
    request: Request<pb::StreamUsageSummariesRequest>,
) -> Result<Response<BoxStream<pb::StreamUsageSummariesResponse>>, Status> {
    let request = request.into_inner();
    let mut violations = FieldViolations::new();
    let ids: Vec<String> = request
        .account_ids
        .iter()
        .enumerate()
        .map(|(index, id)| id_field(&mut violations, &format!("account_ids[{index}]"), id))
        .collect();
    violations.into_result().map_err(ServiceError::from)?;
    let as_of = as_of(request.as_of.as_ref());
    // Everything peers need is read before the first chunk, so every summary of the
    // stream ranks against the same snapshot.
    let everyone = grpc
        .list_accounts(accounts_pb::ListAccountsRequest::default())
        .await?;
    let (targets, missing) = if ids.is_empty() {
        (everyone.clone(), Vec::new())
    } else {
        grpc.fetch_accounts(&ids).await?
    };
    let catalog = grpc.catalog().await?;
    let peers = grpc.peer_groups(&targets, as_of, Some(&everyone)).await?;
    drop(everyone);

    let (sender, receiver) = tokio::sync::mpsc::channel(2);
    let service = grpc.clone();
    let task = async move {
        let mut missing = Some(missing);
        for chunk in targets.chunks(SUMMARY_CHUNK) {
            let message =
                service
                    .summaries(chunk, &catalog, &peers, as_of)
                    .await
                    .map(|summaries| pb::StreamUsageSummariesResponse {
                        summaries,
                        missing_account_ids: missing.take().unwrap_or_default(),
                    });
            let failed = message.is_err();
            if sender.send(message).await.is_err() || failed {
                return;
            }
        }
        if let Some(missing) = missing.filter(|m| !m.is_empty()) {
            let _ = sender
                .send(Ok(pb::StreamUsageSummariesResponse {
                    summaries: Vec::new(),
                    missing_account_ids: missing,
                }))
                .await;
        }
    };
    tokio::spawn(tracing::Instrument::in_current_span(task));
    Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
}
