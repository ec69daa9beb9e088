//! NPS, CES and CSAT statistics.

use nordstern_proto::{
    common::v1 as common,
    survey::v1::{self as pb},
};
use nordstern_runtime::{status::FieldViolations, wire::*};
use tonic::{Request, Response, Status};

use crate::store::WindowTotals;

use super::*;

pub(super) async fn get_survey_stats(
    grpc: &SurveyGrpc,
    request: Request<pb::GetSurveyStatsRequest>,
) -> GrpcResult<pb::GetSurveyStatsResponse> {
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    let scope = request.scope.clone().unwrap_or_default();
    match &scope.scope {
        None | Some(common::scope::Scope::Company(false)) => {
            v.add(
                "scope",
                "is required: company, segment, csm_id or account_id",
            );
        }
        Some(common::scope::Scope::Segment(segment)) if !(1..=3).contains(segment) => {
            v.add("scope.segment", "must be ENTERPRISE, SME or PROSUMER");
        }
        Some(common::scope::Scope::CsmId(id)) => {
            v.check("scope.csm_id", uuid(id));
        }
        Some(common::scope::Scope::AccountId(id)) => {
            v.check("scope.account_id", uuid(id));
        }
        _ => {}
    }
    let window = stats_window(&mut v, request.window.as_ref());
    let (Some(inner), Some(window)) = (scope.scope.as_ref(), window) else {
        // A value is missing only where a violation says why.
        return Err(v.into());
    };
    v.into_result()?;
    let accounts = grpc.resolve_scope(inner).await?;
    let previous = previous_window(window);
    let (current_totals, previous_totals) = tokio::try_join!(
        grpc.store
            .window_totals(&accounts, midnight(window.0), midnight(window.1)),
        grpc.store
            .window_totals(&accounts, midnight(previous.0), midnight(previous.1)),
    )
    .map_err(Status::from)?;
    Ok(Response::new(pb::GetSurveyStatsResponse {
        stats: Some(stats_to_proto(
            scope,
            window,
            &current_totals,
            previous,
            &previous_totals,
        )),
    }))
}

pub(super) async fn batch_get_survey_stats(
    grpc: &SurveyGrpc,
    request: Request<pb::BatchGetSurveyStatsRequest>,
) -> GrpcResult<pb::BatchGetSurveyStatsResponse> {
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    let ids = id_list(&mut v, "account_ids", &request.account_ids);
    let window = stats_window(&mut v, request.window.as_ref());
    let Some(window) = window else {
        // A value is missing only where a violation says why.
        return Err(v.into());
    };
    v.into_result()?;
    let previous = previous_window(window);
    let (current, before) = tokio::try_join!(
        grpc.store
            .totals_by_account(&ids, midnight(window.0), midnight(window.1)),
        grpc.store
            .totals_by_account(&ids, midnight(previous.0), midnight(previous.1)),
    )
    .map_err(Status::from)?;
    let empty = WindowTotals::default();
    let stats = ids
        .iter()
        .map(|id| {
            let scope = common::Scope {
                scope: Some(common::scope::Scope::AccountId(id.clone())),
            };
            stats_to_proto(
                scope,
                window,
                current.get(id).unwrap_or(&empty),
                previous,
                before.get(id).unwrap_or(&empty),
            )
        })
        .collect();
    Ok(Response::new(pb::BatchGetSurveyStatsResponse { stats }))
}
