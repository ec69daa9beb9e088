//! SQL of the usage service; every query runs on SQLite and PostgreSQL alike, except the
//! monthly partitions of raw events, which only PostgreSQL has.

mod group;
mod ingest;
mod partitions;
mod privacy;
mod retention;
mod series;
mod spans;
mod summary;

use std::sync::Arc;

use chrono::NaiveDate;
use nordstern_runtime::storage::SerialWriter;
use sea_orm::{DatabaseConnection, DbBackend};

pub use ingest::NewEvent;
pub use privacy::{DailyRow, StoredEvent};
pub use retention::RetentionSweep;
pub use series::SeriesMetric;
pub use summary::AccountFacts;

/// Advisory lock id of the usage service's serialised writes ("USGE" in ASCII).
const WRITE_LOCK_KEY: i64 = 0x5553_4745;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Accounts per `IN (…)` list.
const IDS_PER_QUERY: usize = 500;

#[derive(Clone)]
pub struct Store {
    /// Ingestion, erasure and retention write under one lock: rollup increments of
    /// concurrent batches would otherwise deadlock on the same rows in varying order.
    writer: SerialWriter,
    partitions: Arc<partitions::PartitionCache>,
    /// SQLite batches waiting to be committed in one group.
    waiting: Arc<group::WaitingBatches>,
}

impl Store {
    pub fn new(db: DatabaseConnection) -> Self {
        Store {
            writer: SerialWriter::new(db, WRITE_LOCK_KEY),
            partitions: Arc::default(),
            waiting: Arc::default(),
        }
    }

    pub fn db(&self) -> &DatabaseConnection {
        self.writer.db()
    }

    fn is_postgres(&self) -> bool {
        self.db().get_database_backend() == DbBackend::Postgres
    }
}

/// The UTC day of an instant, as days since 1970-01-01.
pub fn day_of(micros: i64) -> i32 {
    i32::try_from(micros.div_euclid(MICROS_PER_DAY)).unwrap_or(i32::MAX)
}

pub fn day_number(date: NaiveDate) -> i32 {
    i32::try_from((date - chrono::DateTime::UNIX_EPOCH.date_naive()).num_days()).unwrap_or(i32::MAX)
}

pub fn date_of_day(day: i32) -> NaiveDate {
    chrono::DateTime::UNIX_EPOCH.date_naive() + chrono::Duration::days(i64::from(day))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip_and_negative_instants_floor() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap_or_default();
        assert_eq!(date_of_day(day_number(date)), date);
        assert_eq!(day_of(-1), -1);
        assert_eq!(day_of(MICROS_PER_DAY), 1);
    }
}
