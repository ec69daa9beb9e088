//! GDPR: erasure of an account or a person, export.

use nordstern_domain::usage::MAX_USER_ID_BYTES;
use nordstern_proto::usage::v1::{self as pb};
use nordstern_runtime::{client::BoxStream, error::ServiceError};
use tonic::{Request, Response, Status};

use crate::convert::{daily_to_proto, stored_event_to_proto};

use super::*;

pub(super) async fn erase_account_usage(
    grpc: &UsageGrpc,
    request: Request<pb::EraseAccountUsageRequest>,
) -> Result<Response<pb::EraseAccountUsageResponse>, Status> {
    let account_id = account_id_field(&request.get_ref().account_id)?;
    let erased = grpc
        .store
        .erase_account(&account_id)
        .await
        .map_err(ServiceError::from)?;
    tracing::info!(%account_id, events = erased.events, "account usage erased");
    Ok(Response::new(pb::EraseAccountUsageResponse {
        events_erased: erased.events as i64,
        rollup_rows_erased: erased.rollup_rows as i64,
    }))
}

pub(super) async fn erase_user_usage(
    grpc: &UsageGrpc,
    request: Request<pb::EraseUserUsageRequest>,
) -> Result<Response<pb::EraseUserUsageResponse>, Status> {
    let user_id = &request.get_ref().user_id;
    if user_id.is_empty() {
        return Err(ServiceError::invalid("user_id", "is required").into());
    }
    if user_id.len() > MAX_USER_ID_BYTES {
        return Err(
            ServiceError::invalid("user_id", format!("at most {MAX_USER_ID_BYTES} bytes")).into(),
        );
    }
    let user_key = grpc.pseudonyms.pseudonym(user_id);
    let erased = grpc
        .store
        .erase_user(&user_key)
        .await
        .map_err(ServiceError::from)?;
    // The pseudonym, never the raw id, goes to the log.
    tracing::info!(user = %user_key, events = erased.events, accounts = erased.accounts, "user usage erased");
    Ok(Response::new(pb::EraseUserUsageResponse {
        events_erased: erased.events as i64,
        account_count: i32::try_from(erased.accounts).unwrap_or(i32::MAX),
    }))
}

pub(super) async fn export_account_usage(
    grpc: &UsageGrpc,
    request: Request<pb::ExportAccountUsageRequest>,
) -> Result<Response<BoxStream<pb::ExportAccountUsageResponse>>, Status> {
    let account_id = account_id_field(&request.get_ref().account_id)?;
    let store = grpc.store.clone();
    Ok(spawn_stream(|sender| async move {
        let mut after = None;
        loop {
            let events = match store
                .export_events(&account_id, after.clone(), EXPORT_CHUNK)
                .await
            {
                Ok(events) => events,
                Err(error) => {
                    let _ = sender.send(Err(ServiceError::from(error).into())).await;
                    return;
                }
            };
            let full = events.len() as u64 == EXPORT_CHUNK;
            after = events.last().map(|e| (e.occurred_at, e.event_id.clone()));
            if !events.is_empty() {
                let chunk = pb::ExportAccountUsageResponse {
                    events: events
                        .into_iter()
                        .map(|e| stored_event_to_proto(&account_id, e))
                        .collect(),
                    daily_usage: Vec::new(),
                };
                if sender.send(Ok(chunk)).await.is_err() {
                    return;
                }
            }
            if !full {
                break;
            }
        }
        let daily = match store.export_daily(&account_id).await {
            Ok(daily) => daily,
            Err(error) => {
                let _ = sender.send(Err(ServiceError::from(error).into())).await;
                return;
            }
        };
        let mut rows = daily.into_iter().map(daily_to_proto).peekable();
        while rows.peek().is_some() {
            let chunk = pb::ExportAccountUsageResponse {
                events: Vec::new(),
                daily_usage: rows.by_ref().take(EXPORT_CHUNK as usize).collect(),
            };
            if sender.send(Ok(chunk)).await.is_err() {
                return;
            }
        }
    }))
}
