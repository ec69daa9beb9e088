//! Alerts: the queue, acknowledging and resolving.

use nordstern_domain::health::alerts::AlertStatus;
use nordstern_proto::scoring::v1::{self as pb};
use nordstern_runtime::bridge;
use nordstern_runtime::paging::{page, page_size_of};
use nordstern_runtime::{
    status::FieldViolations,
    wire::{now_micros, optional_id, required_id, timestamp},
};
use tonic::{Request, Response, Status};

use super::*;
use crate::{
    convert::*,
    store::{AlertFilter, AlertRow},
};

pub(super) fn alert_to_proto(row: AlertRow) -> pb::Alert {
    pb::Alert {
        alert_id: row.alert_id,
        account_id: row.account_id,
        csm_id: row.csm_id,
        alert_type: nordstern_domain::health::alerts::AlertType::parse(&row.alert_type)
            .map_or(pb::AlertType::Unspecified, AlertType::to_proto) as i32,
        status: bridge::to_i32(row.status),
        reason: row.reason,
        survey_response_id: row.survey_response_id,
        arr: optional_money(row.arr_minor, &row.currency_code),
        raised_at: Some(timestamp(from_micros(row.raised_at))),
        acknowledged_at: row.acknowledged_at.map(|at| timestamp(from_micros(at))),
        resolved_at: row.resolved_at.map(|at| timestamp(from_micros(at))),
        last_raised_at: Some(timestamp(from_micros(row.last_raised_at))),
        raise_count: i32::try_from(row.raise_count).unwrap_or(i32::MAX),
        resolution: row.resolution,
    }
}

pub(super) async fn list_alerts(
    grpc: &ScoringGrpc,
    request: Request<pb::ListAlertsRequest>,
) -> Result<Response<pb::ListAlertsResponse>, Status> {
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    let limit = page_size_of(&mut v, request.page_size);
    let mut statuses: Vec<AlertStatus> = request
        .statuses
        .iter()
        .enumerate()
        .filter_map(|(at, s)| bridge::required_field(&mut v, &format!("statuses[{at}]"), *s))
        .collect();
    if statuses.is_empty() {
        statuses = vec![AlertStatus::Open, AlertStatus::Acknowledged];
    }
    let alert_types = request
        .alert_types
        .iter()
        .enumerate()
        .filter_map(|(at, t)| match bridge::optional::<AlertType>(*t) {
            Ok(Some(kind)) => Some(kind.as_str()),
            _ => {
                v.add(
                    format!("alert_types[{at}]"),
                    format!("must name an alert type, not {t}"),
                );
                None
            }
        })
        .collect();
    let filter = AlertFilter {
        csm_id: optional_id(&mut v, "csm_id", &request.csm_id),
        account_id: optional_id(&mut v, "account_id", &request.account_id),
        statuses,
        alert_types,
    };
    let after = Cursor::decode::<2>(&mut v, &request.page_token)
        .and_then(|[at, id]| Some((number(&mut v, &at)?, id)));
    v.into_result()?;
    let rows = grpc
        .scoring
        .store
        .alerts(&filter, after, limit + 1)
        .await
        .map_err(crate::db_error)?;
    let (rows, next_page_token) = page(rows, limit, |a| {
        Cursor::encode(&[a.raised_at.to_string(), a.alert_id.clone()])
    });
    Ok(Response::new(pb::ListAlertsResponse {
        alerts: rows.into_iter().map(alert_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn acknowledge_alert(
    grpc: &ScoringGrpc,
    request: Request<pb::AcknowledgeAlertRequest>,
) -> Result<Response<pb::AcknowledgeAlertResponse>, Status> {
    let alert = grpc
        .advance(&request.into_inner().alert_id, AlertStatus::Acknowledged)
        .await?;
    Ok(Response::new(pb::AcknowledgeAlertResponse {
        alert: Some(alert),
    }))
}

pub(super) async fn resolve_alert(
    grpc: &ScoringGrpc,
    request: Request<pb::ResolveAlertRequest>,
) -> Result<Response<pb::ResolveAlertResponse>, Status> {
    let alert = grpc
        .advance(&request.into_inner().alert_id, AlertStatus::Resolved)
        .await?;
    Ok(Response::new(pb::ResolveAlertResponse {
        alert: Some(alert),
    }))
}

impl ScoringGrpc {
    pub(super) async fn advance(
        &self,
        raw_id: &str,
        to_status: AlertStatus,
    ) -> Result<pb::Alert, Status> {
        let id = required_id("alert_id", raw_id)?;
        let alert = self
            .scoring
            .store
            .advance_alert(&id, to_status, now_micros().timestamp_micros())
            .await
            .map_err(crate::db_error)?
            .ok_or_else(|| Status::not_found(format!("alert {id} not found")))?;
        Ok(alert_to_proto(alert))
    }
}
