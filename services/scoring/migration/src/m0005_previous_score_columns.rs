//! `health_scores` keeps, beside the columns lists filter and sort on, the three facts
//! the next computation of an account reads from its latest score besides those:
//! the churn probability, the colour before the last colour change and when that
//! change was. A recompute then reads each previous score from this one row instead of
//! joining it to its history row and decoding the 760-byte encoding.
//!
//! Scores stored before this migration have no churn probability here (NULL); the store
//! reads those few through their encoding, as before, until the next recompute writes
//! them again. A previous colour of '' and a `color_changed_at` of 0 mean the colour
//! never changed: NOT NULL, so that a batch of scores still goes to PostgreSQL as one
//! array per column (`storage::insert_rows` sends rows with a NULL as a VALUES list).

use sea_orm_migration::{
    prelude::*,
    sea_orm::{ConnectionTrait, DbBackend, DeriveMigrationName},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let real = match db.get_database_backend() {
            DbBackend::Postgres => "DOUBLE PRECISION",
            _ => "REAL",
        };
        for sql in [
            format!("ALTER TABLE health_scores ADD COLUMN churn_probability {real}"),
            "ALTER TABLE health_scores ADD COLUMN previous_color TEXT NOT NULL DEFAULT ''"
                .to_owned(),
            "ALTER TABLE health_scores ADD COLUMN color_changed_at BIGINT NOT NULL DEFAULT 0"
                .to_owned(),
        ] {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for column in ["color_changed_at", "previous_color", "churn_probability"] {
            db.execute_unprepared(&format!("ALTER TABLE health_scores DROP COLUMN {column}"))
                .await?;
        }
        Ok(())
    }
}
