//! Quota on the book a CSM was handed: "you give your CSM 100 customers worth 1 M ARR;
//! at year end you want 1.2 M back".
//!
//! The book is a set of holdings: an account and the days a CSM held it within the
//! period. Each holding has a baseline, the ARR when it was handed over (the period's
//! start for one held from before), and a result, the ARR when it was handed away (the
//! period's end for one still held). An account without ARR when handed over (a new logo
//! signed later) takes the ARR it started with as its baseline, so a new logo is never
//! pure gain. Target = round(Σ baseline × quota ratio); attainment = Σ result / target.
//! For a book held the whole period without new logos that is NRR / ratio, and a
//! rebalance in the middle of a period splits the credit at the handover instead of
//! moving it from one CSM to the other.

use chrono::NaiveDate;

use super::{AccountHistory, ratio};
use crate::account::ContractEventKind;

/// One account held by one CSM over `[from, until)` (days in UTC); `until` is `None`
/// while still held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holding<'a> {
    pub history: &'a AccountHistory,
    pub from: NaiveDate,
    pub until: Option<NaiveDate>,
}

/// The quota of a book over one period.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BookQuota {
    /// Σ ARR when each holding began within the period.
    pub baseline_arr: i64,
    /// Σ ARR when each holding ended within the period.
    pub result_arr: i64,
    /// round(baseline × quota ratio).
    pub target: i64,
    /// result / target; `None` without a target.
    pub attainment: Option<f64>,
}

/// The quota of `holdings` over `[period_start, period_end)`.
pub fn book_quota(
    holdings: &[Holding<'_>],
    period_start: NaiveDate,
    period_end: NaiveDate,
    quota_ratio: f64,
) -> BookQuota {
    let mut quota = BookQuota::default();
    for holding in holdings {
        let start = holding.from.max(period_start);
        let end = holding
            .until
            .map_or(period_end, |until| until.min(period_end));
        if start >= end {
            continue;
        }
        let history = holding.history;
        let handed_over = history.arr_before(start);
        let baseline = if handed_over > 0 {
            handed_over
        } else {
            // Signed after the handover: the ARR it started with is what was handed.
            history
                .events_in(start, end)
                .find(|event| event.kind == ContractEventKind::New)
                .map_or(0, |event| event.arr_change)
        };
        if baseline <= 0 {
            // Nothing was handed (churned before, or never signed in the holding).
            continue;
        }
        quota.baseline_arr = quota.baseline_arr.saturating_add(baseline);
        quota.result_arr = quota.result_arr.saturating_add(history.arr_before(end));
    }
    quota.target = (quota.baseline_arr as f64 * quota_ratio).round() as i64;
    quota.attainment = ratio(quota.result_arr as f64, quota.target as f64);
    quota
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;
    use crate::revenue::RecordedEvent;

    fn day(offset: i64) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Duration::days(offset)
    }

    fn event(kind: ContractEventKind, arr_change: i64, on: i64) -> RecordedEvent {
        RecordedEvent {
            kind,
            arr_change,
            effective_date: day(on),
            renewal_date: None,
        }
    }

    /// 100,000 from a year before the period; +20,000 on day 100; +10,000 on day 250.
    fn growing() -> AccountHistory {
        AccountHistory {
            events: vec![
                event(ContractEventKind::New, 100_000, -365),
                event(ContractEventKind::Expansion, 20_000, 100),
                event(ContractEventKind::Expansion, 10_000, 250),
            ],
        }
    }

    fn held(history: &AccountHistory, from: i64, until: Option<i64>) -> Holding<'_> {
        Holding {
            history,
            from: day(from),
            until: until.map(day),
        }
    }

    #[test]
    fn a_book_held_the_whole_year_attains_nrr_over_the_ratio() {
        let account = growing();
        let quota = book_quota(&[held(&account, -30, None)], day(0), day(365), 1.2);
        assert_eq!(
            (quota.baseline_arr, quota.result_arr, quota.target),
            (100_000, 130_000, 120_000)
        );
        assert!((quota.attainment.unwrap() - 1.3 / 1.2).abs() < 1e-12);
    }

    #[test]
    fn a_handover_mid_period_splits_the_credit_at_the_handover() {
        let account = growing();
        // A held it until day 200 (ARR 120,000 then), B from day 200.
        let a = book_quota(&[held(&account, -30, Some(200))], day(0), day(365), 1.2);
        let b = book_quota(&[held(&account, 200, None)], day(0), day(365), 1.2);
        assert_eq!((a.baseline_arr, a.result_arr), (100_000, 120_000));
        assert_eq!((b.baseline_arr, b.result_arr), (120_000, 130_000));
        // B's target is set on what B was handed, not on the ARR A grew.
        assert_eq!(b.target, 144_000);
    }

    #[test]
    fn a_churn_after_a_reassignment_weighs_on_the_new_owner_only() {
        let account = AccountHistory {
            events: vec![
                event(ContractEventKind::New, 50_000, -100),
                event(ContractEventKind::Churn, -50_000, 300),
            ],
        };
        let before = book_quota(&[held(&account, -100, Some(150))], day(0), day(365), 1.2);
        let after = book_quota(&[held(&account, 150, None)], day(0), day(365), 1.2);
        assert_eq!((before.baseline_arr, before.result_arr), (50_000, 50_000));
        assert_eq!((after.baseline_arr, after.result_arr), (50_000, 0));
        assert_eq!(after.attainment, Some(0.0));
    }

    #[test]
    fn a_new_logo_joins_with_its_starting_arr_not_as_pure_gain() {
        let new_logo = AccountHistory {
            events: vec![
                event(ContractEventKind::New, 40_000, 90),
                event(ContractEventKind::Expansion, 8_000, 200),
            ],
        };
        // Assigned before it signed, and assigned on the day it signed.
        for from in [10, 90] {
            let quota = book_quota(&[held(&new_logo, from, None)], day(0), day(365), 1.2);
            assert_eq!(
                (quota.baseline_arr, quota.result_arr),
                (40_000, 48_000),
                "from {from}"
            );
        }
    }

    #[test]
    fn holdings_outside_the_period_or_without_arr_count_nothing() {
        let account = growing();
        let churned = AccountHistory {
            events: vec![
                event(ContractEventKind::New, 10_000, -400),
                event(ContractEventKind::Churn, -10_000, -10),
            ],
        };
        let quota = book_quota(
            &[
                held(&account, -300, Some(-1)),
                held(&account, 400, None),
                held(&churned, -400, None),
            ],
            day(0),
            day(365),
            1.2,
        );
        assert_eq!(quota, BookQuota::default());
    }

    proptest! {
        /// However an account is passed around within the period, the owners' results
        /// and baselines chain: each handover's result is the next owner's baseline, and
        /// the last result is the account's ARR at the end.
        #[test]
        fn handovers_chain_results_into_baselines(
            mut cuts in prop::collection::vec(1i64..364, 0..5),
            changes in prop::collection::vec((1i64..364, 1i64..50_000), 0..6),
        ) {
            let mut events = vec![event(ContractEventKind::New, 100_000, -10)];
            let mut changes = changes;
            changes.sort();
            events.extend(changes.iter().map(|(on, up)| event(ContractEventKind::Expansion, *up, *on)));
            let account = AccountHistory { events };
            cuts.sort();
            cuts.dedup();
            let mut bounds = vec![-10];
            bounds.extend(&cuts);
            let quotas: Vec<BookQuota> = bounds
                .iter()
                .enumerate()
                .map(|(i, from)| {
                    let until = bounds.get(i + 1).copied();
                    book_quota(&[held(&account, *from, until)], day(0), day(365), 1.2)
                })
                .collect();
            for pair in quotas.windows(2) {
                prop_assert_eq!(pair[0].result_arr, pair[1].baseline_arr);
            }
            prop_assert_eq!(quotas[0].baseline_arr, account.arr_before(day(0)));
            prop_assert_eq!(quotas.last().unwrap().result_arr, account.arr_before(day(365)));
        }
    }
}
