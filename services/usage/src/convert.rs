//! Between protobuf messages and the domain and store types.

use std::collections::HashMap;

use nordstern_domain::usage::{EventKind, Rejection};
use nordstern_proto::usage::v1 as pb;
use nordstern_runtime::{
    bridge::ProtoEnum,
    wire::{date_to_proto, timestamp},
};

use crate::store::{DailyRow, StoredEvent, date_of_day};

/// The reason and the offending field of `UsageEvent` (empty when the reason says all).
pub fn rejection_to_proto(rejection: Rejection) -> (pb::RejectReason, &'static str) {
    match rejection {
        Rejection::UnknownAccount => (pb::RejectReason::UnknownAccount, "account_id"),
        Rejection::UnknownKind => (pb::RejectReason::UnknownKind, "kind"),
        Rejection::MissingField(field) => (pb::RejectReason::MissingField, field),
        Rejection::TooFarInFuture => (pb::RejectReason::TooFarInFuture, "occurred_at"),
        Rejection::OlderThanRetention => (pb::RejectReason::OlderThanRetention, "occurred_at"),
        Rejection::FieldTooLong(field) => (pb::RejectReason::FieldTooLong, field),
        Rejection::TooManyProperties => (pb::RejectReason::TooManyProperties, "properties"),
        Rejection::InvalidQuantity => (pb::RejectReason::InvalidQuantity, "quantity"),
    }
}

pub fn stored_event_to_proto(account_id: &str, event: StoredEvent) -> pb::UsageEvent {
    let properties: HashMap<String, String> =
        serde_json::from_str(&event.properties).unwrap_or_default();
    pb::UsageEvent {
        event_id: event.event_id,
        account_id: account_id.to_owned(),
        user_id: event.user_key,
        kind: EventKind::to_proto(event.kind) as i32,
        occurred_at: chrono::DateTime::from_timestamp_micros(event.occurred_at).map(timestamp),
        quantity: event.quantity,
        feature_key: event.feature_key,
        ticket_id: event.ticket_id,
        properties,
    }
}

pub fn daily_to_proto(row: DailyRow) -> pb::DailyUsage {
    pb::DailyUsage {
        date: Some(date_to_proto(date_of_day(row.day))),
        active_users: i32::try_from(row.active_users).unwrap_or(i32::MAX),
        logins: row.logins,
        feature_uses: row.feature_uses.into_iter().collect(),
        integration_syncs: row.integration_syncs,
        tickets_opened: i32::try_from(row.tickets_opened).unwrap_or(i32::MAX),
        tickets_resolved: i32::try_from(row.tickets_resolved).unwrap_or(i32::MAX),
    }
}
