//! A partial assignment with its loads kept in step, so no phase can forget to update
//! one when it changes the other.

use super::{BalanceAccount, PortfolioLoad};

pub(super) struct Draft<'a> {
    pub accounts: &'a [BalanceAccount],
    pub assignment: Vec<Option<usize>>,
    pub loads: Vec<PortfolioLoad>,
}

impl<'a> Draft<'a> {
    pub fn empty(accounts: &'a [BalanceAccount], csm_count: usize) -> Self {
        Draft {
            accounts,
            assignment: vec![None; accounts.len()],
            loads: vec![PortfolioLoad::default(); csm_count],
        }
    }

    /// Today's assignment; owners outside `0..csm_count` count as unassigned.
    pub fn current(accounts: &'a [BalanceAccount], csm_count: usize) -> Self {
        let mut draft = Draft::empty(accounts, csm_count);
        for (index, account) in accounts.iter().enumerate() {
            if let Some(csm) = account.current_csm.filter(|csm| *csm < csm_count) {
                draft.assign(index, csm);
            }
        }
        draft
    }

    pub fn csm_count(&self) -> usize {
        self.loads.len()
    }

    pub fn assign(&mut self, index: usize, csm: usize) {
        let account = &self.accounts[index];
        self.assignment[index] = Some(csm);
        self.loads[csm].tier_counts[account.tier.index()] += 1;
        self.loads[csm].arr += account.arr;
    }

    pub fn unassign(&mut self, index: usize) {
        let account = &self.accounts[index];
        if let Some(csm) = self.assignment[index].take() {
            self.loads[csm].tier_counts[account.tier.index()] -= 1;
            self.loads[csm].arr -= account.arr;
        }
    }

    /// The finished assignment. Quota placement assigns every account; should one
    /// still be open, it goes to the lightest portfolio rather than being lost.
    pub fn complete(&mut self) -> Vec<usize> {
        for index in 0..self.assignment.len() {
            if self.assignment[index].is_none() {
                let lightest = (0..self.csm_count())
                    .min_by_key(|&csm| (self.loads[csm].arr, csm))
                    .unwrap_or(0);
                self.assign(index, lightest);
            }
        }
        self.assignment.iter().map(|csm| csm.unwrap_or(0)).collect()
    }
}
