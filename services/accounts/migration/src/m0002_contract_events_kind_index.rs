//! An index for company-wide contract event listings by kind (e.g. every RENEWAL and
//! CHURN for churn-model training): `ListContractEvents` reads each requested kind in
//! event id order from it, and checks an `effective_within` period on the index entry
//! before it reads the row. Per-account listings keep `contract_events_account_idx`.

use sea_orm_migration::{prelude::*, sea_orm::DeriveMigrationName};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("contract_events_kind_idx")
                    .table("contract_events")
                    .col("kind")
                    .col("event_id")
                    .col("effective_date")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("contract_events_kind_idx")
                    .table("contract_events")
                    .to_owned(),
            )
            .await
    }
}
