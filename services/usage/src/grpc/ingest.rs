//! Ingestion, batch and stream: each batch is checked (events, accounts, pseudonymous
//! users) and then committed by the store in one transaction.

use std::collections::BTreeMap;

use nordstern_proto::usage::v1::{self as pb};
use prost::Message;
use tonic::{Request, Response, Status, Streaming};

use super::*;

/// Outcome of one batch.
#[derive(Debug, Default)]
pub(super) struct BatchOutcome {
    pub(super) accepted: i64,
    pub(super) duplicates: i64,
    pub(super) rejected: Vec<pb::RejectedEvent>,
    /// Feature key → events, for the keys no catalog module names.
    pub(super) unknown_features: BTreeMap<String, i64>,
}

pub(super) async fn ingest_events(
    grpc: &UsageGrpc,
    request: Request<pb::IngestEventsRequest>,
) -> Result<Response<pb::IngestEventsResponse>, Status> {
    let request = request.into_inner();
    let encoded_len = request.encoded_len();
    let outcome = grpc.ingest_batch(request.events, encoded_len, 0).await?;
    Ok(Response::new(pb::IngestEventsResponse {
        accepted_count: i32::try_from(outcome.accepted).unwrap_or(i32::MAX),
        duplicate_count: i32::try_from(outcome.duplicates).unwrap_or(i32::MAX),
        rejected_count: i32::try_from(outcome.rejected.len()).unwrap_or(i32::MAX),
        rejected_events: outcome.rejected,
        unknown_features: unknown_features_to_proto(outcome.unknown_features),
    }))
}

pub(super) async fn ingest_event_stream(
    grpc: &UsageGrpc,
    request: Request<Streaming<pb::IngestEventStreamRequest>>,
) -> Result<Response<pb::IngestEventStreamResponse>, Status> {
    let mut stream = request.into_inner();
    let mut totals = pb::IngestEventStreamResponse::default();
    let mut unknown_features = BTreeMap::new();
    // The next batch is read and checked while the one before it commits, so the store's
    // writer does not wait for the checks; commits stay in arrival order. The commit runs
    // as a task of its own, so checking on this one never holds up its statements.
    let mut committing: Option<tokio::task::JoinHandle<Result<BatchOutcome, Status>>> = None;
    let mut received = 0;
    loop {
        let next = async {
            match stream.message().await? {
                Some(message) => {
                    let encoded_len = message.encoded_len();
                    grpc.check_batch(message.events, encoded_len, received)
                        .await
                        .map(Some)
                }
                None => Ok(None),
            }
        };
        let committed = async {
            match committing.take() {
                Some(task) => task
                    .await
                    .map_err(|error| {
                        ServiceError::from(sea_orm::DbErr::Custom(format!(
                            "commit of batch: {error}"
                        )))
                    })?
                    .map(Some),
                None => Ok(None),
            }
        };
        let (committed, next) = tokio::join!(committed, next);
        if let Some(outcome) = committed? {
            totals.batch_count += 1;
            totals.accepted_count += outcome.accepted;
            totals.duplicate_count += outcome.duplicates;
            totals.rejected_count += outcome.rejected.len() as i64;
            let room = MAX_LISTED_REJECTIONS.saturating_sub(totals.rejected_events.len());
            totals
                .rejected_events
                .extend(outcome.rejected.into_iter().take(room));
            for (key, events) in outcome.unknown_features {
                *unknown_features.entry(key).or_insert(0) += events;
            }
        }
        let Some(checked) = next? else {
            break;
        };
        received += 1;
        let store = grpc.store.clone();
        committing = Some(tokio::spawn(tracing::Instrument::in_current_span(
            async move { checked.commit(&store).await },
        )));
    }
    totals.unknown_features = unknown_features_to_proto(unknown_features);
    Ok(Response::new(totals))
}

pub(super) fn unknown_features_to_proto(unknown: BTreeMap<String, i64>) -> Vec<pb::UnknownFeature> {
    unknown
        .into_iter()
        .map(|(feature_key, event_count)| pb::UnknownFeature {
            feature_key,
            event_count,
        })
        .collect()
}

impl UsageGrpc {
    /// Checks, deduplicates and commits one batch; `Err` only when the batch as a whole
    /// is refused or storage fails, and then nothing of it is written.
    pub(super) async fn ingest_batch(
        &self,
        events: Vec<pb::UsageEvent>,
        encoded_len: usize,
        batch_index: i32,
    ) -> Result<BatchOutcome, Status> {
        self.check_batch(events, encoded_len, batch_index)
            .await?
            .commit(&self.store)
            .await
    }

    /// Checks one batch and pseudonymises its users, writing nothing: the events to store
    /// and the rejections. `Err` when the batch as a whole is refused.
    async fn check_batch(
        &self,
        events: Vec<pb::UsageEvent>,
        encoded_len: usize,
        batch_index: i32,
    ) -> Result<CheckedBatch, Status> {
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
        outcome.rejected.sort_by_key(|rejected| rejected.index);
        Ok(CheckedBatch {
            outcome,
            events: new_events,
        })
    }
}

/// A batch checked and pseudonymised, not yet stored.
struct CheckedBatch {
    /// Rejections and unknown features; the counts come with the commit.
    outcome: BatchOutcome,
    events: Vec<NewEvent>,
}

impl CheckedBatch {
    async fn commit(self, store: &Store) -> Result<BatchOutcome, Status> {
        let CheckedBatch {
            mut outcome,
            events,
        } = self;
        let stored = store.ingest(events).await.map_err(ServiceError::from)?;
        for was_stored in stored {
            if was_stored {
                outcome.accepted += 1;
            } else {
                outcome.duplicates += 1;
            }
        }
        Ok(outcome)
    }
}
