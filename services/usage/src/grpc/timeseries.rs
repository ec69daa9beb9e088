//! Daily and weekly series for charts.

use chrono::Duration;
use nordstern_domain::usage::{self as domain, Granularity};
use nordstern_proto::usage::v1::{self as pb};
use nordstern_runtime::{error::ServiceError, status::FieldViolations, wire::*};
use tonic::{Request, Response, Status};

use crate::store::{SeriesMetric, day_number};

use super::*;

pub(super) async fn get_usage_timeseries(
    grpc: &UsageGrpc,
    request: Request<pb::GetUsageTimeseriesRequest>,
) -> Result<Response<pb::GetUsageTimeseriesResponse>, Status> {
    let request = request.into_inner();
    let mut violations = FieldViolations::new();
    let account_id = id_field(&mut violations, "account_id", &request.account_id);
    let feature_key = (!request.feature_key.is_empty()).then(|| request.feature_key.clone());
    let metric = match pb::UsageMetric::try_from(request.metric) {
        Ok(pb::UsageMetric::ActiveUsers) => Some(SeriesMetric::ActiveUsers),
        Ok(pb::UsageMetric::Logins) => Some(SeriesMetric::Logins),
        Ok(pb::UsageMetric::FeatureUses) => Some(SeriesMetric::FeatureUses(feature_key.clone())),
        Ok(pb::UsageMetric::IntegrationSyncs) => Some(SeriesMetric::IntegrationSyncs),
        Ok(pb::UsageMetric::TicketsOpened) => Some(SeriesMetric::TicketsOpened),
        Ok(pb::UsageMetric::TicketsResolved) => Some(SeriesMetric::TicketsResolved),
        Ok(pb::UsageMetric::Unspecified) | Err(_) => {
            violations.add("metric", "must be a known metric");
            None
        }
    };
    if feature_key.is_some() && !matches!(metric, Some(SeriesMetric::FeatureUses(_))) {
        violations.add("feature_key", "only applies to USAGE_METRIC_FEATURE_USES");
    }
    let granularity = match pb::Granularity::try_from(request.granularity) {
        Ok(pb::Granularity::Day) => Some(Granularity::Day),
        Ok(pb::Granularity::Week) => Some(Granularity::Week),
        Ok(pb::Granularity::Unspecified) | Err(_) => {
            violations.add("granularity", "must be DAY or WEEK");
            None
        }
    };
    let period = required_period(&mut violations, "period", request.period.as_ref());
    if let Some((start, end)) = period
        && (end - start).num_days() > MAX_SERIES_DAYS
    {
        violations.add("period", format!("at most {MAX_SERIES_DAYS} days"));
    }
    let (Some(metric), Some(granularity), Some((start, end))) = (metric, granularity, period)
    else {
        // A value is missing only where a violation says why.
        return Err(ServiceError::from(violations).into());
    };
    violations.into_result().map_err(ServiceError::from)?;
    let (accounts, _) = grpc
        .fetch_accounts(std::slice::from_ref(&account_id))
        .await?;
    if accounts.is_empty() {
        return Err(ServiceError::NotFound(format!("account {account_id}")).into());
    }
    let last = end - Duration::days(1);
    let buckets = domain::buckets(start, last, granularity);
    let first_day = buckets
        .first()
        .map_or(day_number(start), |d| day_number(*d));
    let last_day = match granularity {
        Granularity::Day => day_number(last),
        Granularity::Week => day_number(domain::bucket_start(last, granularity)) + 6,
    };
    let values = grpc
        .store
        .series(&account_id, &metric, granularity, first_day, last_day)
        .await
        .map_err(ServiceError::from)?;
    let points = buckets
        .into_iter()
        .map(|bucket| pb::UsagePoint {
            start_date: Some(date_to_proto(bucket)),
            value: values.get(&day_number(bucket)).copied().unwrap_or(0),
        })
        .collect();
    Ok(Response::new(pb::GetUsageTimeseriesResponse { points }))
}
