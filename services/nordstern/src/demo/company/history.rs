//! The churn history the model learns from: features as the platform saw them before each
//! renewal or churn, and the CSV a CRM export would be.

use super::*;

/// One account's features at a cut-off and what happened at the term end after it.
pub struct HistoryRow {
    pub crm_id: String,
    pub segment: Segment,
    pub arr: i64,
    pub churned: bool,
    /// LOGIN and FEATURE_USED quantities of the 90 days up to the cut-off.
    pub usage_before_cutoff: i64,
    pub inputs: HealthInputs,
}

impl HistoryRow {
    /// The numeric columns of [`HISTORY_NUMERIC_COLUMNS`], `None` where the platform
    /// would have no value.
    pub fn numeric(&self) -> [Option<f64>; 6] {
        let component = |c| self.inputs.component_value(c);
        [
            Some(arr_in_major_units(self.arr, CURRENCY_DECIMALS)),
            component(HealthComponent::LoginRegularity),
            component(HealthComponent::FeatureBreadth),
            component(HealthComponent::Integration),
            component(HealthComponent::UsageTrend),
            component(HealthComponent::Nps),
        ]
    }
}

/// The history as the CSV a CRM export would be: one row per renewal or churn.
pub fn history_csv(rows: &[HistoryRow]) -> String {
    let mut csv = format!(
        "crm_id,{},{},{HISTORY_LABEL}\n",
        HISTORY_NUMERIC_COLUMNS.join(","),
        PLATFORM_CATEGORICAL_FEATURES[0]
    );
    for row in rows {
        csv.push_str(&row.crm_id);
        for value in row.numeric() {
            csv.push(',');
            if let Some(value) = value {
                csv.push_str(&format!("{value:.2}"));
            }
        }
        csv.push_str(&format!(
            ",{},{}\n",
            row.segment.as_str(),
            if row.churned { "churned" } else { "renewed" }
        ));
    }
    csv
}

/// What the usage and survey services would have reported on `cutoff`.
pub(super) fn inputs_as_of(
    account: &AccountPlan,
    usage: &[DayUsage],
    answers: &[NpsPlan],
    cutoff: NaiveDate,
) -> HealthInputs {
    let window = |days: i64| {
        usage
            .iter()
            .filter(move |d| d.date <= cutoff && d.date > cutoff - Duration::days(days))
    };
    let active_days = |days| window(days).filter(|d| !d.users.is_empty()).count() as u32;
    let active_users = |days| {
        window(days)
            .flat_map(|d| d.users.iter().map(|u| 1u64 << u.user))
            .fold(0u64, |mask, bit| mask | bit)
            .count_ones()
    };
    let features_used = window(90)
        .flat_map(|d| d.users.iter().filter_map(|u| u.feature))
        .fold(0u64, |mask, feature| mask | 1 << feature)
        .count_ones() as usize;
    let last_30: i64 = window(30).map(DayUsage::usage).sum();
    let prior_90: i64 = usage
        .iter()
        .filter(|d| d.date <= cutoff - Duration::days(30) && d.date > cutoff - Duration::days(120))
        .map(DayUsage::usage)
        .sum();
    let synced_ever = usage.iter().any(|d| d.date <= cutoff && d.integration_sync);
    let live = window(7).any(|d| d.integration_sync);
    let nps_window: Vec<NpsAnswer<&str>> = answers
        .iter()
        .filter(|a| a.answered_on <= cutoff && a.answered_on > cutoff - Duration::days(90))
        .map(|a| NpsAnswer {
            respondent: a.respondent.as_str(),
            answered: (a.answered_on.num_days_from_ce().into(), String::new()),
            score: a.score,
        })
        .collect();
    HealthInputs {
        active_days_7: active_days(7),
        active_days_30: active_days(30),
        active_days_90: active_days(90),
        active_users_30: active_users(30),
        active_users_90: active_users(90),
        feature_breadth: feature_breadth(features_used, account.feature_keys().len()),
        integration: IntegrationStatus::from_summary(
            live,
            synced_ever,
            account.integration_offered(),
        ),
        usage_trend: usage_trend(last_30, prior_90).ratio,
        nps: nps_counts_latest(&nps_window).nps(),
        ..HealthInputs::default()
    }
}
