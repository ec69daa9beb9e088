//! Between protobuf wire types and Rust values, shared by every service: dates,
//! timestamps, ids, field masks and idempotency keys — each parsed into a field violation
//! when it is wrong. Enums cross in `bridge`, pages in `paging`.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use nordstern_domain::validate;
use nordstern_proto::common::v1 as common;
use prost::Message;

use crate::{
    idempotency::{IdempotencyKey, fingerprint},
    status::FieldViolations,
};

/// Most ids one batch call takes.
pub const MAX_BATCH: usize = 1000;

pub fn date_to_proto(date: NaiveDate) -> common::Date {
    common::Date {
        year: date.year(),
        month: date.month() as i32,
        day: date.day() as i32,
    }
}

pub fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

/// The current time at microsecond precision, the precision PostgreSQL keeps, so what a
/// service answers equals what it later reads back, on either backend.
pub fn now_micros() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// A timestamp truncated to microseconds (see [`now_micros`]).
/// The instant `micros` microseconds after the Unix epoch (how instants are stored).
pub fn from_micros(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

/// An amount in minor units of `currency_code`.
pub fn money(minor_units: i64, currency_code: &str) -> common::Money {
    common::Money {
        minor_units,
        currency_code: currency_code.to_owned(),
    }
}

pub fn micros(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

/// A timestamp field as UTC; `None` when unset or out of range.
pub fn from_timestamp(timestamp: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    let timestamp = timestamp?;
    DateTime::from_timestamp(timestamp.seconds, u32::try_from(timestamp.nanos).ok()?)
}

/// The first instant of a day (UTC): a date that stands for a moment, such as a handover
/// imported from a CRM or the bounds of a window.
pub fn midnight(date: NaiveDate) -> DateTime<Utc> {
    date.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// An optional instant that has already happened (a handover brought in from a CRM):
/// `None` when unset, or with a violation when out of range or in the future.
pub fn optional_past_instant(
    violations: &mut FieldViolations,
    field: &str,
    timestamp: Option<&prost_types::Timestamp>,
) -> Option<DateTime<Utc>> {
    let raw = timestamp?;
    match from_timestamp(Some(raw)) {
        Some(at) if at <= Utc::now() => Some(at),
        Some(_) => {
            violations.add(field, "must not be in the future");
            None
        }
        None => {
            violations.add(field, "is not a valid timestamp");
            None
        }
    }
}

/// A required date field.
pub fn required_date(
    violations: &mut FieldViolations,
    field: &str,
    date: Option<&common::Date>,
) -> Option<NaiveDate> {
    match date {
        None => {
            violations.add(field, "is required");
            None
        }
        Some(date) => violations.check(field, validate::date(date.year, date.month, date.day)),
    }
}

/// An optional date field: absent or all zero means unset.
pub fn optional_date(
    violations: &mut FieldViolations,
    field: &str,
    date: Option<&common::Date>,
) -> Option<NaiveDate> {
    match date {
        None
        | Some(common::Date {
            year: 0,
            month: 0,
            day: 0,
        }) => None,
        Some(date) => violations.check(field, validate::date(date.year, date.month, date.day)),
    }
}

/// A required period `[start, end)` with `end` after `start`.
pub fn required_period(
    violations: &mut FieldViolations,
    field: &str,
    period: Option<&common::Period>,
) -> Option<(NaiveDate, NaiveDate)> {
    let Some(period) = period else {
        violations.add(field, "is required");
        return None;
    };
    let start = required_date(
        violations,
        &format!("{field}.start_date"),
        period.start_date.as_ref(),
    );
    let end = required_date(
        violations,
        &format!("{field}.end_date"),
        period.end_date.as_ref(),
    );
    match (start, end) {
        (Some(start), Some(end)) if end > start => Some((start, end)),
        (Some(_), Some(_)) => {
            violations.add(format!("{field}.end_date"), "must be after the start date");
            None
        }
        _ => None,
    }
}

/// A UUID in canonical lower-case form.
pub fn uuid(raw: &str) -> Result<String, String> {
    if raw.is_empty() {
        return Err("is required".to_owned());
    }
    uuid::Uuid::parse_str(raw)
        .map(|id| id.hyphenated().to_string())
        .map_err(|_| "must be a UUID".to_owned())
}

/// A new time-ordered id (UUIDv7), so id order is creation order.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().hyphenated().to_string()
}

/// The one id a request names, or INVALID_ARGUMENT naming the field.
pub fn required_id(field: &str, raw: &str) -> Result<String, FieldViolations> {
    uuid(raw).map_err(|description| FieldViolations::single(field, description))
}

/// A required id field (empty string when invalid; the violation is recorded).
pub fn id_field(violations: &mut FieldViolations, field: &str, raw: &str) -> String {
    violations.check(field, uuid(raw)).unwrap_or_default()
}

/// A list of ids of at most [`MAX_BATCH`], each checked.
pub fn id_list(violations: &mut FieldViolations, field: &str, raw: &[String]) -> Vec<String> {
    if raw.len() > MAX_BATCH {
        violations.add(field, format!("at most {MAX_BATCH} ids per call"));
    }
    raw.iter()
        .enumerate()
        .map(|(index, id)| id_field(violations, &format!("{field}[{index}]"), id))
        .collect()
}

pub fn optional_id(violations: &mut FieldViolations, field: &str, raw: &str) -> Option<String> {
    if raw.is_empty() {
        None
    } else {
        violations.check(field, uuid(raw))
    }
}

/// The paths of an update mask; at least one, each among `allowed`.
pub fn mask_paths(
    violations: &mut FieldViolations,
    mask: Option<&prost_types::FieldMask>,
    allowed: &[&str],
) -> Vec<String> {
    let paths = mask.map(|mask| mask.paths.clone()).unwrap_or_default();
    if paths.is_empty() {
        violations.add(
            "update_mask",
            format!("name at least one of: {}", allowed.join(", ")),
        );
    }
    for path in &paths {
        if !allowed.contains(&path.as_str()) {
            violations.add(
                "update_mask",
                format!(
                    "`{path}` cannot be updated (allowed: {})",
                    allowed.join(", ")
                ),
            );
        }
    }
    paths
}

/// An optional idempotency key, fingerprinted with the whole request so a key reused
/// for a different request can be told apart from a retry.
pub fn idempotency_key(
    violations: &mut FieldViolations,
    field: &str,
    raw: &str,
    request: &impl Message,
) -> Option<IdempotencyKey> {
    if raw.is_empty() {
        return None;
    }
    let key = violations.check(field, validate::idempotency_key(raw))?;
    Some(IdempotencyKey {
        key,
        fingerprint: fingerprint(&request.encode_to_vec()),
    })
}
