//! The survey service's schema. Each migration file is self-contained (no entities).

use sea_orm_migration::prelude::*;

mod m0001_surveys;
mod m0002_latest_answer_index;
mod m0003_responses_campaign_index;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(nordstern_runtime::idempotency::CreateIdempotencyTable),
            Box::new(m0001_surveys::Migration),
            Box::new(m0002_latest_answer_index::Migration),
            Box::new(m0003_responses_campaign_index::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "survey_migrations".into_iden()
    }
}
