//! PostgreSQL only: `health_scores` leaves half of each page free, so that a recompute's
//! new version of a latest score fits on the page of the version it replaces.
//!
//! Every recompute rewrites every latest score. PostgreSQL writes an update as a new row
//! version; when that version lands on another page, every index of the table gets a new
//! entry for it, although an unchanged score keeps its indexed columns (the store leaves
//! `changed_at` and `arr_at_risk` out of such an update). With full pages, 211 of the
//! 100,000 updates of a periodic recompute stayed on their page (`n_tup_hot_upd`). With
//! half of each page free they all can: the update is then a heap-only tuple, no index
//! is touched, and the next recompute prunes the dead versions as it reads the page.
//! Three passes of such updates over 100,000 rows took 5.5–6.1 s with full pages and
//! 2.0–2.3 s with half-full ones, and the table with its indexes stayed at 48 MB
//! instead of growing to 85 MB.
//!
//! Pages written before the migration fill up as before; the first recompute after it
//! moves each score to a new, half-full page, and from the second on they stay put.
//! SQLite updates a row where it is and has no such setting.

use sea_orm_migration::{
    prelude::*,
    sea_orm::{ConnectionTrait, DbBackend, DeriveMigrationName},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("ALTER TABLE health_scores SET (fillfactor = 50)")
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("ALTER TABLE health_scores RESET (fillfactor)")
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use nordstern_runtime::storage::{StorageTarget, open_named};
    use sea_orm_migration::sea_orm::{DatabaseConnection, Statement};

    use super::*;
    use crate::Migrator;

    /// The page of each row of `health_scores`, by account.
    async fn pages(db: &DatabaseConnection) -> Vec<(String, i64)> {
        db.query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT account_id, CAST((ctid::text::point)[0] AS BIGINT) AS page \
             FROM health_scores ORDER BY account_id",
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| {
            (
                row.try_get("", "account_id").unwrap(),
                row.try_get("", "page").unwrap(),
            )
        })
        .collect()
    }

    /// A batch of unchanged scores, written over the batch that inserted them the way
    /// the store writes them (sort keys left out), keeps every row on its page: the
    /// condition for an update that touches no index. With full pages all 400 moved.
    #[tokio::test]
    async fn an_unchanged_score_is_rewritten_on_its_own_page() {
        let url = std::env::var("NORDSTERN_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let schema = format!("scoring_fillfactor_{}", uuid::Uuid::new_v4().simple());
        let db = open_named::<Migrator>(StorageTarget::Postgres { url: &url }, &schema, 1)
            .await
            .unwrap_or_else(|error| panic!("connect to {url}: {error}"));
        let upsert = |version: i64| {
            format!(
                "INSERT INTO health_scores (account_id, version, score, color, csm_id, segment, \
                   arr_at_risk, computed_at, changed_at) \
                 SELECT '0192f7c4-5a1e-7c3b-9d2e-' || lpad(g::text, 12, '0'), {version}, 71.5, \
                   'GREEN', 'csm-' || (g % 40), 'SMB', 1200 * g, {version}, g \
                 FROM generate_series(1, 400) AS g \
                 ON CONFLICT (account_id) DO UPDATE SET version = excluded.version, \
                   score = excluded.score, color = excluded.color, csm_id = excluded.csm_id, \
                   segment = excluded.segment, computed_at = excluded.computed_at \
                 WHERE excluded.version > health_scores.version"
            )
        };
        let outcome = async {
            db.execute_unprepared(&upsert(1)).await?;
            let before = pages(&db).await;
            db.execute_unprepared(&upsert(2)).await?;
            let after = pages(&db).await;
            let options = db
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT array_to_string(reloptions, ',') AS options FROM pg_class \
                     WHERE oid = 'health_scores'::regclass",
                ))
                .await?
                .map(|row| row.try_get::<String>("", "options"))
                .transpose()?;
            Ok::<_, DbErr>((before, after, options))
        }
        .await;
        let dropped = db
            .execute_unprepared(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
            .await;
        let (before, after, options) = outcome.unwrap();
        dropped.unwrap();
        assert_eq!(before.len(), 400);
        let moved = before
            .iter()
            .zip(&after)
            .filter(|((_, from), (_, to))| from != to)
            .count();
        assert_eq!(moved, 0, "{moved} of 400 rewritten scores left their page");
        assert_eq!(options.as_deref(), Some("fillfactor=50"));
    }
}
