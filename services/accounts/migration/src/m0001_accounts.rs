use sea_orm_migration::{prelude::*, sea_orm::DeriveMigrationName};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("csms")
                    .col(
                        ColumnDef::new("csm_id")
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("name").string_len(200).not_null())
                    .col(
                        ColumnDef::new("email")
                            .string_len(254)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new("capacity").integer().not_null())
                    .col(ColumnDef::new("active").boolean().not_null())
                    .col(
                        ColumnDef::new("created_at")
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new("updated_at")
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("accounts")
                    .col(
                        ColumnDef::new("account_id")
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("name").string_len(200).not_null())
                    .col(ColumnDef::new("crm_id").string_len(64).null().unique_key())
                    .col(ColumnDef::new("segment").string_len(16).not_null())
                    .col(ColumnDef::new("start_date").date().not_null())
                    .col(ColumnDef::new("renewal_date").date().null())
                    .col(ColumnDef::new("arr_minor").big_integer().not_null())
                    .col(ColumnDef::new("tier").string_len(1).not_null())
                    .col(ColumnDef::new("csm_id").string_len(36).null())
                    .col(
                        ColumnDef::new("assigned_at")
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new("has_contract").boolean().not_null())
                    .col(ColumnDef::new("last_event_date").date().null())
                    .col(ColumnDef::new("churned_on").date().null())
                    .col(
                        ColumnDef::new("created_at")
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new("updated_at")
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from("accounts", "csm_id")
                            .to("csms", "csm_id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("accounts_csm_id_idx", "csm_id"),
            ("accounts_segment_idx", "segment"),
            ("accounts_tier_idx", "tier"),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table("accounts")
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("product_modules")
                    .col(
                        ColumnDef::new("module_key")
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("name").string_len(200).not_null())
                    .col(ColumnDef::new("list_price_minor").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("product_features")
                    .col(ColumnDef::new("module_key").string_len(64).not_null())
                    .col(ColumnDef::new("feature_key").string_len(128).not_null())
                    .primary_key(Index::create().col("module_key").col("feature_key"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("product_features", "module_key")
                            .to("product_modules", "module_key")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("account_modules")
                    .col(ColumnDef::new("account_id").string_len(36).not_null())
                    .col(ColumnDef::new("module_key").string_len(64).not_null())
                    .primary_key(Index::create().col("account_id").col("module_key"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("account_modules", "account_id")
                            .to("accounts", "account_id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from("account_modules", "module_key")
                            .to("product_modules", "module_key")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("contract_events")
                    .col(
                        ColumnDef::new("event_id")
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("account_id").string_len(36).not_null())
                    .col(ColumnDef::new("kind").string_len(16).not_null())
                    .col(ColumnDef::new("arr_change_minor").big_integer().not_null())
                    .col(ColumnDef::new("arr_after_minor").big_integer().not_null())
                    .col(ColumnDef::new("effective_date").date().not_null())
                    .col(ColumnDef::new("renewal_date").date().null())
                    .col(
                        ColumnDef::new("idempotency_key")
                            .string_len(128)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new("recorded_at")
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from("contract_events", "account_id")
                            .to("accounts", "account_id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("contract_events_account_idx")
                    .table("contract_events")
                    .col("account_id")
                    .col("effective_date")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("assignments")
                    .col(
                        ColumnDef::new("assignment_id")
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("account_id").string_len(36).not_null())
                    .col(ColumnDef::new("csm_id").string_len(36).not_null())
                    .col(
                        ColumnDef::new("assigned_at")
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new("unassigned_at")
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from("assignments", "account_id")
                            .to("accounts", "account_id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("assignments_account_idx")
                    .table("assignments")
                    .col("account_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "assignments",
            "contract_events",
            "account_modules",
            "product_features",
            "product_modules",
            "accounts",
            "csms",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
