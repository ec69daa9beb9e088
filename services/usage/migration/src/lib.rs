//! The usage service's schema. Each migration file is self-contained (no entities).

use sea_orm_migration::prelude::*;

mod m0001_usage;
mod m0002_clustered_rollups;
mod m0003_sqlite_keys_by_key_only;
mod m0004_sqlite_event_spans;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_usage::Migration),
            Box::new(m0002_clustered_rollups::Migration),
            Box::new(m0003_sqlite_keys_by_key_only::Migration),
            Box::new(m0004_sqlite_event_spans::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "usage_migrations".into_iden()
    }
}
