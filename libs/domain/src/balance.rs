//! Balanced portfolios: every CSM gets the same A:B:C mix (±1 account per tier) and as
//! even a share of ARR as same-tier swaps can reach.
//!
//! A fresh plan ignores who owns what today, but its CSM labels are matched to the
//! current owners afterwards, so even a fresh plan keeps as many relationships as a
//! relabelling can. A sticky plan starts from today's assignment, moves only what the
//! tier mix requires, and swaps only while the ARR spread is above 5 %: moving a
//! customer breaks a relationship, so the last few percent are not worth it. A sticky
//! plan never moves more accounts than the fresh plan would.

mod draft;
mod quota;
mod relabel;
mod swaps;
#[cfg(test)]
mod tests;

use crate::account::Tier;
use draft::Draft;

/// One account as the planner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalanceAccount {
    /// Contract value in minor units; assumed >= 0 and small enough that the whole
    /// book's ARR fits in an `i64`.
    pub arr: i64,
    pub tier: Tier,
    /// Index into the CSM list; `None` when unassigned or owned by a CSM not balanced over.
    pub current_csm: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceInput {
    pub accounts: Vec<BalanceAccount>,
    /// CSMs to balance over, indexed `0..csm_count`.
    pub csm_count: usize,
    /// Keep current assignments where the tier mix allows (see the module docs).
    pub sticky: bool,
}

/// What one CSM carries under a plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortfolioLoad {
    /// Accounts per tier, indexed by [`Tier::index`]: A, B, C.
    pub tier_counts: [u32; 3],
    pub arr: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalancePlan {
    /// CSM index per account, in input order.
    pub assignment: Vec<usize>,
    /// Per CSM, consistent with `assignment`.
    pub loads: Vec<PortfolioLoad>,
    /// Accounts whose CSM differs from `current_csm` (assigning an unassigned one counts).
    pub moves: usize,
}

impl BalancePlan {
    /// Heaviest portfolio ARR over the lightest: 1.0 when all are zero (or there are
    /// none), infinite when some CSM has no ARR while another has some.
    pub fn arr_max_min_ratio(&self) -> f64 {
        let max = self.loads.iter().map(|l| l.arr).max().unwrap_or(0);
        let min = self.loads.iter().map(|l| l.arr).min().unwrap_or(0);
        if max <= 0 {
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

/// Spread below which sticky planning stops swapping.
const STICKY_TOLERANCE: f64 = 1.05;

/// Plans a balanced assignment of `input.accounts` over `input.csm_count` CSMs.
/// Deterministic: the same input always gives the same plan.
pub fn plan_balance(input: &BalanceInput) -> Result<BalancePlan, BalanceError> {
    if input.csm_count == 0 {
        return Err(BalanceError::NoCsms);
    }
    let fresh = fresh_plan(input);
    if !input.sticky {
        return Ok(fresh);
    }
    let sticky = sticky_plan(input);
    // The fresh plan is also better balanced, so it wins whenever it moves fewer.
    let fresh_wins = fresh.moves < sticky.moves
        || (fresh.moves == sticky.moves && fresh.arr_max_min_ratio() < sticky.arr_max_min_ratio());
    Ok(if fresh_wins { fresh } else { sticky })
}

/// From scratch: per tier, largest first onto the lightest CSM with room; swaps until
/// no swap between the heaviest and lightest portfolio helps; then relabel.
fn fresh_plan(input: &BalanceInput) -> BalancePlan {
    let mut draft = Draft::empty(&input.accounts, input.csm_count);
    for tier in Tier::ALL {
        quota::place_unassigned(&mut draft, tier);
    }
    let mut assignment = draft.complete();
    let mut loads = draft.loads;
    swaps::improve(&input.accounts, &mut assignment, &mut loads, 1.0);
    relabel::match_current(&input.accounts, &mut assignment, &mut loads);
    finish(input, assignment, loads)
}

/// From today's assignment: trim over-quota portfolios, place what is unplaced, then
/// swap only while the spread is above [`STICKY_TOLERANCE`].
fn sticky_plan(input: &BalanceInput) -> BalancePlan {
    let mut draft = Draft::current(&input.accounts, input.csm_count);
    for tier in Tier::ALL {
        quota::trim_to_quota(&mut draft, tier);
        quota::place_unassigned(&mut draft, tier);
    }
    let mut assignment = draft.complete();
    let mut loads = draft.loads;
    swaps::improve(
        &input.accounts,
        &mut assignment,
        &mut loads,
        STICKY_TOLERANCE,
    );
    finish(input, assignment, loads)
}

fn finish(input: &BalanceInput, assignment: Vec<usize>, loads: Vec<PortfolioLoad>) -> BalancePlan {
    let moves = input
        .accounts
        .iter()
        .zip(&assignment)
        .filter(|(account, csm)| account.current_csm != Some(**csm))
        .count();
    BalancePlan {
        assignment,
        loads,
        moves,
    }
}
