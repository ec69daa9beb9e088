//! Whether a product module comes with an integration: scoring then reads an account that
//! bought one but never synced as "integration not set up" (a finding), and an account
//! whose modules offer none as "not applicable" (the component is left out).

use sea_orm_migration::{prelude::*, sea_orm::DeriveMigrationName};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("product_modules")
                    .add_column(
                        ColumnDef::new("has_integration")
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("product_modules")
                    .drop_column("has_integration")
                    .to_owned(),
            )
            .await
    }
}
