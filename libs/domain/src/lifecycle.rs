//! Lifecycle stage, derived from dates and churn rather than set by hand, so it is never
//! stale.

use chrono::{Days, NaiveDate};

use crate::account::LifecycleStage;

/// Lengths of the phases, configurable because onboarding an enterprise takes longer
/// than onboarding a prosumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleRules {
    /// Days from the start date spent in ONBOARDING.
    pub onboarding_days: u32,
    /// Days after onboarding spent in ADOPTION.
    pub adoption_days: u32,
    /// An account is RENEWAL_DUE this many days before its renewal date (and after).
    pub renewal_due_days: u32,
}

impl Default for LifecycleRules {
    fn default() -> Self {
        LifecycleRules {
            onboarding_days: 90,
            adoption_days: 180,
            renewal_due_days: 90,
        }
    }
}

/// The stage on `today`, in order of precedence: CHURNED once the churn date has come;
/// RENEWAL_DUE when the renewal date is at most `renewal_due_days` away (overdue
/// included, because an unrenewed contract needs the CSM most); ONBOARDING until
/// `start + onboarding_days` (also before the start); ADOPTION for `adoption_days`
/// after that; ACTIVE otherwise. Phase ends beyond the calendar never arrive.
pub fn derive_lifecycle(
    rules: &LifecycleRules,
    start_date: NaiveDate,
    renewal_date: Option<NaiveDate>,
    churned_on: Option<NaiveDate>,
    today: NaiveDate,
) -> LifecycleStage {
    if churned_on.is_some_and(|churned| churned <= today) {
        return LifecycleStage::Churned;
    }
    if renewal_date
        .is_some_and(|renewal| (renewal - today).num_days() <= i64::from(rules.renewal_due_days))
    {
        return LifecycleStage::RenewalDue;
    }
    // `None` is a phase end past the last representable date: not reached yet.
    let before = |end: Option<NaiveDate>| end.is_none_or(|end| today < end);
    let onboarding_end = start_date.checked_add_days(Days::new(u64::from(rules.onboarding_days)));
    if before(onboarding_end) {
        return LifecycleStage::Onboarding;
    }
    let adoption_end = onboarding_end
        .and_then(|end| end.checked_add_days(Days::new(u64::from(rules.adoption_days))));
    if before(adoption_end) {
        return LifecycleStage::Adoption;
    }
    LifecycleStage::Active
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::Duration;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn stages_follow_the_calendar() {
        let rules = LifecycleRules::default();
        let start = d(2025, 1, 1);
        let renewal = Some(d(2027, 1, 1));
        assert_eq!(
            derive_lifecycle(&rules, start, renewal, None, d(2024, 12, 1)),
            LifecycleStage::Onboarding
        );
        assert_eq!(
            derive_lifecycle(&rules, start, renewal, None, d(2025, 2, 1)),
            LifecycleStage::Onboarding
        );
        assert_eq!(
            derive_lifecycle(&rules, start, renewal, None, d(2025, 6, 1)),
            LifecycleStage::Adoption
        );
        assert_eq!(
            derive_lifecycle(&rules, start, renewal, None, d(2026, 1, 1)),
            LifecycleStage::Active
        );
        assert_eq!(
            derive_lifecycle(&rules, start, renewal, None, d(2026, 10, 3)),
            LifecycleStage::RenewalDue
        );
        assert_eq!(
            derive_lifecycle(&rules, start, renewal, None, d(2027, 3, 1)),
            LifecycleStage::RenewalDue
        );
        assert_eq!(
            derive_lifecycle(&rules, start, renewal, Some(d(2026, 5, 1)), d(2026, 5, 1)),
            LifecycleStage::Churned
        );
    }

    #[test]
    fn boundaries_are_exact() {
        let rules = LifecycleRules::default();
        let start = d(2025, 1, 1);
        let at = |days: i64| start + Duration::days(days);
        let stage = |today, renewal: Option<NaiveDate>| {
            derive_lifecycle(&rules, start, renewal, None, today)
        };
        assert_eq!(stage(at(89), None), LifecycleStage::Onboarding);
        assert_eq!(stage(at(90), None), LifecycleStage::Adoption);
        assert_eq!(stage(at(269), None), LifecycleStage::Adoption);
        assert_eq!(stage(at(270), None), LifecycleStage::Active);
        // Renewal exactly 90 days away is due; 91 is not.
        assert_eq!(stage(at(400), Some(at(490))), LifecycleStage::RenewalDue);
        assert_eq!(stage(at(400), Some(at(491))), LifecycleStage::Active);
        // Renewal due beats onboarding.
        assert_eq!(stage(at(10), Some(at(30))), LifecycleStage::RenewalDue);
        // A churn date still ahead does not count yet.
        assert_eq!(
            derive_lifecycle(&rules, start, None, Some(at(500)), at(499)),
            LifecycleStage::Active
        );
    }

    #[test]
    fn huge_phases_do_not_overflow() {
        let rules = LifecycleRules {
            onboarding_days: u32::MAX,
            adoption_days: u32::MAX,
            renewal_due_days: u32::MAX,
        };
        let start = NaiveDate::MAX - Duration::days(10);
        assert_eq!(
            derive_lifecycle(&rules, start, None, None, NaiveDate::MAX),
            LifecycleStage::Onboarding
        );
        let late = LifecycleRules {
            onboarding_days: 5,
            ..rules
        };
        assert_eq!(
            derive_lifecycle(&late, start, None, None, NaiveDate::MAX),
            LifecycleStage::Adoption
        );
        assert_eq!(
            derive_lifecycle(
                &LifecycleRules::default(),
                d(2025, 1, 1),
                Some(NaiveDate::MAX),
                None,
                NaiveDate::MIN
            ),
            LifecycleStage::Onboarding
        );
    }

    proptest! {
        #[test]
        fn churned_always_wins(offset in 0i64..2000, churn_offset in 0i64..2000, renewal_offset in -500i64..2000) {
            let start = d(2020, 1, 1);
            let today = start + Duration::days(offset.max(churn_offset));
            let stage = derive_lifecycle(
                &LifecycleRules::default(),
                start,
                Some(start + Duration::days(renewal_offset)),
                Some(start + Duration::days(churn_offset)),
                today,
            );
            prop_assert_eq!(stage, LifecycleStage::Churned);
        }

        #[test]
        fn stages_only_move_forward_without_renewals(a in 0i64..2000, b in 0i64..2000) {
            let start = d(2020, 1, 1);
            let rules = LifecycleRules::default();
            let order = |stage| LifecycleStage::ALL.iter().position(|s| *s == stage);
            let (early, late) = (a.min(b), a.max(b));
            let first = derive_lifecycle(&rules, start, None, None, start + Duration::days(early));
            let second = derive_lifecycle(&rules, start, None, None, start + Duration::days(late));
            prop_assert!(order(first) <= order(second));
        }
    }
}
