//! Usage summaries, one, many, or every account streamed.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use nordstern_proto::{
    accounts::v1 as accounts_pb,
    usage::v1::{self as pb},
};
use nordstern_runtime::{client::BoxStream, error::ServiceError, status::FieldViolations, wire::*};
use tonic::{Request, Response, Status};

use super::*;

pub(super) async fn get_usage_summary(
    grpc: &UsageGrpc,
    request: Request<pb::GetUsageSummaryRequest>,
) -> Result<Response<pb::GetUsageSummaryResponse>, Status> {
    let request = request.into_inner();
    let account_id = account_id_field(&request.account_id)?;
    let as_of = as_of(request.as_of.as_ref());
    let (accounts, _) = grpc
        .fetch_accounts(std::slice::from_ref(&account_id))
        .await?;
    if accounts.is_empty() {
        return Err(ServiceError::NotFound(format!("account {account_id}")).into());
    }
    let catalog = grpc.catalog().await?;
    let peers = grpc.peer_groups(&accounts, as_of).await?;
    let summary = grpc
        .summaries(&accounts, &catalog, &peers, as_of)
        .await?
        .pop();
    Ok(Response::new(pb::GetUsageSummaryResponse { summary }))
}

pub(super) async fn batch_get_usage_summaries(
    grpc: &UsageGrpc,
    request: Request<pb::BatchGetUsageSummariesRequest>,
) -> Result<Response<pb::BatchGetUsageSummariesResponse>, Status> {
    let request = request.into_inner();
    let mut violations = FieldViolations::new();
    let ids = id_list(&mut violations, "account_ids", &request.account_ids);
    violations.into_result().map_err(ServiceError::from)?;
    let as_of = as_of(request.as_of.as_ref());
    let (mut accounts, missing_account_ids) = grpc.fetch_accounts(&ids).await?;
    let order: HashMap<&String, usize> = ids.iter().enumerate().map(|(i, id)| (id, i)).collect();
    accounts.sort_by_key(|account| {
        order
            .get(&account.account_id)
            .copied()
            .unwrap_or(usize::MAX)
    });
    let catalog = grpc.catalog().await?;
    let peers = grpc.peer_groups(&accounts, as_of).await?;
    let summaries = grpc.summaries(&accounts, &catalog, &peers, as_of).await?;
    Ok(Response::new(pb::BatchGetUsageSummariesResponse {
        summaries,
        missing_account_ids,
    }))
}

/// Most days apart the instants of one `BatchGetUsageSummariesAt` may be: peers are read
/// for every day between them, for every account.
const MAX_SPAN_DAYS: i32 = 62;

/// Most account ids one `StreamUsageSummariesAt` takes over all its queries: the ids of
/// a request stay well under the 4 MiB a message may have, and the answer is streamed.
const MAX_STREAMED_AT: usize = 20_000;

/// The instants and account ids of a `BatchGetUsageSummariesAtRequest`, checked.
struct QueriesAt {
    queries: Vec<(DateTime<Utc>, Vec<String>)>,
    /// The queries' days, each once, sorted.
    days: Vec<i32>,
}

/// What the queries share: the accounts they name, the catalog, and the peers of each of
/// their days, read once.
struct SummariesAt {
    days: Vec<i32>,
    accounts: HashMap<String, accounts_pb::Account>,
    catalog: Catalog,
    peers: Vec<PeerGroups>,
}

impl SummariesAt {
    async fn read(grpc: &UsageGrpc, queries: &QueriesAt) -> Result<Self, Status> {
        let QueriesAt { queries, days } = queries;
        let mut ids: Vec<String> = queries.iter().flat_map(|(_, ids)| ids.clone()).collect();
        ids.sort_unstable();
        ids.dedup();
        let accounts = grpc
            .fetch_accounts(&ids)
            .await?
            .0
            .into_iter()
            .map(|account| (account.account_id.clone(), account))
            .collect();
        let catalog = grpc.catalog().await?;
        let everyone = grpc
            .list_accounts(accounts_pb::ListAccountsRequest::default())
            .await?;
        let peers = grpc.peer_groups_at(&everyone, days).await?;
        Ok(SummariesAt {
            days: days.clone(),
            accounts,
            catalog,
            peers,
        })
    }

    /// A query's accounts in the order of its ids, and the ids naming no account.
    fn accounts_of(&self, ids: Vec<String>) -> (Vec<accounts_pb::Account>, Vec<String>) {
        let (found, missing): (Vec<String>, Vec<String>) = ids
            .into_iter()
            .partition(|id| self.accounts.contains_key(id));
        let targets = found
            .iter()
            .filter_map(|id| self.accounts.get(id).cloned())
            .collect();
        (targets, missing)
    }

    /// The peers of the day of `as_of`, one of the queries' days.
    fn peers_on(&self, as_of: DateTime<Utc>) -> Result<&PeerGroups, Status> {
        self.days
            .binary_search(&crate::store::day_of(as_of.timestamp_micros()))
            .ok()
            .and_then(|index| self.peers.get(index))
            .ok_or_else(|| Status::internal("no peers read for a requested day"))
    }
}

/// Field violations for a missing instant, a malformed id, more than `max_ids` ids or
/// days too far apart.
fn check_queries_at(
    request: pb::BatchGetUsageSummariesAtRequest,
    max_ids: usize,
) -> Result<QueriesAt, Status> {
    let mut violations = FieldViolations::new();
    let mut queries: Vec<(DateTime<Utc>, Vec<String>)> = Vec::new();
    let mut days: Vec<i32> = Vec::new();
    for (index, query) in request.queries.iter().enumerate() {
        let field = format!("queries[{index}]");
        let as_of = from_timestamp(query.as_of.as_ref());
        match &as_of {
            Some(as_of) => days.push(crate::store::day_of(as_of.timestamp_micros())),
            None => violations.add(format!("{field}.as_of"), "is required"),
        }
        let ids = query
            .account_ids
            .iter()
            .enumerate()
            .map(|(i, id)| id_field(&mut violations, &format!("{field}.account_ids[{i}]"), id))
            .collect();
        queries.push((as_of.unwrap_or_default(), ids));
    }
    let total: usize = queries.iter().map(|(_, ids)| ids.len()).sum();
    if total > max_ids {
        violations.add(
            "queries",
            format!("at most {max_ids} account ids over all queries, got {total}"),
        );
    }
    days.sort_unstable();
    days.dedup();
    if let (Some(first), Some(last)) = (days.first(), days.last())
        && last - first > MAX_SPAN_DAYS
    {
        violations.add(
            "queries",
            format!(
                "the instants' days are at most {MAX_SPAN_DAYS} days apart, not {}",
                last - first
            ),
        );
    }
    violations.into_result().map_err(ServiceError::from)?;
    Ok(QueriesAt { queries, days })
}

pub(super) async fn batch_get_usage_summaries_at(
    grpc: &UsageGrpc,
    request: Request<pb::BatchGetUsageSummariesAtRequest>,
) -> Result<Response<pb::BatchGetUsageSummariesAtResponse>, Status> {
    let queries = check_queries_at(request.into_inner(), MAX_BATCH)?;
    let at = SummariesAt::read(grpc, &queries).await?;
    let mut results = Vec::with_capacity(queries.queries.len());
    for (as_of, ids) in queries.queries {
        let (targets, missing_account_ids) = at.accounts_of(ids);
        let summaries = grpc
            .summaries(&targets, &at.catalog, at.peers_on(as_of)?, as_of)
            .await?;
        results.push(pb::BatchGetUsageSummariesResponse {
            summaries,
            missing_account_ids,
        });
    }
    Ok(Response::new(pb::BatchGetUsageSummariesAtResponse {
        results,
    }))
}

/// Answers once the request is checked; the shared reads run in the stream's task, so
/// a company's worth of peers is not held to the deadline of a call's first answer.
pub(super) async fn stream_usage_summaries_at(
    grpc: &UsageGrpc,
    request: Request<pb::BatchGetUsageSummariesAtRequest>,
) -> Result<Response<BoxStream<pb::StreamUsageSummariesAtResponse>>, Status> {
    let queries = check_queries_at(request.into_inner(), MAX_STREAMED_AT)?;
    let in_flight = chunks_in_flight(grpc.store.db().get_database_backend());
    let service = grpc.clone();
    Ok(spawn_stream(|sender| async move {
        let at = match SummariesAt::read(&service, &queries).await {
            Ok(at) => at,
            Err(status) => {
                let _ = sender.send(Err(status)).await;
                return;
            }
        };
        // Every query's chunks in order; a query without accounts still gets its message.
        let mut chunks = Vec::new();
        for (index, (as_of, ids)) in queries.queries.into_iter().enumerate() {
            let (targets, missing) = at.accounts_of(ids);
            let index = i32::try_from(index).unwrap_or(i32::MAX);
            let mut missing = Some(missing);
            let mut rest = targets.into_iter().peekable();
            loop {
                let chunk: Vec<accounts_pb::Account> = rest.by_ref().take(SUMMARY_CHUNK).collect();
                chunks.push((index, as_of, chunk, missing.take().unwrap_or_default()));
                if rest.peek().is_none() {
                    break;
                }
            }
        }
        let (service, at) = (&service, &at);
        let messages = futures::stream::iter(chunks)
            .map(
                |(query_index, as_of, chunk, missing_account_ids)| async move {
                    let peers = at.peers_on(as_of)?;
                    let summaries = service.summaries(&chunk, &at.catalog, peers, as_of).await?;
                    Ok(pb::StreamUsageSummariesAtResponse {
                        query_index,
                        summaries,
                        missing_account_ids,
                    })
                },
            )
            .buffered(in_flight);
        forward(messages, &sender).await;
    }))
}

pub(super) async fn stream_usage_summaries(
    grpc: &UsageGrpc,
    request: Request<pb::StreamUsageSummariesRequest>,
) -> Result<Response<BoxStream<pb::StreamUsageSummariesResponse>>, Status> {
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
    let (everyone, peers) = grpc.everyone_and_peers(as_of).await?;
    let (targets, missing) = if ids.is_empty() {
        (everyone, Vec::new())
    } else {
        grpc.fetch_accounts(&ids).await?
    };
    let catalog = grpc.catalog().await?;

    let in_flight = chunks_in_flight(grpc.store.db().get_database_backend());
    let service = grpc.clone();
    Ok(spawn_stream(|sender| async move {
        let mut missing = Some(missing);
        let mut rest = targets.into_iter();
        let owned = std::iter::from_fn(move || {
            let chunk: Vec<accounts_pb::Account> = rest.by_ref().take(SUMMARY_CHUNK).collect();
            (!chunk.is_empty()).then_some(chunk)
        });
        let (service, catalog, peers) = (&service, &catalog, &peers);
        let messages = futures::stream::iter(owned)
            .map(|chunk| async move { service.summaries(&chunk, catalog, peers, as_of).await })
            .buffered(in_flight)
            .map(|summaries| {
                summaries.map(|summaries| pb::StreamUsageSummariesResponse {
                    summaries,
                    missing_account_ids: missing.take().unwrap_or_default(),
                })
            });
        if !forward(messages, &sender).await {
            return;
        }
        if let Some(missing) = missing.filter(|m| !m.is_empty()) {
            let _ = sender
                .send(Ok(pb::StreamUsageSummariesResponse {
                    summaries: Vec::new(),
                    missing_account_ids: missing,
                }))
                .await;
        }
    }))
}

/// Sends `messages` in order until one is an error (sent too) or the caller has gone;
/// whether every one was sent.
async fn forward<T>(
    messages: impl futures::Stream<Item = Result<T, Status>>,
    sender: &Messages<T>,
) -> bool {
    let mut messages = std::pin::pin!(messages);
    while let Some(message) = messages.next().await {
        let failed = message.is_err();
        if sender.send(message).await.is_err() || failed {
            return false;
        }
    }
    true
}

/// Chunks of a stream whose facts are read side by side. A PostgreSQL query mostly waits
/// for the server, so three in flight doubled the stream's rate; SQLite reads on this
/// process's own cores, where a third only took CPU from whoever reads the stream.
fn chunks_in_flight(backend: sea_orm::DbBackend) -> usize {
    match backend {
        sea_orm::DbBackend::Postgres => 3,
        _ => 2,
    }
}
