//! Scoring configs (versioned) and churn models.

use super::*;

impl Store {
    /// The stored configuration of `version`, or the highest when `None`.
    pub async fn config(&self, version: Option<i32>) -> Result<Option<(i32, Vec<u8>, i64)>, DbErr> {
        let row = match version {
            Some(version) => {
                query_one(
                    self.db(),
                    "SELECT version, body, created_at FROM scoring_configs WHERE version = $1",
                    vec![version.into()],
                )
                .await?
            }
            None => {
                query_one(
                    self.db(),
                    "SELECT version, body, created_at FROM scoring_configs ORDER BY version DESC LIMIT 1",
                    vec![],
                )
                .await?
            }
        };
        row.map(|row| {
            Ok((
                row.try_get("", "version")?,
                row.try_get("", "body")?,
                row.try_get("", "created_at")?,
            ))
        })
        .transpose()
    }

    /// Stores a configuration as the next version and returns it; the first stored one is
    /// version 2, because version 1 is the built-in default.
    pub async fn insert_config(
        &self,
        body: impl Fn(i32) -> Vec<u8>,
        created_at: i64,
    ) -> Result<i32, DbErr> {
        let txn = self.writer.begin().await?;
        let version = next_number(&txn.txn, "SELECT MAX(version) AS n FROM scoring_configs")
            .await?
            .max(2);
        execute(
            &txn.txn,
            "INSERT INTO scoring_configs (version, body, created_at) VALUES ($1, $2, $3)",
            vec![version.into(), body(version).into(), created_at.into()],
        )
        .await?;
        txn.commit().await?;
        Ok(version)
    }

    /// Stores a trained model as the next version and returns the version.
    pub async fn insert_model(
        &self,
        model_id: &str,
        body: impl Fn(i32) -> Vec<u8>,
    ) -> Result<i32, DbErr> {
        let txn = self.writer.begin().await?;
        let version = next_number(&txn.txn, "SELECT MAX(version) AS n FROM churn_models").await?;
        execute(
            &txn.txn,
            "INSERT INTO churn_models (model_id, version, body) VALUES ($1, $2, $3)",
            vec![model_id.into(), version.into(), body(version).into()],
        )
        .await?;
        txn.commit().await?;
        Ok(version)
    }

    pub async fn model(&self, model_id: &str) -> Result<Option<Vec<u8>>, DbErr> {
        query_one(
            self.db(),
            "SELECT body FROM churn_models WHERE model_id = $1",
            vec![model_id.into()],
        )
        .await?
        .map(|row| row.try_get("", "body"))
        .transpose()
    }

    /// Models newest first, below `before_version` when given.
    pub async fn models(
        &self,
        before_version: Option<i32>,
        limit: u64,
    ) -> Result<Vec<(i32, Vec<u8>)>, DbErr> {
        let rows = query_all(
            self.db(),
            "SELECT version, body FROM churn_models WHERE version < $1 ORDER BY version DESC LIMIT $2",
            vec![before_version.unwrap_or(i32::MAX).into(), i64::try_from(limit).unwrap_or(i64::MAX).into()],
        )
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("", "version")?, row.try_get("", "body")?)))
            .collect()
    }
}
