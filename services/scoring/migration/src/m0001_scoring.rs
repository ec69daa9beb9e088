//! Scores (latest per account, every computation, colour changes), configuration
//! versions, churn models, alerts and upsell opportunities. Instants are microseconds
//! since the Unix epoch on both backends; a score's protobuf encoding is stored next to
//! the columns queries filter and sort on, so a read is one row and one decode.

use sea_orm_migration::{
    prelude::*,
    sea_orm::{ConnectionTrait, DbBackend, DeriveMigrationName},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `{BYTES}` is the binary column type of the backend. Index directions follow the
/// ORDER BY of the lists they serve, so a page is an index range, not a sort.
const TABLES: &[&str] = &[
    // Accepted configurations; the highest version is current. `body` is the
    // ScoringConfig message.
    "CREATE TABLE scoring_configs (
        version INTEGER PRIMARY KEY,
        body {BYTES} NOT NULL,
        created_at BIGINT NOT NULL)",
    // Trained churn models; `body` is the ChurnModel message (without `active`).
    "CREATE TABLE churn_models (
        model_id TEXT PRIMARY KEY,
        version INTEGER NOT NULL UNIQUE,
        body {BYTES} NOT NULL)",
    // Small named values: the active model, the detractor feed position.
    "CREATE TABLE scoring_state (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL)",
    // The latest score per account; `payload` is the HealthScore message.
    "CREATE TABLE health_scores (
        account_id TEXT PRIMARY KEY,
        version BIGINT NOT NULL,
        score DOUBLE PRECISION NOT NULL,
        color TEXT NOT NULL,
        csm_id TEXT NOT NULL,
        segment TEXT NOT NULL,
        arr_at_risk BIGINT NOT NULL,
        computed_at BIGINT NOT NULL,
        changed_at BIGINT NOT NULL,
        payload {BYTES} NOT NULL)",
    "CREATE INDEX health_scores_changed ON health_scores (changed_at, account_id)",
    "CREATE INDEX health_scores_at_risk ON health_scores (arr_at_risk DESC, account_id)",
    // Every computation, for history charts, training as of a cut-off and export.
    "CREATE TABLE health_score_history (
        account_id TEXT NOT NULL,
        version BIGINT NOT NULL,
        computed_at BIGINT NOT NULL,
        score DOUBLE PRECISION NOT NULL,
        color TEXT NOT NULL,
        churn_probability DOUBLE PRECISION NOT NULL,
        payload {BYTES} NOT NULL,
        PRIMARY KEY (account_id, version))",
    "CREATE INDEX health_score_history_computed ON health_score_history (account_id, computed_at)",
    "CREATE TABLE color_changes (
        account_id TEXT NOT NULL,
        version BIGINT NOT NULL,
        from_color TEXT NOT NULL,
        to_color TEXT NOT NULL,
        score DOUBLE PRECISION NOT NULL,
        changed_at BIGINT NOT NULL,
        csm_id TEXT NOT NULL,
        PRIMARY KEY (account_id, version))",
    "CREATE INDEX color_changes_changed ON color_changes (changed_at DESC, account_id, version DESC)",
    "CREATE TABLE alerts (
        alert_id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        csm_id TEXT NOT NULL,
        alert_type TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT NOT NULL,
        survey_response_id TEXT NOT NULL,
        arr_minor BIGINT NOT NULL,
        currency_code TEXT NOT NULL,
        raised_at BIGINT NOT NULL,
        acknowledged_at BIGINT,
        resolved_at BIGINT)",
    // While an alert is open or acknowledged an equal one is not raised again.
    "CREATE UNIQUE INDEX alerts_open_once ON alerts (account_id, alert_type, reason) WHERE status <> 'RESOLVED'",
    "CREATE INDEX alerts_raised ON alerts (raised_at, alert_id)",
    // The current suggestions; replaced per account at every computation.
    "CREATE TABLE upsell_opportunities (
        account_id TEXT NOT NULL,
        module_key TEXT NOT NULL,
        csm_id TEXT NOT NULL,
        list_price_minor BIGINT NOT NULL,
        currency_code TEXT NOT NULL,
        likelihood DOUBLE PRECISION NOT NULL,
        expected_value_minor BIGINT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (account_id, module_key))",
    "CREATE INDEX upsell_ranked ON upsell_opportunities (expected_value_minor DESC, account_id, module_key)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let bytes = match db.get_database_backend() {
            DbBackend::Postgres => "BYTEA",
            _ => "BLOB",
        };
        for sql in TABLES {
            db.execute_unprepared(&sql.replace("{BYTES}", bytes))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in [
            "upsell_opportunities",
            "alerts",
            "color_changes",
            "health_score_history",
            "health_scores",
            "scoring_state",
            "churn_models",
            "scoring_configs",
        ] {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}
