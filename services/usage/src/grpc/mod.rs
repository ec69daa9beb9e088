//! The gRPC adapter of the usage service: check events and requests, pseudonymise user
//! ids, call the store, and ask the accounts service which accounts exist, what they
//! bought and who their peers are.

use nordstern_domain::usage::EventKind;
use nordstern_runtime::bridge::ProtoEnum;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use nordstern_accounts::remote::{AccountsApi, batch_get_all_accounts, list_all_accounts};
use nordstern_domain::usage::{
    self as domain, EventInput, MAX_BATCH_EVENTS, Rejection, track::TrackMapping,
};
use nordstern_proto::{
    accounts::v1 as accounts_pb,
    usage::v1::{self as pb, usage_service_server::UsageService},
};
use nordstern_runtime::{client::BoxStream, error::ServiceError, wire::*};
use tonic::{Request, Response, Status, Streaming};

use crate::{
    convert::rejection_to_proto,
    known_features::KnownFeatures,
    pseudonym::Pseudonymizer,
    store::{NewEvent, Store},
    summary::{Catalog, PeerGroups, assemble},
};

mod ingest;
mod privacy;
mod summaries;
mod timeseries;
mod track;

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
    known_features: Arc<KnownFeatures>,
    /// Which product-analytics event names are which usage events.
    track: Arc<TrackMapping>,
    /// The `track` property that names the account, before `context.groupId`.
    track_account_property: Option<String>,
}

/// Outcome of one batch.
#[derive(Debug, Default)]
struct BatchOutcome {
    accepted: i64,
    duplicates: i64,
    rejected: Vec<pb::RejectedEvent>,
    /// Feature key → events, for the keys no catalog module names.
    unknown_features: std::collections::BTreeMap<String, i64>,
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
            known_features: Arc::default(),
            track: Arc::default(),
            track_account_property: None,
        }
    }

    /// Reads product-analytics `track` calls with `mapping`, the account from
    /// `account_property` when a call has it.
    pub fn with_track_mapping(
        mut self,
        mapping: TrackMapping,
        account_property: Option<String>,
    ) -> Self {
        self.track = Arc::new(mapping);
        self.track_account_property = account_property;
        self
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
                kind: EventKind::from_i32(event.kind),
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
                kind: EventKind::from_i32(event.kind).unwrap_or(domain::EventKind::Login),
                quantity,
                feature_key: event.feature_key.clone(),
                ticket_id: event.ticket_id.clone(),
                properties: serde_json::to_string(&properties).unwrap_or_else(|_| "{}".to_owned()),
            });
        }
        let mut used_features = std::collections::BTreeMap::new();
        for event in &new_events {
            if event.kind == domain::EventKind::FeatureUsed {
                *used_features.entry(event.feature_key.clone()).or_insert(0) += 1;
            }
        }
        outcome.unknown_features = self
            .known_features
            .unknown(used_features, self.catalog())
            .await?;
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
        Ok(PeerGroups::new(&universe, |id| {
            usage.get(id).copied().unwrap_or(0)
        }))
    }

    /// Peer groups of every account as of each of `days`, in their order.
    async fn peer_groups_at(
        &self,
        everyone: &[accounts_pb::Account],
        days: &[i32],
    ) -> Result<Vec<PeerGroups>, Status> {
        let ids: Vec<String> = everyone.iter().map(|a| a.account_id.clone()).collect();
        let usage = self
            .store
            .usage_last_30_days_at(&ids, days)
            .await
            .map_err(ServiceError::from)?;
        Ok((0..days.len())
            .map(|index| {
                PeerGroups::new(everyone, |id| {
                    usage
                        .get(id)
                        .and_then(|sums| sums.get(index))
                        .copied()
                        .unwrap_or(0)
                })
            })
            .collect())
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
                let rank = peers.rank(account, account_facts.usage_last_30_days);
                assemble(account, catalog, account_facts, rank, as_of)
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
    type StreamUsageSummariesStream = BoxStream<pb::StreamUsageSummariesResponse>;
    type ExportAccountUsageStream = BoxStream<pb::ExportAccountUsageResponse>;

    async fn ingest_events(
        &self,
        request: Request<pb::IngestEventsRequest>,
    ) -> Result<Response<pb::IngestEventsResponse>, Status> {
        ingest::ingest_events(self, request).await
    }

    async fn ingest_event_stream(
        &self,
        request: Request<Streaming<pb::IngestEventStreamRequest>>,
    ) -> Result<Response<pb::IngestEventStreamResponse>, Status> {
        ingest::ingest_event_stream(self, request).await
    }

    async fn ingest_track_events(
        &self,
        request: Request<pb::IngestTrackEventsRequest>,
    ) -> Result<Response<pb::IngestTrackEventsResponse>, Status> {
        track::ingest_track_events(self, request).await
    }

    async fn get_usage_summary(
        &self,
        request: Request<pb::GetUsageSummaryRequest>,
    ) -> Result<Response<pb::GetUsageSummaryResponse>, Status> {
        summaries::get_usage_summary(self, request).await
    }

    async fn batch_get_usage_summaries(
        &self,
        request: Request<pb::BatchGetUsageSummariesRequest>,
    ) -> Result<Response<pb::BatchGetUsageSummariesResponse>, Status> {
        summaries::batch_get_usage_summaries(self, request).await
    }

    async fn batch_get_usage_summaries_at(
        &self,
        request: Request<pb::BatchGetUsageSummariesAtRequest>,
    ) -> Result<Response<pb::BatchGetUsageSummariesAtResponse>, Status> {
        summaries::batch_get_usage_summaries_at(self, request).await
    }

    async fn stream_usage_summaries(
        &self,
        request: Request<pb::StreamUsageSummariesRequest>,
    ) -> Result<Response<Self::StreamUsageSummariesStream>, Status> {
        summaries::stream_usage_summaries(self, request).await
    }

    async fn get_usage_timeseries(
        &self,
        request: Request<pb::GetUsageTimeseriesRequest>,
    ) -> Result<Response<pb::GetUsageTimeseriesResponse>, Status> {
        timeseries::get_usage_timeseries(self, request).await
    }

    async fn erase_account_usage(
        &self,
        request: Request<pb::EraseAccountUsageRequest>,
    ) -> Result<Response<pb::EraseAccountUsageResponse>, Status> {
        privacy::erase_account_usage(self, request).await
    }

    async fn erase_user_usage(
        &self,
        request: Request<pb::EraseUserUsageRequest>,
    ) -> Result<Response<pb::EraseUserUsageResponse>, Status> {
        privacy::erase_user_usage(self, request).await
    }

    async fn export_account_usage(
        &self,
        request: Request<pb::ExportAccountUsageRequest>,
    ) -> Result<Response<Self::ExportAccountUsageStream>, Status> {
        privacy::export_account_usage(self, request).await
    }
}
