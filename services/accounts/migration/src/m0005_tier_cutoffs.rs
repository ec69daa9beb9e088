//! Where tiers A and B end in the ARR ranking, so an ARR write moves a cut-off by the few
//! accounts that cross it instead of ranking every account again; and the index that
//! walks the ranking from a cut-off to its neighbours.

use sea_orm_migration::{prelude::*, sea_orm::DeriveMigrationName};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("tier_cutoffs")
                    // "A" or "B": the tier the cut-off closes.
                    .col(
                        ColumnDef::new("cutoff")
                            .string_len(1)
                            .not_null()
                            .primary_key(),
                    )
                    // The configured share it was derived for; another one means rebuild.
                    .col(ColumnDef::new("share").double().not_null())
                    .col(ColumnDef::new("first_past_id").text().null())
                    .col(ColumnDef::new("first_past_arr").big_integer().null())
                    .col(ColumnDef::new("arr_before").big_integer().not_null())
                    .col(ColumnDef::new("total_arr").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("accounts_arr_rank")
                    .table("accounts")
                    .col("arr_minor")
                    .col("account_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("accounts_arr_rank")
                    .table("accounts")
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table("tier_cutoffs").to_owned())
            .await
    }
}
