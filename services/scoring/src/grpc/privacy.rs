//! GDPR: erasure and export of an account's scoring data.

use nordstern_proto::scoring::v1::{self as pb};
use nordstern_runtime::wire::required_id;
use tonic::{Request, Response, Status};

use super::*;
use crate::{convert::*, store::AlertFilter};

pub(super) async fn erase_account_scoring_data(
    grpc: &ScoringGrpc,
    request: Request<pb::EraseAccountScoringDataRequest>,
) -> Result<Response<pb::EraseAccountScoringDataResponse>, Status> {
    let request = request.into_inner();
    let id = required_id("account_id", &request.account_id)?;
    let (scores, changes, alerts) = grpc
        .scoring
        .store
        .erase_account(&id)
        .await
        .map_err(crate::db_error)?;
    grpc.scoring.cache.remove(&id).await;
    Ok(Response::new(pb::EraseAccountScoringDataResponse {
        scores_erased: clamp_i32(scores as usize),
        color_changes_erased: clamp_i32(changes as usize),
        alerts_erased: clamp_i32(alerts as usize),
    }))
}

pub(super) async fn export_account_scoring_data(
    grpc: &ScoringGrpc,
    request: Request<pb::ExportAccountScoringDataRequest>,
) -> Result<Response<pb::ExportAccountScoringDataResponse>, Status> {
    let request = request.into_inner();
    let id = required_id("account_id", &request.account_id)?;
    let store = &grpc.scoring.store;
    let latest = store
        .latest(std::slice::from_ref(&id))
        .await
        .map_err(crate::db_error)?;
    let health_score = latest.get(&id).map(|p| decode_score(p)).transpose()?;
    let history = store
        .history(&id, None, None, u64::MAX / 2)
        .await
        .map_err(crate::db_error)?
        .iter()
        .map(|row| decode_score(&row.payload))
        .collect::<Result<_, _>>()?;
    let color_changes = store
        .color_changes(Some(&id), None, None, false, None, u64::MAX / 2)
        .await
        .map_err(crate::db_error)?
        .into_iter()
        .map(color_change_to_proto)
        .collect();
    let alerts = store
        .alerts(
            &AlertFilter {
                account_id: Some(id.clone()),
                ..AlertFilter::default()
            },
            None,
            u64::MAX / 2,
        )
        .await
        .map_err(crate::db_error)?
        .into_iter()
        .map(alert_to_proto)
        .collect();
    let opportunities = store
        .opportunities(None, Some(&id), None, u64::MAX / 2)
        .await
        .map_err(crate::db_error)?
        .into_iter()
        .map(opportunity_to_proto)
        .collect();
    Ok(Response::new(pb::ExportAccountScoringDataResponse {
        health_score,
        history,
        color_changes,
        alerts,
        opportunities,
    }))
}
