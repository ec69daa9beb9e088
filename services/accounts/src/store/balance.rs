//! Portfolio balancing and tier totals over the live (not churned) accounts.

use std::collections::HashMap;

use chrono::Utc;
use nordstern_domain::{
    account::Tier,
    balance::{BalanceAccount, BalanceInput, BalancePlan, plan_balance},
};
use nordstern_runtime::storage::{parse_column, placeholders};
use sea_orm::ConnectionTrait;

use super::{
    Store,
    csms::{active_csm_ids, fetch_csms, move_account},
    query_all,
};
use crate::error::{AccountsError, AccountsResult};

/// Which accounts a balance spreads, and over whom.
#[derive(Debug, Clone, Default)]
pub struct BalanceScope {
    /// Empty: every active CSM, and then every live account.
    pub csm_ids: Vec<String>,
    pub sticky: bool,
    /// Also the accounts no CSM holds.
    pub include_unassigned: bool,
    /// Every live account, taken from CSMs not named too.
    pub whole_company: bool,
}

/// A plan with the ids it speaks about.
#[derive(Debug, Clone)]
pub struct Balance {
    pub csm_ids: Vec<String>,
    pub account_ids: Vec<String>,
    pub current: Vec<Option<String>>,
    pub plan: BalancePlan,
}

impl Balance {
    /// (account, from, to) for every account whose CSM changes.
    pub fn moves(&self) -> impl Iterator<Item = (&str, Option<&str>, &str)> {
        self.account_ids
            .iter()
            .zip(&self.current)
            .zip(&self.plan.assignment)
            .filter_map(|((account_id, current), target)| {
                let to = self.csm_ids[*target].as_str();
                (current.as_deref() != Some(to)).then_some((
                    account_id.as_str(),
                    current.as_deref(),
                    to,
                ))
            })
    }

    /// CSMs outside the balance whose accounts the plan moves, sorted.
    pub fn csms_not_named_losing_accounts(&self) -> Vec<String> {
        let mut losing: Vec<String> = self
            .moves()
            .filter_map(|(_, from, _)| from)
            .filter(|from| !self.csm_ids.iter().any(|id| id == from))
            .map(str::to_owned)
            .collect();
        losing.sort();
        losing.dedup();
        losing
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TierTotal {
    pub tier: Tier,
    pub account_count: i64,
    pub arr_minor: i64,
}

impl Store {
    pub async fn plan_balance(&self, scope: &BalanceScope) -> AccountsResult<Balance> {
        compute_balance(self.db(), scope).await
    }

    /// Computes the plan and applies it in one serialised transaction, recording every
    /// move in the assignment history.
    pub async fn apply_balance(&self, scope: &BalanceScope) -> AccountsResult<Balance> {
        let tx = self.writer.begin().await?;
        let db = &tx.txn;
        let balance = compute_balance(db, scope).await?;
        let now = Utc::now();
        for (account_id, _, to) in balance.moves() {
            move_account(db, account_id, to, now).await?;
        }
        tx.commit().await?;
        Ok(balance)
    }

    pub async fn tier_totals(&self) -> AccountsResult<Vec<TierTotal>> {
        let rows = query_all(
            self.db(),
            "SELECT tier, COUNT(*) AS accounts, CAST(COALESCE(SUM(arr_minor), 0) AS BIGINT) AS arr FROM accounts \
             WHERE churned_on IS NULL GROUP BY tier",
            Vec::new(),
        )
        .await?;
        let mut by_tier: HashMap<String, (i64, i64)> = HashMap::new();
        for row in rows {
            by_tier.insert(
                row.try_get("", "tier")?,
                (row.try_get("", "accounts")?, row.try_get("", "arr")?),
            );
        }
        Ok(Tier::ALL
            .into_iter()
            .map(|tier| {
                let (account_count, arr_minor) =
                    by_tier.get(tier.as_str()).copied().unwrap_or((0, 0));
                TierTotal {
                    tier,
                    account_count,
                    arr_minor,
                }
            })
            .collect())
    }
}

async fn compute_balance(
    db: &impl ConnectionTrait,
    scope: &BalanceScope,
) -> AccountsResult<Balance> {
    let requested = &scope.csm_ids;
    let csm_ids = if requested.is_empty() {
        active_csm_ids(db).await?
    } else {
        let found = fetch_csms(db, requested).await?;
        let mut violations = nordstern_runtime::status::FieldViolations::new();
        for (index, id) in requested.iter().enumerate() {
            match found.iter().find(|csm| &csm.csm_id == id) {
                None => violations.add(
                    format!("csm_ids[{index}]"),
                    format!("CSM {id} does not exist"),
                ),
                Some(csm) if !csm.active => {
                    violations.add(format!("csm_ids[{index}]"), format!("CSM {id} is inactive"))
                }
                Some(_) => {}
            }
        }
        violations.into_result()?;
        let mut ids = requested.to_vec();
        ids.sort();
        ids.dedup();
        ids
    };
    if csm_ids.is_empty() {
        return Err(AccountsError::FailedPrecondition(
            "there is no active CSM to balance over".to_owned(),
        ));
    }
    let (held_by, values) = if requested.is_empty() || scope.whole_company {
        ("TRUE".to_owned(), Vec::new())
    } else {
        let mut held_by = format!("csm_id IN ({})", placeholders(1, csm_ids.len()));
        if scope.include_unassigned {
            held_by.push_str(" OR csm_id IS NULL");
        }
        (
            held_by,
            csm_ids.iter().map(|id| id.as_str().into()).collect(),
        )
    };
    let rows = query_all(
        db,
        &format!(
            "SELECT account_id, arr_minor, tier, csm_id FROM accounts \
             WHERE churned_on IS NULL AND ({held_by}) ORDER BY account_id"
        ),
        values,
    )
    .await?;
    let index_of: HashMap<&str, usize> = csm_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let mut account_ids = Vec::with_capacity(rows.len());
    let mut current = Vec::with_capacity(rows.len());
    let mut accounts = Vec::with_capacity(rows.len());
    for row in &rows {
        let csm_id: Option<String> = row.try_get("", "csm_id")?;
        accounts.push(BalanceAccount {
            arr: row.try_get("", "arr_minor")?,
            tier: parse_column(row, "tier", Tier::parse)?,
            current_csm: csm_id.as_deref().and_then(|id| index_of.get(id).copied()),
        });
        account_ids.push(row.try_get::<String>("", "account_id")?);
        current.push(csm_id);
    }
    let plan = plan_balance(&BalanceInput {
        accounts,
        csm_count: csm_ids.len(),
        sticky: scope.sticky,
    })
    .map_err(|error| AccountsError::FailedPrecondition(error.to_string()))?;
    let csms = fetch_csms(db, &csm_ids).await?;
    let over_capacity: Vec<String> = csms
        .iter()
        .filter_map(|csm| {
            let index = index_of.get(csm.csm_id.as_str())?;
            let load: u32 = plan.loads[*index].tier_counts.iter().sum();
            (csm.capacity > 0 && i64::from(load) > i64::from(csm.capacity))
                .then(|| format!("{} ({} > capacity {})", csm.csm_id, load, csm.capacity))
        })
        .collect();
    if !over_capacity.is_empty() {
        return Err(AccountsError::FailedPrecondition(format!(
            "a balanced plan would put CSMs over capacity: {}",
            over_capacity.join(", ")
        )));
    }
    Ok(Balance {
        csm_ids,
        account_ids,
        current,
        plan,
    })
}
