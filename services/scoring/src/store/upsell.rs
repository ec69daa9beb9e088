//! Upsell opportunities of green accounts.

use super::*;

#[derive(Debug, Clone, PartialEq)]
pub struct OpportunityRow {
    pub account_id: String,
    pub module_key: String,
    pub csm_id: String,
    pub list_price_minor: i64,
    pub currency_code: String,
    pub likelihood: f64,
    pub expected_value_minor: i64,
    pub reason: String,
}

const OPPORTUNITY_COLUMNS: &str = "account_id, module_key, csm_id, list_price_minor, currency_code, \
     likelihood, expected_value_minor, reason";

fn opportunity_row(row: &QueryResult) -> Result<OpportunityRow, DbErr> {
    Ok(OpportunityRow {
        account_id: row.try_get("", "account_id")?,
        module_key: row.try_get("", "module_key")?,
        csm_id: row.try_get("", "csm_id")?,
        list_price_minor: row.try_get("", "list_price_minor")?,
        currency_code: row.try_get("", "currency_code")?,
        likelihood: row.try_get("", "likelihood")?,
        expected_value_minor: row.try_get("", "expected_value_minor")?,
        reason: row.try_get("", "reason")?,
    })
}

impl Store {
    /// Opportunities by expected value, highest first, after
    /// `after` = (expected_value, account_id, module_key).
    pub async fn opportunities(
        &self,
        csm_id: Option<&str>,
        account_id: Option<&str>,
        after: Option<(i64, String, String)>,
        limit: u64,
    ) -> Result<Vec<OpportunityRow>, DbErr> {
        let mut sql = Select::new(&format!(
            "SELECT {OPPORTUNITY_COLUMNS} FROM upsell_opportunities"
        ));
        if let Some(csm) = csm_id {
            sql.bind(" AND csm_id = ?", csm.to_owned().into());
        }
        if let Some(account) = account_id {
            sql.bind(" AND account_id = ?", account.to_owned().into());
        }
        if let Some((value, account, module)) = after {
            sql.after(vec![
                ("expected_value_minor", Order::Descending, value.into()),
                ("account_id", Order::Ascending, account.into()),
                ("module_key", Order::Ascending, module.into()),
            ]);
        }
        sql.bind(
            " ORDER BY expected_value_minor DESC, account_id, module_key LIMIT ?",
            sql_limit(limit).into(),
        );
        let rows = sql.run(self.db()).await?;
        rows.iter().map(opportunity_row).collect()
    }
}
