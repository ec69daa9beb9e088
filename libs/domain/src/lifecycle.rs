//! Lifecycle stage, derived from dates and churn rather than set by hand, so it is never
//! stale.

use chrono::{Duration, NaiveDate};

use crate::account::LifecycleStage;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleRules {
    pub onboarding_days: u32,
    pub adoption_days: u32,
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

/// Churned wins, then a renewal within the window (overdue included), then onboarding
/// and adoption by age since start; active otherwise.
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
    let onboarding_end = start_date + Duration::days(i64::from(rules.onboarding_days));
    if today < onboarding_end {
        return LifecycleStage::Onboarding;
    }
    if today < onboarding_end + Duration::days(i64::from(rules.adoption_days)) {
        return LifecycleStage::Adoption;
    }
    LifecycleStage::Active
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
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
    }
}
