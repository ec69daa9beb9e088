//! A CSM's book of business as the gateway shows it: where the money at risk is, and
//! what the portfolio is made of.

use std::cmp::Ordering;

use crate::account::Tier;

/// ARR × churn probability, in minor units (rounded half away from zero): the revenue
/// expected to be lost over the next year if nothing is done.
pub fn arr_at_risk(arr_minor: i64, churn_probability: f64) -> i64 {
    let probability = if churn_probability.is_finite() {
        churn_probability.clamp(0.0, 1.0)
    } else {
        0.0
    };
    (arr_minor as f64 * probability).round() as i64
}

/// What a portfolio row is ordered by.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskKey<'a> {
    pub account_id: &'a str,
    pub arr_minor: i64,
    /// Absent when the account has no health score (yet, or scoring did not answer).
    pub churn_probability: Option<f64>,
}

/// Accounts with a churn probability first, by ARR at risk, then by churn probability,
/// then by ARR (all descending); accounts without one follow by ARR descending. Ties go
/// by account id, so the order never depends on the order the backends answered in.
pub fn risk_order(a: &RiskKey<'_>, b: &RiskKey<'_>) -> Ordering {
    let by_id = || a.account_id.cmp(b.account_id);
    match (a.churn_probability, b.churn_probability) {
        (Some(pa), Some(pb)) => arr_at_risk(b.arr_minor, pb)
            .cmp(&arr_at_risk(a.arr_minor, pa))
            .then_with(|| pb.total_cmp(&pa))
            .then_with(|| b.arr_minor.cmp(&a.arr_minor))
            .then_with(by_id),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => b.arr_minor.cmp(&a.arr_minor).then_with(by_id),
    }
}

/// Count and ARR of one tier within a portfolio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TierTotal {
    pub account_count: u32,
    pub arr_minor: i64,
}

/// Per-tier totals in the order A, B, C; accounts without a tier are left out.
pub fn tier_mix(accounts: impl IntoIterator<Item = (Option<Tier>, i64)>) -> [TierTotal; 3] {
    let mut totals = [TierTotal::default(); 3];
    for (tier, arr_minor) in accounts {
        if let Some(tier) = tier {
            let total = &mut totals[tier.index()];
            total.account_count += 1;
            total.arr_minor = total.arr_minor.saturating_add(arr_minor);
        }
    }
    totals
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(id: &str, arr: i64, p: Option<f64>) -> RiskKey<'_> {
        RiskKey {
            account_id: id,
            arr_minor: arr,
            churn_probability: p,
        }
    }

    #[test]
    fn arr_at_risk_rounds_and_clamps() {
        assert_eq!(arr_at_risk(100_000, 0.25), 25_000);
        assert_eq!(arr_at_risk(3, 0.5), 2);
        assert_eq!(arr_at_risk(1_000, 1.5), 1_000);
        assert_eq!(arr_at_risk(1_000, f64::NAN), 0);
    }

    #[test]
    fn money_at_risk_beats_probability_and_unscored_accounts_come_last() {
        let big_safe = key("a", 1_000_000, Some(0.10)); // 100k at risk
        let small_risky = key("b", 100_000, Some(0.90)); // 90k at risk
        let unscored_huge = key("c", 9_000_000, None);
        let unscored_small = key("d", 10, None);
        let mut rows = [unscored_small, small_risky, unscored_huge, big_safe];
        rows.sort_by(risk_order);
        let ids: Vec<&str> = rows.iter().map(|row| row.account_id).collect();
        assert_eq!(ids, ["a", "b", "c", "d"]);
    }

    #[test]
    fn equal_money_at_risk_goes_to_the_likelier_churn() {
        let mut rows = [key("x", 200, Some(0.25)), key("y", 100, Some(0.5))];
        rows.sort_by(risk_order);
        assert_eq!(rows[0].account_id, "y");
    }

    #[test]
    fn tier_mix_counts_and_sums_per_tier() {
        let mix = tier_mix([
            (Some(Tier::A), 500),
            (Some(Tier::C), 5),
            (None, 99),
            (Some(Tier::A), 300),
        ]);
        assert_eq!(
            mix[0],
            TierTotal {
                account_count: 2,
                arr_minor: 800
            }
        );
        assert_eq!(mix[1], TierTotal::default());
        assert_eq!(
            mix[2],
            TierTotal {
                account_count: 1,
                arr_minor: 5
            }
        );
    }

    proptest! {
        #[test]
        fn the_order_is_total_and_independent_of_input_order(
            rows in proptest::collection::vec(
                (0i64..1_000_000, proptest::option::of(0.0f64..=1.0)), 0..40)
        ) {
            let ids: Vec<String> = (0..rows.len()).map(|i| format!("{i:03}")).collect();
            let keys: Vec<RiskKey<'_>> = rows.iter().zip(&ids)
                .map(|((arr, p), id)| key(id, *arr, *p)).collect();
            let mut forward = keys.clone();
            forward.sort_by(risk_order);
            let mut backward: Vec<RiskKey<'_>> = keys.into_iter().rev().collect();
            backward.sort_by(risk_order);
            prop_assert_eq!(&forward, &backward);
            // Scored accounts never follow unscored ones.
            let first_unscored = forward.iter().position(|k| k.churn_probability.is_none())
                .unwrap_or(forward.len());
            prop_assert!(forward[first_unscored..].iter().all(|k| k.churn_probability.is_none()));
        }
    }
}
