//! Routed tickets. The usage service holds the TICKET_OPENED / TICKET_RESOLVED events;
//! this table remembers which events the gateway still owes it, so a crash between the
//! local write and the usage call is repaired by the caller's retry instead of losing
//! the event.

use sea_orm_migration::{prelude::*, sea_orm::DeriveMigrationName};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("tickets")
                    .if_not_exists()
                    .col(
                        ColumnDef::new("ticket_id")
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("account_id").string_len(64).not_null())
                    .col(ColumnDef::new("category").string_len(32).not_null())
                    .col(ColumnDef::new("destination").string_len(16).not_null())
                    .col(ColumnDef::new("priority").string_len(16).not_null())
                    .col(
                        ColumnDef::new("opened_at")
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    // The TICKET_OPENED event has reached the usage service.
                    .col(ColumnDef::new("opened_recorded").boolean().not_null())
                    .col(
                        ColumnDef::new("resolved_at")
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    // The TICKET_RESOLVED event has reached the usage service.
                    .col(ColumnDef::new("resolved_recorded").boolean().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("tickets_account_idx")
                    .table("tickets")
                    .col("account_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("tickets").to_owned())
            .await
    }
}
