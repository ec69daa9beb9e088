//! The webhook store's tables.

use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateWebhookTables)]
    }

    fn migration_table_name() -> DynIden {
        "webhooks_migrations".into_iden()
    }
}

struct CreateWebhookTables;

impl MigrationName for CreateWebhookTables {
    fn name(&self) -> &str {
        "m0001_webhooks"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateWebhookTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "CREATE TABLE webhook_subscriptions (
                subscription_id TEXT PRIMARY KEY,
                url TEXT NOT NULL,
                event_types TEXT NOT NULL,
                active BOOLEAN NOT NULL,
                format TEXT NOT NULL,
                description TEXT NOT NULL,
                secret TEXT NOT NULL,
                previous_secret TEXT NULL,
                previous_secret_expires_at BIGINT NULL,
                created_at BIGINT NOT NULL,
                request_id TEXT NULL UNIQUE
            )",
            "CREATE TABLE webhook_events (
                event_id TEXT PRIMARY KEY,
                event_type TEXT NOT NULL,
                payload TEXT NOT NULL,
                created_at BIGINT NOT NULL
            )",
            "CREATE TABLE webhook_deliveries (
                delivery_id TEXT PRIMARY KEY,
                event_id TEXT NOT NULL REFERENCES webhook_events (event_id),
                subscription_id TEXT NOT NULL,
                status TEXT NOT NULL,
                attempts INTEGER NOT NULL,
                last_response_code INTEGER NOT NULL,
                last_error TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                last_attempt_at BIGINT NULL,
                next_attempt_at BIGINT NOT NULL,
                give_up_at BIGINT NOT NULL,
                delivered_at BIGINT NULL,
                leased_until BIGINT NULL,
                UNIQUE (event_id, subscription_id)
            )",
            "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at)",
            "CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (subscription_id, delivery_id)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in [
            "webhook_deliveries",
            "webhook_events",
            "webhook_subscriptions",
        ] {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}
