//! Revenue metrics for a scope and period, from the contract events of the accounts in
//! scope (one query, grouped by account).

use chrono::NaiveDate;
use nordstern_domain::{
    account::{ContractEventKind, Segment},
    revenue::{AccountHistory, RecordedEvent, RevenueMetrics, revenue_metrics},
};
use nordstern_runtime::storage::parse_column;
use sea_orm::Value;

use super::{Store, fetch_account, query_all};
use crate::error::AccountsResult;

#[derive(Debug, Clone)]
pub enum MetricScope {
    Company,
    Segment(Segment),
    /// The accounts a CSM owns now.
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
                ("WHERE a.csm_id = $1", vec![csm_id.as_str().into()])
            }
            MetricScope::Account(account_id) => {
                fetch_account(self.db(), account_id).await?;
                ("WHERE a.account_id = $1", vec![account_id.as_str().into()])
            }
        };
        let sql = format!(
            "SELECT e.account_id, e.kind, e.arr_change_minor, e.effective_date, e.renewal_date \
             FROM contract_events e JOIN accounts a ON a.account_id = e.account_id {condition} \
             ORDER BY e.account_id, e.effective_date, e.event_id"
        );
        let rows = query_all(self.db(), &sql, values).await?;
        let mut histories: Vec<AccountHistory> = Vec::new();
        let mut current_account: Option<String> = None;
        for row in &rows {
            let account_id: String = row.try_get("", "account_id")?;
            if current_account.as_deref() != Some(account_id.as_str()) {
                histories.push(AccountHistory { events: Vec::new() });
                current_account = Some(account_id);
            }
            if let Some(history) = histories.last_mut() {
                history.events.push(RecordedEvent {
                    kind: parse_column(row, "kind", ContractEventKind::parse)?,
                    arr_change: row.try_get("", "arr_change_minor")?,
                    effective_date: row.try_get("", "effective_date")?,
                    renewal_date: row.try_get("", "renewal_date")?,
                });
            }
        }
        Ok(revenue_metrics(&histories, start, end, &self.rules.revenue))
    }
}
