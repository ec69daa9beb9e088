//! Balancing time and quality on a log-normal book of business (pure domain code; the
//! baseline here is the bar of DESIGN.md: < 50 ms and ARR max/min ≤ 1.05 for 10,000
//! accounts over 25 CSMs).

use std::time::Instant;

use nordstern_domain::{
    balance::{BalanceAccount, BalanceInput, plan_balance},
    tiers::{TierThresholds, assign_tiers},
};
use rand::SeedableRng;

#[derive(clap::Args, Debug)]
pub struct BalanceArgs {
    #[arg(long, default_value_t = 10_000)]
    pub accounts: usize,
    #[arg(long, default_value_t = 25)]
    pub csms: usize,
    /// Repetitions; the median time is reported.
    #[arg(long, default_value_t = 11)]
    pub runs: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

pub fn run(args: &BalanceArgs) -> anyhow::Result<()> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let arr: Vec<(usize, i64)> = (0..args.accounts)
        .map(|index| (index, crate::demo::log_normal_arr(&mut rng)))
        .collect();
    let tiers = assign_tiers(&arr, TierThresholds::default());
    for sticky in [false, true] {
        // Sticky starts from a round-robin assignment, as if CSMs had been given accounts
        // in arrival order.
        let input = BalanceInput {
            accounts: arr
                .iter()
                .zip(&tiers)
                .map(|((index, arr), tier)| BalanceAccount {
                    arr: *arr,
                    tier: *tier,
                    current_csm: sticky.then_some(index % args.csms),
                })
                .collect(),
            csm_count: args.csms,
            sticky,
        };
        let mut times = Vec::with_capacity(args.runs);
        let mut plan = None;
        for _ in 0..args.runs.max(1) {
            let started = Instant::now();
            plan = Some(plan_balance(&input)?);
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        if let Some(plan) = plan {
            println!(
                "balance {} accounts over {} CSMs ({}): median {:.2} ms (bar 50 ms), ARR max/min {:.4} (bar 1.05), {} moves",
                args.accounts,
                args.csms,
                if sticky { "sticky" } else { "fresh" },
                median,
                plan.arr_max_min_ratio(),
                plan.moves
            );
        }
    }
    Ok(())
}
