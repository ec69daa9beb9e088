//! A score's protobuf encoding is stored once, in its history row. `health_scores` keeps
//! the columns the lists filter and sort on, and the view `latest_health_scores` joins
//! each latest score to its history row by (account_id, version) for the encoding.
//!
//! Every recompute rewrites every latest score: with the encoding (about 760 bytes) in
//! both tables, a recompute wrote each score twice, and the rewrite of `health_scores`
//! touched a page per four accounts. Both rows have always been written in one
//! transaction, so every latest score already has its history row; the migration checks
//! that before it drops the column.

use sea_orm_migration::{
    prelude::*,
    sea_orm::{ConnectionTrait, DbBackend, DeriveMigrationName, Statement},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

const LATEST_VIEW: &str = "CREATE VIEW latest_health_scores AS \
     SELECT s.account_id, s.version, s.score, s.color, s.csm_id, s.segment, s.arr_at_risk, \
            s.computed_at, s.changed_at, h.payload \
     FROM health_scores AS s \
     JOIN health_score_history AS h ON h.account_id = s.account_id AND h.version = s.version";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let orphans = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) AS orphans FROM health_scores AS s WHERE NOT EXISTS \
                 (SELECT 1 FROM health_score_history AS h \
                  WHERE h.account_id = s.account_id AND h.version = s.version)",
            ))
            .await?
            .map(|row| row.try_get::<i64>("", "orphans"))
            .transpose()?
            .unwrap_or(0);
        if orphans > 0 {
            return Err(DbErr::Migration(format!(
                "{orphans} latest health scores have no history row of their version; \
                 the encoding would be lost if health_scores.payload were dropped"
            )));
        }
        db.execute_unprepared("ALTER TABLE health_scores DROP COLUMN payload")
            .await?;
        db.execute_unprepared(LATEST_VIEW).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let column = match db.get_database_backend() {
            DbBackend::Postgres => "BYTEA NOT NULL DEFAULT ''::bytea",
            _ => "BLOB NOT NULL DEFAULT x''",
        };
        for sql in [
            "DROP VIEW latest_health_scores".to_owned(),
            format!("ALTER TABLE health_scores ADD COLUMN payload {column}"),
            "UPDATE health_scores SET payload = (SELECT h.payload FROM health_score_history AS h \
             WHERE h.account_id = health_scores.account_id AND h.version = health_scores.version)"
                .to_owned(),
        ] {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use sea_orm_migration::sea_orm::{ConnectOptions, Database, DatabaseConnection};

    use super::*;
    use crate::Migrator;

    /// The migrations before this one, on an in-memory SQLite database.
    async fn before_this() -> DatabaseConnection {
        let mut options = ConnectOptions::new("sqlite::memory:");
        options.max_connections(1);
        let db = Database::connect(options).await.unwrap();
        Migrator::up(&db, Some(3)).await.unwrap();
        db
    }

    async fn insert_score(db: &DatabaseConnection, account: &str, version: i64, payload: &str) {
        db.execute_unprepared(&format!(
            "INSERT INTO health_scores (account_id, version, score, color, csm_id, segment, \
             arr_at_risk, computed_at, changed_at, payload) \
             VALUES ('{account}', {version}, 50.0, 'YELLOW', '', 'SMB', 0, {version}, {version}, x'{payload}')"
        ))
        .await
        .unwrap();
    }

    async fn insert_history(db: &DatabaseConnection, account: &str, version: i64, payload: &str) {
        db.execute_unprepared(&format!(
            "INSERT INTO health_score_history (account_id, version, computed_at, score, color, \
             churn_probability, payload) \
             VALUES ('{account}', {version}, {version}, 50.0, 'YELLOW', 0.1, x'{payload}')"
        ))
        .await
        .unwrap();
    }

    /// The view answers each latest score with the encoding of its own version, not of
    /// an older one, and going down puts the encoding back in `health_scores`.
    #[tokio::test]
    async fn the_view_joins_each_latest_score_to_its_version() {
        let db = before_this().await;
        insert_history(&db, "a", 1, "0a01").await;
        insert_history(&db, "a", 2, "0a02").await;
        insert_score(&db, "a", 2, "0a02").await;
        insert_history(&db, "b", 1, "0b01").await;
        insert_score(&db, "b", 1, "0b01").await;
        // This migration alone, so that going one down undoes it.
        Migrator::up(&db, Some(1)).await.unwrap();

        let read = |sql: &'static str| {
            let db = db.clone();
            async move {
                db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
                    .await
                    .unwrap()
                    .iter()
                    .map(|row| {
                        let id: String = row.try_get("", "account_id").unwrap();
                        let payload: Vec<u8> = row.try_get("", "payload").unwrap();
                        (id, payload)
                    })
                    .collect::<Vec<_>>()
            }
        };
        let expected = vec![
            ("a".to_owned(), vec![0x0a, 0x02]),
            ("b".to_owned(), vec![0x0b, 0x01]),
        ];
        assert_eq!(
            read("SELECT account_id, payload FROM latest_health_scores ORDER BY account_id").await,
            expected
        );

        Migrator::down(&db, Some(1)).await.unwrap();
        assert_eq!(
            read("SELECT account_id, payload FROM health_scores ORDER BY account_id").await,
            expected
        );
    }

    /// A latest score without its history row stops the migration before anything is
    /// dropped.
    #[tokio::test]
    async fn a_latest_score_without_history_stops_the_migration() {
        let db = before_this().await;
        insert_history(&db, "a", 1, "0a01").await;
        insert_score(&db, "a", 2, "0a02").await;
        let error = Migrator::up(&db, None).await.unwrap_err().to_string();
        assert!(
            error.contains("1 latest health scores have no history row"),
            "{error}"
        );
        let payload = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT payload FROM health_scores",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            payload.try_get::<Vec<u8>>("", "payload").unwrap(),
            [0x0a, 0x02]
        );
    }
}
