//! Raw per-account inputs and one normalisation to 0–100 per component.
//!
//! Every function returns a value within 0–100 or `None` for a missing component; a NaN
//! or infinite input counts as missing, so no NaN ever reaches a score.

use chrono::NaiveDate;

use super::{COMPONENT_COUNT, HealthComponent};

/// Whether the account's integration syncs, or why there is none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IntegrationStatus {
    /// A sync in the last 7 days.
    Live,
    /// Synced before, but not in the last 7 days.
    Stale,
    /// A purchased module offers an integration, and no sync is on record: the
    /// automatic benefit the customer paid for is not there.
    NotSetUp,
    /// No purchased module offers an integration and none ever synced.
    #[default]
    NotApplicable,
}

impl IntegrationStatus {
    /// From the usage summary's `integration_live`, whether `last_integration_sync_on` is
    /// set, and whether any purchased module has an integration.
    pub fn from_summary(live: bool, ever_synced: bool, offered: bool) -> Self {
        match (live, ever_synced, offered) {
            (true, _, _) => IntegrationStatus::Live,
            (false, true, _) => IntegrationStatus::Stale,
            (false, false, true) => IntegrationStatus::NotSetUp,
            (false, false, false) => IntegrationStatus::NotApplicable,
        }
    }

    /// Why the integration component reads as it does, for a CSM.
    pub fn explanation(self) -> &'static str {
        match self {
            IntegrationStatus::Live => "the integration synced in the last 7 days",
            IntegrationStatus::Stale => "the integration has not synced in the last 7 days",
            IntegrationStatus::NotSetUp => {
                "a purchased module has an integration that was never set up"
            }
            IntegrationStatus::NotApplicable => {
                "no purchased module has an integration: left out of the score"
            }
        }
    }
}

/// What the scoring service knows about one account, from its usage summary, survey
/// statistics and the account itself. Counts are plain numbers; optional values are
/// `None` when the source has nothing (or when the ratio has no denominator).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HealthInputs {
    /// Days with at least one active user in the last 7, 30 and 90 days.
    pub active_days_7: u32,
    pub active_days_30: u32,
    pub active_days_90: u32,
    /// Distinct active users in the last 30 and 90 days.
    pub active_users_30: u32,
    pub active_users_90: u32,
    /// Purchased features used / purchased features, 0–1.
    pub feature_breadth: Option<f64>,
    pub integration: IntegrationStatus,
    /// Usage of the last 30 days / average month of the 3 months before; 0.7 is a 30 %
    /// drop.
    pub usage_trend: Option<f64>,
    /// Usage percentile ranks 0–100 within the CSM's portfolio and within the segment.
    pub portfolio_percentile: Option<f64>,
    pub segment_percentile: Option<f64>,
    /// The account's NPS, −100…100.
    pub nps: Option<f64>,
    /// Mean CES answer, 1–7.
    pub ces_mean: Option<f64>,
    pub open_tickets: u32,
    pub tickets_last_30_days: u32,
    pub median_hours_to_resolution: Option<f64>,
    /// Days from today to the renewal date; negative when overdue, `None` without a
    /// renewal date (see [`days_until`]).
    pub days_to_renewal: Option<i64>,
}

impl HealthInputs {
    /// The normalised value of every component in [`HealthComponent::ALL`] order.
    pub fn component_values(&self) -> [Option<f64>; COMPONENT_COUNT] {
        HealthComponent::ALL.map(|component| self.component_value(component))
    }

    pub fn component_value(&self, component: HealthComponent) -> Option<f64> {
        match component {
            HealthComponent::LoginRegularity => Some(login_regularity_score(
                [self.active_days_7, self.active_days_30, self.active_days_90],
                self.active_users_30,
                self.active_users_90,
            )),
            HealthComponent::FeatureBreadth => feature_breadth_score(self.feature_breadth),
            HealthComponent::Integration => integration_score(self.integration),
            HealthComponent::UsageTrend => usage_trend_score(self.usage_trend),
            HealthComponent::PeerPercentile => {
                peer_percentile_score(self.portfolio_percentile, self.segment_percentile)
            }
            HealthComponent::Nps => nps_score(self.nps),
            HealthComponent::Ces => ces_score(self.ces_mean),
            HealthComponent::SupportLoad => Some(support_load_score(
                self.open_tickets,
                self.tickets_last_30_days,
                self.median_hours_to_resolution,
            )),
            HealthComponent::TimeToRenewal => time_to_renewal_score(self.days_to_renewal),
        }
    }
}

/// Whole days from `today` to `date`; negative when `date` has passed. For
/// [`HealthInputs::days_to_renewal`].
pub fn days_until(date: NaiveDate, today: NaiveDate) -> i64 {
    (date - today).num_days()
}

fn finite(value: Option<f64>) -> Option<f64> {
    value.filter(|v| v.is_finite())
}

fn share(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (f64::from(part) / f64::from(whole)).min(1.0)
    }
}

/// 100 × (0.7 × mean(days₇/7, days₃₀/30, days₉₀/90) + 0.3 × users₃₀/users₉₀).
///
/// `active_days` is `[last 7, last 30, last 90]`. The three windows see different
/// things: the week catches a recent stop, the quarter forgives a holiday. The user
/// share catches seats falling away while one champion keeps logging in daily (0 when
/// nobody was active in 90 days). Never missing: no activity is a value, the worst one.
pub fn login_regularity_score(
    active_days: [u32; 3],
    active_users_30: u32,
    active_users_90: u32,
) -> f64 {
    let [days_7, days_30, days_90] = active_days;
    let days = (share(days_7, 7) + share(days_30, 30) + share(days_90, 90)) / 3.0;
    let users = share(active_users_30, active_users_90);
    (100.0 * (0.7 * days + 0.3 * users)).clamp(0.0, 100.0)
}

/// 100 × (purchased features used / purchased features). Missing when nothing with
/// features was bought: there is nothing to adopt.
pub fn feature_breadth_score(ratio: Option<f64>) -> Option<f64> {
    finite(ratio).map(|r| (100.0 * r).clamp(0.0, 100.0))
}

/// Live 100; stale or never set up 0: a sync that stopped is a broken workflow, and
/// one never set up is a benefit paid for and not taken. Missing only when no purchased
/// module offers an integration: then its absence says nothing.
pub fn integration_score(status: IntegrationStatus) -> Option<f64> {
    match status {
        IntegrationStatus::Live => Some(100.0),
        IntegrationStatus::Stale | IntegrationStatus::NotSetUp => Some(0.0),
        IntegrationStatus::NotApplicable => None,
    }
}

/// clamp(50 + 100 × (ratio − 1), 0, 100): flat usage 50, a 30 % drop (the alert
/// threshold) 20, +50 % or more 100, −50 % or worse 0.
///
/// Flat sits in the middle because steady usage is neither a warning nor a sign of
/// growth. Missing without prior usage to compare with.
pub fn usage_trend_score(ratio: Option<f64>) -> Option<f64> {
    finite(ratio).map(|r| (50.0 + 100.0 * (r - 1.0)).clamp(0.0, 100.0))
}

/// The mean of the percentiles present (each clamped to 0–100); missing when neither
/// is. Both compare usage with peers; averaging them keeps one unusual portfolio from
/// deciding alone.
pub fn peer_percentile_score(portfolio: Option<f64>, segment: Option<f64>) -> Option<f64> {
    let present: Vec<f64> = [portfolio, segment]
        .into_iter()
        .filter_map(finite)
        .map(|p| p.clamp(0.0, 100.0))
        .collect();
    (!present.is_empty()).then(|| present.iter().sum::<f64>() / present.len() as f64)
}

/// (NPS + 100) / 2: maps −100…100 linearly onto 0–100, so an NPS of 0 is 50. Missing
/// without NPS responses.
pub fn nps_score(nps: Option<f64>) -> Option<f64> {
    finite(nps).map(|n| ((n + 100.0) / 2.0).clamp(0.0, 100.0))
}

/// (mean − 1) / 6 × 100: maps the 1–7 scale linearly onto 0–100, so the neutral 4 is
/// 50. Missing without CES responses.
pub fn ces_score(mean: Option<f64>) -> Option<f64> {
    finite(mean).map(|m| ((m - 1.0) / 6.0 * 100.0).clamp(0.0, 100.0))
}

/// Hours to resolution at or below which no penalty applies: a day is what customers
/// expect.
const RESOLUTION_OK_HOURS: f64 = 24.0;
/// Hours to resolution at or above which the full penalty applies: five days.
const RESOLUTION_BAD_HOURS: f64 = 120.0;

/// 100 − min(40, 10 × open) − min(30, 5 × tickets in 30 days) − resolution penalty,
/// where the penalty is 0 at ≤ 24 h median resolution and rises linearly to 30 at
/// ≥ 120 h (none without resolved tickets).
///
/// An open backlog hurts most because it is pain the customer still feels; the caps
/// keep one dimension from taking the whole component, and the three caps add up to
/// 100 so the worst case is exactly 0. Never missing: no tickets is the best value.
pub fn support_load_score(
    open_tickets: u32,
    tickets_last_30_days: u32,
    median_hours_to_resolution: Option<f64>,
) -> f64 {
    let open = (10.0 * f64::from(open_tickets)).min(40.0);
    let volume = (5.0 * f64::from(tickets_last_30_days)).min(30.0);
    let resolution = finite(median_hours_to_resolution).map_or(0.0, |hours| {
        let over = (hours - RESOLUTION_OK_HOURS) / (RESOLUTION_BAD_HOURS - RESOLUTION_OK_HOURS);
        30.0 * over.clamp(0.0, 1.0)
    });
    (100.0 - open - volume - resolution).clamp(0.0, 100.0)
}

/// Days before the renewal from which the score starts to fall.
const RENEWAL_HORIZON_DAYS: f64 = 180.0;

/// 100 at ≥ 180 days to renewal, 0 at or after the renewal date, linear between.
///
/// Half a year is when renewal conversations start; inside it, every week leaves less
/// time to turn an unhappy account around. Missing without a renewal date: an evergreen
/// contract has no deadline to signal.
pub fn time_to_renewal_score(days_to_renewal: Option<i64>) -> Option<f64> {
    days_to_renewal.map(|days| (100.0 * days as f64 / RENEWAL_HORIZON_DAYS).clamp(0.0, 100.0))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn close(actual: f64, expected: f64) -> bool {
        (actual - expected).abs() < 1e-9
    }

    #[test]
    fn login_regularity_anchors() {
        assert_eq!(login_regularity_score([0, 0, 0], 0, 0), 0.0);
        assert!(close(login_regularity_score([7, 30, 90], 10, 10), 100.0));
        // Every day active but half the users gone: 70 + 15.
        assert!(close(login_regularity_score([7, 30, 90], 5, 10), 85.0));
        // One day a week, four a month, twelve a quarter, everyone still active.
        let expected = 100.0 * (0.7 * (1.0 / 7.0 + 4.0 / 30.0 + 12.0 / 90.0) / 3.0 + 0.3);
        assert!(close(login_regularity_score([1, 4, 12], 3, 3), expected));
        // Inconsistent counts cannot push it past 100.
        assert!(close(login_regularity_score([9, 40, 100], 12, 10), 100.0));
        // Users without a 90-day base count as 0, not NaN.
        assert!(close(login_regularity_score([7, 30, 90], 3, 0), 70.0));
    }

    #[test]
    fn feature_breadth_anchors() {
        assert_eq!(feature_breadth_score(Some(0.0)), Some(0.0));
        assert_eq!(feature_breadth_score(Some(0.6)), Some(60.0));
        assert_eq!(feature_breadth_score(Some(1.0)), Some(100.0));
        assert_eq!(feature_breadth_score(Some(1.5)), Some(100.0));
        assert_eq!(feature_breadth_score(None), None);
        assert_eq!(feature_breadth_score(Some(f64::NAN)), None);
    }

    #[test]
    fn integration_anchors() {
        assert_eq!(integration_score(IntegrationStatus::Live), Some(100.0));
        assert_eq!(integration_score(IntegrationStatus::Stale), Some(0.0));
        assert_eq!(integration_score(IntegrationStatus::NotSetUp), Some(0.0));
        assert_eq!(integration_score(IntegrationStatus::NotApplicable), None);
    }

    #[test]
    fn integration_status_tells_not_set_up_from_not_applicable() {
        use IntegrationStatus::*;
        assert_eq!(IntegrationStatus::from_summary(true, true, false), Live);
        assert_eq!(IntegrationStatus::from_summary(false, true, false), Stale);
        assert_eq!(
            IntegrationStatus::from_summary(false, false, true),
            NotSetUp
        );
        assert_eq!(
            IntegrationStatus::from_summary(false, false, false),
            NotApplicable
        );
        assert_eq!(IntegrationStatus::from_summary(true, false, true), Live);
        assert_eq!(IntegrationStatus::from_summary(false, true, true), Stale);
    }

    #[test]
    fn usage_trend_anchors() {
        assert!(close(usage_trend_score(Some(0.7)).unwrap(), 20.0));
        assert_eq!(usage_trend_score(Some(1.0)), Some(50.0));
        assert_eq!(usage_trend_score(Some(1.5)), Some(100.0));
        assert_eq!(usage_trend_score(Some(3.0)), Some(100.0));
        assert_eq!(usage_trend_score(Some(0.5)), Some(0.0));
        assert_eq!(usage_trend_score(Some(0.0)), Some(0.0));
        assert_eq!(usage_trend_score(None), None);
        assert_eq!(usage_trend_score(Some(f64::INFINITY)), None);
    }

    #[test]
    fn peer_percentile_anchors() {
        assert_eq!(peer_percentile_score(Some(80.0), Some(40.0)), Some(60.0));
        assert_eq!(peer_percentile_score(Some(80.0), None), Some(80.0));
        assert_eq!(peer_percentile_score(None, Some(40.0)), Some(40.0));
        assert_eq!(
            peer_percentile_score(Some(f64::NAN), Some(40.0)),
            Some(40.0)
        );
        assert_eq!(peer_percentile_score(Some(150.0), Some(-10.0)), Some(50.0));
        assert_eq!(peer_percentile_score(None, None), None);
    }

    #[test]
    fn nps_anchors() {
        assert_eq!(nps_score(Some(-100.0)), Some(0.0));
        assert_eq!(nps_score(Some(0.0)), Some(50.0));
        assert_eq!(nps_score(Some(40.0)), Some(70.0));
        assert_eq!(nps_score(Some(100.0)), Some(100.0));
        assert_eq!(nps_score(None), None);
        assert_eq!(nps_score(Some(f64::NEG_INFINITY)), None);
    }

    #[test]
    fn ces_anchors() {
        assert_eq!(ces_score(Some(1.0)), Some(0.0));
        assert_eq!(ces_score(Some(4.0)), Some(50.0));
        assert_eq!(ces_score(Some(7.0)), Some(100.0));
        assert_eq!(ces_score(Some(0.0)), Some(0.0));
        assert_eq!(ces_score(None), None);
        assert_eq!(ces_score(Some(f64::NAN)), None);
    }

    #[test]
    fn support_load_anchors() {
        assert_eq!(support_load_score(0, 0, None), 100.0);
        assert_eq!(support_load_score(1, 0, None), 90.0);
        assert_eq!(support_load_score(4, 0, None), 60.0);
        assert_eq!(support_load_score(9, 0, None), 60.0);
        assert_eq!(support_load_score(0, 2, None), 90.0);
        assert_eq!(support_load_score(0, 6, None), 70.0);
        assert_eq!(support_load_score(0, 50, None), 70.0);
        assert_eq!(support_load_score(0, 0, Some(24.0)), 100.0);
        assert_eq!(support_load_score(0, 0, Some(72.0)), 85.0);
        assert_eq!(support_load_score(0, 0, Some(120.0)), 70.0);
        assert_eq!(support_load_score(0, 0, Some(1_000.0)), 70.0);
        assert_eq!(support_load_score(0, 0, Some(f64::NAN)), 100.0);
        assert_eq!(support_load_score(u32::MAX, u32::MAX, Some(f64::MAX)), 0.0);
        assert_eq!(
            support_load_score(2, 3, Some(48.0)),
            100.0 - 20.0 - 15.0 - 7.5
        );
    }

    #[test]
    fn time_to_renewal_anchors() {
        assert_eq!(time_to_renewal_score(Some(365)), Some(100.0));
        assert_eq!(time_to_renewal_score(Some(180)), Some(100.0));
        assert_eq!(time_to_renewal_score(Some(90)), Some(50.0));
        assert_eq!(time_to_renewal_score(Some(0)), Some(0.0));
        assert_eq!(time_to_renewal_score(Some(-30)), Some(0.0));
        assert_eq!(time_to_renewal_score(Some(i64::MIN)), Some(0.0));
        assert_eq!(time_to_renewal_score(None), None);
    }

    #[test]
    fn days_until_counts_whole_days() {
        let today = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap();
        assert_eq!(
            days_until(NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(), today),
            29
        );
        assert_eq!(days_until(today, today), 0);
        assert_eq!(
            days_until(NaiveDate::from_ymd_opt(2026, 1, 30).unwrap(), today),
            -1
        );
    }

    #[test]
    fn inputs_map_to_their_components() {
        let inputs = HealthInputs {
            active_days_7: 7,
            active_days_30: 30,
            active_days_90: 90,
            active_users_30: 4,
            active_users_90: 4,
            feature_breadth: Some(0.5),
            integration: IntegrationStatus::Stale,
            usage_trend: Some(1.0),
            portfolio_percentile: Some(10.0),
            segment_percentile: None,
            nps: Some(20.0),
            ces_mean: Some(7.0),
            open_tickets: 1,
            tickets_last_30_days: 0,
            median_hours_to_resolution: None,
            days_to_renewal: Some(45),
        };
        let values = inputs.component_values();
        let expected: [Option<f64>; COMPONENT_COUNT] = [
            Some(100.0),
            Some(50.0),
            Some(0.0),
            Some(50.0),
            Some(10.0),
            Some(60.0),
            Some(100.0),
            Some(90.0),
            Some(25.0),
        ];
        for component in HealthComponent::ALL {
            let (actual, wanted) = (values[component.index()], expected[component.index()]);
            assert_eq!(
                actual.map(|v| (v * 1e9).round()),
                wanted.map(|v| (v * 1e9).round()),
                "{component}"
            );
        }
        let empty = HealthInputs::default().component_values();
        let present: Vec<HealthComponent> = HealthComponent::ALL
            .into_iter()
            .filter(|c| empty[c.index()].is_some())
            .collect();
        assert_eq!(
            present,
            [
                HealthComponent::LoginRegularity,
                HealthComponent::SupportLoad
            ]
        );
        for component in present {
            assert!(component.is_never_missing());
        }
    }
}
