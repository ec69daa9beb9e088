//! The latest score per account and the writes that keep history, colour changes and alerts in step.

use super::alerts::{raise_alerts, resolve_alerts};
use super::*;
use crate::convert::{HealthColor, bridge};
use nordstern_runtime::wire::from_timestamp;
use std::collections::HashSet;

/// One computation to store.
#[derive(Debug, Clone)]
pub struct ScoreWrite {
    pub account_id: String,
    /// For the webhook events; not stored.
    pub account_name: String,
    pub version: i64,
    pub score: f64,
    pub color: &'static str,
    pub csm_id: String,
    pub segment: &'static str,
    pub arr_at_risk: i64,
    pub computed_at: i64,
    /// Set by [`Store::write_scores`] for a changed score: the commit's instant.
    pub changed_at: i64,
    /// Score, colour or churn probability differ from the previous computation.
    pub changed: bool,
    /// `changed_at` and `arr_at_risk` equal the previous version's, so storing this
    /// version over it leaves both columns, and the indexes on them, as they are.
    pub sort_keys_kept: bool,
    pub churn_probability: f64,
    /// The colour before the last colour change ('' while there was none) and when it
    /// changed: what the next computation carries over.
    pub previous_color: &'static str,
    pub color_changed_at: Option<i64>,
    /// The score as clients read it.
    pub message: pb::HealthScore,
    /// `message` encoded, as stored and cached: set by [`Store::write_scores`], after it
    /// stamps `changed_at`.
    pub payload: Vec<u8>,
    pub color_change: Option<ColorChangeRow>,
    pub alerts: Vec<AlertRow>,
    /// (alert id, why) of the account's open alerts whose situation cleared.
    pub alert_resolutions: Vec<(String, String)>,
    /// The account's suggestions now; the stored ones are replaced.
    pub opportunities: Vec<OpportunityRow>,
}

/// What [`Store::write_scores`] stored.
#[derive(Debug, Default)]
pub struct ScoresWritten {
    /// The writes newer than what was stored (older ones are dropped).
    pub applied: Vec<ScoreWrite>,
    /// Alerts raised, or updated by a new reason.
    pub alerts_raised: Vec<AlertRow>,
    pub alerts_resolved: u64,
}

/// What the next computation of an account needs of its latest stored score.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviousScore {
    pub version: i64,
    pub score: f64,
    pub color: Option<HealthColor>,
    pub churn_probability: Option<f64>,
    pub arr_at_risk: Option<i64>,
    pub changed_at: Option<i64>,
    pub previous_color: Option<HealthColor>,
    pub color_changed_at: Option<i64>,
}

impl From<&pb::HealthScore> for PreviousScore {
    fn from(score: &pb::HealthScore) -> Self {
        let micros = |at: Option<&prost_types::Timestamp>| {
            from_timestamp(at).map(|at| at.timestamp_micros())
        };
        PreviousScore {
            version: score.version,
            score: score.score,
            color: bridge::optional::<HealthColor>(score.color).ok().flatten(),
            churn_probability: score.churn.as_ref().map(|churn| churn.probability),
            arr_at_risk: score.arr_at_risk.as_ref().map(|money| money.minor_units),
            changed_at: micros(score.changed_at.as_ref()),
            previous_color: bridge::optional::<HealthColor>(score.previous_color)
                .ok()
                .flatten(),
            color_changed_at: micros(score.color_changed_at.as_ref()),
        }
    }
}

/// Filters of the latest-score list, ordered by (changed_at, account_id).
#[derive(Debug, Clone, Default)]
pub struct ScoreFilter {
    pub color: Option<&'static str>,
    pub csm_id: Option<String>,
    pub segment: Option<&'static str>,
    pub changed_since: Option<i64>,
}

/// The orders latest scores are listed in.
#[derive(Debug, Clone, Copy)]
enum ScoreOrder {
    /// For CRM syncs: oldest change first.
    ChangedAt,
    /// The risk list: highest ARR at risk first.
    ArrAtRiskDescending,
}

impl Store {
    /// The latest stored score (protobuf) of every id that has one. By key, not with an
    /// IN list: the first recompute fills the table in one go, and PostgreSQL's
    /// statistics from before it planned each list as a scan of every score (18 s of a
    /// 100,000-account recompute).
    pub async fn latest(&self, ids: &[String]) -> Result<HashMap<String, Vec<u8>>, DbErr> {
        let keys: Vec<&str> = ids.iter().map(String::as_str).collect();
        let rows = select_by_keys(
            self.db(),
            "payload",
            "latest_health_scores",
            "account_id",
            ("", Vec::new()),
            &keys,
        )
        .await?;
        let mut latest = HashMap::with_capacity(ids.len());
        for row in rows {
            latest.insert(row.try_get("", "account_id")?, row.try_get("", "payload")?);
        }
        Ok(latest)
    }

    /// What the next computation needs of the latest score of every id that has one,
    /// from its row in `health_scores` alone. A score stored before that row held it all
    /// (no churn probability) is read through its encoding.
    pub async fn previous(&self, ids: &[String]) -> Result<HashMap<String, PreviousScore>, DbErr> {
        let keys: Vec<&str> = ids.iter().map(String::as_str).collect();
        let rows = select_by_keys(
            self.db(),
            "version, score, color, churn_probability, arr_at_risk, changed_at, \
             previous_color, color_changed_at",
            "health_scores",
            "account_id",
            ("", Vec::new()),
            &keys,
        )
        .await?;
        let mut previous = HashMap::with_capacity(ids.len());
        let mut encoded_only = Vec::new();
        for row in rows {
            let id: String = row.try_get("", "account_id")?;
            let Some(churn_probability) = row.try_get::<Option<f64>>("", "churn_probability")?
            else {
                encoded_only.push(id);
                continue;
            };
            let color = |column| {
                row.try_get::<String>("", column)
                    .map(|color| HealthColor::parse(&color))
            };
            previous.insert(
                id,
                PreviousScore {
                    version: row.try_get("", "version")?,
                    score: row.try_get("", "score")?,
                    color: color("color")?,
                    churn_probability: Some(churn_probability),
                    arr_at_risk: Some(row.try_get("", "arr_at_risk")?),
                    changed_at: Some(row.try_get("", "changed_at")?),
                    previous_color: color("previous_color")?,
                    color_changed_at: Some(row.try_get::<i64>("", "color_changed_at")?)
                        .filter(|at| *at != 0),
                },
            );
        }
        if !encoded_only.is_empty() {
            for (id, payload) in self.latest(&encoded_only).await? {
                // Read as no previous score, the next version would be 1 and never stored.
                let score = pb::HealthScore::decode(payload.as_slice()).map_err(|error| {
                    DbErr::Custom(format!("the stored score of {id} does not decode: {error}"))
                })?;
                previous.insert(id, PreviousScore::from(&score));
            }
        }
        Ok(previous)
    }

    /// Stores computations in one transaction: latest score, history, colour change,
    /// alerts not already open, opportunities. A computation whose version is not above
    /// the stored one is skipped (a concurrent recompute got there first). Returns the
    /// writes that were applied and the alerts raised.
    pub async fn write_scores(&self, mut writes: Vec<ScoreWrite>) -> Result<ScoresWritten, DbErr> {
        if writes.is_empty() {
            return Ok(ScoresWritten::default());
        }
        let txn = self.writer.begin().await?;
        // Changed scores get one instant taken under the writer lock, later than any
        // stored change: a CRM paging by (changed_at, account_id) never has a row appear
        // behind its cursor, whatever order batches and recomputes finish in.
        let latest_change: Option<i64> = query_one(
            &txn.txn,
            "SELECT MAX(changed_at) AS latest FROM health_scores",
            vec![],
        )
        .await?
        .map(|row| row.try_get::<Option<i64>>("", "latest"))
        .transpose()?
        .flatten();
        let stamp = nordstern_runtime::wire::now_micros()
            .timestamp_micros()
            .max(latest_change.map_or(i64::MIN, |latest| latest + 1));
        for write in &mut writes {
            if write.changed {
                write.changed_at = stamp;
                write.message.changed_at = DateTime::from_timestamp_micros(stamp).map(timestamp);
            }
            write.payload = write.message.encode_to_vec();
        }
        // A computation not newer than the stored one is skipped in the statement (a
        // concurrent recompute got there first): the rows it returns are what applies.
        // One that applies replaces the version it was computed from, so where the sort
        // keys are kept, the update leaves their columns out: SQLite then rewrites no
        // entry of the two indexes on them (it goes by the columns an update sets, not
        // by their values), and a batch no longer dirties pages all over them.
        let (kept, moved): (Vec<&ScoreWrite>, Vec<&ScoreWrite>) =
            writes.iter().partition(|w| w.sort_keys_kept);
        let mut stored = upsert_scores(&txn.txn, &moved, true).await?;
        stored.extend(upsert_scores(&txn.txn, &kept, false).await?);
        let stored: HashSet<String> = stored
            .iter()
            .map(|row| row.try_get("", "account_id"))
            .collect::<Result<_, _>>()?;
        let applied: Vec<ScoreWrite> = writes
            .into_iter()
            .filter(|w| stored.contains(&w.account_id))
            .collect();
        if applied.is_empty() {
            txn.commit().await?;
            return Ok(ScoresWritten::default());
        }
        let ids: Vec<String> = applied.iter().map(|w| w.account_id.clone()).collect();
        insert_rows(
            &txn.txn,
            "INSERT INTO health_score_history (account_id, version, computed_at, score, color, churn_probability, payload)",
            "",
            7,
            applied
                .iter()
                .map(|w| {
                    vec![
                        w.account_id.clone().into(),
                        w.version.into(),
                        w.computed_at.into(),
                        w.score.into(),
                        w.color.into(),
                        w.churn_probability.into(),
                        w.payload.clone().into(),
                    ]
                })
                .collect(),
        )
        .await?;
        insert_rows(
            &txn.txn,
            "INSERT INTO color_changes (account_id, version, from_color, to_color, score, changed_at, csm_id)",
            "",
            7,
            applied
                .iter()
                .filter_map(|w| w.color_change.as_ref())
                .map(|c| {
                    vec![
                        c.account_id.clone().into(),
                        c.version.into(),
                        c.from_color.clone().into(),
                        c.to_color.clone().into(),
                        c.score.into(),
                        c.changed_at.into(),
                        c.csm_id.clone().into(),
                    ]
                })
                .collect(),
        )
        .await?;
        // Cleared ones first: a type resolved here may be raised afresh by another write.
        let resolutions: Vec<(String, String)> = applied
            .iter()
            .flat_map(|w| w.alert_resolutions.iter().cloned())
            .collect();
        let alerts_resolved = resolve_alerts(&txn.txn, &resolutions, stamp).await?;
        let candidates: Vec<AlertRow> = applied.iter().flat_map(|w| w.alerts.clone()).collect();
        let alerts_raised = raise_alerts(&txn.txn, candidates).await?;

        for chunk in ids.chunks(IDS_PER_QUERY) {
            let sql = format!(
                "DELETE FROM upsell_opportunities WHERE account_id IN ({})",
                placeholders(1, chunk.len())
            );
            let values = chunk.iter().map(|id| Value::from(id.clone())).collect();
            execute(&txn.txn, &sql, values).await?;
        }
        insert_rows(
            &txn.txn,
            "INSERT INTO upsell_opportunities (account_id, module_key, csm_id, list_price_minor, currency_code, likelihood, expected_value_minor, reason)",
            "",
            8,
            applied
                .iter()
                .flat_map(|w| &w.opportunities)
                .map(|o| {
                    vec![
                        o.account_id.clone().into(),
                        o.module_key.clone().into(),
                        o.csm_id.clone().into(),
                        o.list_price_minor.into(),
                        o.currency_code.clone().into(),
                        o.likelihood.into(),
                        o.expected_value_minor.into(),
                        o.reason.clone().into(),
                    ]
                })
                .collect(),
        )
        .await?;
        let events = crate::announce::announcements(&applied, &alerts_raised);
        nordstern_outbox::enqueue(&txn.txn, &events).await?;
        txn.commit().await?;
        Ok(ScoresWritten {
            applied,
            alerts_raised,
            alerts_resolved,
        })
    }

    /// Latest scores after `after` = (changed_at, account_id), oldest change first.
    pub async fn list_scores(
        &self,
        filter: &ScoreFilter,
        after: Option<(i64, String)>,
        limit: u64,
    ) -> Result<Vec<(i64, String, Vec<u8>)>, DbErr> {
        self.scores_by(ScoreOrder::ChangedAt, filter, after, limit)
            .await
    }

    /// Latest scores by ARR at risk, highest first, after `after` = (arr_at_risk, account_id).
    pub async fn at_risk(
        &self,
        filter: &ScoreFilter,
        after: Option<(i64, String)>,
        limit: u64,
    ) -> Result<Vec<(i64, String, Vec<u8>)>, DbErr> {
        self.scores_by(ScoreOrder::ArrAtRiskDescending, filter, after, limit)
            .await
    }

    /// Latest scores filtered and in `order` (ties by account id), each with its sort key.
    async fn scores_by(
        &self,
        order: ScoreOrder,
        filter: &ScoreFilter,
        after: Option<(i64, String)>,
        limit: u64,
    ) -> Result<Vec<(i64, String, Vec<u8>)>, DbErr> {
        let (key, key_order, direction) = match order {
            ScoreOrder::ChangedAt => ("changed_at", Order::Ascending, ""),
            ScoreOrder::ArrAtRiskDescending => ("arr_at_risk", Order::Descending, " DESC"),
        };
        let mut sql = Select::new(&format!(
            "SELECT {key} AS sort_key, account_id, payload FROM latest_health_scores"
        ));
        if let Some(color) = filter.color {
            sql.bind(" AND color = ?", color.into());
        }
        if let Some(csm) = &filter.csm_id {
            sql.bind(" AND csm_id = ?", csm.clone().into());
        }
        if let Some(segment) = filter.segment {
            sql.bind(" AND segment = ?", segment.into());
        }
        if let Some(since) = filter.changed_since {
            sql.bind(" AND changed_at >= ?", since.into());
        }
        if let Some((value, account_id)) = after {
            sql.after(vec![
                (key, key_order, value.into()),
                ("account_id", Order::Ascending, account_id.into()),
            ]);
        }
        sql.bind(
            &format!(" ORDER BY {key}{direction}, account_id LIMIT ?"),
            sql_limit(limit).into(),
        );
        let rows = sql.run(self.db()).await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("", "sort_key")?,
                    row.try_get("", "account_id")?,
                    row.try_get("", "payload")?,
                ))
            })
            .collect()
    }
}

/// Upserts the latest scores of `writes` where each is newer than the stored one, and
/// answers the ids of those it stored. With `sort_keys` false the update leaves
/// `changed_at` and `arr_at_risk` as stored (a new row still gets them).
async fn upsert_scores(
    txn: &impl ConnectionTrait,
    writes: &[&ScoreWrite],
    sort_keys: bool,
) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
    let sort_key_columns = if sort_keys {
        ", arr_at_risk = excluded.arr_at_risk, changed_at = excluded.changed_at"
    } else {
        ""
    };
    insert_rows(
        txn,
        "INSERT INTO health_scores (account_id, version, score, color, csm_id, segment, arr_at_risk, computed_at, changed_at, churn_probability, previous_color, color_changed_at)",
        &format!(
            "ON CONFLICT (account_id) DO UPDATE SET version = excluded.version, \
             score = excluded.score, color = excluded.color, csm_id = excluded.csm_id, \
             segment = excluded.segment, computed_at = excluded.computed_at, \
             churn_probability = excluded.churn_probability, \
             previous_color = excluded.previous_color, \
             color_changed_at = excluded.color_changed_at{sort_key_columns} \
             WHERE excluded.version > health_scores.version RETURNING account_id"
        ),
        12,
        writes
            .iter()
            .map(|w| {
                vec![
                    w.account_id.clone().into(),
                    w.version.into(),
                    w.score.into(),
                    w.color.into(),
                    w.csm_id.clone().into(),
                    w.segment.into(),
                    w.arr_at_risk.into(),
                    w.computed_at.into(),
                    w.changed_at.into(),
                    w.churn_probability.into(),
                    w.previous_color.into(),
                    w.color_changed_at.unwrap_or(0).into(),
                ]
            })
            .collect(),
    )
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::DateTime;
    use nordstern_domain::{churn::default_model, health::ScoringConfig};
    use nordstern_proto::{accounts::v1 as accounts_pb, common::v1 as common};
    use sea_orm::{ConnectOptions, ConnectionTrait, Database};
    use sea_orm_migration::MigratorTrait;

    use super::*;
    use crate::compute::{Context, Inputs, compute};

    /// The second score of an account whose colour changed since its first is read back
    /// the same from its row as from its encoding, and a row from before the row held it
    /// all (no churn probability) is read through the encoding.
    #[tokio::test]
    async fn a_previous_score_reads_the_same_from_its_row_as_from_its_encoding() {
        let mut options = ConnectOptions::new("sqlite::memory:");
        options.max_connections(1);
        let db = Database::connect(options).await.unwrap();
        nordstern_scoring_migration::Migrator::up(&db, None)
            .await
            .unwrap();
        let store = Store::new(db.clone());

        let (config, model) = (ScoringConfig::default(), default_model());
        let account = accounts_pb::Account {
            account_id: "01a2b3c4-0000-7000-8000-000000000002".to_owned(),
            name: "Read back".to_owned(),
            segment: common::Segment::Sme as i32,
            arr: Some(nordstern_runtime::wire::money(7_500_000, "EUR")),
            ..accounts_pb::Account::default()
        };
        let score_at = |seconds: i64, previous: Option<&PreviousScore>| {
            let now = DateTime::from_timestamp(seconds, 0).unwrap();
            let context = Context::for_tests(&config, &model, now);
            compute(
                &Inputs {
                    account: &account,
                    summary: None,
                    stats: None,
                    previous,
                    detractor_ids: &[],
                    open_alerts: &[],
                },
                &context,
            )
        };
        let id = vec![account.account_id.clone()];
        let first = score_at(1_780_000_000, None);
        store.write_scores(vec![first]).await.unwrap();
        let mut stored = store.previous(&id).await.unwrap().remove(&id[0]).unwrap();
        assert_eq!(stored.previous_color, None);
        // Stored as another colour, so that the second computation changes colour.
        let color = stored.color.unwrap();
        stored.color = HealthColor::ALL.into_iter().find(|c| *c != color);
        let second = score_at(1_780_086_400, Some(&stored));
        assert!(second.color_change.is_some());
        store.write_scores(vec![second]).await.unwrap();

        let from_row = store.previous(&id).await.unwrap().remove(&id[0]).unwrap();
        let encoded = store.latest(&id).await.unwrap().remove(&id[0]).unwrap();
        let from_encoding =
            PreviousScore::from(&pb::HealthScore::decode(encoded.as_slice()).unwrap());
        assert_eq!(from_row, from_encoding);
        assert_eq!(from_row.version, 2);
        assert_eq!(from_row.previous_color, stored.color);
        assert_eq!(from_row.color_changed_at, Some(1_780_086_400_000_000));

        db.execute_unprepared(
            "UPDATE health_scores SET churn_probability = NULL, previous_color = ''",
        )
        .await
        .unwrap();
        let read_through_encoding = store.previous(&id).await.unwrap().remove(&id[0]).unwrap();
        assert_eq!(read_through_encoding, from_encoding);
    }
}
