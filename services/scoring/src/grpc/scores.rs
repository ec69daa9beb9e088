//! Health scores: reads, the watch stream, history, colour changes, recomputes and the at-risk list.

use nordstern_domain::health::HealthColor;
use nordstern_proto::{
    common::v1 as common,
    scoring::v1::{self as pb},
};
use nordstern_runtime::paging::{page, page_size_of};
use nordstern_runtime::{
    client::BoxStream,
    status::FieldViolations,
    wire::{self, from_timestamp, id_field, id_list, optional_id, required_id, timestamp},
};
use std::collections::HashMap;
use tokio::sync::broadcast::error::RecvError;
use tonic::{Request, Response, Status};

use super::*;
use crate::{
    convert::*,
    pipeline::Target,
    store::{ColorChangeRow, ScoreFilter},
};

pub(super) fn color_change_to_proto(row: ColorChangeRow) -> pb::ColorChange {
    let color = |stored: &str| {
        HealthColor::parse(stored).map_or(common::HealthColor::Unspecified, HealthColor::to_proto)
            as i32
    };
    pb::ColorChange {
        account_id: row.account_id,
        from_color: color(&row.from_color),
        to_color: color(&row.to_color),
        score: row.score,
        changed_at: Some(timestamp(from_micros(row.changed_at))),
        csm_id: row.csm_id,
    }
}

pub(super) async fn get_health_score(
    grpc: &ScoringGrpc,
    request: Request<pb::GetHealthScoreRequest>,
) -> Result<Response<pb::GetHealthScoreResponse>, Status> {
    let request = request.into_inner();
    let id = required_id("account_id", &request.account_id)?;
    let score = grpc
        .scoring
        .latest(&id)
        .await?
        .ok_or_else(|| Status::not_found(format!("account {id} not found")))?;
    Ok(Response::new(pb::GetHealthScoreResponse {
        health_score: Some(score),
    }))
}

pub(super) async fn batch_get_health_scores(
    grpc: &ScoringGrpc,
    request: Request<pb::BatchGetHealthScoresRequest>,
) -> Result<Response<pb::BatchGetHealthScoresResponse>, Status> {
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    if request.account_ids.len() > MAX_BATCH {
        v.add("account_ids", format!("at most {MAX_BATCH} ids"));
    }
    let ids = id_list(&mut v, "account_ids", &request.account_ids);
    v.into_result()?;
    let mut found = grpc.scoring.latest_many(&ids).await?;
    let unscored: Vec<String> = ids
        .iter()
        .filter(|id| !found.contains_key(*id))
        .cloned()
        .collect();
    let mut missing = Vec::new();
    if !unscored.is_empty() {
        let report = grpc.scoring.recompute(Target::Ids(unscored)).await?;
        missing = report.missing_account_ids;
        for score in report.scores {
            found.insert(score.account_id.clone(), score);
        }
    }
    let mut health_scores = Vec::with_capacity(ids.len());
    for id in &ids {
        match found.get(id).cloned() {
            Some(score) => health_scores.push(score),
            None if !missing.contains(id) => missing.push(id.clone()),
            None => {}
        }
    }
    Ok(Response::new(pb::BatchGetHealthScoresResponse {
        health_scores,
        missing_account_ids: missing,
    }))
}

pub(super) async fn list_health_scores(
    grpc: &ScoringGrpc,
    request: Request<pb::ListHealthScoresRequest>,
) -> Result<Response<pb::ListHealthScoresResponse>, Status> {
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    let limit = page_size_of(&mut v, request.page_size);
    let color = v
        .check("color", bridge::optional::<HealthColor>(request.color))
        .flatten()
        .map(|c| c.as_str());
    let filter = ScoreFilter {
        color,
        csm_id: optional_id(&mut v, "csm_id", &request.csm_id),
        segment: optional_segment(&mut v, "segment", request.segment),
        changed_since: from_timestamp(request.changed_since.as_ref()).map(|t| t.timestamp_micros()),
    };
    let after = Cursor::decode::<2>(&mut v, &request.page_token)
        .and_then(|[at, id]| Some((number(&mut v, &at)?, id)));
    v.into_result()?;
    let rows = grpc
        .scoring
        .store
        .list_scores(&filter, after, limit + 1)
        .await
        .map_err(crate::db_error)?;
    let (rows, next_page_token) = page(rows, limit, |(at, id, _)| {
        Cursor::encode(&[at.to_string(), id.clone()])
    });
    let health_scores = rows
        .iter()
        .map(|(_, _, payload)| decode_score(payload))
        .collect::<Result<_, _>>()?;
    Ok(Response::new(pb::ListHealthScoresResponse {
        health_scores,
        next_page_token,
    }))
}

pub(super) async fn watch_health_scores(
    grpc: &ScoringGrpc,
    request: Request<pb::WatchHealthScoresRequest>,
) -> Result<Response<BoxStream<pb::WatchHealthScoresResponse>>, Status> {
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    let csm_id = optional_id(&mut v, "csm_id", &request.csm_id);
    let segment = optional_segment(&mut v, "segment", request.segment).map(|_| request.segment);
    v.into_result()?;
    let mut changes = grpc.scoring.changes.subscribe();
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let score = match changes.recv().await {
                Ok(score) => score,
                Err(RecvError::Closed) => return,
                Err(RecvError::Lagged(skipped)) => {
                    let _ = sender
                        .send(Err(Status::resource_exhausted(format!(
                            "the watcher fell {skipped} scores behind; resume with ListHealthScores changed_since"
                        ))))
                        .await;
                    return;
                }
            };
            let wanted = csm_id.as_ref().is_none_or(|c| *c == score.csm_id)
                && segment.is_none_or(|s| s == score.segment)
                && (!request.color_changes_only || score.color_changed_at == score.computed_at);
            if wanted
                && sender
                    .send(Ok(pb::WatchHealthScoresResponse {
                        health_score: Some(score),
                    }))
                    .await
                    .is_err()
            {
                return;
            }
        }
    });
    Ok(Response::new(Box::pin(
        tokio_stream::wrappers::ReceiverStream::new(receiver),
    )))
}

pub(super) async fn list_health_score_history(
    grpc: &ScoringGrpc,
    request: Request<pb::ListHealthScoreHistoryRequest>,
) -> Result<Response<pb::ListHealthScoreHistoryResponse>, Status> {
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    let id = id_field(&mut v, "account_id", &request.account_id);
    let limit = page_size_of(&mut v, request.page_size);
    let window = request
        .period
        .as_ref()
        .and_then(|p| wire::required_period(&mut v, "period", Some(p)))
        .map(|(start, end)| (day_start(start), day_start(end)));
    let before =
        Cursor::decode::<1>(&mut v, &request.page_token).and_then(|[n]| number(&mut v, &n));
    v.into_result()?;
    let rows = grpc
        .scoring
        .store
        .history(&id, window, before, limit + 1)
        .await
        .map_err(crate::db_error)?;
    let (rows, next_page_token) = page(rows, limit, |row| row.version.to_string());
    Ok(Response::new(pb::ListHealthScoreHistoryResponse {
        entries: rows
            .into_iter()
            .map(|row| pb::HealthScoreHistoryEntry {
                computed_at: Some(timestamp(from_micros(row.computed_at))),
                score: row.score,
                color: HealthColor::parse(&row.color)
                    .map_or(common::HealthColor::Unspecified, HealthColor::to_proto)
                    as i32,
                churn_probability: row.churn_probability,
            })
            .collect(),
        next_page_token,
    }))
}

pub(super) async fn batch_get_health_trends(
    grpc: &ScoringGrpc,
    request: Request<pb::BatchGetHealthTrendsRequest>,
) -> Result<Response<pb::BatchGetHealthTrendsResponse>, Status> {
    use nordstern_domain::health::trend::{Computation, daily_last};
    const MAX_DAYS: i32 = 365;
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    if request.account_ids.len() > MAX_BATCH {
        v.add("account_ids", format!("at most {MAX_BATCH} ids"));
    }
    let ids = id_list(&mut v, "account_ids", &request.account_ids);
    let days = match request.days {
        0 => 90,
        days @ 1..=MAX_DAYS => days,
        _ => {
            v.add("days", format!("must be 1 to {MAX_DAYS}, or 0 for 90"));
            90
        }
    };
    v.into_result()?;
    let today = chrono::Utc::now().date_naive();
    let first_day = today - chrono::Days::new(u64::try_from(days - 1).unwrap_or_default());
    let from = day_start(first_day);
    let rows = grpc
        .scoring
        .store
        .history_of_many(&ids, from)
        .await
        .map_err(crate::db_error)?;
    let mut by_account: HashMap<String, Vec<Computation>> = HashMap::new();
    for (account_id, computed_at_micros, score, color) in rows {
        let Some(color) = HealthColor::parse(&color) else {
            continue;
        };
        by_account.entry(account_id).or_default().push(Computation {
            computed_at_micros,
            score,
            color,
        });
    }
    let trends = ids
        .into_iter()
        .map(|account_id| {
            let points = daily_last(by_account.remove(&account_id).unwrap_or_default())
                .into_iter()
                .map(|day| pb::HealthTrendPoint {
                    day: Some(wire::date_to_proto(day.day)),
                    score: day.score,
                    color: day.color.to_proto() as i32,
                })
                .collect();
            pb::HealthTrend { account_id, points }
        })
        .collect();
    Ok(Response::new(pb::BatchGetHealthTrendsResponse { trends }))
}

pub(super) async fn list_color_changes(
    grpc: &ScoringGrpc,
    request: Request<pb::ListColorChangesRequest>,
) -> Result<Response<pb::ListColorChangesResponse>, Status> {
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    let limit = page_size_of(&mut v, request.page_size);
    let account_id = optional_id(&mut v, "account_id", &request.account_id);
    let csm_id = optional_id(&mut v, "csm_id", &request.csm_id);
    let since = from_timestamp(request.changed_since.as_ref()).map(|t| t.timestamp_micros());
    let after = Cursor::decode::<3>(&mut v, &request.page_token)
        .and_then(|[at, id, version]| Some((number(&mut v, &at)?, id, number(&mut v, &version)?)));
    v.into_result()?;
    let rows = grpc
        .scoring
        .store
        .color_changes(
            account_id.as_deref(),
            csm_id.as_deref(),
            since,
            request.downward_only,
            after,
            limit + 1,
        )
        .await
        .map_err(crate::db_error)?;
    let (changes, next_page_token) = page(rows, limit, |row| {
        Cursor::encode(&[
            row.changed_at.to_string(),
            row.account_id.clone(),
            row.version.to_string(),
        ])
    });
    Ok(Response::new(pb::ListColorChangesResponse {
        color_changes: changes.into_iter().map(color_change_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn recompute_health_score(
    grpc: &ScoringGrpc,
    request: Request<pb::RecomputeHealthScoreRequest>,
) -> Result<Response<pb::RecomputeHealthScoreResponse>, Status> {
    let request = request.into_inner();
    let id = required_id("account_id", &request.account_id)?;
    let score = grpc
        .scoring
        .recompute_one(&id)
        .await?
        .ok_or_else(|| Status::not_found(format!("account {id} not found or churned")))?;
    Ok(Response::new(pb::RecomputeHealthScoreResponse {
        health_score: Some(score),
    }))
}

pub(super) async fn recompute_health_scores(
    grpc: &ScoringGrpc,
    request: Request<pb::RecomputeHealthScoresRequest>,
) -> Result<Response<pb::RecomputeHealthScoresResponse>, Status> {
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    let ids = id_list(&mut v, "account_ids", &request.account_ids);
    if request.all_accounts && !ids.is_empty() {
        v.add("account_ids", "must be empty when all_accounts is set");
    }
    if !request.all_accounts && ids.is_empty() {
        v.add("account_ids", "name accounts or set all_accounts");
    }
    v.into_result()?;
    let target = if request.all_accounts {
        Target::All
    } else {
        Target::Ids(ids)
    };
    let report = grpc.scoring.recompute(target).await?;
    Ok(Response::new(pb::RecomputeHealthScoresResponse {
        accounts_scored: clamp_i32(report.accounts_scored),
        color_changes: clamp_i32(report.color_changes),
        alerts_raised: clamp_i32(report.alerts_raised),
        alerts_resolved: clamp_i32(report.alerts_resolved),
        missing_account_ids: report.missing_account_ids,
        duration: report.elapsed.try_into().ok(),
    }))
}

pub(super) async fn list_at_risk_accounts(
    grpc: &ScoringGrpc,
    request: Request<pb::ListAtRiskAccountsRequest>,
) -> Result<Response<pb::ListAtRiskAccountsResponse>, Status> {
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    let limit = page_size_of(&mut v, request.page_size);
    let csm_id = optional_id(&mut v, "csm_id", &request.csm_id);
    let segment = optional_segment(&mut v, "segment", request.segment);
    let after = Cursor::decode::<2>(&mut v, &request.page_token)
        .and_then(|[risk, id]| Some((number(&mut v, &risk)?, id)));
    v.into_result()?;
    let rows = grpc
        .scoring
        .store
        .at_risk(
            &ScoreFilter {
                csm_id,
                segment,
                ..ScoreFilter::default()
            },
            after,
            limit + 1,
        )
        .await
        .map_err(crate::db_error)?;
    let (rows, next_page_token) = page(rows, limit, |(risk, id, _)| {
        Cursor::encode(&[risk.to_string(), id.clone()])
    });
    Ok(Response::new(pb::ListAtRiskAccountsResponse {
        health_scores: rows
            .iter()
            .map(|(_, _, payload)| decode_score(payload))
            .collect::<Result<_, _>>()?,
        next_page_token,
    }))
}
