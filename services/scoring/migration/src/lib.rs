//! The scoring service's schema. Each migration file is self-contained (no entities).

use sea_orm_migration::prelude::*;

mod m0001_scoring;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m0001_scoring::Migration)]
    }

    fn migration_table_name() -> DynIden {
        "scoring_migrations".into_iden()
    }
}
