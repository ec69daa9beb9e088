//! Local search on ARR: swap two accounts of the same tier between the heaviest and the
//! lightest portfolio. Same-tier swaps keep every tier quota, and each accepted swap
//! strictly lowers the sum of squared loads, so the search cannot cycle.

use super::{BalanceAccount, PortfolioLoad};

/// Upper bound on swaps, so a pathological book cannot stall a request.
const MAX_SWAPS: usize = 20_000;

/// A CSM's accounts of one tier as `(arr, account)`, sorted ascending.
type TierList = Vec<(i64, usize)>;

/// Applies the swap that brings the heaviest and lightest portfolio closest to even,
/// until none helps, the spread max/min is within `tolerance`, or [`MAX_SWAPS`].
pub(super) fn improve(
    accounts: &[BalanceAccount],
    assignment: &mut [usize],
    loads: &mut [PortfolioLoad],
    tolerance: f64,
) {
    let k = loads.len();
    if k < 2 {
        return;
    }
    let mut lists: Vec<[TierList; 3]> = vec![[Vec::new(), Vec::new(), Vec::new()]; k];
    for (index, &csm) in assignment.iter().enumerate() {
        lists[csm][accounts[index].tier.index()].push((accounts[index].arr, index));
    }
    for list in lists.iter_mut().flatten() {
        list.sort_unstable();
    }
    for _ in 0..MAX_SWAPS {
        let heavy = (0..k)
            .max_by_key(|&c| (loads[c].arr, std::cmp::Reverse(c)))
            .unwrap_or(0);
        let light = (0..k).min_by_key(|&c| (loads[c].arr, c)).unwrap_or(0);
        let (high, low) = (loads[heavy].arr, loads[light].arr);
        if high <= low || (low > 0 && high as f64 / low as f64 <= tolerance) {
            return;
        }
        let Some((t, xi, yi)) = best_swap(&lists[heavy], &lists[light], high - low) else {
            return;
        };
        let (x_arr, x) = lists[heavy][t].remove(xi);
        let (y_arr, y) = lists[light][t].remove(yi);
        assignment[x] = light;
        assignment[y] = heavy;
        loads[heavy].arr += y_arr - x_arr;
        loads[light].arr += x_arr - y_arr;
        insert_sorted(&mut lists[light][t], (x_arr, x));
        insert_sorted(&mut lists[heavy][t], (y_arr, y));
    }
}

/// The swap of `x` (heavy) for `y` (light) of one tier that moves `delta = x - y` with
/// `0 < delta < diff` and leaves the smallest `|diff - 2 delta|`, as (tier, x position,
/// y position). For each `x` the best `y` is next to `x - diff / 2`, found by binary
/// search, so a search costs O(m log m) for portfolios of m accounts.
fn best_swap(
    heavy: &[TierList; 3],
    light: &[TierList; 3],
    diff: i64,
) -> Option<(usize, usize, usize)> {
    let mut best: Option<(i64, usize, usize, usize)> = None;
    for (t, (from, to)) in heavy.iter().zip(light).enumerate() {
        if to.is_empty() {
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
    best.map(|(_, t, xi, yi)| (t, xi, yi))
}

fn insert_sorted(list: &mut TierList, item: (i64, usize)) {
    let at = list.partition_point(|probe| *probe < item);
    list.insert(at, item);
}
