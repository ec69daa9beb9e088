//! The gRPC adapter of the usage service: check events and requests, pseudonymise user
//! ids, call the store, and ask the accounts service which accounts exist, what they
//! bought and who their peers are.

use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, Duration, Utc};
use nordstern_accounts::remote::{AccountsApi, batch_get_all_accounts, list_all_accounts};
use nordstern_domain::usage::{
    self as domain, EventInput, Granularity, MAX_BATCH_EVENTS, MAX_USER_ID_BYTES, Rejection,
};
use nordstern_proto::{
    accounts::v1 as accounts_pb,
    usage::v1::{self as pb, usage_service_server::UsageService},
};
use nordstern_runtime::{client::BoxStream, error::ServiceError, status::FieldViolations, wire::*};
use prost::Message;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::{
    convert::{daily_to_proto, kind_from_proto, rejection_to_proto, stored_event_to_proto},
    pseudonym::Pseudonymizer,
    store::{NewEvent, SeriesMetric, Store, day_number},
    summary::{Catalog, PeerGroups, assemble},
};

/// Largest encoded batch, whatever the server's message limit.
pub const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Summaries per streamed chunk.
const SUMMARY_CHUNK: usize = 500;
/// Export rows per streamed chunk.
const EXPORT_CHUNK: u64 = 1_000;
/// Rejections listed in a stream's response; the count covers all.
const MAX_LISTED_REJECTIONS: usize = 10_000;
/// Longest chart period.
const MAX_SERIES_DAYS: i64 = 2 * 366;

#[derive(Clone)]
pub struct UsageGrpc {
    store: Store,
    accounts: AccountsApi,
    pseudonyms: Arc<Pseudonymizer>,
    retention: Duration,
}

/// Outcome of one batch.
#[derive(Debug, Default)]
struct BatchOutcome {
    accepted: i64,
    duplicates: i64,
    rejected: Vec<pb::RejectedEvent>,
}

impl UsageGrpc {
    pub fn new(
        store: Store,
        accounts: AccountsApi,
        pseudonyms: Pseudonymizer,
        retention: Duration,
    ) -> Self {
        UsageGrpc {
            store,
            accounts,
            pseudonyms: Arc::new(pseudonyms),
            retention,
        }
    }

    /// Checks, deduplicates and commits one batch; `Err` only when the batch as a whole
    /// is refused or storage fails, and then nothing of it is written.
    async fn ingest_batch(
        &self,
        events: Vec<pb::UsageEvent>,
        encoded_len: usize,
        batch_index: i32,
    ) -> Result<BatchOutcome, Status> {
        if events.len() > MAX_BATCH_EVENTS {
            return Err(ServiceError::invalid(
                "events",
                format!(
                    "at most {MAX_BATCH_EVENTS} events per batch, got {}",
                    events.len()
                ),
            )
            .into());
        }
        if encoded_len > MAX_BATCH_BYTES {
            return Err(ServiceError::invalid(
                "events",
                format!("at most {MAX_BATCH_BYTES} bytes per batch, got {encoded_len}"),
            )
            .into());
        }
        let now = now_micros().timestamp_micros();
        let retention_start = now - self.retention.num_microseconds().unwrap_or(i64::MAX);
        let mut outcome = BatchOutcome::default();
        let reject =
            |outcome: &mut BatchOutcome, index: usize, event_id: &str, reason: Rejection| {
                let (reason, field) = rejection_to_proto(reason);
                outcome.rejected.push(pb::RejectedEvent {
                    batch_index,
                    index: i32::try_from(index).unwrap_or(i32::MAX),
                    event_id: event_id.to_owned(),
                    reason: reason as i32,
                    field: field.to_owned(),
                });
            };

        let mut valid: Vec<(usize, i64, String)> = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            let input = EventInput {
                event_id: &event.event_id,
                account_id: &event.account_id,
                user_id: &event.user_id,
                kind: kind_from_proto(event.kind),
                occurred_at_micros: from_timestamp(event.occurred_at.as_ref())
                    .map(|at| at.timestamp_micros()),
                quantity: event.quantity,
                feature_key: &event.feature_key,
                ticket_id: &event.ticket_id,
                property_count: event.properties.len(),
                longest_property_key: event.properties.keys().map(String::len).max().unwrap_or(0),
                longest_property_value: event
                    .properties
                    .values()
                    .map(String::len)
                    .max()
                    .unwrap_or(0),
            };
            match domain::check_event(&input, now, retention_start) {
                Err(reason) => reject(&mut outcome, index, &event.event_id, reason),
                Ok(quantity) => match uuid(&event.account_id) {
                    // Not even a UUID: no account can have this id.
                    Err(_) => reject(
                        &mut outcome,
                        index,
                        &event.event_id,
                        Rejection::UnknownAccount,
                    ),
                    Ok(account_id) => valid.push((index, quantity, account_id)),
                },
            }
        }

        let mut account_ids: Vec<String> = valid.iter().map(|(_, _, id)| id.clone()).collect();
        account_ids.sort_unstable();
        account_ids.dedup();
        let (_, missing) = self.fetch_accounts(&account_ids).await?;

        let mut new_events = Vec::with_capacity(valid.len());
        for (index, quantity, account_id) in valid {
            let event = &events[index];
            if missing.contains(&account_id) {
                reject(
                    &mut outcome,
                    index,
                    &event.event_id,
                    Rejection::UnknownAccount,
                );
                continue;
            }
            let properties: std::collections::BTreeMap<&String, &String> =
                event.properties.iter().collect();
            new_events.push(NewEvent {
                account_id,
                event_id: event.event_id.clone(),
                occurred_at: from_timestamp(event.occurred_at.as_ref())
                    .map(|at| at.timestamp_micros())
                    .unwrap_or_default(),
                user_key: self.pseudonyms.pseudonym(&event.user_id),
                kind: kind_from_proto(event.kind).unwrap_or(domain::EventKind::Login),
                quantity,
                feature_key: event.feature_key.clone(),
                ticket_id: event.ticket_id.clone(),
                properties: serde_json::to_string(&properties).unwrap_or_else(|_| "{}".to_owned()),
            });
        }
        let stored = self
            .store
            .ingest(&new_events)
            .await
            .map_err(ServiceError::from)?;
        for was_stored in stored {
            if was_stored {
                outcome.accepted += 1;
            } else {
                outcome.duplicates += 1;
            }
        }
        outcome.rejected.sort_by_key(|rejected| rejected.index);
        Ok(outcome)
    }

    /// The accounts among `ids` (canonical UUIDs), and the ids that name none.
    async fn fetch_accounts(
        &self,
        ids: &[String],
    ) -> Result<(Vec<accounts_pb::Account>, Vec<String>), Status> {
        batch_get_all_accounts(&self.accounts, ids).await
    }

    async fn list_accounts(
        &self,
        filter: accounts_pb::ListAccountsRequest,
    ) -> Result<Vec<accounts_pb::Account>, Status> {
        list_all_accounts(&self.accounts, filter).await
    }

    async fn catalog(&self) -> Result<Catalog, Status> {
        let modules = self
            .accounts
            .list_product_modules(Request::new(accounts_pb::ListProductModulesRequest {}))
            .await?
            .into_inner()
            .modules;
        Ok(Catalog::from_modules(modules))
    }

    /// Peer groups for `targets`: for one account its portfolio and segment, for more
    /// every account (cheaper than one listing per CSM and segment).
    async fn peer_groups(
        &self,
        targets: &[accounts_pb::Account],
        as_of: DateTime<Utc>,
        everyone: Option<&[accounts_pb::Account]>,
    ) -> Result<PeerGroups, Status> {
        let mut universe: Vec<accounts_pb::Account> = match (everyone, targets) {
            (Some(everyone), _) => everyone.to_vec(),
            (None, [account]) => {
                let mut peers = Vec::new();
                if !account.csm_id.is_empty() {
                    peers.extend(
                        self.list_accounts(accounts_pb::ListAccountsRequest {
                            csm_id: account.csm_id.clone(),
                            ..Default::default()
                        })
                        .await?,
                    );
                }
                if account.segment != 0 {
                    peers.extend(
                        self.list_accounts(accounts_pb::ListAccountsRequest {
                            segment: account.segment,
                            ..Default::default()
                        })
                        .await?,
                    );
                }
                peers
            }
            (None, _) => {
                self.list_accounts(accounts_pb::ListAccountsRequest::default())
                    .await?
            }
        };
        universe.sort_by(|a, b| a.account_id.cmp(&b.account_id));
        universe.dedup_by(|a, b| a.account_id == b.account_id);
        let ids: Vec<String> = universe.iter().map(|a| a.account_id.clone()).collect();
        let usage = self
            .store
            .usage_last_30_days(&ids, crate::store::day_of(as_of.timestamp_micros()))
            .await
            .map_err(ServiceError::from)?;
        Ok(PeerGroups::new(&universe, usage))
    }

    async fn summaries(
        &self,
        accounts: &[accounts_pb::Account],
        catalog: &Catalog,
        peers: &PeerGroups,
        as_of: DateTime<Utc>,
    ) -> Result<Vec<pb::UsageSummary>, Status> {
        let ids: Vec<String> = accounts.iter().map(|a| a.account_id.clone()).collect();
        let mut facts = self
            .store
            .account_facts(&ids, as_of.timestamp_micros())
            .await
            .map_err(ServiceError::from)?;
        Ok(accounts
            .iter()
            .map(|account| {
                let account_facts = facts.remove(&account.account_id).unwrap_or_default();
                assemble(account, catalog, account_facts, peers.rank(account), as_of)
            })
            .collect())
    }
}

fn as_of(timestamp: Option<&prost_types::Timestamp>) -> DateTime<Utc> {
    from_timestamp(timestamp).unwrap_or_else(now_micros)
}

fn account_id_field(raw: &str) -> Result<String, Status> {
    uuid(raw).map_err(|problem| ServiceError::invalid("account_id", problem).into())
}

#[tonic::async_trait]
impl UsageService for UsageGrpc {
    async fn ingest_events(
        &self,
        request: Request<pb::IngestEventsRequest>,
    ) -> Result<Response<pb::IngestEventsResponse>, Status> {
        let request = request.into_inner();
        let encoded_len = request.encoded_len();
        let outcome = self.ingest_batch(request.events, encoded_len, 0).await?;
        Ok(Response::new(pb::IngestEventsResponse {
            accepted_count: i32::try_from(outcome.accepted).unwrap_or(i32::MAX),
            duplicate_count: i32::try_from(outcome.duplicates).unwrap_or(i32::MAX),
            rejected_count: i32::try_from(outcome.rejected.len()).unwrap_or(i32::MAX),
            rejected_events: outcome.rejected,
        }))
    }

    async fn ingest_event_stream(
        &self,
        request: Request<Streaming<pb::IngestEventStreamRequest>>,
    ) -> Result<Response<pb::IngestEventStreamResponse>, Status> {
        let mut stream = request.into_inner();
        let mut totals = pb::IngestEventStreamResponse::default();
        while let Some(message) = stream.message().await? {
            let encoded_len = message.encoded_len();
            let outcome = self
                .ingest_batch(message.events, encoded_len, totals.batch_count)
                .await?;
            totals.batch_count += 1;
            totals.accepted_count += outcome.accepted;
            totals.duplicate_count += outcome.duplicates;
            totals.rejected_count += outcome.rejected.len() as i64;
            let room = MAX_LISTED_REJECTIONS.saturating_sub(totals.rejected_events.len());
            totals
                .rejected_events
                .extend(outcome.rejected.into_iter().take(room));
        }
        Ok(Response::new(totals))
    }

    async fn get_usage_summary(
        &self,
        request: Request<pb::GetUsageSummaryRequest>,
    ) -> Result<Response<pb::GetUsageSummaryResponse>, Status> {
        let request = request.into_inner();
        let account_id = account_id_field(&request.account_id)?;
        let as_of = as_of(request.as_of.as_ref());
        let (accounts, _) = self
            .fetch_accounts(std::slice::from_ref(&account_id))
            .await?;
        if accounts.is_empty() {
            return Err(ServiceError::NotFound(format!("account {account_id}")).into());
        }
        let catalog = self.catalog().await?;
        let peers = self.peer_groups(&accounts, as_of, None).await?;
        let summary = self
            .summaries(&accounts, &catalog, &peers, as_of)
            .await?
            .pop();
        Ok(Response::new(pb::GetUsageSummaryResponse { summary }))
    }

    async fn batch_get_usage_summaries(
        &self,
        request: Request<pb::BatchGetUsageSummariesRequest>,
    ) -> Result<Response<pb::BatchGetUsageSummariesResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let ids = id_list(&mut violations, "account_ids", &request.account_ids);
        violations.into_result().map_err(ServiceError::from)?;
        let as_of = as_of(request.as_of.as_ref());
        let (mut accounts, missing_account_ids) = self.fetch_accounts(&ids).await?;
        let order: HashMap<&String, usize> =
            ids.iter().enumerate().map(|(i, id)| (id, i)).collect();
        accounts.sort_by_key(|account| {
            order
                .get(&account.account_id)
                .copied()
                .unwrap_or(usize::MAX)
        });
        let catalog = self.catalog().await?;
        let peers = self.peer_groups(&accounts, as_of, None).await?;
        let summaries = self.summaries(&accounts, &catalog, &peers, as_of).await?;
        Ok(Response::new(pb::BatchGetUsageSummariesResponse {
            summaries,
            missing_account_ids,
        }))
    }

    type StreamUsageSummariesStream = BoxStream<pb::StreamUsageSummariesResponse>;

    async fn stream_usage_summaries(
        &self,
        request: Request<pb::StreamUsageSummariesRequest>,
    ) -> Result<Response<Self::StreamUsageSummariesStream>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let ids: Vec<String> = request
            .account_ids
            .iter()
            .enumerate()
            .map(|(index, id)| id_field(&mut violations, &format!("account_ids[{index}]"), id))
            .collect();
        violations.into_result().map_err(ServiceError::from)?;
        let as_of = as_of(request.as_of.as_ref());
        // Everything peers need is read before the first chunk, so every summary of the
        // stream ranks against the same snapshot.
        let everyone = self
            .list_accounts(accounts_pb::ListAccountsRequest::default())
            .await?;
        let (targets, missing) = if ids.is_empty() {
            (everyone.clone(), Vec::new())
        } else {
            self.fetch_accounts(&ids).await?
        };
        let catalog = self.catalog().await?;
        let peers = self.peer_groups(&targets, as_of, Some(&everyone)).await?;
        drop(everyone);

        let (sender, receiver) = tokio::sync::mpsc::channel(2);
        let service = self.clone();
        let task = async move {
            let mut missing = Some(missing);
            for chunk in targets.chunks(SUMMARY_CHUNK) {
                let message =
                    service
                        .summaries(chunk, &catalog, &peers, as_of)
                        .await
                        .map(|summaries| pb::StreamUsageSummariesResponse {
                            summaries,
                            missing_account_ids: missing.take().unwrap_or_default(),
                        });
                let failed = message.is_err();
                if sender.send(message).await.is_err() || failed {
                    return;
                }
            }
            if let Some(missing) = missing.filter(|m| !m.is_empty()) {
                let _ = sender
                    .send(Ok(pb::StreamUsageSummariesResponse {
                        summaries: Vec::new(),
                        missing_account_ids: missing,
                    }))
                    .await;
            }
        };
        tokio::spawn(tracing::Instrument::in_current_span(task));
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn get_usage_timeseries(
        &self,
        request: Request<pb::GetUsageTimeseriesRequest>,
    ) -> Result<Response<pb::GetUsageTimeseriesResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let account_id = id_field(&mut violations, "account_id", &request.account_id);
        let feature_key = (!request.feature_key.is_empty()).then(|| request.feature_key.clone());
        let metric = match pb::UsageMetric::try_from(request.metric) {
            Ok(pb::UsageMetric::ActiveUsers) => Some(SeriesMetric::ActiveUsers),
            Ok(pb::UsageMetric::Logins) => Some(SeriesMetric::Logins),
            Ok(pb::UsageMetric::FeatureUses) => {
                Some(SeriesMetric::FeatureUses(feature_key.clone()))
            }
            Ok(pb::UsageMetric::IntegrationSyncs) => Some(SeriesMetric::IntegrationSyncs),
            Ok(pb::UsageMetric::TicketsOpened) => Some(SeriesMetric::TicketsOpened),
            Ok(pb::UsageMetric::TicketsResolved) => Some(SeriesMetric::TicketsResolved),
            Ok(pb::UsageMetric::Unspecified) | Err(_) => {
                violations.add("metric", "must be a known metric");
                None
            }
        };
        if feature_key.is_some() && !matches!(metric, Some(SeriesMetric::FeatureUses(_))) {
            violations.add("feature_key", "only applies to USAGE_METRIC_FEATURE_USES");
        }
        let granularity = match pb::Granularity::try_from(request.granularity) {
            Ok(pb::Granularity::Day) => Some(Granularity::Day),
            Ok(pb::Granularity::Week) => Some(Granularity::Week),
            Ok(pb::Granularity::Unspecified) | Err(_) => {
                violations.add("granularity", "must be DAY or WEEK");
                None
            }
        };
        let period = required_period(&mut violations, "period", request.period.as_ref());
        if let Some((start, end)) = period
            && (end - start).num_days() > MAX_SERIES_DAYS
        {
            violations.add("period", format!("at most {MAX_SERIES_DAYS} days"));
        }
        let (Some(metric), Some(granularity), Some((start, end))) = (metric, granularity, period)
        else {
            // A value is missing only where a violation says why.
            return Err(ServiceError::from(violations).into());
        };
        violations.into_result().map_err(ServiceError::from)?;
        let (accounts, _) = self
            .fetch_accounts(std::slice::from_ref(&account_id))
            .await?;
        if accounts.is_empty() {
            return Err(ServiceError::NotFound(format!("account {account_id}")).into());
        }
        let last = end - Duration::days(1);
        let buckets = domain::buckets(start, last, granularity);
        let first_day = buckets
            .first()
            .map_or(day_number(start), |d| day_number(*d));
        let last_day = match granularity {
            Granularity::Day => day_number(last),
            Granularity::Week => day_number(domain::bucket_start(last, granularity)) + 6,
        };
        let values = self
            .store
            .series(&account_id, &metric, granularity, first_day, last_day)
            .await
            .map_err(ServiceError::from)?;
        let points = buckets
            .into_iter()
            .map(|bucket| pb::UsagePoint {
                start_date: Some(date_to_proto(bucket)),
                value: values.get(&day_number(bucket)).copied().unwrap_or(0),
            })
            .collect();
        Ok(Response::new(pb::GetUsageTimeseriesResponse { points }))
    }

    async fn erase_account_usage(
        &self,
        request: Request<pb::EraseAccountUsageRequest>,
    ) -> Result<Response<pb::EraseAccountUsageResponse>, Status> {
        let account_id = account_id_field(&request.get_ref().account_id)?;
        let erased = self
            .store
            .erase_account(&account_id)
            .await
            .map_err(ServiceError::from)?;
        tracing::info!(%account_id, events = erased.events, "account usage erased");
        Ok(Response::new(pb::EraseAccountUsageResponse {
            events_erased: erased.events as i64,
            rollup_rows_erased: erased.rollup_rows as i64,
        }))
    }

    async fn erase_user_usage(
        &self,
        request: Request<pb::EraseUserUsageRequest>,
    ) -> Result<Response<pb::EraseUserUsageResponse>, Status> {
        let user_id = &request.get_ref().user_id;
        if user_id.is_empty() {
            return Err(ServiceError::invalid("user_id", "is required").into());
        }
        if user_id.len() > MAX_USER_ID_BYTES {
            return Err(ServiceError::invalid(
                "user_id",
                format!("at most {MAX_USER_ID_BYTES} bytes"),
            )
            .into());
        }
        let user_key = self.pseudonyms.pseudonym(user_id);
        let erased = self
            .store
            .erase_user(&user_key)
            .await
            .map_err(ServiceError::from)?;
        // The pseudonym, never the raw id, goes to the log.
        tracing::info!(user = %user_key, events = erased.events, accounts = erased.accounts, "user usage erased");
        Ok(Response::new(pb::EraseUserUsageResponse {
            events_erased: erased.events as i64,
            account_count: i32::try_from(erased.accounts).unwrap_or(i32::MAX),
        }))
    }

    type ExportAccountUsageStream = BoxStream<pb::ExportAccountUsageResponse>;

    async fn export_account_usage(
        &self,
        request: Request<pb::ExportAccountUsageRequest>,
    ) -> Result<Response<Self::ExportAccountUsageStream>, Status> {
        let account_id = account_id_field(&request.get_ref().account_id)?;
        let store = self.store.clone();
        let (sender, receiver) = tokio::sync::mpsc::channel(2);
        let task = async move {
            let mut after = None;
            loop {
                let events = match store
                    .export_events(&account_id, after.clone(), EXPORT_CHUNK)
                    .await
                {
                    Ok(events) => events,
                    Err(error) => {
                        let _ = sender.send(Err(ServiceError::from(error).into())).await;
                        return;
                    }
                };
                let full = events.len() as u64 == EXPORT_CHUNK;
                after = events.last().map(|e| (e.occurred_at, e.event_id.clone()));
                if !events.is_empty() {
                    let chunk = pb::ExportAccountUsageResponse {
                        events: events
                            .into_iter()
                            .map(|e| stored_event_to_proto(&account_id, e))
                            .collect(),
                        daily_usage: Vec::new(),
                    };
                    if sender.send(Ok(chunk)).await.is_err() {
                        return;
                    }
                }
                if !full {
                    break;
                }
            }
            let daily = match store.export_daily(&account_id).await {
                Ok(daily) => daily,
                Err(error) => {
                    let _ = sender.send(Err(ServiceError::from(error).into())).await;
                    return;
                }
            };
            let mut rows = daily.into_iter().map(daily_to_proto).peekable();
            while rows.peek().is_some() {
                let chunk = pb::ExportAccountUsageResponse {
                    events: Vec::new(),
                    daily_usage: rows.by_ref().take(EXPORT_CHUNK as usize).collect(),
                };
                if sender.send(Ok(chunk)).await.is_err() {
                    return;
                }
            }
        };
        tokio::spawn(tracing::Instrument::in_current_span(task));
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }
}
