//! The gRPC adapter of the usage service: check events and requests, pseudonymise user
//! ids, call the store, and ask the accounts service which accounts exist, what they
//! bought and who their peers are.

use nordstern_domain::usage::EventKind;
use nordstern_runtime::bridge::ProtoEnum;
use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, Duration, Utc};
use nordstern_accounts::remote::{
    AccountsApi, batch_get_all_accounts, list_all_accounts, list_all_accounts_overlapped,
};
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
    ) -> Result<PeerGroups, Status> {
        let [account] = targets else {
            return Ok(self.everyone_and_peers(as_of).await?.1);
        };
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
        // The portfolio and the segment overlap.
        peers.sort_by(|a, b| a.account_id.cmp(&b.account_id));
        peers.dedup_by(|a, b| a.account_id == b.account_id);
        self.peer_groups_among(&peers, as_of).await
    }

    /// Every account, and the peer groups of every account by their usage up to
    /// `as_of`. Each page's usage is read while the next page is listed.
    async fn everyone_and_peers(
        &self,
        as_of: DateTime<Utc>,
    ) -> Result<(Vec<accounts_pb::Account>, PeerGroups), Status> {
        let day = crate::store::day_of(as_of.timestamp_micros());
        let (everyone, usage) = list_all_accounts_overlapped(
            &self.accounts,
            accounts_pb::ListAccountsRequest::default(),
            |page| {
                let ids: Vec<String> = page.iter().map(|a| a.account_id.clone()).collect();
                async move {
                    self.store
                        .usage_last_30_days(&ids, day)
                        .await
                        .map_err(|error| ServiceError::from(error).into())
                }
            },
        )
        .await?;
        let usage: HashMap<String, i64> = usage.into_iter().flatten().collect();
        let peers = PeerGroups::new(&everyone, |id| usage.get(id).copied().unwrap_or(0));
        Ok((everyone, peers))
    }

    /// Peer groups of `universe` (each account once) by their usage up to `as_of`.
    async fn peer_groups_among(
        &self,
        universe: &[accounts_pb::Account],
        as_of: DateTime<Utc>,
    ) -> Result<PeerGroups, Status> {
        let ids: Vec<String> = universe.iter().map(|a| a.account_id.clone()).collect();
        let usage = self
            .store
            .usage_last_30_days(&ids, crate::store::day_of(as_of.timestamp_micros()))
            .await
            .map_err(ServiceError::from)?;
        Ok(PeerGroups::new(universe, |id| {
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
        // An id listed twice gets its facts each time: taken on its last listing only.
        let mut listings: HashMap<&str, usize> = HashMap::with_capacity(accounts.len());
        for account in accounts {
            *listings.entry(account.account_id.as_str()).or_default() += 1;
        }
        Ok(accounts
            .iter()
            .map(|account| {
                let id = account.account_id.as_str();
                let left = listings.get_mut(id).map(|left| {
                    *left -= 1;
                    *left
                });
                let account_facts = match left {
                    Some(0) | None => facts.remove(id),
                    Some(_) => facts.get(id).cloned(),
                }
                .unwrap_or_default();
                let rank = peers.rank(account, account_facts.usage_last_30_days);
                assemble(account, catalog, account_facts, rank, as_of)
            })
            .collect())
    }
}

/// Where a streaming call's task sends its messages.
type Messages<T> = tokio::sync::mpsc::Sender<Result<T, Status>>;

/// The answer of a streaming call whose messages `produce` sends from a task of its own,
/// two ahead of the caller: a caller that stops reading stops the task at its next send.
fn spawn_stream<T, Produce>(produce: impl FnOnce(Messages<T>) -> Produce) -> Response<BoxStream<T>>
where
    T: Send + 'static,
    Produce: std::future::Future<Output = ()> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel(2);
    tokio::spawn(tracing::Instrument::in_current_span(produce(sender)));
    Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(
        receiver,
    )))
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
    type StreamUsageSummariesAtStream = BoxStream<pb::StreamUsageSummariesAtResponse>;
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

    async fn stream_usage_summaries_at(
        &self,
        request: Request<pb::BatchGetUsageSummariesAtRequest>,
    ) -> Result<Response<Self::StreamUsageSummariesAtStream>, Status> {
        summaries::stream_usage_summaries_at(self, request).await
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
