use sea_orm_migration::{prelude::*, sea_orm::DeriveMigrationName};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("campaigns")
                    .col(
                        ColumnDef::new("campaign_id")
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("name").string_len(200).not_null())
                    .col(ColumnDef::new("kind").string_len(8).not_null())
                    .col(ColumnDef::new("touchpoint").string_len(16).not_null())
                    .col(ColumnDef::new("question_de").string_len(1000).not_null())
                    .col(ColumnDef::new("question_en").string_len(1000).not_null())
                    .col(
                        ColumnDef::new("created_at")
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("invitations")
                    .col(
                        ColumnDef::new("invitation_id")
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("campaign_id").string_len(36).not_null())
                    .col(ColumnDef::new("account_id").string_len(36).not_null())
                    .col(ColumnDef::new("respondent_id").string_len(128).not_null())
                    .col(ColumnDef::new("language").string_len(8).not_null())
                    .col(
                        ColumnDef::new("token")
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new("invited_at")
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new("responded_at")
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new("response_id").string_len(36).null())
                    .foreign_key(
                        ForeignKey::create()
                            .from("invitations", "campaign_id")
                            .to("campaigns", "campaign_id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("invitations_target_idx")
                    .table("invitations")
                    .col("campaign_id")
                    .col("account_id")
                    .col("respondent_id")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("invitations_account_idx")
                    .table("invitations")
                    .col("account_id")
                    .col("invited_at")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("invitations_invited_idx")
                    .table("invitations")
                    .col("invited_at")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("responses")
                    .col(
                        ColumnDef::new("response_id")
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("campaign_id").string_len(36).not_null())
                    .col(ColumnDef::new("invitation_id").string_len(36).null())
                    .col(ColumnDef::new("account_id").string_len(36).not_null())
                    .col(ColumnDef::new("respondent_id").string_len(128).not_null())
                    .col(ColumnDef::new("kind").string_len(8).not_null())
                    .col(ColumnDef::new("touchpoint").string_len(16).not_null())
                    .col(ColumnDef::new("score").integer().not_null())
                    .col(ColumnDef::new("nps_category").string_len(16).null())
                    .col(ColumnDef::new("comment").string_len(8000).not_null())
                    .col(ColumnDef::new("churn_reason").string_len(32).null())
                    .col(
                        ColumnDef::new("churn_reason_text")
                            .string_len(8000)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new("responded_at")
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new("recorded_at")
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from("responses", "campaign_id")
                            .to("campaigns", "campaign_id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("responses_kind_time_idx", &["kind", "responded_at"][..]),
            (
                "responses_account_time_idx",
                &["account_id", "responded_at"][..],
            ),
            ("responses_respondent_idx", &["respondent_id"][..]),
            (
                "responses_feed_idx",
                &["nps_category", "recorded_at", "response_id"][..],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table("responses");
            for column in columns {
                index.col(*column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["responses", "invitations", "campaigns"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
