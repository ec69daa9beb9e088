#![allow(clippy::unwrap_used)]

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

/// Deterministic log-normal ARR, exp(N(10, 1.2)) minor units, from an xorshift
/// generator and Box–Muller (no random number crate in a pure library).
fn log_normal_book(n: usize, seed: u64) -> Vec<i64> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15 ^ seed;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let (u1, u2) = (uniform().max(1e-12), uniform());
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            (10.0 + 1.2 * z).exp().round() as i64 + 1
        })
        .collect()
}

fn with_current(
    accounts: &[BalanceAccount],
    current: impl Fn(usize) -> Option<usize>,
) -> Vec<BalanceAccount> {
    accounts
        .iter()
        .enumerate()
        .map(|(index, account)| BalanceAccount {
            current_csm: current(index),
            ..*account
        })
        .collect()
}

fn check_invariants(input: &BalanceInput, plan: &BalancePlan) {
    let k = input.csm_count;
    assert_eq!(plan.assignment.len(), input.accounts.len());
    let mut loads = vec![PortfolioLoad::default(); k];
    for (account, csm) in input.accounts.iter().zip(&plan.assignment) {
        assert!(*csm < k);
        loads[*csm].tier_counts[account.tier.index()] += 1;
        loads[*csm].arr += account.arr;
    }
    assert_eq!(loads, plan.loads);
    for t in 0..3 {
        let max = loads.iter().map(|l| l.tier_counts[t]).max().unwrap();
        let min = loads.iter().map(|l| l.tier_counts[t]).min().unwrap();
        assert!(max - min <= 1, "tier {t}: {min}..{max}");
    }
    let moves = input
        .accounts
        .iter()
        .zip(&plan.assignment)
        .filter(|(account, csm)| account.current_csm != Some(**csm))
        .count();
    assert_eq!(plan.moves, moves);
}

#[test]
fn ten_thousand_log_normal_accounts_over_25_csms_within_5_percent() {
    for seed in 0..3 {
        let input = BalanceInput {
            accounts: book(&log_normal_book(10_000, seed)),
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
}

#[test]
fn sticky_from_round_robin_keeps_most_accounts_within_5_percent() {
    let accounts = book(&log_normal_book(10_000, 7));
    let input = BalanceInput {
        accounts: with_current(&accounts, |index| Some(index % 25)),
        csm_count: 25,
        sticky: true,
    };
    let plan = plan_balance(&input).unwrap();
    check_invariants(&input, &plan);
    assert!(
        plan.arr_max_min_ratio() <= 1.05,
        "ratio {}",
        plan.arr_max_min_ratio()
    );
    assert!(plan.moves < 1_000, "moves {}", plan.moves);
}

#[test]
fn no_csms_is_an_error() {
    let input = BalanceInput {
        accounts: book(&[1, 2]),
        csm_count: 0,
        sticky: false,
    };
    assert_eq!(plan_balance(&input), Err(BalanceError::NoCsms));
    assert_eq!(
        BalanceError::NoCsms.to_string(),
        "there is no CSM to balance over"
    );
}

#[test]
fn sticky_moves_only_what_the_mix_requires() {
    // Everything with CSM 0: about half of each tier must move to CSM 1.
    let accounts = book(&log_normal_book(200, 1));
    let input = BalanceInput {
        accounts: with_current(&accounts, |_| Some(0)),
        csm_count: 2,
        sticky: true,
    };
    let plan = plan_balance(&input).unwrap();
    check_invariants(&input, &plan);
    assert!(plan.moves >= 99 && plan.moves < 140, "moves {}", plan.moves);
}

#[test]
fn unassigned_and_unknown_owners_count_as_moves() {
    let mut accounts = book(&[100, 100, 100, 100]);
    accounts[0].current_csm = Some(0);
    accounts[1].current_csm = Some(7); // Not among the CSMs balanced over.
    accounts[2].current_csm = Some(1);
    let input = BalanceInput {
        accounts,
        csm_count: 2,
        sticky: true,
    };
    let plan = plan_balance(&input).unwrap();
    check_invariants(&input, &plan);
    assert_eq!(plan.assignment[0], 0);
    assert_eq!(plan.assignment[2], 1);
    assert_eq!(plan.moves, 2);
}

#[test]
fn a_fresh_plan_is_relabelled_to_todays_owners() {
    let accounts = book(&log_normal_book(500, 3));
    let fresh = BalanceInput {
        accounts: accounts.clone(),
        csm_count: 5,
        sticky: false,
    };
    let plan = plan_balance(&fresh).unwrap();
    // Today's owners are the same portfolios under other names.
    let renamed = BalanceInput {
        accounts: with_current(&accounts, |index| Some((plan.assignment[index] + 2) % 5)),
        csm_count: 5,
        sticky: false,
    };
    let replan = plan_balance(&renamed).unwrap();
    check_invariants(&renamed, &replan);
    assert_eq!(replan.moves, 0);
}

#[test]
fn one_csm_and_more_csms_than_accounts() {
    let input = BalanceInput {
        accounts: with_current(&book(&[5, 3, 1]), |_| Some(0)),
        csm_count: 1,
        sticky: true,
    };
    let plan = plan_balance(&input).unwrap();
    assert_eq!((plan.assignment.clone(), plan.moves), (vec![0, 0, 0], 0));
    assert_eq!(plan.arr_max_min_ratio(), 1.0);

    let input = BalanceInput {
        accounts: book(&[5, 3]),
        csm_count: 4,
        sticky: false,
    };
    let plan = plan_balance(&input).unwrap();
    check_invariants(&input, &plan);
    assert_eq!(plan.arr_max_min_ratio(), f64::INFINITY);
}

#[test]
fn ratio_edge_cases() {
    let plan = |arrs: &[i64]| BalancePlan {
        assignment: Vec::new(),
        loads: arrs
            .iter()
            .map(|arr| PortfolioLoad {
                tier_counts: [0; 3],
                arr: *arr,
            })
            .collect(),
        moves: 0,
    };
    assert_eq!(plan(&[]).arr_max_min_ratio(), 1.0);
    assert_eq!(plan(&[0, 0]).arr_max_min_ratio(), 1.0);
    assert_eq!(plan(&[0, 10]).arr_max_min_ratio(), f64::INFINITY);
    assert_eq!(plan(&[8, 10]).arr_max_min_ratio(), 1.25);
}

/// Speed and quality figures; run with
/// `cargo test --release -p nordstern-domain -- --ignored --nocapture`.
#[test]
#[ignore = "prints timings; meaningful in release mode only"]
fn balance_figures() {
    for (n, k) in [(10_000, 25), (100_000, 100)] {
        let accounts = book(&log_normal_book(n, 11));
        for sticky in [false, true] {
            let input = BalanceInput {
                accounts: with_current(&accounts, |index| sticky.then_some(index % k)),
                csm_count: k,
                sticky,
            };
            let mut times = Vec::new();
            let mut plan = None;
            for _ in 0..11 {
                let started = std::time::Instant::now();
                plan = Some(plan_balance(&input).unwrap());
                times.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            times.sort_by(f64::total_cmp);
            let plan = plan.unwrap();
            check_invariants(&input, &plan);
            println!(
                "{n} accounts / {k} CSMs, {}: median {:.2} ms, max/min {:.5}, {} moves",
                if sticky {
                    "sticky from round-robin"
                } else {
                    "fresh"
                },
                times[times.len() / 2],
                plan.arr_max_min_ratio(),
                plan.moves
            );
        }
    }
}

fn current_owner(k: usize) -> impl Strategy<Value = Option<usize>> {
    prop_oneof![Just(None), (0..k + 2).prop_map(Some)]
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
        let balanced = BalanceInput {
            accounts: with_current(&fresh.accounts, |index| Some(plan.assignment[index])),
            csm_count: k,
            sticky: true,
        };
        let sticky = plan_balance(&balanced).unwrap();
        check_invariants(&balanced, &sticky);
        prop_assert_eq!(sticky.moves, 0);
    }

    #[test]
    fn sticky_never_moves_more_than_fresh(
        (k, owned) in (1usize..8).prop_flat_map(|k| {
            (Just(k), proptest::collection::vec((1i64..10_000_000, current_owner(k)), 1..300))
        }),
    ) {
        let arrs: Vec<i64> = owned.iter().map(|(arr, _)| *arr).collect();
        let accounts = with_current(&book(&arrs), |index| owned[index].1);
        let fresh = BalanceInput { accounts, csm_count: k, sticky: false };
        let sticky = BalanceInput { sticky: true, ..fresh.clone() };
        let fresh_plan = plan_balance(&fresh).unwrap();
        let sticky_plan = plan_balance(&sticky).unwrap();
        check_invariants(&fresh, &fresh_plan);
        check_invariants(&sticky, &sticky_plan);
        prop_assert!(sticky_plan.moves <= fresh_plan.moves);
        prop_assert_eq!(plan_balance(&sticky).unwrap(), sticky_plan, "deterministic");
    }
}
