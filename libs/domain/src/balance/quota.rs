//! Tier quotas: with `n` accounts of a tier over `k` CSMs, every CSM holds
//! `n / k` of them and `n % k` CSMs hold one more. That is what makes every portfolio a
//! cross-section of the customer base.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::draft::Draft;
use crate::account::Tier;

/// `(base, extra)`: everyone gets `base`, `extra` CSMs get `base + 1`.
fn quota(draft: &Draft<'_>, tier: Tier) -> (u32, usize) {
    let n = draft.accounts.iter().filter(|a| a.tier == tier).count();
    let k = draft.csm_count();
    ((n / k) as u32, n % k)
}

/// Accounts of `tier` per CSM, in one pass over the book.
fn members_by_csm(draft: &Draft<'_>, tier: Tier) -> Vec<Vec<usize>> {
    let mut members = vec![Vec::new(); draft.csm_count()];
    for (index, account) in draft.accounts.iter().enumerate() {
        if let (true, Some(csm)) = (account.tier == tier, draft.assignment[index]) {
            members[csm].push(index);
        }
    }
    members
}

/// Sticky start: unassigns what CSMs hold of `tier` beyond the quota, and nothing
/// else. The `base + 1` slots go to the lightest portfolios that already fill them
/// (every such slot saves one move, and keeping it helps a light portfolio most). Above
/// the mean a portfolio gives up its largest accounts, below the mean its smallest, so
/// the trim itself already evens ARR.
pub(super) fn trim_to_quota(draft: &mut Draft<'_>, tier: Tier) {
    let (base, extra) = quota(draft, tier);
    let t = tier.index();
    let k = draft.csm_count();
    let total: i128 = draft.accounts.iter().map(|a| i128::from(a.arr)).sum();
    let mean = total / k as i128;
    let accounts = draft.accounts;
    let mut members = members_by_csm(draft, tier);
    let mut lightest_first: Vec<usize> = (0..k).collect();
    lightest_first.sort_by_key(|&c| (draft.loads[c].arr, c));
    let mut extra_used = 0;
    for csm in lightest_first {
        let held = draft.loads[csm].tier_counts[t];
        let allowed = if held > base && extra_used < extra {
            extra_used += 1;
            base + 1
        } else {
            base
        };
        let excess = held.saturating_sub(allowed) as usize;
        if excess == 0 {
            continue;
        }
        let owned = &mut members[csm];
        let heavy = i128::from(draft.loads[csm].arr) > mean;
        owned.sort_by(|&a, &b| {
            let (x, y) = (accounts[a].arr, accounts[b].arr);
            if heavy { y.cmp(&x) } else { x.cmp(&y) }.then(a.cmp(&b))
        });
        for &index in owned.iter().take(excess) {
            draft.unassign(index);
        }
    }
}

/// Places the unassigned accounts of `tier`, largest first, each on the lightest
/// portfolio that still has room in the tier's quota. Assumes no CSM is over quota.
pub(super) fn place_unassigned(draft: &mut Draft<'_>, tier: Tier) {
    let (base, extra) = quota(draft, tier);
    let t = tier.index();
    let k = draft.csm_count();
    let mut open: Vec<usize> = (0..draft.accounts.len())
        .filter(|&i| draft.accounts[i].tier == tier && draft.assignment[i].is_none())
        .collect();
    open.sort_by(|&a, &b| {
        draft.accounts[b]
            .arr
            .cmp(&draft.accounts[a].arr)
            .then(a.cmp(&b))
    });
    let mut extra_left = extra.saturating_sub(
        draft
            .loads
            .iter()
            .filter(|load| load.tier_counts[t] > base)
            .count(),
    );
    // Min-heap of (ARR, CSM) over portfolios that may still have room; each CSM is in
    // it at most once, with its current ARR, so a pop is always up to date.
    let mut lightest: BinaryHeap<Reverse<(i64, usize)>> =
        (0..k).map(|c| Reverse((draft.loads[c].arr, c))).collect();
    let mut open = open.into_iter();
    while let Some(Reverse((_, csm))) = lightest.pop() {
        let held = draft.loads[csm].tier_counts[t];
        let has_room = held < base || (held == base && extra_left > 0);
        if !has_room {
            continue; // Rooms only ever close, so this CSM is done with the tier.
        }
        // Capacity matches demand exactly; `Draft::complete` covers the impossible rest.
        let Some(index) = open.next() else { return };
        if held == base {
            extra_left -= 1;
        }
        draft.assign(index, csm);
        lightest.push(Reverse((draft.loads[csm].arr, csm)));
    }
}
