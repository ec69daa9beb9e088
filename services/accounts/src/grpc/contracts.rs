//! Contract events and the revenue metrics derived from them.

use nordstern_domain::{account::ContractEventKind, contract::ContractChange};
use nordstern_proto::{accounts::v1 as pb, common::v1 as common};
use nordstern_runtime::paging::{PageRequest, page};
use nordstern_runtime::{status::FieldViolations, wire::*};
use tonic::{Request, Response};

use crate::{
    convert::*,
    store::{ContractEventFilter, EventItem, MetricScope},
};

use super::*;

pub(super) async fn record_contract_event(
    grpc: &AccountsGrpc,
    request: Request<pb::RecordContractEventRequest>,
) -> GrpcResult<pb::RecordContractEventResponse> {
    let item = parse_event(grpc, request.into_inner())?;
    let (event, account) = grpc
        .store
        .record_contract_event(&item.account_id, item.change, item.key)
        .await?;
    Ok(Response::new(pb::RecordContractEventResponse {
        event: Some(grpc.event_to_proto(event)),
        account: Some(grpc.account_to_proto(account, today())),
    }))
}

/// A RecordContractEvent request checked field by field.
pub(super) fn parse_event(
    grpc: &AccountsGrpc,
    request: pb::RecordContractEventRequest,
) -> Result<EventItem, FieldViolations> {
    let mut v = FieldViolations::new();
    let event = request.event.clone().unwrap_or_default();
    let account_id = id_field(&mut v, "event.account_id", &event.account_id);
    let kind = v.check(
        "event.kind",
        bridge::required::<ContractEventKind>(event.kind),
    );
    let arr_change = amount(
        &mut v,
        "event.arr_change",
        event.arr_change.as_ref(),
        grpc.currency(),
    )
    .unwrap_or(0);
    let effective_date = required_date(
        &mut v,
        "event.effective_date",
        event.effective_date.as_ref(),
    );
    let renewal_date = optional_date(&mut v, "event.renewal_date", event.renewal_date.as_ref());
    if event.idempotency_key.is_empty() {
        v.add(
            "event.idempotency_key",
            "is required, so a retried event is never counted twice",
        );
    }
    let key = idempotency_key(
        &mut v,
        "event.idempotency_key",
        &event.idempotency_key,
        &request,
    );
    let (Some(kind), Some(effective_date), Some(key)) = (kind, effective_date, key) else {
        // A value is missing only where a violation says why.
        return Err(v);
    };
    v.into_result()?;
    Ok(EventItem {
        account_id,
        change: ContractChange {
            kind,
            arr_change,
            effective_date,
            renewal_date,
        },
        key,
    })
}

pub(super) async fn list_contract_events(
    grpc: &AccountsGrpc,
    request: Request<pb::ListContractEventsRequest>,
) -> GrpcResult<pb::ListContractEventsResponse> {
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    let account_id = optional_id(&mut v, "account_id", &request.account_id);
    let paging = PageRequest::parse_id(&mut v, request.page_size, &request.page_token);
    let (limit, after) = (paging.limit, paging.after_id().map(str::to_owned));
    let kinds: Vec<ContractEventKind> = request
        .kinds
        .iter()
        .enumerate()
        .filter_map(|(at, kind)| v.check(&format!("kinds[{at}]"), kind_filter(*kind)))
        .collect();
    let effective_within = request
        .effective_within
        .as_ref()
        .and_then(|period| required_period(&mut v, "effective_within", Some(period)));
    v.into_result()?;
    let filter = ContractEventFilter {
        account_id,
        kinds,
        effective_within,
    };
    let rows = grpc
        .store
        .list_contract_events(&filter, after.as_deref(), limit + 1)
        .await?;
    let (events, next_page_token) = page(rows, limit, |row| row.event_id.clone());
    Ok(Response::new(pb::ListContractEventsResponse {
        events: events
            .into_iter()
            .map(|row| grpc.event_to_proto(row))
            .collect(),
        next_page_token,
    }))
}

pub(super) async fn get_revenue_metrics(
    grpc: &AccountsGrpc,
    request: Request<pb::GetRevenueMetricsRequest>,
) -> GrpcResult<pb::GetRevenueMetricsResponse> {
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    let scope = match request.scope.and_then(|scope| scope.scope) {
        None | Some(common::scope::Scope::Company(false)) => {
            v.add(
                "scope",
                "is required: company, segment, csm_id or account_id",
            );
            None
        }
        Some(common::scope::Scope::Company(true)) => Some(MetricScope::Company),
        Some(common::scope::Scope::Segment(segment)) => v
            .check("scope.segment", bridge::required::<Segment>(segment))
            .map(MetricScope::Segment),
        Some(common::scope::Scope::CsmId(id)) => {
            v.check("scope.csm_id", uuid(&id)).map(MetricScope::Csm)
        }
        Some(common::scope::Scope::AccountId(id)) => v
            .check("scope.account_id", uuid(&id))
            .map(MetricScope::Account),
    };
    let period = required_period(&mut v, "period", request.period.as_ref());
    let (Some(scope), Some((start, end))) = (scope, period) else {
        // A value is missing only where a violation says why.
        return Err(v.into());
    };
    v.into_result()?;
    let m = grpc.store.revenue_metrics(&scope, start, end).await?;
    let c = grpc.currency();
    Ok(Response::new(pb::GetRevenueMetricsResponse {
        metrics: Some(pb::RevenueMetrics {
            start_arr: Some(money(m.start_arr, c)),
            end_arr: Some(money(m.end_arr, c)),
            expansion_arr: Some(money(m.expansion_arr, c)),
            contraction_arr: Some(money(m.contraction_arr, c)),
            churned_arr: Some(money(m.churned_arr, c)),
            new_logo_arr: Some(money(m.new_logo_arr, c)),
            cohort_size: m.cohort_size as i32,
            churned_logos: m.churned_logos as i32,
            net_revenue_retention: m.net_revenue_retention,
            gross_revenue_retention: m.gross_revenue_retention,
            logo_churn_rate: m.logo_churn_rate,
            revenue_churn_rate: m.revenue_churn_rate,
            renewals_due: m.renewals_due as i32,
            renewals_completed: m.renewals_completed as i32,
            renewal_rate: m.renewal_rate,
            average_clv: Some(money(m.average_clv, c)),
            quota_target: Some(money(m.quota.target, c)),
            quota_attainment: m.quota.attainment,
            quota_baseline_arr: Some(money(m.quota.baseline_arr, c)),
            quota_result_arr: Some(money(m.quota.result_arr, c)),
        }),
    }))
}
