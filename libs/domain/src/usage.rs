//! Product usage: what an event must satisfy to be stored, and the per-account answers
//! computed from daily rollups (windows, trend, peer percentile, ticket resolution time,
//! chart buckets). Time comes in as arguments: `now`, `as_of` and the retention start.

use chrono::{Datelike, Duration, NaiveDate};

pub mod track;

named_enum!(
    /// What a usage event records.
    EventKind {
        Login => "LOGIN",
        FeatureUsed => "FEATURE_USED",
        IntegrationSync => "INTEGRATION_SYNC",
        TicketOpened => "TICKET_OPENED",
        TicketResolved => "TICKET_RESOLVED",
    }
);

impl EventKind {
    /// LOGIN and FEATURE_USED make a user (and a day) active.
    pub fn is_activity(self) -> bool {
        matches!(self, EventKind::Login | EventKind::FeatureUsed)
    }
}

/// Most events in one ingestion batch.
pub const MAX_BATCH_EVENTS: usize = 5_000;
pub const MAX_EVENT_ID_BYTES: usize = 128;
pub const MAX_USER_ID_BYTES: usize = 256;
/// Feature keys and ticket ids.
pub const MAX_KEY_BYTES: usize = 128;
pub const MAX_PROPERTIES: usize = 16;
pub const MAX_PROPERTY_KEY_BYTES: usize = 64;
pub const MAX_PROPERTY_VALUE_BYTES: usize = 256;
/// Clock skew tolerated for events stamped in the future.
pub const MAX_FUTURE_SKEW_MICROS: i64 = 5 * 60 * 1_000_000;

/// One event as received, before it is checked.
#[derive(Debug, Clone, Copy)]
pub struct EventInput<'a> {
    pub event_id: &'a str,
    pub account_id: &'a str,
    pub user_id: &'a str,
    pub kind: Option<EventKind>,
    /// Microseconds since the Unix epoch; `None` when absent.
    pub occurred_at_micros: Option<i64>,
    pub quantity: i64,
    pub feature_key: &'a str,
    pub ticket_id: &'a str,
    pub property_count: usize,
    /// The longest property key and value, in bytes.
    pub longest_property_key: usize,
    pub longest_property_value: usize,
}

/// Why an event is not stored; `&'static str` names the offending field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// No account has this id (checked by the service against the accounts service).
    UnknownAccount,
    UnknownKind,
    MissingField(&'static str),
    TooFarInFuture,
    OlderThanRetention,
    FieldTooLong(&'static str),
    TooManyProperties,
    InvalidQuantity,
}

/// Checks one event against the rules of DESIGN.md and returns its quantity (0 is read
/// as 1). `retention_start_micros` is the oldest instant still kept.
pub fn check_event(
    event: &EventInput<'_>,
    now_micros: i64,
    retention_start_micros: i64,
) -> Result<i64, Rejection> {
    if event.event_id.is_empty() {
        return Err(Rejection::MissingField("event_id"));
    }
    if event.event_id.len() > MAX_EVENT_ID_BYTES {
        return Err(Rejection::FieldTooLong("event_id"));
    }
    if event.account_id.is_empty() {
        return Err(Rejection::MissingField("account_id"));
    }
    let kind = event.kind.ok_or(Rejection::UnknownKind)?;
    let occurred_at = event
        .occurred_at_micros
        .ok_or(Rejection::MissingField("occurred_at"))?;
    if kind.is_activity() && event.user_id.is_empty() {
        return Err(Rejection::MissingField("user_id"));
    }
    if event.user_id.len() > MAX_USER_ID_BYTES {
        return Err(Rejection::FieldTooLong("user_id"));
    }
    if kind == EventKind::FeatureUsed && event.feature_key.is_empty() {
        return Err(Rejection::MissingField("feature_key"));
    }
    if event.feature_key.len() > MAX_KEY_BYTES {
        return Err(Rejection::FieldTooLong("feature_key"));
    }
    let is_ticket = matches!(kind, EventKind::TicketOpened | EventKind::TicketResolved);
    if is_ticket && event.ticket_id.is_empty() {
        return Err(Rejection::MissingField("ticket_id"));
    }
    if event.ticket_id.len() > MAX_KEY_BYTES {
        return Err(Rejection::FieldTooLong("ticket_id"));
    }
    if event.property_count > MAX_PROPERTIES {
        return Err(Rejection::TooManyProperties);
    }
    if event.longest_property_key > MAX_PROPERTY_KEY_BYTES
        || event.longest_property_value > MAX_PROPERTY_VALUE_BYTES
    {
        return Err(Rejection::FieldTooLong("properties"));
    }
    if event.quantity < 0 {
        return Err(Rejection::InvalidQuantity);
    }
    if occurred_at > now_micros.saturating_add(MAX_FUTURE_SKEW_MICROS) {
        return Err(Rejection::TooFarInFuture);
    }
    if occurred_at < retention_start_micros {
        return Err(Rejection::OlderThanRetention);
    }
    Ok(event.quantity.max(1))
}

/// The first day of the window of `days` days that ends with `last_day` (inclusive).
pub fn window_start(last_day: NaiveDate, days: u32) -> NaiveDate {
    last_day - Duration::days(i64::from(days.max(1)) - 1)
}

/// Usage of the last 30 days against the average month of the 90 days before them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    pub prior_monthly_average: f64,
    /// `last_30_days / prior_monthly_average`; `None` without prior usage.
    pub ratio: Option<f64>,
}

pub fn usage_trend(last_30_days: i64, prior_90_days: i64) -> Trend {
    let prior_monthly_average = prior_90_days as f64 / 3.0;
    let ratio = (prior_monthly_average > 0.0).then(|| last_30_days as f64 / prior_monthly_average);
    Trend {
        prior_monthly_average,
        ratio,
    }
}

/// Percentile rank 0–100 of `value` among `peers` (which include the value itself):
/// 100 for the single highest, 0 for the single lowest, ties share the mid rank.
/// `None` when there is nobody else to compare with.
pub fn percentile_rank(value: i64, peers: &[i64]) -> Option<f64> {
    let below = peers.iter().filter(|&&peer| peer < value).count();
    let equal = peers.iter().filter(|&&peer| peer == value).count();
    rank_among(below, equal, peers.len())
}

fn rank_among(below: usize, equal: usize, peers: usize) -> Option<f64> {
    if peers < 2 {
        return None;
    }
    let rank = below as f64 + (equal.max(1) as f64 - 1.0) / 2.0;
    Some(100.0 * rank / (peers as f64 - 1.0))
}

/// Peers sorted once, so that ranking each of them is two binary searches rather than a
/// scan of the group (a recompute ranks every account of a segment among the segment).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SortedPeers(Vec<i64>);

impl SortedPeers {
    pub fn new(mut values: Vec<i64>) -> Self {
        values.sort_unstable();
        SortedPeers(values)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `percentile_rank(value, peers)`.
    pub fn percentile_rank(&self, value: i64) -> Option<f64> {
        let below = self.0.partition_point(|&peer| peer < value);
        let up_to = self.0.partition_point(|&peer| peer <= value);
        rank_among(below, up_to - below, self.0.len())
    }
}

/// Sums of the `window` days ending with each of `last_days`, from one account's daily
/// values (`(day, value)`, at most one per day, in any order): the usage peers are ranked
/// by, for many days from one read of the days they cover.
pub fn trailing_sums(daily: &[(i32, i64)], last_days: &[i32], window: i32) -> Vec<i64> {
    let mut daily = daily.to_vec();
    daily.sort_unstable_by_key(|&(day, _)| day);
    // running[i] = the sum of the first i days.
    let mut running = Vec::with_capacity(daily.len() + 1);
    running.push(0i64);
    for &(_, value) in &daily {
        running.push(running.last().copied().unwrap_or(0).saturating_add(value));
    }
    let up_to = |day: i32| running[daily.partition_point(|&(d, _)| d <= day)];
    last_days
        .iter()
        .map(|&last| up_to(last).saturating_sub(up_to(last.saturating_sub(window))))
        .collect()
}

/// Share of the purchased features used; `None` when nothing with features was bought.
pub fn feature_breadth(used: usize, total: usize) -> Option<f64> {
    (total > 0).then(|| used.min(total) as f64 / total as f64)
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &mut [i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let middle = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[middle]
    } else {
        // The midpoint without overflow.
        values[middle - 1] + (values[middle] - values[middle - 1]) / 2
    })
}

/// How chart points are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Day,
    /// ISO weeks, Monday to Sunday.
    Week,
}

/// The bucket a day falls in: the day itself, or the Monday of its week.
pub fn bucket_start(day: NaiveDate, granularity: Granularity) -> NaiveDate {
    match granularity {
        Granularity::Day => day,
        Granularity::Week => day - Duration::days(i64::from(day.weekday().num_days_from_monday())),
    }
}

/// Every bucket that overlaps `first..=last`, in order.
pub fn buckets(first: NaiveDate, last: NaiveDate, granularity: Granularity) -> Vec<NaiveDate> {
    let step = match granularity {
        Granularity::Day => Duration::days(1),
        Granularity::Week => Duration::days(7),
    };
    let mut starts = Vec::new();
    let mut start = bucket_start(first, granularity);
    while start <= last {
        starts.push(start);
        start += step;
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_800_000_000_000_000;
    const RETENTION_START: i64 = NOW - 400 * 86_400_000_000;

    fn login() -> EventInput<'static> {
        EventInput {
            event_id: "e-1",
            account_id: "a-1",
            user_id: "u-1",
            kind: Some(EventKind::Login),
            occurred_at_micros: Some(NOW - 1_000),
            quantity: 0,
            feature_key: "",
            ticket_id: "",
            property_count: 0,
            longest_property_key: 0,
            longest_property_value: 0,
        }
    }

    fn check(event: EventInput<'_>) -> Result<i64, Rejection> {
        check_event(&event, NOW, RETENTION_START)
    }

    #[test]
    fn a_valid_event_counts_zero_quantity_as_one() {
        assert_eq!(check(login()), Ok(1));
        assert_eq!(
            check(EventInput {
                quantity: 7,
                ..login()
            }),
            Ok(7)
        );
    }

    #[test]
    fn every_rejection_reason() {
        let long = "x".repeat(300);
        let cases = [
            (
                EventInput {
                    event_id: "",
                    ..login()
                },
                Rejection::MissingField("event_id"),
            ),
            (
                EventInput {
                    event_id: &long,
                    ..login()
                },
                Rejection::FieldTooLong("event_id"),
            ),
            (
                EventInput {
                    account_id: "",
                    ..login()
                },
                Rejection::MissingField("account_id"),
            ),
            (
                EventInput {
                    kind: None,
                    ..login()
                },
                Rejection::UnknownKind,
            ),
            (
                EventInput {
                    occurred_at_micros: None,
                    ..login()
                },
                Rejection::MissingField("occurred_at"),
            ),
            (
                EventInput {
                    user_id: "",
                    ..login()
                },
                Rejection::MissingField("user_id"),
            ),
            (
                EventInput {
                    user_id: &long,
                    ..login()
                },
                Rejection::FieldTooLong("user_id"),
            ),
            (
                EventInput {
                    kind: Some(EventKind::FeatureUsed),
                    ..login()
                },
                Rejection::MissingField("feature_key"),
            ),
            (
                EventInput {
                    kind: Some(EventKind::TicketOpened),
                    user_id: "",
                    ..login()
                },
                Rejection::MissingField("ticket_id"),
            ),
            (
                EventInput {
                    ticket_id: &long,
                    ..login()
                },
                Rejection::FieldTooLong("ticket_id"),
            ),
            (
                EventInput {
                    property_count: 17,
                    ..login()
                },
                Rejection::TooManyProperties,
            ),
            (
                EventInput {
                    longest_property_value: 257,
                    ..login()
                },
                Rejection::FieldTooLong("properties"),
            ),
            (
                EventInput {
                    quantity: -1,
                    ..login()
                },
                Rejection::InvalidQuantity,
            ),
            (
                EventInput {
                    occurred_at_micros: Some(NOW + MAX_FUTURE_SKEW_MICROS + 1),
                    ..login()
                },
                Rejection::TooFarInFuture,
            ),
            (
                EventInput {
                    occurred_at_micros: Some(RETENTION_START - 1),
                    ..login()
                },
                Rejection::OlderThanRetention,
            ),
        ];
        for (event, reason) in cases {
            assert_eq!(check(event), Err(reason), "{event:?}");
        }
    }

    #[test]
    fn tickets_and_syncs_need_no_user() {
        let sync = EventInput {
            kind: Some(EventKind::IntegrationSync),
            user_id: "",
            ..login()
        };
        assert_eq!(check(sync), Ok(1));
        let ticket = EventInput {
            kind: Some(EventKind::TicketResolved),
            user_id: "",
            ticket_id: "T-1",
            ..login()
        };
        assert_eq!(check(ticket), Ok(1));
    }

    #[test]
    fn skew_of_five_minutes_is_accepted() {
        let event = EventInput {
            occurred_at_micros: Some(NOW + MAX_FUTURE_SKEW_MICROS),
            ..login()
        };
        assert_eq!(check(event), Ok(1));
    }

    #[test]
    fn windows_include_their_last_day() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 31).unwrap_or_default();
        assert_eq!(
            window_start(day, 7),
            NaiveDate::from_ymd_opt(2026, 3, 25).unwrap_or_default()
        );
        assert_eq!(window_start(day, 1), day);
    }

    #[test]
    fn trend_compares_with_the_average_prior_month() {
        let trend = usage_trend(70, 300);
        assert_eq!(trend.prior_monthly_average, 100.0);
        assert_eq!(trend.ratio, Some(0.7));
        assert_eq!(usage_trend(50, 0).ratio, None);
    }

    #[test]
    fn percentile_of_known_values() {
        let peers = [10, 20, 30, 40, 50];
        assert_eq!(percentile_rank(50, &peers), Some(100.0));
        assert_eq!(percentile_rank(10, &peers), Some(0.0));
        assert_eq!(percentile_rank(30, &peers), Some(50.0));
        assert_eq!(percentile_rank(5, &[5, 5, 5]), Some(50.0));
        assert_eq!(percentile_rank(5, &[5]), None);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [5, 1, 3]), Some(3));
        assert_eq!(median(&mut [4, 1, 3, 2]), Some(2));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn weeks_start_on_monday_and_cover_the_period() {
        // 2026-11-22 is a Sunday.
        let sunday = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap_or_default();
        let monday = NaiveDate::from_ymd_opt(2026, 11, 16).unwrap_or_default();
        assert_eq!(bucket_start(sunday, Granularity::Week), monday);
        let weeks = buckets(sunday, sunday + Duration::days(1), Granularity::Week);
        assert_eq!(weeks, vec![monday, monday + Duration::days(7)]);
        assert_eq!(
            buckets(sunday, sunday + Duration::days(2), Granularity::Day).len(),
            3
        );
    }

    proptest! {
        #[test]
        fn percentile_is_bounded_and_monotonic(
            peers in proptest::collection::vec(0i64..1_000, 2..60),
            pick in 0usize..60,
            other in 0usize..60,
        ) {
            let a = peers[pick % peers.len()];
            let b = peers[other % peers.len()];
            let rank_a = percentile_rank(a, &peers).unwrap_or(-1.0);
            let rank_b = percentile_rank(b, &peers).unwrap_or(-1.0);
            prop_assert!((0.0..=100.0).contains(&rank_a));
            if a < b {
                prop_assert!(rank_a < rank_b);
            }
            if a == b {
                prop_assert_eq!(rank_a, rank_b);
            }
        }

        #[test]
        fn sorted_peers_rank_as_the_definition(
            peers in proptest::collection::vec(-50i64..50, 0..80),
            value in -60i64..60,
        ) {
            prop_assert_eq!(
                SortedPeers::new(peers.clone()).percentile_rank(value),
                percentile_rank(value, &peers)
            );
        }

        #[test]
        fn trailing_sums_add_the_window(
            values in proptest::collection::btree_map(-40i32..40, 0i64..1_000, 0..60),
            last_days in proptest::collection::vec(-50i32..50, 0..10),
            window in 1i32..40,
        ) {
            let mut daily: Vec<(i32, i64)> = values.into_iter().collect();
            daily.reverse();
            let expected: Vec<i64> = last_days
                .iter()
                .map(|&last| {
                    daily
                        .iter()
                        .filter(|&&(day, _)| day > last - window && day <= last)
                        .map(|&(_, value)| value)
                        .sum()
                })
                .collect();
            prop_assert_eq!(trailing_sums(&daily, &last_days, window), expected);
        }

        #[test]
        fn median_splits_the_values(values in proptest::collection::vec(-1_000_000i64..1_000_000, 1..50)) {
            let mut sorted = values.clone();
            let middle = median(&mut sorted).unwrap_or_default();
            let below = values.iter().filter(|&&v| v < middle).count();
            let above = values.iter().filter(|&&v| v > middle).count();
            prop_assert!(below <= values.len() / 2 && above <= values.len() / 2);
        }

        #[test]
        fn buckets_cover_every_day_once(start in 0i64..3_000, length in 0i64..120, weekly in any::<bool>()) {
            let granularity = if weekly { Granularity::Week } else { Granularity::Day };
            let first = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap_or_default() + Duration::days(start);
            let last = first + Duration::days(length);
            let starts = buckets(first, last, granularity);
            let mut day = first;
            while day <= last {
                let bucket = bucket_start(day, granularity);
                prop_assert_eq!(starts.iter().filter(|&&s| s == bucket).count(), 1);
                day += Duration::days(1);
            }
        }

        #[test]
        fn breadth_is_a_share(used in 0usize..100, total in 0usize..100) {
            match feature_breadth(used, total) {
                Some(share) => prop_assert!((0.0..=1.0).contains(&share)),
                None => prop_assert_eq!(total, 0),
            }
        }
    }
}
