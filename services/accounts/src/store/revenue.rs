//! Revenue metrics for a scope and period, from the contract events of the accounts in
//! scope (one query, grouped by account), and a CSM's quota on the book they held.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use nordstern_domain::{
    account::{ContractEventKind, Segment},
    revenue::{
        AccountHistory, Holding, RecordedEvent, RevenueMetrics, book_quota, revenue_metrics,
    },
};
use nordstern_runtime::storage::parse_column;
use sea_orm::Value;

use super::{Store, fetch_account, query_all};
use crate::error::AccountsResult;

#[derive(Debug, Clone)]
pub enum MetricScope {
    Company,
    Segment(Segment),
    /// The accounts a CSM owns now; the quota is on every account the CSM held in the
    /// period, from the handover on.
    Csm(String),
    Account(String),
}

impl Store {
    pub async fn revenue_metrics(
        &self,
        scope: &MetricScope,
        start: NaiveDate,
        end: NaiveDate,
    ) -> AccountsResult<RevenueMetrics> {
        let (condition, values): (&str, Vec<Value>) = match scope {
            MetricScope::Company => ("", Vec::new()),
            MetricScope::Segment(segment) => {
                ("WHERE a.segment = $1", vec![segment.as_str().into()])
            }
            MetricScope::Csm(csm_id) => {
                self.get_csm(csm_id).await?;
                // The accounts owned now, and those held before: the quota's book.
                (
                    "WHERE a.csm_id = $1 OR a.account_id IN \
                     (SELECT account_id FROM assignments WHERE csm_id = $1)",
                    vec![csm_id.as_str().into()],
                )
            }
            MetricScope::Account(account_id) => {
                fetch_account(self.db(), account_id).await?;
                ("WHERE a.account_id = $1", vec![account_id.as_str().into()])
            }
        };
        let sql = format!(
            "SELECT e.account_id, a.csm_id, e.kind, e.arr_change_minor, e.effective_date, e.renewal_date \
             FROM contract_events e JOIN accounts a ON a.account_id = e.account_id {condition} \
             ORDER BY e.account_id, e.effective_date, e.event_id"
        );
        let rows = query_all(self.db(), &sql, values).await?;
        let mut histories: HashMap<String, AccountHistory> = HashMap::new();
        let mut owned_now: Vec<String> = Vec::new();
        for row in &rows {
            let account_id: String = row.try_get("", "account_id")?;
            if !histories.contains_key(&account_id) {
                let csm: Option<String> = row.try_get("", "csm_id")?;
                let in_scope = match scope {
                    MetricScope::Csm(csm_id) => csm.as_deref() == Some(csm_id.as_str()),
                    _ => true,
                };
                if in_scope {
                    owned_now.push(account_id.clone());
                }
            }
            let history = histories.entry(account_id).or_default();
            history.events.push(RecordedEvent {
                kind: parse_column(row, "kind", ContractEventKind::parse)?,
                arr_change: row.try_get("", "arr_change_minor")?,
                effective_date: row.try_get("", "effective_date")?,
                renewal_date: row.try_get("", "renewal_date")?,
            });
        }
        let portfolio: Vec<AccountHistory> = owned_now
            .iter()
            .filter_map(|id| histories.get(id).cloned())
            .collect();
        let mut metrics = revenue_metrics(&portfolio, start, end, &self.rules.revenue);
        if let MetricScope::Csm(csm_id) = scope {
            let held = self.holdings_of(csm_id).await?;
            let holdings: Vec<Holding<'_>> = held
                .iter()
                .filter_map(|(account_id, from, until)| {
                    Some(Holding {
                        history: histories.get(account_id)?,
                        from: *from,
                        until: *until,
                    })
                })
                .collect();
            metrics.quota = book_quota(&holdings, start, end, self.rules.revenue.quota_ratio);
        }
        Ok(metrics)
    }

    /// Every account a CSM held, with the days (UTC) of the handover and the hand-back.
    async fn holdings_of(
        &self,
        csm_id: &str,
    ) -> AccountsResult<Vec<(String, NaiveDate, Option<NaiveDate>)>> {
        let rows = query_all(
            self.db(),
            "SELECT account_id, assigned_at, unassigned_at FROM assignments WHERE csm_id = $1",
            vec![csm_id.into()],
        )
        .await?;
        rows.iter()
            .map(|row| {
                let assigned_at: DateTime<Utc> = row.try_get("", "assigned_at")?;
                let unassigned_at: Option<DateTime<Utc>> = row.try_get("", "unassigned_at")?;
                Ok((
                    row.try_get("", "account_id")?,
                    assigned_at.date_naive(),
                    unassigned_at.map(|at| at.date_naive()),
                ))
            })
            .collect()
    }
}
