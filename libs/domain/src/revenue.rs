//! Revenue metrics for a half-open period `[start, end)`: the cohort active at the
//! start, what it gained and lost, new logos, renewals, CLV and quota. Ratios are `None`
//! when their denominator is zero, never NaN or infinite.
//!
//! Sums over accounts saturate instead of overflowing: a metric must not take a
//! service down, and no real book of business comes near `i64::MAX` minor units.

mod clv;
mod quota;
mod renewals;
#[cfg(test)]
mod tests;

use chrono::NaiveDate;

use crate::account::ContractEventKind;
pub use clv::clv;
pub use quota::{BookQuota, Holding, book_quota};

/// A contract event as stored (after [`crate::contract::apply_change`]): for CHURN,
/// `arr_change` is minus the ARR lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedEvent {
    pub kind: ContractEventKind,
    pub arr_change: i64,
    pub effective_date: NaiveDate,
    pub renewal_date: Option<NaiveDate>,
}

/// One account's events, ordered by effective date as `apply_change` accepted them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountHistory {
    pub events: Vec<RecordedEvent>,
}

impl AccountHistory {
    /// ARR at the start of `date`: the events that took effect before it. An event
    /// dated on a period's first day therefore belongs to that period, not to its
    /// starting ARR.
    pub fn arr_before(&self, date: NaiveDate) -> i64 {
        self.events
            .iter()
            .filter(|event| event.effective_date < date)
            .fold(0, |arr, event| arr.saturating_add(event.arr_change))
    }

    /// The events inside `[start, end)`.
    pub fn events_in(
        &self,
        start: NaiveDate,
        end: NaiveDate,
    ) -> impl Iterator<Item = &RecordedEvent> {
        self.events
            .iter()
            .filter(move |event| start <= event.effective_date && event.effective_date < end)
    }
}

/// Business assumptions behind CLV and quota, configurable per company.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RevenueParams {
    /// Share of revenue left after cost of service, for CLV.
    pub gross_margin: f64,
    /// Lowest annual churn probability CLV divides by, so that a period without churn
    /// does not promise infinite value.
    pub clv_churn_floor: f64,
    /// Quota target as a multiple of starting ARR (1.2 = grow the book by 20 %).
    pub quota_ratio: f64,
}

impl Default for RevenueParams {
    fn default() -> Self {
        RevenueParams {
            gross_margin: 0.8,
            clv_churn_floor: 0.05,
            quota_ratio: 1.2,
        }
    }
}

/// Amounts are in minor units; ratios are fractions (1.2 = 120 %).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RevenueMetrics {
    /// ARR of the cohort (accounts with ARR > 0) at period start.
    pub start_arr: i64,
    /// ARR of every account given at period end, new logos included.
    pub end_arr: i64,
    /// Cohort: positive changes of EXPANSION and RENEWAL in the period.
    pub expansion_arr: i64,
    /// Cohort: negative changes of CONTRACTION and RENEWAL in the period, as a positive amount.
    pub contraction_arr: i64,
    /// Cohort: ARR lost to CHURN in the period, as a positive amount.
    pub churned_arr: i64,
    /// End ARR of accounts whose NEW event lies in the period.
    pub new_logo_arr: i64,
    pub cohort_size: u32,
    /// Cohort accounts with a CHURN in the period.
    pub churned_logos: u32,
    /// (start + expansion − contraction − churned) / start.
    pub net_revenue_retention: Option<f64>,
    /// (start − contraction − churned) / start.
    pub gross_revenue_retention: Option<f64>,
    /// churned logos / cohort size.
    pub logo_churn_rate: Option<f64>,
    /// churned ARR / start ARR.
    pub revenue_churn_rate: Option<f64>,
    /// Contract terms ending in the period.
    pub renewals_due: u32,
    /// Of those, terms followed by a RENEWAL before the period ended.
    pub renewals_completed: u32,
    pub renewal_rate: Option<f64>,
    /// Mean CLV over the cohort, from starting ARR and the annualised logo churn rate.
    pub average_clv: i64,
    /// The book's quota (see [`quota`]): baseline, result, target, attainment.
    pub quota: BookQuota,
}

fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator != 0.0).then(|| numerator / denominator)
}

/// The metrics of DESIGN.md "Revenue metrics" over `accounts` (a portfolio, a segment
/// or the whole company) for the period `[period_start, period_end)`.
pub fn revenue_metrics(
    accounts: &[AccountHistory],
    period_start: NaiveDate,
    period_end: NaiveDate,
    params: &RevenueParams,
) -> RevenueMetrics {
    let mut m = RevenueMetrics::default();
    let mut cohort_start_arrs = Vec::new();
    for account in accounts {
        let start_arr = account.arr_before(period_start);
        let end_arr = account.arr_before(period_end);
        let in_period = || account.events_in(period_start, period_end);
        m.end_arr = m.end_arr.saturating_add(end_arr);
        if start_arr > 0 {
            m.cohort_size += 1;
            m.start_arr = m.start_arr.saturating_add(start_arr);
            cohort_start_arrs.push(start_arr);
            add_cohort_changes(&mut m, in_period());
        }
        if in_period().any(|event| event.kind == ContractEventKind::New) {
            m.new_logo_arr = m.new_logo_arr.saturating_add(end_arr);
        }
        let terms = renewals::terms(account, period_start, period_end);
        m.renewals_due += terms.due;
        m.renewals_completed += terms.completed;
    }
    let start = m.start_arr as f64;
    let lost = m.contraction_arr as f64 + m.churned_arr as f64;
    m.net_revenue_retention = ratio(start + m.expansion_arr as f64 - lost, start);
    m.gross_revenue_retention = ratio(start - lost, start);
    m.revenue_churn_rate = ratio(m.churned_arr as f64, start);
    m.logo_churn_rate = ratio(f64::from(m.churned_logos), f64::from(m.cohort_size));
    m.renewal_rate = ratio(f64::from(m.renewals_completed), f64::from(m.renewals_due));
    let annual_churn = m.logo_churn_rate.map_or(0.0, |rate| {
        clv::annualise(rate, (period_end - period_start).num_days())
    });
    m.average_clv = clv::mean_clv(&cohort_start_arrs, params, annual_churn);
    let whole_period: Vec<Holding<'_>> = accounts
        .iter()
        .map(|history| Holding {
            history,
            from: period_start,
            until: None,
        })
        .collect();
    m.quota = book_quota(&whole_period, period_start, period_end, params.quota_ratio);
    m
}

/// Adds one cohort account's in-period events to expansion, contraction and churn.
fn add_cohort_changes<'a>(m: &mut RevenueMetrics, events: impl Iterator<Item = &'a RecordedEvent>) {
    let mut churned = false;
    for event in events {
        let change = event.arr_change;
        match event.kind {
            ContractEventKind::Churn => {
                m.churned_arr = m.churned_arr.saturating_add(change.saturating_neg());
                churned = true;
            }
            // A cohort account started before the period; a NEW inside it would be
            // a second NEW, which `apply_change` refuses.
            ContractEventKind::New => {}
            ContractEventKind::Expansion
            | ContractEventKind::Contraction
            | ContractEventKind::Renewal => {
                if change > 0 {
                    m.expansion_arr = m.expansion_arr.saturating_add(change);
                } else {
                    m.contraction_arr = m.contraction_arr.saturating_add(change.saturating_neg());
                }
            }
        }
    }
    if churned {
        m.churned_logos += 1;
    }
}
