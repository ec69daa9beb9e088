//! Recompute: pull accounts, usage summaries and survey stats in batches (never one call
//! per account), compute, store in one transaction per batch, write the new scores
//! through to the cache and announce the changed ones to watchers.

use nordstern_runtime::status::internal_with_context;
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Instant,
};

use chrono::{DateTime, Utc};
use nordstern_accounts::remote::AccountsApi;
use nordstern_domain::{
    churn::Model,
    health::{ScoringConfig, upsell::CatalogModule},
};
use nordstern_proto::{
    accounts::v1 as accounts_pb, common::v1 as common, scoring::v1 as pb, survey::v1 as survey_pb,
    usage::v1 as usage_pb,
};
use nordstern_runtime::{cache::VersionedCache, wire::now_micros};
use nordstern_survey::remote::SurveyApi;
use nordstern_usage::remote::UsageApi;
use prost::Message;
use tokio::sync::{broadcast, mpsc};
use tonic::{Request, Status};

use crate::{
    compute::{self, Context, Inputs},
    store::{DETRACTOR_FEED, Store},
};

/// Accounts per read of usage summaries, survey stats and stored scores (the most one
/// call takes).
const READ_BATCH: usize = 1_000;

/// Accounts written in one transaction. Each commit writes every index page it touched
/// again, and the ARR-at-risk index takes new rows at random places: four read batches
/// per commit wrote the same scores about a third faster than one.
const WRITE_BATCH: usize = 4 * READ_BATCH;

/// Messages of the summaries stream (500 summaries each) read ahead of scoring: about
/// two write batches, which usage computes while batches are computed and stored.
const SUMMARY_MESSAGES_AHEAD: usize = 16;

/// What a recompute did.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub accounts_scored: usize,
    pub color_changes: usize,
    pub alerts_raised: usize,
    pub alerts_resolved: usize,
    pub missing_account_ids: Vec<String>,
    pub scores: Vec<pb::HealthScore>,
    pub elapsed: std::time::Duration,
}

/// The id of an account to score, with its usage summary when usage has one.
type Ready = (String, Option<usage_pb::UsageSummary>);

/// A batch computed and not yet stored.
struct Prepared {
    writes: Vec<crate::store::ScoreWrite>,
    /// Requested ids naming no account.
    missing: Vec<String>,
}

/// What every batch of one recompute shares.
struct Batch<'a> {
    /// The ids a caller named (none for everyone): the only ones reported missing, and
    /// the only recomputes that answer with their scores (a full one answers with
    /// counts, not 100,000 scores held in memory).
    requested: &'a HashSet<String>,
    detractors: &'a HashMap<String, Vec<String>>,
    in_force: &'a InForce,
    catalog: &'a [CatalogModule],
    now: DateTime<Utc>,
}

/// Which accounts to recompute.
pub enum Target {
    All,
    Ids(Vec<String>),
}

pub struct Scoring {
    pub store: Store,
    pub cache: VersionedCache,
    pub accounts: AccountsApi,
    pub usage: UsageApi,
    pub survey: SurveyApi,
    pub changes: broadcast::Sender<pb::HealthScore>,
    /// Answers recorded this long or longer after they were given raise no alert.
    pub alert_max_answer_age: Option<std::time::Duration>,
}

/// The configuration and model in force, with their identities.
pub struct InForce {
    pub config: ScoringConfig,
    pub config_version: i32,
    pub model: Model,
    pub model_id: String,
    pub model_version: i32,
}

impl Scoring {
    /// The current configuration and active model (built-in defaults until others are
    /// stored).
    pub async fn in_force(&self) -> Result<InForce, Status> {
        let (config, config_version) = crate::models::current_config(&self.store).await?;
        let (model, meta) = crate::models::active_model(&self.store).await?;
        Ok(InForce {
            config,
            config_version,
            model,
            model_id: meta.model_id,
            model_version: meta.version,
        })
    }

    pub async fn recompute(&self, target: Target) -> Result<Report, Status> {
        let started = Instant::now();
        let now = now_micros();
        let everyone = matches!(target, Target::All);
        let (summaries, received) = mpsc::channel(SUMMARY_MESSAGES_AHEAD);
        // One stream for everyone: usage ranks peers once, not once per batch. It is
        // opened at once and read on while batches are computed and stored, so usage
        // computes summaries instead of waiting for either.
        let read = async {
            // Owned here, so the scoring side sees the end of the stream when this ends.
            let summaries = summaries;
            if !everyone {
                return Ok(());
            }
            let mut stream = self
                .usage
                .stream_usage_summaries(Request::new(usage_pb::StreamUsageSummariesRequest {
                    account_ids: Vec::new(),
                    as_of: Some(nordstern_runtime::wire::timestamp(now)),
                }))
                .await?
                .into_inner();
            while let Some(message) = tokio_stream::StreamExt::next(&mut stream).await {
                if summaries.send(message?.summaries).await.is_err() {
                    break;
                }
            }
            Ok::<_, Status>(())
        };
        let ((), mut report) = tokio::try_join!(read, self.score(target, now, received))?;
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// Scores the accounts of `target`: batches are read and computed while the batch
    /// before is stored, one write at a time.
    async fn score(
        &self,
        target: Target,
        now: DateTime<Utc>,
        streamed: mpsc::Receiver<Vec<usage_pb::UsageSummary>>,
    ) -> Result<Report, Status> {
        let ((detractors, feed_token), in_force, catalog) = tokio::try_join!(
            self.pending_detractors(now),
            self.in_force(),
            self.catalog()
        )?;
        let requested: HashSet<String> = match &target {
            Target::All => HashSet::new(),
            Target::Ids(ids) => ids.iter().cloned().collect(),
        };
        let batch = Batch {
            requested: &requested,
            detractors: &detractors,
            in_force: &in_force,
            catalog: &catalog,
            now,
        };
        // One batch waits while one is stored and the next is computed.
        let (prepared, mut to_store) = mpsc::channel(1);
        let store = async {
            let mut report = Report::default();
            while let Some(next) = to_store.recv().await {
                self.commit(next, &batch, &mut report).await?;
            }
            Ok(report)
        };
        let (report, ()) =
            tokio::try_join!(store, self.prepare_all(target, streamed, &batch, prepared))?;
        if let Some(token) = feed_token {
            self.store
                .set_state(DETRACTOR_FEED, &token)
                .await
                .map_err(crate::db_error)?;
        }
        Ok(report)
    }

    /// Computes the batches of `target` in order: for everyone those the summaries
    /// stream covers, as they arrive; then the requested ones and those with a pending
    /// detractor the stream did not cover, with summaries read in batches. Each batch's
    /// accounts are fetched with its other reads, so no listing of every account holds
    /// up the first write while usage lists them for the stream.
    async fn prepare_all(
        &self,
        target: Target,
        mut streamed: mpsc::Receiver<Vec<usage_pb::UsageSummary>>,
        batch: &Batch<'_>,
        prepared: mpsc::Sender<Prepared>,
    ) -> Result<(), Status> {
        let send = |next: Prepared| async {
            // Closed only when storing failed, which the recompute answers with.
            let _ = prepared.send(next).await;
        };
        // Accounts with a pending detractor and no score yet in this recompute: the feed
        // moves past their answers once it ends, so each is scored here or never alerted.
        let mut uncovered: HashSet<&String> = batch.detractors.keys().collect();
        // The first batch is one read batch, so the writer starts once a single read
        // batch is computed; the rest fill a write transaction each.
        let mut batch_len = READ_BATCH;
        let mut ready = Vec::with_capacity(WRITE_BATCH);
        while let Some(summaries) = streamed.recv().await {
            for summary in summaries {
                uncovered.remove(&summary.account_id);
                ready.push((summary.account_id.clone(), Some(summary)));
            }
            if ready.len() >= batch_len {
                let full = std::mem::replace(&mut ready, Vec::with_capacity(WRITE_BATCH));
                send(self.prepare(full, batch).await?).await;
                batch_len = WRITE_BATCH;
            }
        }
        if !ready.is_empty() {
            send(self.prepare(ready, batch).await?).await;
        }
        // The requested ids (each once), then the detractors' accounts not among them:
        // for everyone, those created after usage listed the accounts for the stream.
        let mut rest: Vec<String> = match target {
            Target::All => Vec::new(),
            Target::Ids(ids) => ids,
        };
        let mut seen = HashSet::with_capacity(rest.len());
        rest.retain(|id| seen.insert(id.clone()));
        rest.extend(
            uncovered
                .into_iter()
                .filter(|id| !batch.requested.contains(*id))
                .cloned(),
        );
        for chunk in rest.chunks(READ_BATCH) {
            let mut summaries: HashMap<String, usage_pb::UsageSummary> = self
                .usage
                .batch_get_usage_summaries(Request::new(usage_pb::BatchGetUsageSummariesRequest {
                    account_ids: chunk.to_vec(),
                    as_of: Some(nordstern_runtime::wire::timestamp(batch.now)),
                }))
                .await?
                .into_inner()
                .summaries
                .into_iter()
                .map(|s| (s.account_id.clone(), s))
                .collect();
            let ready = chunk
                .iter()
                .map(|id| (id.clone(), summaries.remove(id)))
                .collect();
            send(self.prepare(ready, batch).await?).await;
        }
        Ok(())
    }

    /// Reads what the accounts need besides their usage, a read batch at a time and the
    /// batches side by side, and computes their scores.
    async fn prepare(&self, ready: Vec<Ready>, batch: &Batch<'_>) -> Result<Prepared, Status> {
        let computed = futures::future::try_join_all(
            ready
                .chunks(READ_BATCH)
                .map(|chunk| self.compute_batch(chunk, batch)),
        )
        .await?;
        let mut prepared = Prepared {
            writes: Vec::with_capacity(ready.len()),
            missing: Vec::new(),
        };
        for (writes, missing) in computed {
            prepared.writes.extend(writes);
            prepared.missing.extend(missing);
        }
        Ok(prepared)
    }

    /// Reads what at most [`READ_BATCH`] accounts need besides their usage, and computes
    /// the scores of those that exist and have not churned. Answers the scores and the
    /// requested ids naming no account.
    async fn compute_batch(
        &self,
        ready: &[Ready],
        batch: &Batch<'_>,
    ) -> Result<(Vec<crate::store::ScoreWrite>, Vec<String>), Status> {
        let ids: Vec<String> = ready.iter().map(|(id, _)| id.clone()).collect();
        // The accounts, survey stats, the previous scores and the open alerts are
        // independent: read them together.
        let (accounts, stats, stored, open_alerts) = tokio::join!(
            self.accounts
                .batch_get_accounts(Request::new(accounts_pb::BatchGetAccountsRequest {
                    account_ids: ids.clone(),
                })),
            self.survey.batch_get_survey_stats(Request::new(
                survey_pb::BatchGetSurveyStatsRequest {
                    account_ids: ids.clone(),
                    window: None,
                }
            )),
            self.store.previous(&ids),
            self.store.open_alerts(&ids),
        );
        let accounts = accounts?.into_inner();
        let missing = accounts
            .missing_account_ids
            .into_iter()
            .filter(|id| batch.requested.contains(id))
            .collect();
        let accounts: HashMap<String, accounts_pb::Account> = accounts
            .accounts
            .into_iter()
            .filter(|a| a.lifecycle_stage != common::LifecycleStage::Churned as i32)
            .map(|a| (a.account_id.clone(), a))
            .collect();
        let open_alerts = open_alerts.map_err(crate::db_error)?;
        let stats = stats?.into_inner().stats;
        let stats: HashMap<&str, &survey_pb::SurveyStats> =
            ids.iter().map(String::as_str).zip(stats.iter()).collect();
        let previous = stored.map_err(crate::db_error)?;

        let in_force = batch.in_force;
        let context = Context {
            config: &in_force.config,
            config_version: in_force.config_version,
            model: &in_force.model,
            model_id: &in_force.model_id,
            model_version: in_force.model_version,
            catalog: batch.catalog,
            now: batch.now,
        };
        let no_detractors = Vec::new();
        let no_alerts = Vec::new();
        let mut writes = Vec::with_capacity(ready.len());
        for (id, summary) in ready {
            let Some(account) = accounts.get(id) else {
                continue;
            };
            let id = id.as_str();
            let write = compute::compute(
                &Inputs {
                    account,
                    summary: summary.as_ref(),
                    stats: stats.get(id).copied(),
                    previous: previous.get(id),
                    detractor_ids: batch.detractors.get(id).unwrap_or(&no_detractors),
                    open_alerts: open_alerts.get(id).unwrap_or(&no_alerts),
                },
                &context,
            );
            writes.push(write);
        }
        Ok((writes, missing))
    }

    /// Stores a prepared batch, writes it through to the cache and tells watchers, as a
    /// task of its own. In the recompute's task the write transaction's statements
    /// waited for the next batch's scoring and decoding to yield before each one was
    /// sent; as its own task it runs on the other worker meanwhile. A recompute
    /// cancelled while the task runs leaves it to finish: what it commits is also
    /// cached and announced.
    async fn commit(
        &self,
        prepared: Prepared,
        batch: &Batch<'_>,
        report: &mut Report,
    ) -> Result<(), Status> {
        report.missing_account_ids.extend(prepared.missing);
        let store = self.store.clone();
        let cache = self.cache.clone();
        let changes = self.changes.clone();
        let written = tokio::spawn(async move {
            let written = store.write_scores(prepared.writes).await?;
            let entries: Vec<(&str, i64, &[u8])> = written
                .applied
                .iter()
                .map(|w| (w.account_id.as_str(), w.version, w.payload.as_slice()))
                .collect();
            cache.put_many(&entries).await;
            if changes.receiver_count() > 0 {
                for write in written.applied.iter().filter(|w| w.changed) {
                    // The message as stored: with the commit's changed_at. A watcher
                    // that left meanwhile is fine.
                    let _ = changes.send(write.message.clone());
                }
            }
            Ok::<_, sea_orm::DbErr>(written)
        })
        .await
        .map_err(|error| internal_with_context("storing a batch of scores", &error))?
        .map_err(crate::db_error)?;
        report.alerts_raised += written.alerts_raised.len();
        report.alerts_resolved += written.alerts_resolved as usize;
        for write in written.applied {
            report.accounts_scored += 1;
            report.color_changes += usize::from(write.color_change.is_some());
            if !batch.requested.is_empty() {
                report.scores.push(write.message);
            }
        }
        Ok(())
    }

    /// Whether an answer reached the platform so long after it was given that it is no
    /// news to alert on (a backfill, an import of old surveys).
    fn answered_too_long_before_recorded(&self, response: &survey_pb::SurveyResponse) -> bool {
        let Some(max_age) = self.alert_max_answer_age else {
            return false;
        };
        let at = |t: Option<&prost_types::Timestamp>| {
            nordstern_runtime::wire::from_timestamp(t).map(|t| t.timestamp_micros())
        };
        match (
            at(response.responded_at.as_ref()),
            at(response.recorded_at.as_ref()),
        ) {
            (Some(responded), Some(recorded)) => {
                recorded - responded >= i64::try_from(max_age.as_micros()).unwrap_or(i64::MAX)
            }
            _ => false,
        }
    }

    /// Detractor responses recorded since the feed position, by account, and the position
    /// after them (saved once they are alerted on). The feed starts 30 days back, so a
    /// fresh installation alerts on recent detractors, not on years of history.
    async fn pending_detractors(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(HashMap<String, Vec<String>>, Option<String>), Status> {
        let mut token = self
            .store
            .state(DETRACTOR_FEED)
            .await
            .map_err(crate::db_error)?
            .unwrap_or_default();
        let since = token
            .is_empty()
            .then(|| nordstern_runtime::wire::timestamp(now - chrono::Duration::days(30)));
        let mut by_account: HashMap<String, Vec<String>> = HashMap::new();
        let mut advanced = false;
        loop {
            let page = self
                .survey
                .list_detractor_responses(Request::new(survey_pb::ListDetractorResponsesRequest {
                    page_size: nordstern_runtime::paging::MAX_PAGE_SIZE,
                    page_token: token.clone(),
                    since,
                }))
                .await?
                .into_inner();
            let full_page =
                page.responses.len() >= nordstern_runtime::paging::MAX_PAGE_SIZE as usize;
            for response in page.responses {
                if self.answered_too_long_before_recorded(&response) {
                    continue;
                }
                by_account
                    .entry(response.account_id)
                    .or_default()
                    .push(response.response_id);
            }
            if !page.next_page_token.is_empty() && page.next_page_token != token {
                token = page.next_page_token;
                advanced = true;
            }
            if !full_page {
                break;
            }
        }
        Ok((by_account, advanced.then_some(token)))
    }

    pub(crate) async fn catalog(&self) -> Result<Vec<CatalogModule>, Status> {
        let modules = self
            .accounts
            .list_product_modules(Request::new(accounts_pb::ListProductModulesRequest {}))
            .await?
            .into_inner()
            .modules;
        Ok(modules
            .into_iter()
            .map(|m| CatalogModule {
                key: m.module_key,
                list_price_minor: m.list_price.map_or(0, |p| p.minor_units),
                has_integration: m.has_integration,
            })
            .collect())
    }

    /// The latest score: cache, then database (refilling the cache), then a computation.
    pub async fn latest(&self, account_id: &str) -> Result<Option<pb::HealthScore>, Status> {
        if let Some((_, payload)) = self.cache.get(account_id).await
            && let Ok(score) = pb::HealthScore::decode(payload.as_slice())
        {
            return Ok(Some(score));
        }
        if let Some(score) = self.stored(account_id).await? {
            return Ok(Some(score));
        }
        self.recompute_one(account_id).await
    }

    /// Computes and stores one account's score now; `None` for an unknown or churned
    /// account. When a concurrent recompute stored its version first, that newer one is
    /// the answer.
    pub async fn recompute_one(&self, account_id: &str) -> Result<Option<pb::HealthScore>, Status> {
        let report = self
            .recompute(Target::Ids(vec![account_id.to_owned()]))
            .await?;
        match report
            .scores
            .into_iter()
            .find(|s| s.account_id == account_id)
        {
            Some(score) => Ok(Some(score)),
            None => self.stored(account_id).await,
        }
    }

    /// The stored latest score, written back to the cache.
    pub async fn stored(&self, account_id: &str) -> Result<Option<pb::HealthScore>, Status> {
        let stored = self
            .store
            .latest(&[account_id.to_owned()])
            .await
            .map_err(crate::db_error)?;
        let Some(payload) = stored.get(account_id) else {
            return Ok(None);
        };
        let score = pb::HealthScore::decode(payload.as_slice())
            .map_err(|e| internal_with_context("a stored score does not decode", &e))?;
        self.cache.put(account_id, score.version, payload).await;
        Ok(Some(score))
    }

    /// Latest scores of many accounts: one cache round trip, the misses from the
    /// database in one query.
    pub async fn latest_many(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, pb::HealthScore>, Status> {
        let cached = self.cache.get_many(ids).await;
        let mut found = HashMap::with_capacity(ids.len());
        let mut misses = Vec::new();
        for (id, entry) in ids.iter().zip(cached) {
            match entry.and_then(|(_, payload)| pb::HealthScore::decode(payload.as_slice()).ok()) {
                Some(score) => {
                    found.insert(id.clone(), score);
                }
                None => misses.push(id.clone()),
            }
        }
        if !misses.is_empty() {
            let stored = self.store.latest(&misses).await.map_err(crate::db_error)?;
            let mut refill = Vec::with_capacity(stored.len());
            for (id, payload) in &stored {
                if let Ok(score) = pb::HealthScore::decode(payload.as_slice()) {
                    refill.push((id.as_str(), score.version, payload.as_slice()));
                    found.insert(id.clone(), score);
                }
            }
            self.cache.put_many(&refill).await;
        }
        Ok(found)
    }
}

/// Shared across the gRPC handlers and the scheduled recompute.
pub type SharedScoring = Arc<Scoring>;
