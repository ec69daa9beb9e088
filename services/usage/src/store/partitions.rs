//! Monthly partitions of raw events on PostgreSQL (`usage_events_p202611` holds November
//! 2026, UTC), created as events arrive and dropped whole by retention.

use std::{collections::HashSet, sync::Mutex};

use chrono::{DateTime, Datelike, NaiveDate};
use sea_orm::{ConnectionTrait, DbErr};

/// A month as `year * 12 + month0`, so months are consecutive integers.
pub type MonthIndex = i32;

pub fn month_of(micros: i64) -> MonthIndex {
    let date = DateTime::from_timestamp_micros(micros)
        .map(|at| at.date_naive())
        .unwrap_or_default();
    date.year() * 12 + date.month0() as i32
}

/// The first instant of a month, in microseconds.
pub fn month_start_micros(month: MonthIndex) -> i64 {
    let first = NaiveDate::from_ymd_opt(month.div_euclid(12), month.rem_euclid(12) as u32 + 1, 1)
        .unwrap_or_default();
    first
        .and_hms_opt(0, 0, 0)
        .map(|at| at.and_utc().timestamp_micros())
        .unwrap_or_default()
}

pub fn partition_name(month: MonthIndex) -> String {
    format!(
        "usage_events_p{:04}{:02}",
        month.div_euclid(12),
        month.rem_euclid(12) + 1
    )
}

/// `usage_events_p202611` → its month.
pub fn parse_partition_name(name: &str) -> Option<MonthIndex> {
    let digits = name.strip_prefix("usage_events_p")?;
    if digits.len() != 6 {
        return None;
    }
    let year: i32 = digits[..4].parse().ok()?;
    let month: i32 = digits[4..].parse().ok()?;
    (1..=12).contains(&month).then_some(year * 12 + month - 1)
}

/// Months known to have a partition, so ingestion issues no DDL in the common case.
#[derive(Default)]
pub struct PartitionCache {
    known: Mutex<HashSet<MonthIndex>>,
}

impl PartitionCache {
    pub fn missing(&self, months: impl IntoIterator<Item = MonthIndex>) -> Vec<MonthIndex> {
        let known = self
            .known
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let mut missing: Vec<MonthIndex> =
            months.into_iter().filter(|m| !known.contains(m)).collect();
        missing.sort_unstable();
        missing.dedup();
        missing
    }

    /// Called after the transaction that created them committed.
    pub fn remember(&self, months: &[MonthIndex]) {
        let mut known = self
            .known
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        known.extend(months);
    }

    pub fn forget(&self, month: MonthIndex) {
        let mut known = self
            .known
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        known.remove(&month);
    }
}

pub async fn create(db: &impl ConnectionTrait, month: MonthIndex) -> Result<(), DbErr> {
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {} PARTITION OF usage_events FOR VALUES FROM ({}) TO ({})",
        partition_name(month),
        month_start_micros(month),
        month_start_micros(month + 1)
    );
    db.execute_unprepared(&sql).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_bounds_of_a_month() {
        let november = month_of(
            DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
                .map(|at| at.timestamp_micros())
                .unwrap_or_default(),
        );
        assert_eq!(partition_name(november), "usage_events_p202611");
        assert_eq!(parse_partition_name("usage_events_p202611"), Some(november));
        assert_eq!(parse_partition_name("usage_events_p202613"), None);
        assert_eq!(month_of(month_start_micros(november)), november);
        assert_eq!(month_of(month_start_micros(november + 1) - 1), november);
        assert_eq!(partition_name(november + 2), "usage_events_p202701");
    }
}
