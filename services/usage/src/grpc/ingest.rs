//! Ingestion, batch and stream.

use std::collections::BTreeMap;

use nordstern_proto::usage::v1::{self as pb};
use prost::Message;
use tonic::{Request, Response, Status, Streaming};

use super::*;

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
    while let Some(message) = stream.message().await? {
        let encoded_len = message.encoded_len();
        let outcome = grpc
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
        for (key, events) in outcome.unknown_features {
            *unknown_features.entry(key).or_insert(0) += events;
        }
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
