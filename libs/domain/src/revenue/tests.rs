#![allow(clippy::unwrap_used)]

use super::*;
use crate::contract::{ContractChange, ContractState, apply_change};
use proptest::prelude::*;

fn d(day: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + chrono::Duration::days(day)
}

fn ev(kind: ContractEventKind, arr_change: i64, day: i64, renewal: Option<i64>) -> RecordedEvent {
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
    assert_eq!(m.quota.target, 1_200_000);
    assert!((m.quota.attainment.unwrap() - 1.0).abs() < 1e-12);
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
    assert_eq!(m.quota.attainment, None);
    assert_eq!(clv(1000, 0.8, 0.0, 0.0), 0);
}

#[test]
fn the_period_is_half_open() {
    use ContractEventKind::*;
    // Day 0 is the first day of the period, day 90 the first day after it.
    let accounts = vec![
        AccountHistory {
            events: vec![
                ev(New, 1000, -10, None),
                ev(Expansion, 100, 0, None),
                ev(Expansion, 7, 90, None),
            ],
        },
        AccountHistory {
            events: vec![ev(New, 500, 0, None)],
        },
        AccountHistory {
            events: vec![ev(New, 300, 90, None)],
        },
    ];
    let m = revenue_metrics(&accounts, d(0), d(90), &RevenueParams::default());
    assert_eq!(
        (m.start_arr, m.cohort_size, m.expansion_arr),
        (1000, 1, 100)
    );
    assert_eq!((m.end_arr, m.new_logo_arr), (1600, 500));
}

#[test]
fn renewals_due_completed_and_missed() {
    use ContractEventKind::*;
    let accounts = vec![
        // Term ends in the period; renewed late but before the period ended.
        AccountHistory {
            events: vec![ev(New, 100, -300, Some(30)), ev(Renewal, 0, 40, Some(400))],
        },
        // Term ends in the period; renewed only after it.
        AccountHistory {
            events: vec![ev(New, 100, -300, Some(30)), ev(Renewal, 0, 95, Some(400))],
        },
        // Term ends after the period: not due.
        AccountHistory {
            events: vec![ev(New, 100, -300, Some(200))],
        },
        // Term ends in the period and the account churned instead.
        AccountHistory {
            events: vec![ev(New, 100, -300, Some(60)), ev(Churn, -100, 50, None)],
        },
        // A renewal date on an expansion opens no term.
        AccountHistory {
            events: vec![ev(New, 100, -300, None), ev(Expansion, 10, 5, Some(50))],
        },
    ];
    let m = revenue_metrics(&accounts, d(0), d(90), &RevenueParams::default());
    assert_eq!((m.renewals_due, m.renewals_completed), (3, 1));
    assert!((m.renewal_rate.unwrap() - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!((m.churned_logos, m.churned_arr), (1, 100));
}

#[test]
fn clv_floors_rounds_and_saturates() {
    assert_eq!(clv(1000, 0.8, 0.2, 0.05), 4000);
    assert_eq!(clv(1000, 0.8, 0.01, 0.05), 16_000);
    assert_eq!(clv(1001, 0.5, 0.5, 0.05), 1001);
    assert_eq!(clv(3, 0.5, 1.0, 0.05), 2);
    assert_eq!(clv(i64::MAX, 0.8, 0.0, 1e-9), i64::MAX);
    assert_eq!(clv(1000, 0.8, f64::NAN, f64::NAN), 0);
    assert_eq!(clv(1000, f64::NAN, 0.5, 0.05), 0);
}

#[test]
fn clv_uses_the_annualised_logo_churn() {
    use ContractEventKind::*;
    // 1 of 10 accounts churns in a quarter: 10 % a quarter is ~34 % a year.
    let mut accounts: Vec<AccountHistory> = (0..10)
        .map(|_| AccountHistory {
            events: vec![ev(New, 10_000, -100, None)],
        })
        .collect();
    accounts[0].events.push(ev(Churn, -10_000, 30, None));
    let m = revenue_metrics(&accounts, d(0), d(90), &RevenueParams::default());
    let annual = 1.0 - 0.9f64.powf(365.0 / 90.0);
    assert!((annual - 0.3476).abs() < 1e-3);
    assert_eq!(m.average_clv, clv(10_000, 0.8, annual, 0.05));
    assert!((m.logo_churn_rate.unwrap() - 0.1).abs() < 1e-12);
    assert!((m.revenue_churn_rate.unwrap() - 0.1).abs() < 1e-12);
}

#[test]
fn quota_target_and_attainment() {
    use ContractEventKind::*;
    let accounts = vec![
        AccountHistory {
            events: vec![ev(New, 1000, -10, None), ev(Contraction, -100, 10, None)],
        },
        AccountHistory {
            events: vec![ev(New, 300, 20, None)],
        },
    ];
    let params = RevenueParams {
        quota_ratio: 1.25,
        ..RevenueParams::default()
    };
    let m = revenue_metrics(&accounts, d(0), d(30), &params);
    // The new logo joins the book with its starting 300: baseline 1,300, not pure gain.
    assert_eq!(
        (m.quota.baseline_arr, m.quota.target, m.quota.result_arr),
        (1300, 1625, 1200)
    );
    assert!((m.quota.attainment.unwrap() - 1200.0 / 1625.0).abs() < 1e-12);
    assert!((m.net_revenue_retention.unwrap() - 0.9).abs() < 1e-12);
}

#[test]
fn a_new_logo_churned_in_the_period_adds_nothing() {
    use ContractEventKind::*;
    let accounts = vec![AccountHistory {
        events: vec![ev(New, 400, 5, None), ev(Churn, -400, 20, None)],
    }];
    let m = revenue_metrics(&accounts, d(0), d(30), &RevenueParams::default());
    assert_eq!(
        (
            m.new_logo_arr,
            m.cohort_size,
            m.churned_logos,
            m.churned_arr
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(m.average_clv, 0);
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
