//! ABC analysis on contract value: rank accounts by ARR; A makes up the first 80 % of
//! total ARR, B up to 95 %, C the rest (thresholds configurable).

use crate::account::Tier;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TierThresholds {
    pub a_share: f64,
    pub b_share: f64,
}

impl TierThresholds {
    pub fn new(a_share: f64, b_share: f64) -> Result<Self, String> {
        if a_share.is_finite()
            && b_share.is_finite()
            && 0.0 < a_share
            && a_share < b_share
            && b_share <= 1.0
        {
            Ok(TierThresholds { a_share, b_share })
        } else {
            Err("need 0 < a_share < b_share <= 1".to_owned())
        }
    }
}

impl Default for TierThresholds {
    fn default() -> Self {
        TierThresholds {
            a_share: 0.80,
            b_share: 0.95,
        }
    }
}

/// Tiers in input order. Ranked by ARR descending, ties by key ascending. An account is
/// A while the ARR ranked before it is below `a_share` of the total (so the top account
/// is A), B below `b_share`, else C; accounts without ARR are C.
pub fn assign_tiers<K: Ord>(accounts: &[(K, i64)], thresholds: TierThresholds) -> Vec<Tier> {
    let total: i128 = accounts
        .iter()
        .map(|(_, arr)| i128::from((*arr).max(0)))
        .sum();
    let mut tiers = vec![Tier::C; accounts.len()];
    if total == 0 {
        return tiers;
    }
    let mut order: Vec<usize> = (0..accounts.len()).collect();
    order.sort_by(|&a, &b| {
        accounts[b]
            .1
            .cmp(&accounts[a].1)
            .then_with(|| accounts[a].0.cmp(&accounts[b].0))
    });
    let total = total as f64;
    let mut before: i128 = 0;
    for index in order {
        let arr = accounts[index].1;
        if arr <= 0 {
            break;
        }
        let share_before = before as f64 / total;
        tiers[index] = if share_before < thresholds.a_share {
            Tier::A
        } else if share_before < thresholds.b_share {
            Tier::B
        } else {
            Tier::C
        };
        before += i128::from(arr);
    }
    tiers
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn classic_pareto_split() {
        // 50 + 30 = 80 % → the account after is B; 95 % boundary next.
        let accounts = [(1, 50), (2, 30), (3, 10), (4, 5), (5, 3), (6, 2), (7, 0)];
        let tiers = assign_tiers(&accounts, TierThresholds::default());
        assert_eq!(
            tiers,
            vec![
                Tier::A,
                Tier::A,
                Tier::B,
                Tier::B,
                Tier::C,
                Tier::C,
                Tier::C
            ]
        );
    }

    #[test]
    fn no_arr_means_all_c_and_thresholds_are_checked() {
        assert_eq!(
            assign_tiers(&[(1, 0), (2, 0)], TierThresholds::default()),
            vec![Tier::C, Tier::C]
        );
        assert!(TierThresholds::new(0.9, 0.8).is_err());
        assert!(TierThresholds::new(0.0, 0.8).is_err());
        assert!(TierThresholds::new(0.5, 1.1).is_err());
        assert!(TierThresholds::new(0.7, 1.0).is_ok());
    }

    fn rank(tier: Tier) -> u8 {
        match tier {
            Tier::A => 0,
            Tier::B => 1,
            Tier::C => 2,
        }
    }

    proptest! {
        #[test]
        fn higher_arr_never_gets_a_worse_tier(arrs in proptest::collection::vec(0i64..1_000_000_000, 1..200)) {
            let accounts: Vec<(usize, i64)> = arrs.iter().copied().enumerate().collect();
            let tiers = assign_tiers(&accounts, TierThresholds::default());
            prop_assert_eq!(tiers.len(), accounts.len());
            for i in 0..accounts.len() {
                for j in 0..accounts.len() {
                    if accounts[i].1 > accounts[j].1 {
                        prop_assert!(rank(tiers[i]) <= rank(tiers[j]));
                    }
                }
            }
        }

        #[test]
        fn tier_a_covers_at_least_its_share(arrs in proptest::collection::vec(1i64..1_000_000_000, 1..200)) {
            let accounts: Vec<(usize, i64)> = arrs.iter().copied().enumerate().collect();
            let tiers = assign_tiers(&accounts, TierThresholds::default());
            let total: i64 = arrs.iter().sum();
            let a: i64 = accounts.iter().zip(&tiers).filter(|(_, t)| **t == Tier::A).map(|((_, arr), _)| arr).sum();
            prop_assert!(a as f64 >= 0.8 * total as f64 - 1e-6);
        }
    }
}
