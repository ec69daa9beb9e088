//! The scoring service's schema. Each migration file is self-contained (no entities).

use sea_orm_migration::prelude::*;

mod m0001_scoring;
mod m0002_alert_queue;
mod m0003_latest_payload_in_history;
mod m0004_latest_scores_updated_in_place;
mod m0005_previous_score_columns;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_scoring::Migration),
            Box::new(m0002_alert_queue::Migration),
            Box::new(nordstern_outbox::Migration),
            Box::new(m0003_latest_payload_in_history::Migration),
            Box::new(m0004_latest_scores_updated_in_place::Migration),
            Box::new(m0005_previous_score_columns::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "scoring_migrations".into_iden()
    }
}
