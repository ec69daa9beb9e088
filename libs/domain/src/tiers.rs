//! ABC analysis on contract value: rank accounts by ARR; A makes up the first 80 % of
//! total ARR, B up to 95 %, C the rest (thresholds configurable).

use crate::account::Tier;

/// Cumulative ARR shares that close tiers A and B (the classic Pareto 80 % / 95 %).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TierThresholds {
    /// Tier A holds the top accounts up to this share of total ARR.
    pub a_share: f64,
    /// Tier B continues up to this share; the rest is C.
    pub b_share: f64,
}

impl TierThresholds {
    /// Checked constructor for configured thresholds: needs `0 < a_share < b_share <= 1`,
    /// both finite, otherwise the tiers would be empty or meaningless.
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

/// Tiers for `(key, arr)` pairs, in input order. Accounts are ranked by ARR descending,
/// ties by key ascending, so the result does not depend on the input order. An account
/// is A while the ARR ranked before it is below `a_share` of the total (so the top
/// account is always A when there is any ARR), B while below `b_share`, else C.
/// Accounts with ARR <= 0 are C, and so is everything when the total is 0. The total
/// is summed in `i128`, so it cannot overflow.
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
    let mut before: i128 = 0;
    for index in order {
        let arr = accounts[index].1;
        if arr <= 0 {
            break;
        }
        tiers[index] = if within(before, total, thresholds.a_share) {
            Tier::A
        } else if within(before, total, thresholds.b_share) {
            Tier::B
        } else {
            Tier::C
        };
        before += i128::from(arr);
    }
    tiers
}

/// Whether an account with `before` ARR ranked ahead of it still belongs to the tier that
/// closes at `share` of `total`. The one comparison of the split: the full derivation
/// and the incremental cut-offs use it, so they agree to the last bit.
pub fn within(before: i128, total: i128, share: f64) -> bool {
    total > 0 && (before as f64 / total as f64) < share
}

/// Whether `a` ranks ahead of `b`: more ARR, or the same ARR and the smaller key.
pub fn ranks_ahead<K: Ord>(a: (&K, i64), b: (&K, i64)) -> bool {
    a.1 > b.1 || (a.1 == b.1 && a.0 < b.0)
}

/// Where one tier ends in the ARR ranking: the first account past it (`None`: every
/// account with ARR is inside) and the ARR of all accounts ranked ahead of that one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cutoff<K> {
    pub first_past: Option<(K, i64)>,
    pub arr_before: i128,
}

impl<K: Ord> Cutoff<K> {
    /// Whether an account with key `key` and ARR `arr` ranks inside (ahead of the cut-off).
    pub fn holds(&self, key: &K, arr: i64) -> bool {
        arr > 0
            && self
                .first_past
                .as_ref()
                .is_none_or(|(past, past_arr)| ranks_ahead((key, arr), (past, *past_arr)))
    }
}

/// The tier of an account from the two cut-offs (A ends at the first, B at the second).
pub fn tier_from_cutoffs<K: Ord>(key: &K, arr: i64, a: &Cutoff<K>, b: &Cutoff<K>) -> Tier {
    if a.holds(key, arr) {
        Tier::A
    } else if b.holds(key, arr) {
        Tier::B
    } else {
        Tier::C
    }
}

/// The cut-off of the tier closing at `share`, from every account (as [`assign_tiers`]).
pub fn cutoff<K: Ord + Clone>(accounts: &[(K, i64)], share: f64) -> Cutoff<K> {
    let mut ranked: Vec<&(K, i64)> = accounts.iter().filter(|(_, arr)| *arr > 0).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let total: i128 = ranked.iter().map(|(_, arr)| i128::from(*arr)).sum();
    let mut before: i128 = 0;
    for (key, arr) in ranked {
        if !within(before, total, share) {
            return Cutoff {
                first_past: Some((key.clone(), *arr)),
                arr_before: before,
            };
        }
        before += i128::from(*arr);
    }
    Cutoff {
        first_past: None,
        arr_before: before,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn cutoffs_give_the_tiers_of_the_full_derivation(
            arrs in prop::collection::vec(-5i64..1_000, 0..60),
            a_share in 0.05f64..0.9,
            gap in 0.01f64..0.5,
        ) {
            let thresholds = TierThresholds::new(a_share, (a_share + gap).min(1.0)).unwrap();
            // Ties on purpose: few distinct ARR values, keys decide.
            let accounts: Vec<(u32, i64)> = arrs
                .iter()
                .enumerate()
                .map(|(i, arr)| (i as u32, (arr / 50) * 50))
                .collect();
            let a = cutoff(&accounts, thresholds.a_share);
            let b = cutoff(&accounts, thresholds.b_share);
            let from_cutoffs: Vec<Tier> = accounts
                .iter()
                .map(|(key, arr)| tier_from_cutoffs(key, *arr, &a, &b))
                .collect();
            prop_assert_eq!(from_cutoffs, assign_tiers(&accounts, thresholds));
        }
    }

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

    #[test]
    fn ties_are_broken_by_key_not_by_position() {
        // 60 + 20 = 80 %: of the two 20s only the lower key can be A.
        let forward = assign_tiers(
            &[("a", 60), ("b", 20), ("c", 20)],
            TierThresholds::default(),
        );
        let backward = assign_tiers(
            &[("c", 20), ("b", 20), ("a", 60)],
            TierThresholds::default(),
        );
        assert_eq!(forward, vec![Tier::A, Tier::A, Tier::B]);
        assert_eq!(backward, vec![Tier::B, Tier::A, Tier::A]);
    }

    #[test]
    fn single_and_negative_accounts() {
        assert_eq!(
            assign_tiers(&[(1, 5)], TierThresholds::default()),
            vec![Tier::A]
        );
        assert_eq!(
            assign_tiers(&[(1, -5), (2, 10)], TierThresholds::default()),
            vec![Tier::C, Tier::A]
        );
        assert!(assign_tiers::<u8>(&[], TierThresholds::default()).is_empty());
        // Totals beyond i64 do not overflow.
        assert_eq!(
            assign_tiers(&[(1, i64::MAX), (2, i64::MAX)], TierThresholds::default()),
            vec![Tier::A, Tier::A]
        );
    }

    #[test]
    fn thresholds_reject_non_finite_values() {
        assert!(TierThresholds::new(f64::NAN, 0.9).is_err());
        assert!(TierThresholds::new(0.5, f64::INFINITY).is_err());
        assert_eq!(
            TierThresholds::new(0.8, 0.95),
            Ok(TierThresholds::default())
        );
    }

    fn thresholds() -> impl Strategy<Value = TierThresholds> {
        (0.01f64..0.99, 0.0f64..1.0).prop_map(|(a, b)| {
            let b_share = (a + (1.0 - a) * b).max(a + 1e-9).min(1.0);
            TierThresholds::new(a, b_share).unwrap()
        })
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
        fn tier_a_covers_at_least_its_share(
            arrs in proptest::collection::vec(-1_000i64..1_000_000_000, 1..200),
            thresholds in thresholds(),
        ) {
            let accounts: Vec<(usize, i64)> = arrs.iter().copied().enumerate().collect();
            let tiers = assign_tiers(&accounts, thresholds);
            let total: i64 = arrs.iter().map(|arr| (*arr).max(0)).sum();
            let a: i64 = accounts.iter().zip(&tiers).filter(|(_, t)| **t == Tier::A).map(|((_, arr), _)| arr).sum();
            let a_and_b: i64 = accounts.iter().zip(&tiers).filter(|(_, t)| **t != Tier::C).map(|((_, arr), _)| arr).sum();
            if total > 0 {
                // Either A reaches its share, or every account with ARR is A.
                prop_assert!(a as f64 >= thresholds.a_share * total as f64 * (1.0 - 1e-12) || a == total);
                prop_assert!(a_and_b as f64 >= thresholds.b_share * total as f64 * (1.0 - 1e-12) || a_and_b == total);
            } else {
                prop_assert!(tiers.iter().all(|tier| *tier == Tier::C));
            }
            for (arr, tier) in arrs.iter().zip(&tiers) {
                if *arr <= 0 {
                    prop_assert_eq!(*tier, Tier::C);
                }
            }
        }

        #[test]
        fn input_order_is_preserved(
            arrs in proptest::collection::vec(0i64..1_000, 1..100),
            rotation in 0usize..100,
        ) {
            // Keys are unique; rotating the input rotates the output the same way.
            let accounts: Vec<(usize, i64)> = arrs.iter().copied().enumerate().collect();
            let tiers = assign_tiers(&accounts, TierThresholds::default());
            let shift = rotation % accounts.len();
            let mut rotated = accounts.clone();
            rotated.rotate_left(shift);
            let mut expected = tiers.clone();
            expected.rotate_left(shift);
            prop_assert_eq!(assign_tiers(&rotated, TierThresholds::default()), expected);
        }
    }
}
