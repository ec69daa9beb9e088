//! GDPR erasure of an account's scoring data.

use super::*;

impl Store {
    /// Removes everything held about an account; returns (scores, colour changes,
    /// alerts) removed, scores counting every stored computation.
    pub async fn erase_account(&self, account_id: &str) -> Result<(u64, u64, u64), DbErr> {
        let txn = self.writer.begin().await?;
        let id = || vec![Value::from(account_id.to_owned())];
        let scores = execute(
            &txn.txn,
            "DELETE FROM health_score_history WHERE account_id = $1",
            id(),
        )
        .await?;
        execute(
            &txn.txn,
            "DELETE FROM health_scores WHERE account_id = $1",
            id(),
        )
        .await?;
        let changes = execute(
            &txn.txn,
            "DELETE FROM color_changes WHERE account_id = $1",
            id(),
        )
        .await?;
        let alerts = execute(&txn.txn, "DELETE FROM alerts WHERE account_id = $1", id()).await?;
        execute(
            &txn.txn,
            "DELETE FROM upsell_opportunities WHERE account_id = $1",
            id(),
        )
        .await?;
        txn.commit().await?;
        Ok((scores, changes, alerts))
    }
}
