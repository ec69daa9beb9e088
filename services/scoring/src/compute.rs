//! One account's computation: the health score, churn prediction, alerts and upsell
//! suggestions from what the other services report, against the account's previous
//! score. No I/O here; the recompute pipeline gathers the inputs and stores the result.

use chrono::{DateTime, NaiveDate, Utc};
use nordstern_domain::health::alerts::AlertStatus;
use nordstern_domain::{
    churn::{Model, PlatformFeatures, arr_in_major_units},
    health::{
        self, HealthInputs, IntegrationStatus, ScoringConfig,
        alerts::{AlertContext, alerts, one_per_type, resolution},
        upsell::{CatalogModule, integration_offered, upsell_opportunities},
    },
};
use nordstern_proto::{
    accounts::v1 as accounts_pb, common::v1 as common, scoring::v1 as pb, survey::v1 as survey_pb,
    usage::v1 as usage_pb,
};
use nordstern_runtime::wire::{from_micros, new_id, timestamp};

use crate::{
    convert::*,
    store::{AlertRow, ColorChangeRow, OpenAlert, OpportunityRow, PreviousScore, ScoreWrite},
};

/// Minor units per major unit of the currencies ARR is kept in (two decimals, as for
/// EUR, USD, GBP and CHF).
const CURRENCY_DECIMALS: u32 = 2;

/// What every computation of one recompute shares.
pub struct Context<'a> {
    pub config: &'a ScoringConfig,
    pub config_version: i32,
    pub model: &'a Model,
    pub model_id: &'a str,
    pub model_version: i32,
    pub catalog: &'a [CatalogModule],
    pub now: DateTime<Utc>,
}

/// What the other services report about one account.
pub struct Inputs<'a> {
    pub account: &'a accounts_pb::Account,
    pub summary: Option<&'a usage_pb::UsageSummary>,
    pub stats: Option<&'a survey_pb::SurveyStats>,
    pub previous: Option<&'a PreviousScore>,
    /// Detractor responses of the account not yet alerted on.
    pub detractor_ids: &'a [String],
    /// The account's open and acknowledged alerts, to resolve those that cleared.
    pub open_alerts: &'a [OpenAlert],
}

pub fn health_inputs(
    account: &accounts_pb::Account,
    catalog: &[CatalogModule],
    summary: Option<&usage_pb::UsageSummary>,
    stats: Option<&survey_pb::SurveyStats>,
    today: NaiveDate,
) -> HealthInputs {
    let window = |pick: fn(&usage_pb::UsageSummary) -> Option<&usage_pb::ActivityWindow>| {
        summary.and_then(pick).copied().unwrap_or_default()
    };
    let (w7, w30, w90) = (
        window(|s| s.last_7_days.as_ref()),
        window(|s| s.last_30_days.as_ref()),
        window(|s| s.last_90_days.as_ref()),
    );
    let count = |n: i32| u32::try_from(n).unwrap_or(0);
    HealthInputs {
        active_days_7: count(w7.active_days),
        active_days_30: count(w30.active_days),
        active_days_90: count(w90.active_days),
        active_users_30: count(w30.active_users),
        active_users_90: count(w90.active_users),
        feature_breadth: summary.and_then(|s| s.feature_breadth),
        integration: IntegrationStatus::from_summary(
            summary.is_some_and(|s| s.integration_live),
            summary.is_some_and(|s| s.last_integration_sync_on.is_some()),
            integration_offered(catalog, &account.module_keys),
        ),
        usage_trend: summary.and_then(|s| s.usage_trend),
        portfolio_percentile: summary.and_then(|s| s.portfolio_percentile),
        segment_percentile: summary.and_then(|s| s.segment_percentile),
        nps: stats.and_then(|s| s.nps.as_ref()).and_then(|n| n.nps),
        ces_mean: stats.and_then(|s| s.ces.as_ref()).and_then(|c| c.mean),
        open_tickets: summary.map_or(0, |s| count(s.open_tickets)),
        tickets_last_30_days: summary.map_or(0, |s| count(s.tickets_last_30_days)),
        median_hours_to_resolution: summary
            .and_then(|s| s.median_time_to_resolution)
            .map(|d| (d.seconds as f64 + f64::from(d.nanos) / 1e9) / 3600.0),
        days_to_renewal: date_from_proto(account.renewal_date.as_ref())
            .map(|renewal| health::days_until(renewal, today)),
    }
}

/// The churn model's view of a score: ARR, the component values present, segment, tier.
pub fn platform_features(score: &pb::HealthScore) -> PlatformFeatures {
    let mut features = PlatformFeatures {
        arr: score
            .arr
            .as_ref()
            .map(|arr| arr_in_major_units(arr.minor_units, CURRENCY_DECIMALS)),
        segment: Segment::from_i32(score.segment),
        tier: Tier::from_i32(score.tier),
        ..PlatformFeatures::default()
    };
    for component in &score.components {
        if let Some(kind) = HealthComponent::from_i32(component.component) {
            features.set_component(kind.as_str(), component.value);
        }
    }
    features
}

/// The account's new score (version = previous + 1) and everything it writes.
pub fn compute(inputs: &Inputs<'_>, context: &Context<'_>) -> ScoreWrite {
    let account = inputs.account;
    let today = context.now.date_naive();
    let now_micros = context.now.timestamp_micros();
    let segment = Segment::from_i32(account.segment);
    let weights = segment.map_or(context.config.segment_weights().default_weights(), |s| {
        context.config.weights_for(s)
    });
    let health_inputs = health_inputs(
        account,
        context.catalog,
        inputs.summary,
        inputs.stats,
        today,
    );
    let breakdown = health::score(&health_inputs, weights, context.config.thresholds());

    let arr = account.arr.clone().unwrap_or_default();
    let mut score = pb::HealthScore {
        account_id: account.account_id.clone(),
        score: breakdown.score,
        color: HealthColor::to_proto(breakdown.color) as i32,
        components: breakdown
            .components
            .iter()
            .map(|c| pb::ComponentScore {
                component: bridge::to_i32(c.component),
                value: c.value,
                weight: c.weight,
                normalized_weight: c.normalized_weight,
                contribution: c.contribution,
                used: c.used,
                explanation: match c.component {
                    HealthComponent::Integration => {
                        health_inputs.integration.explanation().to_owned()
                    }
                    _ => String::new(),
                },
            })
            .collect(),
        churn: None,
        arr: Some(arr.clone()),
        arr_at_risk: None,
        csm_id: account.csm_id.clone(),
        segment: account.segment,
        tier: account.tier,
        renewal_date: account.renewal_date,
        config_version: context.config_version,
        version: inputs.previous.map_or(1, |p| p.version + 1),
        // As stored: whole microseconds, so that a change's instant equals it.
        computed_at: Some(timestamp(from_micros(now_micros))),
        changed_at: None,
        previous_color: common::HealthColor::Unspecified as i32,
        color_changed_at: None,
    };
    let prediction = context
        .model
        .predict(&platform_features(&score).feature_values());
    let arr_at_risk = (arr.minor_units as f64 * prediction.probability).round() as i64;
    score.arr_at_risk = optional_money(arr_at_risk, &arr.currency_code);
    score.churn = Some(pb::ChurnPrediction {
        probability: prediction.probability,
        top_drivers: drivers_to_proto(prediction.top_drivers),
        model_id: context.model_id.to_owned(),
        model_version: context.model_version,
    });

    let previous = inputs.previous;
    let previous_color = previous.and_then(|p| p.color);
    let color_changed = previous_color != Some(breakdown.color);
    let changed = previous.is_none_or(|p| {
        color_changed
            || (p.score - score.score).abs() > 1e-9
            || (p.churn_probability.unwrap_or(-1.0) - prediction.probability).abs() > 1e-12
    });
    // Instants as stored (micros) first; the message carries the same as timestamps.
    let changed_at = if changed {
        Some(now_micros)
    } else {
        previous.and_then(|p| p.changed_at)
    };
    let (carried_color, color_changed_at) = match previous {
        Some(_) if color_changed && previous_color.is_some() => (previous_color, Some(now_micros)),
        Some(p) => (p.previous_color, p.color_changed_at),
        None => (None, None),
    };
    let at = |micros: Option<i64>| micros.map(|micros| timestamp(from_micros(micros)));
    score.changed_at = at(changed_at);
    score.color_changed_at = at(color_changed_at);
    if let Some(color) = carried_color {
        score.previous_color = HealthColor::to_proto(color) as i32;
    }

    let start_date = date_from_proto(account.start_date.as_ref()).unwrap_or(today);
    let alert_context = AlertContext {
        today,
        previous_color,
        color: breakdown.color,
        usage_trend: health_inputs.usage_trend,
        renewal_date: date_from_proto(account.renewal_date.as_ref()),
        start_date,
        has_csm: !account.csm_id.is_empty(),
        new_detractor_response_ids: inputs.detractor_ids,
    };
    let alert_resolutions: Vec<(String, String)> = inputs
        .open_alerts
        .iter()
        .filter_map(|open| {
            resolution(open.alert_type, &open.reason, &alert_context)
                .map(|why| (open.alert_id.clone(), why))
        })
        .collect();
    // An alert still open with the same reason is news to no one: the store would keep
    // it as it is (only a new reason updates an open alert), so it is not offered again,
    // which spares every recompute a conflicting insert per open alert. One resolved by
    // a CSM while this computation ran is raised again by the next recompute.
    let alert_rows = one_per_type(alerts(&alert_context))
        .into_iter()
        .filter(|(candidate, _)| {
            !inputs.open_alerts.iter().any(|open| {
                open.alert_type == candidate.kind
                    && open.reason == candidate.reason
                    && !alert_resolutions.iter().any(|(id, _)| *id == open.alert_id)
            })
        })
        .map(|(candidate, count)| AlertRow {
            alert_id: new_id(),
            account_id: account.account_id.clone(),
            csm_id: account.csm_id.clone(),
            alert_type: candidate.kind.as_str().to_owned(),
            status: AlertStatus::Open,
            reason: candidate.reason,
            survey_response_id: candidate.survey_response_id.unwrap_or_default(),
            arr_minor: arr.minor_units,
            currency_code: arr.currency_code.clone(),
            raised_at: now_micros,
            last_raised_at: now_micros,
            raise_count: i64::from(count),
            acknowledged_at: None,
            resolved_at: None,
            resolution: String::new(),
        })
        .collect();

    let opportunities = upsell_opportunities(
        breakdown.color,
        breakdown.score,
        health_inputs.feature_breadth,
        &account.module_keys,
        context.catalog,
    )
    .into_iter()
    .filter_map(|candidate| {
        let module = context
            .catalog
            .iter()
            .find(|m| m.key == candidate.module_key)?;
        Some(OpportunityRow {
            account_id: account.account_id.clone(),
            module_key: candidate.module_key,
            csm_id: account.csm_id.clone(),
            list_price_minor: module.list_price_minor,
            currency_code: arr.currency_code.clone(),
            likelihood: candidate.likelihood,
            expected_value_minor: candidate.expected_value_minor,
            reason: candidate.reason,
        })
    })
    .collect();

    ScoreWrite {
        account_id: account.account_id.clone(),
        account_name: account.name.clone(),
        version: score.version,
        score: score.score,
        color: breakdown.color.as_str(),
        csm_id: account.csm_id.clone(),
        segment: segment.map_or("", |s| s.as_str()),
        arr_at_risk,
        computed_at: now_micros,
        changed_at: changed_at.unwrap_or(now_micros),
        changed,
        sort_keys_kept: previous.is_some_and(|p| {
            !changed && p.changed_at.is_some() && p.arr_at_risk == Some(arr_at_risk)
        }),
        churn_probability: prediction.probability,
        previous_color: carried_color.map_or("", |c| c.as_str()),
        color_changed_at,
        payload: Vec::new(),
        color_change: color_changed.then(|| ColorChangeRow {
            account_id: account.account_id.clone(),
            version: score.version,
            from_color: previous_color.map_or("", |c| c.as_str()).to_owned(),
            to_color: breakdown.color.as_str().to_owned(),
            score: breakdown.score,
            changed_at: now_micros,
            csm_id: account.csm_id.clone(),
        }),
        alerts: alert_rows,
        alert_resolutions,
        opportunities,
        message: score,
    }
}

#[cfg(test)]
impl<'a> Context<'a> {
    /// `config` and `model` in force as their version 1, no catalog, at `now`.
    pub fn for_tests(config: &'a ScoringConfig, model: &'a Model, now: DateTime<Utc>) -> Self {
        Context {
            config,
            config_version: 1,
            model,
            model_id: "default",
            model_version: 1,
            catalog: &[],
            now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> accounts_pb::Account {
        accounts_pb::Account {
            account_id: "01a2b3c4-0000-7000-8000-000000000001".to_owned(),
            name: "Kept".to_owned(),
            segment: common::Segment::Sme as i32,
            arr: Some(nordstern_runtime::wire::money(5_000_000, "EUR")),
            start_date: Some(nordstern_runtime::wire::date_to_proto(
                NaiveDate::from_ymd_opt(2025, 1, 1).unwrap_or_default(),
            )),
            renewal_date: Some(nordstern_runtime::wire::date_to_proto(
                NaiveDate::from_ymd_opt(2027, 1, 1).unwrap_or_default(),
            )),
            ..accounts_pb::Account::default()
        }
    }

    /// The stored score the next computation starts from: the message with the commit's
    /// `changed_at`, as `Store::write_scores` stamps it.
    fn stored(write: &ScoreWrite) -> pb::HealthScore {
        let mut message = write.message.clone();
        message.changed_at = message.computed_at;
        message
    }

    #[test]
    fn sort_keys_are_kept_only_when_neither_changed_at_nor_arr_at_risk_moves() {
        let (config, model) = (
            ScoringConfig::default(),
            nordstern_domain::churn::default_model(),
        );
        let now = DateTime::from_timestamp(1_780_000_000, 0).unwrap_or_default();
        let context = Context::for_tests(&config, &model, now);
        let account = account();
        let compute_after = |previous: Option<&pb::HealthScore>| {
            let previous = previous.map(PreviousScore::from);
            compute(
                &Inputs {
                    account: &account,
                    summary: None,
                    stats: None,
                    previous: previous.as_ref(),
                    detractor_ids: &[],
                    open_alerts: &[],
                },
                &context,
            )
        };
        let first = compute_after(None);
        assert!(!first.sort_keys_kept, "a first score has nothing to keep");

        let previous = stored(&first);
        let again = compute_after(Some(&previous));
        assert!(!again.changed);
        assert!(again.sort_keys_kept);
        assert_eq!(
            (again.arr_at_risk, again.changed_at),
            (first.arr_at_risk, first.computed_at)
        );

        // Stored with another ARR at risk (the ARR moved, the probability did not).
        let mut other_arr_at_risk = previous.clone();
        other_arr_at_risk.arr_at_risk =
            Some(nordstern_runtime::wire::money(first.arr_at_risk + 1, "EUR"));
        assert!(!compute_after(Some(&other_arr_at_risk)).sort_keys_kept);

        // A previous score whose probability differs: changed, so `changed_at` moves.
        let mut other_probability = previous.clone();
        if let Some(churn) = other_probability.churn.as_mut() {
            churn.probability /= 2.0;
        }
        let moved = compute_after(Some(&other_probability));
        assert!(moved.changed);
        assert!(!moved.sort_keys_kept);
    }
}
