//! Revenue metrics for a period [start, end): the cohort active at the start, what it
//! gained and lost, new logos, renewals, CLV and quota. Ratios are `None` when their
//! denominator is zero, never NaN.

use chrono::NaiveDate;

use crate::account::ContractEventKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedEvent {
    pub kind: ContractEventKind,
    pub arr_change: i64,
    pub effective_date: NaiveDate,
    pub renewal_date: Option<NaiveDate>,
}

/// One account's events, in the order they were accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountHistory {
    pub events: Vec<RecordedEvent>,
}

impl AccountHistory {
    /// ARR from the events that took effect before `date`.
    pub fn arr_before(&self, date: NaiveDate) -> i64 {
        self.events
            .iter()
            .filter(|event| event.effective_date < date)
            .map(|event| event.arr_change)
            .sum()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RevenueParams {
    pub gross_margin: f64,
    pub clv_churn_floor: f64,
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

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RevenueMetrics {
    pub start_arr: i64,
    pub end_arr: i64,
    pub expansion_arr: i64,
    pub contraction_arr: i64,
    pub churned_arr: i64,
    pub new_logo_arr: i64,
    pub cohort_size: u32,
    pub churned_logos: u32,
    pub net_revenue_retention: Option<f64>,
    pub gross_revenue_retention: Option<f64>,
    pub logo_churn_rate: Option<f64>,
    pub revenue_churn_rate: Option<f64>,
    pub renewals_due: u32,
    pub renewals_completed: u32,
    pub renewal_rate: Option<f64>,
    pub average_clv: i64,
    pub quota_target: i64,
    pub quota_attainment: Option<f64>,
}

fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator != 0.0).then(|| numerator / denominator)
}

/// Customer lifetime value: ARR × gross margin / annual churn probability, with the
/// probability floored so a near-zero risk does not give infinity.
pub fn clv(arr: i64, gross_margin: f64, annual_churn_probability: f64, churn_floor: f64) -> i64 {
    let probability = annual_churn_probability.max(churn_floor);
    if probability.is_nan() || probability <= 0.0 {
        return 0;
    }
    let value = arr as f64 * gross_margin / probability;
    value.round().clamp(i64::MIN as f64, i64::MAX as f64) as i64
}

pub fn revenue_metrics(
    accounts: &[AccountHistory],
    period_start: NaiveDate,
    period_end: NaiveDate,
    params: &RevenueParams,
) -> RevenueMetrics {
    let mut m = RevenueMetrics::default();
    let in_period = |date: NaiveDate| period_start <= date && date < period_end;
    let mut cohort_start_arrs = Vec::new();
    for account in accounts {
        let start_arr = account.arr_before(period_start);
        let end_arr = account.arr_before(period_end);
        m.end_arr += end_arr;
        if start_arr > 0 {
            m.cohort_size += 1;
            m.start_arr += start_arr;
            cohort_start_arrs.push(start_arr);
            let mut churned = false;
            for event in account
                .events
                .iter()
                .filter(|event| in_period(event.effective_date))
            {
                match event.kind {
                    ContractEventKind::Churn => {
                        m.churned_arr += -event.arr_change;
                        churned = true;
                    }
                    ContractEventKind::New => {}
                    ContractEventKind::Expansion
                    | ContractEventKind::Contraction
                    | ContractEventKind::Renewal => {
                        if event.arr_change > 0 {
                            m.expansion_arr += event.arr_change;
                        } else {
                            m.contraction_arr += -event.arr_change;
                        }
                    }
                }
            }
            if churned {
                m.churned_logos += 1;
            }
        } else if account
            .events
            .iter()
            .any(|event| event.kind == ContractEventKind::New && in_period(event.effective_date))
        {
            m.new_logo_arr += end_arr;
        }
        // Each NEW/RENEWAL with a renewal date opens a term ending then; the next
        // RENEWAL (before the period ends) completes it.
        for (index, event) in account.events.iter().enumerate() {
            let opens_term = matches!(
                event.kind,
                ContractEventKind::New | ContractEventKind::Renewal
            );
            let Some(term_end) = event.renewal_date.filter(|_| opens_term) else {
                continue;
            };
            if !in_period(term_end) {
                continue;
            }
            m.renewals_due += 1;
            let renewed = account.events[index + 1..].iter().any(|later| {
                later.kind == ContractEventKind::Renewal && later.effective_date < period_end
            });
            if renewed {
                m.renewals_completed += 1;
            }
        }
    }
    let start = m.start_arr as f64;
    let net = (m.start_arr + m.expansion_arr - m.contraction_arr - m.churned_arr) as f64;
    m.net_revenue_retention = ratio(net, start);
    m.gross_revenue_retention = ratio(
        (m.start_arr - m.contraction_arr - m.churned_arr) as f64,
        start,
    );
    m.revenue_churn_rate = ratio(m.churned_arr as f64, start);
    m.logo_churn_rate = ratio(f64::from(m.churned_logos), f64::from(m.cohort_size));
    m.renewal_rate = ratio(f64::from(m.renewals_completed), f64::from(m.renewals_due));
    let period_days = (period_end - period_start).num_days().max(1) as f64;
    let annual_churn = m.logo_churn_rate.map_or(0.0, |rate| {
        1.0 - (1.0 - rate.clamp(0.0, 1.0)).powf(365.0 / period_days)
    });
    if !cohort_start_arrs.is_empty() {
        let total: i128 = cohort_start_arrs
            .iter()
            .map(|arr| {
                i128::from(clv(
                    *arr,
                    params.gross_margin,
                    annual_churn,
                    params.clv_churn_floor,
                ))
            })
            .sum();
        m.average_clv = (total / cohort_start_arrs.len() as i128) as i64;
    }
    m.quota_target = (start * params.quota_ratio).round() as i64;
    m.quota_attainment = ratio(m.end_arr as f64, m.quota_target as f64);
    m
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::contract::{ContractChange, ContractState, apply_change};
    use proptest::prelude::*;

    fn d(day: i64) -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + chrono::Duration::days(day)
    }

    fn ev(
        kind: ContractEventKind,
        arr_change: i64,
        day: i64,
        renewal: Option<i64>,
    ) -> RecordedEvent {
        RecordedEvent {
            kind,
            arr_change,
            effective_date: d(day),
            renewal_date: renewal.map(d),
        }
    }

    #[test]
    fn design_example_nrr_120_percent() {
        // 100 accounts, 1,000,000 ARR at start, 1,200,000 at end from the same cohort.
        let accounts: Vec<AccountHistory> = (0..100)
            .map(|_| AccountHistory {
                events: vec![
                    ev(ContractEventKind::New, 10_000, -10, None),
                    ev(ContractEventKind::Expansion, 2_000, 100, None),
                ],
            })
            .collect();
        let m = revenue_metrics(&accounts, d(0), d(365), &RevenueParams::default());
        assert_eq!(
            (m.start_arr, m.end_arr, m.cohort_size),
            (1_000_000, 1_200_000, 100)
        );
        assert!((m.net_revenue_retention.unwrap() - 1.2).abs() < 1e-12);
        assert!((m.gross_revenue_retention.unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(m.quota_target, 1_200_000);
        assert!((m.quota_attainment.unwrap() - 1.0).abs() < 1e-12);
        // No churn: CLV uses the floor.
        assert_eq!(m.average_clv, clv(10_000, 0.8, 0.0, 0.05));
        assert_eq!(m.average_clv, 160_000);
    }

    #[test]
    fn churn_contraction_new_logos_and_renewals() {
        use ContractEventKind::*;
        let accounts = vec![
            AccountHistory {
                events: vec![
                    ev(New, 800, -30, Some(200)),
                    ev(Expansion, 300, 50, None),
                    ev(Renewal, 0, 190, Some(600)),
                ],
            },
            AccountHistory {
                events: vec![
                    ev(New, 200, -30, Some(200)),
                    ev(Contraction, -50, 60, None),
                    ev(Churn, -150, 150, None),
                ],
            },
            AccountHistory {
                events: vec![ev(New, 100, 100, Some(465))],
            },
        ];
        let m = revenue_metrics(&accounts, d(0), d(365), &RevenueParams::default());
        assert_eq!(
            (
                m.start_arr,
                m.expansion_arr,
                m.contraction_arr,
                m.churned_arr
            ),
            (1000, 300, 50, 150)
        );
        assert_eq!(
            (m.end_arr, m.new_logo_arr, m.cohort_size, m.churned_logos),
            (1200, 100, 2, 1)
        );
        assert!((m.net_revenue_retention.unwrap() - 1.1).abs() < 1e-12);
        assert!((m.gross_revenue_retention.unwrap() - 0.8).abs() < 1e-12);
        assert!((m.logo_churn_rate.unwrap() - 0.5).abs() < 1e-12);
        assert_eq!((m.renewals_due, m.renewals_completed), (2, 1));
        // Annual churn 50 % → CLV = ARR × 0.8 / 0.5 averaged over the cohort.
        assert_eq!(m.average_clv, (1280 + 320) / 2);
    }

    #[test]
    fn empty_scope_has_no_ratios() {
        let m = revenue_metrics(&[], d(0), d(30), &RevenueParams::default());
        assert_eq!(m.net_revenue_retention, None);
        assert_eq!(m.renewal_rate, None);
        assert_eq!(m.quota_attainment, None);
        assert_eq!(clv(1000, 0.8, 0.0, 0.0), 0);
    }

    proptest! {
        #[test]
        fn cohort_end_arr_is_start_plus_changes(
            steps in proptest::collection::vec(proptest::collection::vec((0u8..5, -500_000i64..500_000, 0i64..90), 0..12), 1..20),
            window in 30i64..400,
        ) {
            let mut accounts = Vec::new();
            for account_steps in steps {
                let mut state = ContractState::empty();
                let mut history = AccountHistory::default();
                let mut day = -200;
                let first = ContractChange { kind: ContractEventKind::New, arr_change: 100_000, effective_date: d(day), renewal_date: Some(d(day + 365)) };
                let (next, recorded) = apply_change(&state, &first).unwrap();
                history.events.push(RecordedEvent { kind: first.kind, arr_change: recorded, effective_date: first.effective_date, renewal_date: first.renewal_date });
                state = next;
                for (kind, amount, gap) in account_steps {
                    day += gap;
                    let kind = ContractEventKind::ALL[kind as usize];
                    let change = ContractChange { kind, arr_change: amount, effective_date: d(day), renewal_date: state.renewal_date.map(|r| r + chrono::Duration::days(365)) };
                    if let Ok((next, recorded)) = apply_change(&state, &change) {
                        history.events.push(RecordedEvent { kind, arr_change: recorded, effective_date: change.effective_date, renewal_date: change.renewal_date });
                        state = next;
                    }
                }
                accounts.push(history);
            }
            let (start, end) = (d(0), d(window));
            let m = revenue_metrics(&accounts, start, end, &RevenueParams::default());
            let cohort_end: i64 = accounts.iter().filter(|a| a.arr_before(start) > 0).map(|a| a.arr_before(end)).sum();
            prop_assert_eq!(cohort_end, m.start_arr + m.expansion_arr - m.contraction_arr - m.churned_arr);
            if let (Some(grr), Some(nrr)) = (m.gross_revenue_retention, m.net_revenue_retention) {
                prop_assert!(grr <= 1.0 + 1e-12);
                prop_assert!(grr <= nrr + 1e-12);
            }
            for rate in [m.logo_churn_rate, m.renewal_rate].into_iter().flatten() {
                prop_assert!((0.0..=1.0).contains(&rate));
            }
            // Churned ARR may include expansion earned earlier in the period, so revenue
            // churn can pass 100 %; it is never negative.
            prop_assert!(m.revenue_churn_rate.is_none_or(|rate| rate >= 0.0));
        }
    }
}
