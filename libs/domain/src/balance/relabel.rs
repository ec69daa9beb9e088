//! CSM labels of a fresh plan are arbitrary: any permutation has the same mix and
//! spread. Matching them to today's owners turns a rebalance into the fewest moves a
//! relabelling can give, for free.

use super::{BalanceAccount, PortfolioLoad};

/// Renames the plan's CSMs so that as many accounts as possible stay where they are:
/// greedy on the overlap counts (largest first, ties by label), which keeps at least
/// half of what an optimal matching would; unmatched labels pair up in order.
pub(super) fn match_current(
    accounts: &[BalanceAccount],
    assignment: &mut [usize],
    loads: &mut Vec<PortfolioLoad>,
) {
    let k = loads.len();
    let mut pairs: Vec<(usize, usize)> = accounts
        .iter()
        .zip(assignment.iter())
        .filter_map(|(account, &planned)| {
            account
                .current_csm
                .filter(|current| *current < k)
                .map(|current| (planned, current))
        })
        .collect();
    if pairs.is_empty() {
        return;
    }
    pairs.sort_unstable();
    let mut overlaps: Vec<(usize, usize, usize)> = Vec::new();
    for pair in pairs {
        match overlaps.last_mut() {
            Some((count, planned, current)) if (*planned, *current) == pair => *count += 1,
            _ => overlaps.push((1, pair.0, pair.1)),
        }
    }
    overlaps.sort_by_key(|&(count, planned, current)| (std::cmp::Reverse(count), planned, current));
    let mut rename: Vec<Option<usize>> = vec![None; k];
    let mut taken = vec![false; k];
    for (_, planned, current) in overlaps {
        if rename[planned].is_none() && !taken[current] {
            rename[planned] = Some(current);
            taken[current] = true;
        }
    }
    let mut free = (0..k).filter(|label| !taken[*label]);
    let rename: Vec<usize> = rename
        .into_iter()
        .map(|label| label.or_else(|| free.next()).unwrap_or(0))
        .collect();
    for csm in assignment.iter_mut() {
        *csm = rename[*csm];
    }
    let mut renamed = vec![PortfolioLoad::default(); k];
    for (planned, load) in loads.iter().enumerate() {
        renamed[rename[planned]] = *load;
    }
    *loads = renamed;
}
