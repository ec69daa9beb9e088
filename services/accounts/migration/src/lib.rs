//! The accounts service's schema. Each migration file is self-contained (no entities), so
//! an old migration keeps meaning what it meant when it first ran.

use sea_orm_migration::prelude::*;

mod m0001_accounts;
mod m0002_contract_events_kind_index;
mod m0003_module_integration;
mod m0004_account_domain;
mod m0005_tier_cutoffs;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(nordstern_runtime::idempotency::CreateIdempotencyTable),
            Box::new(m0001_accounts::Migration),
            Box::new(m0002_contract_events_kind_index::Migration),
            Box::new(m0003_module_integration::Migration),
            Box::new(m0004_account_domain::Migration),
            Box::new(m0005_tier_cutoffs::Migration),
            Box::new(nordstern_outbox::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "accounts_migrations".into_iden()
    }
}
