//! Product-analytics `track` calls (Segment's batch shape) as usage events, through the
//! same checks and the same exactly-once store as IngestEvents.

use std::collections::BTreeMap;

use nordstern_proto::usage::v1::{self as pb};
use prost::Message;
use prost_types::value::Kind;
use tonic::{Request, Response, Status};

use super::*;

pub(super) async fn ingest_track_events(
    grpc: &UsageGrpc,
    request: Request<pb::IngestTrackEventsRequest>,
) -> Result<Response<pb::IngestTrackEventsResponse>, Status> {
    let batch = request.into_inner().batch;
    if batch.len() > MAX_BATCH_EVENTS {
        return Err(ServiceError::invalid(
            "batch",
            format!(
                "at most {MAX_BATCH_EVENTS} calls per batch, got {}",
                batch.len()
            ),
        )
        .into());
    }
    let now = timestamp(Utc::now());
    let mut events = Vec::with_capacity(batch.len());
    // The position in `batch` of each event.
    let mut origin = Vec::with_capacity(batch.len());
    let mut unmapped: BTreeMap<String, i32> = BTreeMap::new();
    for (index, call) in batch.into_iter().enumerate() {
        if !call.r#type.is_empty() && !call.r#type.eq_ignore_ascii_case("track") {
            *unmapped.entry(call.r#type).or_default() += 1;
            continue;
        }
        let properties = call.properties.unwrap_or_default();
        let property = |name: &str| properties.fields.get(name).and_then(text);
        let Some(mapped) = grpc.track.map(&call.event, property) else {
            *unmapped.entry(call.event).or_default() += 1;
            continue;
        };
        let account_id = grpc
            .track_account_property
            .as_deref()
            .and_then(property)
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| call.context.unwrap_or_default().group_id);
        events.push(pb::UsageEvent {
            event_id: call.message_id,
            account_id,
            user_id: call.user_id,
            kind: mapped.kind.to_proto() as i32,
            occurred_at: call.timestamp.or(Some(now)),
            quantity: 1,
            feature_key: mapped.feature_key,
            ticket_id: mapped.ticket_id,
            properties: Default::default(),
        });
        origin.push(index);
    }
    let encoded_len = events.iter().map(Message::encoded_len).sum();
    let outcome = grpc.ingest_batch(events, encoded_len, 0).await?;
    let rejected_events: Vec<pb::RejectedEvent> = outcome
        .rejected
        .into_iter()
        .map(|mut rejected| {
            let at = usize::try_from(rejected.index).unwrap_or(usize::MAX);
            if let Some(position) = origin.get(at) {
                rejected.index = i32::try_from(*position).unwrap_or(i32::MAX);
            }
            rejected
        })
        .collect();
    let mut unmapped_events: Vec<pb::UnmappedEvent> = unmapped
        .into_iter()
        .map(|(event, count)| pb::UnmappedEvent { event, count })
        .collect();
    unmapped_events.sort_by(|a, b| b.count.cmp(&a.count).then(a.event.cmp(&b.event)));
    Ok(Response::new(pb::IngestTrackEventsResponse {
        accepted_count: i32::try_from(outcome.accepted).unwrap_or(i32::MAX),
        duplicate_count: i32::try_from(outcome.duplicates).unwrap_or(i32::MAX),
        rejected_count: i32::try_from(rejected_events.len()).unwrap_or(i32::MAX),
        rejected_events,
        unmapped_count: unmapped_events.iter().map(|e| e.count).sum(),
        unmapped_events,
        unknown_features: super::ingest::unknown_features_to_proto(outcome.unknown_features),
    }))
}

/// A property as text: strings as they are, numbers without a needless `.0`, booleans as
/// `true`/`false`; lists, objects and nulls are not keys.
fn text(value: &prost_types::Value) -> Option<String> {
    match value.kind.as_ref()? {
        Kind::StringValue(text) => Some(text.clone()),
        Kind::NumberValue(number) if number.fract() == 0.0 && number.abs() < 1e15 => {
            Some(format!("{}", *number as i64))
        }
        Kind::NumberValue(number) => Some(number.to_string()),
        Kind::BoolValue(flag) => Some(flag.to_string()),
        _ => None,
    }
}
