//! The gateway's schema: routed tickets and the idempotency keys of RouteTicket.

use sea_orm_migration::prelude::*;

mod m0001_tickets;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(nordstern_runtime::idempotency::CreateIdempotencyTable),
            Box::new(m0001_tickets::Migration),
            Box::new(nordstern_outbox::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "gateway_migrations".into_iden()
    }
}
