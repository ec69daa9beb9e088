//! Balanced portfolios: every CSM gets the same A:B:C mix (±1 account per tier) and as
//! even a share of ARR as swaps can reach. Sticky planning starts from the current
//! assignment and moves only what the mix requires, plus swaps while the ARR spread is
//! above 5 %.

use crate::account::Tier;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalanceAccount {
    pub arr: i64,
    pub tier: Tier,
    /// Index into the CSM list; `None` when unassigned or owned by a CSM not balanced over.
    pub current_csm: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceInput {
    pub accounts: Vec<BalanceAccount>,
    pub csm_count: usize,
    pub sticky: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortfolioLoad {
    /// Accounts per tier: A, B, C.
    pub tier_counts: [u32; 3],
    pub arr: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalancePlan {
    /// CSM index per account, in input order.
    pub assignment: Vec<usize>,
    pub loads: Vec<PortfolioLoad>,
    /// Accounts whose CSM differs from `current_csm` (assigning an unassigned one counts).
    pub moves: usize,
}

impl BalancePlan {
    pub fn arr_max_min_ratio(&self) -> f64 {
        let max = self.loads.iter().map(|l| l.arr).max().unwrap_or(0);
        let min = self.loads.iter().map(|l| l.arr).min().unwrap_or(0);
        if max == 0 {
            1.0
        } else if min <= 0 {
            f64::INFINITY
        } else {
            max as f64 / min as f64
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BalanceError {
    #[error("there is no CSM to balance over")]
    NoCsms,
}

/// Spread below which sticky planning stops swapping: moving customers breaks
/// relationships, so it is not worth chasing the last few percent.
const STICKY_TOLERANCE: f64 = 1.05;
const MAX_SWAPS: usize = 20_000;

fn tier_index(tier: Tier) -> usize {
    match tier {
        Tier::A => 0,
        Tier::B => 1,
        Tier::C => 2,
    }
}

pub fn plan_balance(input: &BalanceInput) -> Result<BalancePlan, BalanceError> {
    let k = input.csm_count;
    if k == 0 {
        return Err(BalanceError::NoCsms);
    }
    let accounts = &input.accounts;
    let mut assignment: Vec<Option<usize>> = if input.sticky {
        accounts
            .iter()
            .map(|a| a.current_csm.filter(|c| *c < k))
            .collect()
    } else {
        vec![None; accounts.len()]
    };
    let mut loads = vec![PortfolioLoad::default(); k];
    for (account, csm) in accounts.iter().zip(&assignment) {
        if let Some(csm) = csm {
            loads[*csm].tier_counts[tier_index(account.tier)] += 1;
            loads[*csm].arr += account.arr;
        }
    }
    for tier in Tier::ALL {
        let t = tier_index(tier);
        let members: Vec<usize> = (0..accounts.len())
            .filter(|&i| accounts[i].tier == tier)
            .collect();
        let base = (members.len() / k) as u32;
        let extra = members.len() % k;
        trim_to_quota(
            accounts,
            &members,
            &mut assignment,
            &mut loads,
            t,
            base,
            extra,
        );
        // Place what is unplaced, largest first, on the lightest CSM with room.
        let mut unplaced: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&i| assignment[i].is_none())
            .collect();
        unplaced.sort_by(|&a, &b| accounts[b].arr.cmp(&accounts[a].arr).then(a.cmp(&b)));
        let mut extra_left = extra - loads.iter().filter(|l| l.tier_counts[t] > base).count();
        for index in unplaced {
            let chosen = (0..k)
                .filter(|&c| {
                    loads[c].tier_counts[t] < base
                        || (loads[c].tier_counts[t] == base && extra_left > 0)
                })
                .min_by_key(|&c| (loads[c].arr, c));
            let Some(csm) = chosen else { break };
            if loads[csm].tier_counts[t] == base {
                extra_left -= 1;
            }
            assignment[index] = Some(csm);
            loads[csm].tier_counts[t] += 1;
            loads[csm].arr += accounts[index].arr;
        }
    }
    let mut assignment: Vec<usize> = assignment.into_iter().map(|csm| csm.unwrap_or(0)).collect();
    let tolerance = if input.sticky { STICKY_TOLERANCE } else { 1.0 };
    improve_by_swaps(accounts, &mut assignment, &mut loads, tolerance);
    let moves = accounts
        .iter()
        .zip(&assignment)
        .filter(|(account, csm)| account.current_csm != Some(**csm))
        .count();
    Ok(BalancePlan {
        assignment,
        loads,
        moves,
    })
}

/// Sticky start: take accounts away from CSMs holding more of tier `t` than the mix
/// allows (heaviest portfolios first, largest accounts first, which helps ARR most).
fn trim_to_quota(
    accounts: &[BalanceAccount],
    members: &[usize],
    assignment: &mut [Option<usize>],
    loads: &mut [PortfolioLoad],
    t: usize,
    base: u32,
    extra: usize,
) {
    let k = loads.len();
    let mut by_weight: Vec<usize> = (0..k).collect();
    by_weight.sort_by_key(|&c| std::cmp::Reverse((loads[c].arr, c)));
    let mut above_base = 0;
    for csm in by_weight.into_iter().rev() {
        // Lightest first keep their extra slot; heavier ones give theirs up.
        let allowed = if above_base < extra { base + 1 } else { base };
        let mut owned: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&i| assignment[i] == Some(csm))
            .collect();
        owned.sort_by(|&a, &b| accounts[b].arr.cmp(&accounts[a].arr).then(a.cmp(&b)));
        let excess = (owned.len() as u32).saturating_sub(allowed) as usize;
        for &index in owned.iter().take(excess) {
            assignment[index] = None;
            loads[csm].tier_counts[t] -= 1;
            loads[csm].arr -= accounts[index].arr;
        }
        if loads[csm].tier_counts[t] > base {
            above_base += 1;
        }
    }
}

/// Local search: swap same-tier accounts between the heaviest and lightest portfolio,
/// choosing the swap that brings the pair closest to even, until none helps or the
/// spread is within `tolerance`.
fn improve_by_swaps(
    accounts: &[BalanceAccount],
    assignment: &mut [usize],
    loads: &mut [PortfolioLoad],
    tolerance: f64,
) {
    let k = loads.len();
    if k < 2 {
        return;
    }
    // Sorted (arr, account) lists per CSM and tier.
    let mut lists: Vec<[Vec<(i64, usize)>; 3]> = vec![[Vec::new(), Vec::new(), Vec::new()]; k];
    for (index, &csm) in assignment.iter().enumerate() {
        lists[csm][tier_index(accounts[index].tier)].push((accounts[index].arr, index));
    }
    for per_tier in &mut lists {
        for list in per_tier.iter_mut() {
            list.sort_unstable();
        }
    }
    for _ in 0..MAX_SWAPS {
        let heavy = (0..k)
            .max_by_key(|&c| (loads[c].arr, std::cmp::Reverse(c)))
            .unwrap_or(0);
        let light = (0..k).min_by_key(|&c| (loads[c].arr, c)).unwrap_or(0);
        let diff = loads[heavy].arr - loads[light].arr;
        if diff <= 0
            || (loads[light].arr > 0
                && loads[heavy].arr as f64 / loads[light].arr as f64 <= tolerance)
        {
            return;
        }
        // Best swap: moves delta = x - y from heavy to light with 0 < delta < diff,
        // minimising |diff - 2 delta|.
        let mut best: Option<(i64, usize, usize, usize)> = None;
        for (t, (from, to)) in lists[heavy].iter().zip(&lists[light]).enumerate() {
            if from.is_empty() || to.is_empty() {
                continue;
            }
            for (xi, &(x, _)) in from.iter().enumerate() {
                let wanted = x - diff / 2;
                let pos = to.partition_point(|&(y, _)| y < wanted);
                for yi in [pos.wrapping_sub(1), pos] {
                    let Some(&(y, _)) = to.get(yi) else { continue };
                    let delta = x - y;
                    if delta <= 0 || delta >= diff {
                        continue;
                    }
                    let remaining = (diff - 2 * delta).abs();
                    if best.is_none_or(|(r, ..)| remaining < r) {
                        best = Some((remaining, t, xi, yi));
                    }
                }
            }
        }
        let Some((_, t, xi, yi)) = best else { return };
        let (x_arr, x) = lists[heavy][t].remove(xi);
        let (y_arr, y) = lists[light][t].remove(yi);
        assignment[x] = light;
        assignment[y] = heavy;
        loads[heavy].arr += y_arr - x_arr;
        loads[light].arr += x_arr - y_arr;
        let insert = |list: &mut Vec<(i64, usize)>, item: (i64, usize)| {
            let at = list.partition_point(|probe| *probe < item);
            list.insert(at, item);
        };
        insert(&mut lists[light][t], (x_arr, x));
        insert(&mut lists[heavy][t], (y_arr, y));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::tiers::{TierThresholds, assign_tiers};
    use proptest::prelude::*;

    fn book(arrs: &[i64]) -> Vec<BalanceAccount> {
        let keyed: Vec<(usize, i64)> = arrs.iter().copied().enumerate().collect();
        let tiers = assign_tiers(&keyed, TierThresholds::default());
        arrs.iter()
            .zip(tiers)
            .map(|(arr, tier)| BalanceAccount {
                arr: *arr,
                tier,
                current_csm: None,
            })
            .collect()
    }

    /// Deterministic log-normal-ish ARR without a random number generator.
    fn log_normal_book(n: usize) -> Vec<i64> {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..n)
            .map(|_| {
                let mut uniform = || {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 11) as f64 / (1u64 << 53) as f64
                };
                let (u1, u2) = (uniform().max(1e-12), uniform());
                let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                (10.0 + 1.2 * z).exp().round() as i64 + 1
            })
            .collect()
    }

    fn check_invariants(input: &BalanceInput, plan: &BalancePlan) {
        let k = input.csm_count;
        assert_eq!(plan.assignment.len(), input.accounts.len());
        let mut loads = vec![PortfolioLoad::default(); k];
        for (account, csm) in input.accounts.iter().zip(&plan.assignment) {
            assert!(*csm < k);
            loads[*csm].tier_counts[tier_index(account.tier)] += 1;
            loads[*csm].arr += account.arr;
        }
        assert_eq!(loads, plan.loads);
        for t in 0..3 {
            let max = loads.iter().map(|l| l.tier_counts[t]).max().unwrap();
            let min = loads.iter().map(|l| l.tier_counts[t]).min().unwrap();
            assert!(max - min <= 1, "tier {t}: {min}..{max}");
        }
    }

    #[test]
    fn ten_thousand_log_normal_accounts_over_25_csms_within_5_percent() {
        let input = BalanceInput {
            accounts: book(&log_normal_book(10_000)),
            csm_count: 25,
            sticky: false,
        };
        let plan = plan_balance(&input).unwrap();
        check_invariants(&input, &plan);
        assert!(
            plan.arr_max_min_ratio() <= 1.05,
            "ratio {}",
            plan.arr_max_min_ratio()
        );
        assert_eq!(plan.moves, 10_000);
    }

    #[test]
    fn no_csms_is_an_error() {
        let input = BalanceInput {
            accounts: book(&[1, 2]),
            csm_count: 0,
            sticky: false,
        };
        assert_eq!(plan_balance(&input), Err(BalanceError::NoCsms));
    }

    #[test]
    fn sticky_moves_only_what_the_mix_requires() {
        // Everything with CSM 0: half of each tier must move to CSM 1.
        let mut accounts = book(&log_normal_book(200));
        for account in &mut accounts {
            account.current_csm = Some(0);
        }
        let input = BalanceInput {
            accounts,
            csm_count: 2,
            sticky: true,
        };
        let plan = plan_balance(&input).unwrap();
        check_invariants(&input, &plan);
        assert!(plan.moves >= 99 && plan.moves < 140, "moves {}", plan.moves);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn plans_keep_the_mix_and_sticky_keeps_a_balanced_book(
            arrs in proptest::collection::vec(1i64..10_000_000, 1..300),
            k in 1usize..9,
        ) {
            let fresh = BalanceInput { accounts: book(&arrs), csm_count: k, sticky: false };
            let plan = plan_balance(&fresh).unwrap();
            check_invariants(&fresh, &plan);
            let mut current = fresh.clone();
            for (account, csm) in current.accounts.iter_mut().zip(&plan.assignment) {
                account.current_csm = Some(*csm);
            }
            current.sticky = true;
            let sticky = plan_balance(&current).unwrap();
            check_invariants(&current, &sticky);
            prop_assert_eq!(sticky.moves, 0);
        }
    }
}
