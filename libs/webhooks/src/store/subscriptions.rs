//! Subscriptions: who hears of what, at which URL, signed with which secrets.

use nordstern_domain::webhook::PayloadFormat;
use nordstern_runtime::storage::{execute, parse_column, query_all, query_one};
use sea_orm::{ConnectionTrait, DbErr, QueryResult};

use super::{Store, SubscriptionRow};

const SUBSCRIPTION_COLUMNS: &str = "subscription_id, url, event_types, active, format, description, \
     secret, previous_secret, previous_secret_expires_at, created_at";

impl Store {
    pub async fn create_subscription(
        &self,
        row: &SubscriptionRow,
        request_id: Option<&str>,
    ) -> Result<SubscriptionRow, DbErr> {
        let tx = self.writer.begin().await?;
        if let Some(request_id) = request_id
            && let Some(existing) = query_one(
                &tx.txn,
                &format!(
                    "SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE request_id = $1"
                ),
                vec![request_id.into()],
            )
            .await?
        {
            return subscription(&existing);
        }
        execute(
            &tx.txn,
            &format!(
                "INSERT INTO webhook_subscriptions ({SUBSCRIPTION_COLUMNS}, request_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            ),
            vec![
                row.subscription_id.clone().into(),
                row.url.clone().into(),
                row.event_types.join(",").into(),
                row.active.into(),
                row.format.as_str().into(),
                row.description.clone().into(),
                row.secret.clone().into(),
                row.previous_secret.clone().into(),
                row.previous_secret_expires_at.into(),
                row.created_at.into(),
                request_id.map(str::to_owned).into(),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(row.clone())
    }

    pub async fn subscriptions(&self) -> Result<Vec<SubscriptionRow>, DbErr> {
        all_subscriptions(self.db()).await
    }

    pub async fn subscription(&self, id: &str) -> Result<Option<SubscriptionRow>, DbErr> {
        query_one(
            self.db(),
            &format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE subscription_id = $1"
            ),
            vec![id.into()],
        )
        .await?
        .as_ref()
        .map(subscription)
        .transpose()
    }

    /// Writes every field of `row` but its id, creation time and secrets.
    pub async fn update_subscription(&self, row: &SubscriptionRow) -> Result<bool, DbErr> {
        let tx = self.writer.begin().await?;
        let changed = execute(
            &tx.txn,
            "UPDATE webhook_subscriptions SET url = $1, event_types = $2, active = $3, \
             format = $4, description = $5 WHERE subscription_id = $6",
            vec![
                row.url.clone().into(),
                row.event_types.join(",").into(),
                row.active.into(),
                row.format.as_str().into(),
                row.description.clone().into(),
                row.subscription_id.clone().into(),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(changed == 1)
    }

    /// Makes `secret` current; the current one signs beside it until `previous_until`.
    pub async fn rotate_secret(
        &self,
        id: &str,
        secret: &str,
        previous_until: i64,
    ) -> Result<bool, DbErr> {
        let tx = self.writer.begin().await?;
        let changed = execute(
            &tx.txn,
            "UPDATE webhook_subscriptions SET previous_secret = secret, \
             previous_secret_expires_at = $1, secret = $2 WHERE subscription_id = $3",
            vec![previous_until.into(), secret.into(), id.into()],
        )
        .await?;
        tx.commit().await?;
        Ok(changed == 1)
    }

    pub async fn delete_subscription(&self, id: &str) -> Result<bool, DbErr> {
        let tx = self.writer.begin().await?;
        execute(
            &tx.txn,
            "DELETE FROM webhook_deliveries WHERE subscription_id = $1",
            vec![id.into()],
        )
        .await?;
        let deleted = execute(
            &tx.txn,
            "DELETE FROM webhook_subscriptions WHERE subscription_id = $1",
            vec![id.into()],
        )
        .await?;
        tx.commit().await?;
        Ok(deleted == 1)
    }
}

pub(super) async fn all_subscriptions(
    db: &impl ConnectionTrait,
) -> Result<Vec<SubscriptionRow>, DbErr> {
    query_all(
        db,
        &format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions ORDER BY subscription_id"
        ),
        Vec::new(),
    )
    .await?
    .iter()
    .map(subscription)
    .collect()
}

fn subscription(row: &QueryResult) -> Result<SubscriptionRow, DbErr> {
    let event_types: String = row.try_get("", "event_types")?;
    Ok(SubscriptionRow {
        subscription_id: row.try_get("", "subscription_id")?,
        url: row.try_get("", "url")?,
        event_types: event_types
            .split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
        active: row.try_get("", "active")?,
        format: parse_column(row, "format", PayloadFormat::parse)?,
        description: row.try_get("", "description")?,
        secret: row.try_get("", "secret")?,
        previous_secret: row.try_get("", "previous_secret")?,
        previous_secret_expires_at: row.try_get("", "previous_secret_expires_at")?,
        created_at: row.try_get("", "created_at")?,
    })
}
