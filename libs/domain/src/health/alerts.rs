//! The alerts one health computation raises, and when an open one clears (README,
//! "Alerts").
//!
//! An account has at most one open alert per type. A new reason for an open type updates
//! that alert (its latest reason, when it was last raised, how often) instead of adding
//! another, so the queue holds situations, not events. Reasons are built only from what
//! identifies the situation (colours, dates, response ids, the fixed thresholds), never
//! from a score or a percentage that moves with every recomputation: a usage drop from
//! 0.65 to 0.62 is the same drop, not a new reason.

use chrono::NaiveDate;

use super::HealthColor;

named_enum!(
    /// Why an alert was raised.
    AlertType {
        ColorDrop => "COLOR_DROP",
        UsageDrop => "USAGE_DROP",
        Detractor => "DETRACTOR",
        RenewalAtRisk => "RENEWAL_AT_RISK",
        UnassignedAccount => "UNASSIGNED_ACCOUNT",
    }
);

named_enum!(
    /// Where an alert stands: open until a CSM acknowledges it, resolved at the end.
    AlertStatus {
        Open => "OPEN",
        Acknowledged => "ACKNOWLEDGED",
        Resolved => "RESOLVED",
    }
);

/// A usage trend at or below this ratio (a drop of 30 % or more against the average
/// month of the 3 months before) raises [`AlertType::UsageDrop`].
pub const USAGE_DROP_RATIO: f64 = 0.7;
/// A renewal this many days away or closer (and not overdue) raises
/// [`AlertType::RenewalAtRisk`] while the account is not green.
pub const RENEWAL_WINDOW_DAYS: i64 = 90;
/// An account is new for this many days from its start date.
pub const NEW_ACCOUNT_DAYS: i64 = 90;

/// What the rules look at, for one account after one computation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertContext<'a> {
    pub today: NaiveDate,
    /// The colour of the account's previous computation; `None` for its first.
    pub previous_color: Option<HealthColor>,
    pub color: HealthColor,
    /// Usage of the last 30 days / average month of the 3 months before.
    pub usage_trend: Option<f64>,
    pub renewal_date: Option<NaiveDate>,
    /// The account's start date (contract start), which decides whether it is new.
    pub start_date: NaiveDate,
    pub has_csm: bool,
    /// Detractor responses (NPS 0–6) received since the previous computation.
    pub new_detractor_response_ids: &'a [String],
}

/// An alert to raise; the service stamps account, CSM, ARR and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertCandidate {
    pub kind: AlertType,
    /// Stable for a stable situation: the deduplication key with account and type.
    pub reason: String,
    /// The detractor response, for [`AlertType::Detractor`] only.
    pub survey_response_id: Option<String>,
}

impl AlertCandidate {
    fn new(kind: AlertType, reason: String) -> Self {
        AlertCandidate {
            kind,
            reason,
            survey_response_id: None,
        }
    }
}

/// The candidates of one computation, one per type: the last reason of a type wins and
/// the count says how many reasons it stands for (several new detractor answers of one
/// account are one detractor alert).
pub fn one_per_type(candidates: Vec<AlertCandidate>) -> Vec<(AlertCandidate, u32)> {
    let mut merged: Vec<(AlertCandidate, u32)> = Vec::new();
    for candidate in candidates {
        match merged.iter_mut().find(|(c, _)| c.kind == candidate.kind) {
            Some((kept, count)) => {
                *kept = candidate;
                *count += 1;
            }
            None => merged.push((candidate, 1)),
        }
    }
    merged
}

/// Why an open alert of `kind`, raised for `reason`, no longer holds after a computation
/// that saw `context`; `None` while it still does. Detractor alerts never clear by
/// themselves: somebody has to talk to the customer.
pub fn resolution(kind: AlertType, reason: &str, context: &AlertContext<'_>) -> Option<String> {
    match kind {
        AlertType::ColorDrop => {
            // The reason reads "FROM → TO"; back at FROM or better, the drop is undone.
            let from = reason.split(" → ").next().and_then(HealthColor::parse)?;
            (!context.color.is_worse_than(from))
                .then(|| format!("colour back to {}", context.color))
        }
        AlertType::UsageDrop => context
            .usage_trend
            .is_some_and(|ratio| ratio.is_finite() && ratio > USAGE_DROP_RATIO)
            .then(|| "usage recovered to within 30 % of the months before".to_owned()),
        AlertType::RenewalAtRisk => {
            if context.color == HealthColor::Green {
                return Some("account green again".to_owned());
            }
            match context.renewal_date {
                None => Some("no renewal date any more".to_owned()),
                Some(renewal) if (renewal - context.today).num_days() > RENEWAL_WINDOW_DAYS => {
                    Some(format!("renewal done: next renewal on {renewal}"))
                }
                // Inside the window, or overdue without a recorded renewal: still a risk.
                Some(_) => None,
            }
        }
        AlertType::UnassignedAccount => {
            context.has_csm.then(|| "a CSM took the account".to_owned())
        }
        AlertType::Detractor => None,
    }
}

/// Whether an account that started on `start_date` is new on `today`: it started less
/// than [`NEW_ACCOUNT_DAYS`] days ago, or starts in the future (signed, not live yet —
/// exactly when it most needs an owner).
pub fn is_new_account(start_date: NaiveDate, today: NaiveDate) -> bool {
    (today - start_date).num_days() < NEW_ACCOUNT_DAYS
}

/// Every alert the situation calls for, in the order of [`AlertType::ALL`] (detractor
/// responses in the order given, each id once).
pub fn alerts(context: &AlertContext<'_>) -> Vec<AlertCandidate> {
    let mut alerts = Vec::new();
    if let Some(previous) = context.previous_color
        && context.color.is_worse_than(previous)
    {
        alerts.push(AlertCandidate::new(
            AlertType::ColorDrop,
            format!("{previous} → {}", context.color),
        ));
    }
    if context
        .usage_trend
        .is_some_and(|ratio| ratio.is_finite() && ratio <= USAGE_DROP_RATIO)
    {
        alerts.push(AlertCandidate::new(
            AlertType::UsageDrop,
            "usage of the last 30 days at least 30 % below the average month of the 3 \
             months before"
                .to_owned(),
        ));
    }
    let mut seen: Vec<&str> = Vec::new();
    for id in context.new_detractor_response_ids {
        if seen.contains(&id.as_str()) {
            continue;
        }
        seen.push(id);
        alerts.push(AlertCandidate {
            kind: AlertType::Detractor,
            reason: format!("detractor response {id}"),
            survey_response_id: Some(id.clone()),
        });
    }
    if let Some(renewal) = context.renewal_date {
        let days = (renewal - context.today).num_days();
        if (0..=RENEWAL_WINDOW_DAYS).contains(&days) && context.color != HealthColor::Green {
            // The colour stays out of the reason: yellow turning red before the same
            // renewal is the same risk, and the colour drop has its own alert.
            alerts.push(AlertCandidate::new(
                AlertType::RenewalAtRisk,
                format!("renewal on {renewal} within {RENEWAL_WINDOW_DAYS} days while not green"),
            ));
        }
    }
    if !context.has_csm && is_new_account(context.start_date, context.today) {
        alerts.push(AlertCandidate::new(
            AlertType::UnassignedAccount,
            format!("new account (start {}) without CSM", context.start_date),
        ));
    }
    alerts
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    fn day(offset: i64) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 1).unwrap() + chrono::Duration::days(offset)
    }

    fn quiet() -> AlertContext<'static> {
        AlertContext {
            today: day(0),
            previous_color: Some(HealthColor::Green),
            color: HealthColor::Green,
            usage_trend: Some(1.0),
            renewal_date: Some(day(300)),
            start_date: day(-400),
            has_csm: true,
            new_detractor_response_ids: &[],
        }
    }

    fn kinds(context: &AlertContext<'_>) -> Vec<AlertType> {
        alerts(context).into_iter().map(|a| a.kind).collect()
    }

    fn reasons(context: &AlertContext<'_>) -> Vec<String> {
        alerts(context).into_iter().map(|a| a.reason).collect()
    }

    #[test]
    fn a_healthy_account_raises_nothing() {
        assert_eq!(alerts(&quiet()), []);
    }

    #[test]
    fn only_a_worse_color_is_a_drop() {
        use HealthColor::*;
        for (previous, color, raised) in [
            (Green, Yellow, true),
            (Green, Red, true),
            (Yellow, Red, true),
            (Red, Yellow, false),
            (Yellow, Green, false),
            (Red, Red, false),
        ] {
            let context = AlertContext {
                previous_color: Some(previous),
                color,
                ..quiet()
            };
            let drops: Vec<String> = alerts(&context)
                .into_iter()
                .filter(|a| a.kind == AlertType::ColorDrop)
                .map(|a| a.reason)
                .collect();
            let expected: Vec<String> = if raised {
                vec![format!("{previous} → {color}")]
            } else {
                vec![]
            };
            assert_eq!(drops, expected, "{previous} → {color}");
        }
        let drop = AlertContext {
            color: Red,
            ..quiet()
        };
        assert_eq!(reasons(&drop), ["GREEN → RED"]);
        let first = AlertContext {
            previous_color: None,
            color: Red,
            ..quiet()
        };
        assert_eq!(kinds(&first), []);
    }

    #[test]
    fn usage_drop_at_thirty_percent() {
        let with = |trend| AlertContext {
            usage_trend: trend,
            ..quiet()
        };
        assert_eq!(kinds(&with(Some(0.7))), [AlertType::UsageDrop]);
        assert_eq!(kinds(&with(Some(70.0 / 100.0))), [AlertType::UsageDrop]);
        assert_eq!(kinds(&with(Some(0.0))), [AlertType::UsageDrop]);
        assert_eq!(kinds(&with(Some(0.7001))), []);
        assert_eq!(kinds(&with(None)), []);
        assert_eq!(kinds(&with(Some(f64::NAN))), []);
        // A deeper drop is the same alert.
        assert_eq!(reasons(&with(Some(0.2))), reasons(&with(Some(0.69))));
    }

    #[test]
    fn each_detractor_response_once() {
        let ids = ["r-1".to_owned(), "r-2".to_owned(), "r-1".to_owned()];
        let context = AlertContext {
            new_detractor_response_ids: &ids,
            ..quiet()
        };
        let raised = alerts(&context);
        assert_eq!(raised.len(), 2);
        assert_eq!(raised[0].kind, AlertType::Detractor);
        assert_eq!(raised[0].reason, "detractor response r-1");
        assert_eq!(raised[0].survey_response_id.as_deref(), Some("r-1"));
        assert_eq!(raised[1].reason, "detractor response r-2");
        assert_eq!(raised[1].survey_response_id.as_deref(), Some("r-2"));
    }

    #[test]
    fn renewal_within_ninety_days_while_not_green() {
        let with = |offset: i64, color| AlertContext {
            renewal_date: Some(day(offset)),
            previous_color: Some(color),
            color,
            ..quiet()
        };
        for offset in [0, 1, 45, 90] {
            assert_eq!(
                kinds(&with(offset, HealthColor::Yellow)),
                [AlertType::RenewalAtRisk]
            );
            assert_eq!(
                kinds(&with(offset, HealthColor::Red)),
                [AlertType::RenewalAtRisk]
            );
            assert_eq!(kinds(&with(offset, HealthColor::Green)), []);
        }
        assert_eq!(kinds(&with(91, HealthColor::Red)), []);
        assert_eq!(kinds(&with(-1, HealthColor::Red)), []);
        assert_eq!(
            reasons(&with(30, HealthColor::Yellow)),
            ["renewal on 2026-03-31 within 90 days while not green"]
        );
        // Yellow turning red before the same renewal keeps the same reason.
        assert_eq!(
            reasons(&with(30, HealthColor::Yellow)),
            reasons(&with(30, HealthColor::Red))
        );
        let no_date = AlertContext {
            renewal_date: None,
            color: HealthColor::Red,
            previous_color: Some(HealthColor::Red),
            ..quiet()
        };
        assert_eq!(kinds(&no_date), []);
    }

    #[test]
    fn new_accounts_need_a_csm() {
        let with = |start: i64, has_csm| AlertContext {
            start_date: day(start),
            has_csm,
            ..quiet()
        };
        assert_eq!(kinds(&with(0, false)), [AlertType::UnassignedAccount]);
        assert_eq!(kinds(&with(-89, false)), [AlertType::UnassignedAccount]);
        assert_eq!(kinds(&with(30, false)), [AlertType::UnassignedAccount]);
        assert_eq!(kinds(&with(-90, false)), []);
        assert_eq!(kinds(&with(0, true)), []);
        assert_eq!(
            reasons(&with(-10, false)),
            ["new account (start 2026-02-19) without CSM"]
        );
        assert!(is_new_account(day(-89), day(0)));
        assert!(!is_new_account(day(-90), day(0)));
    }

    #[test]
    fn everything_at_once_in_type_order() {
        let ids = ["r-9".to_owned()];
        let context = AlertContext {
            today: day(0),
            previous_color: Some(HealthColor::Green),
            color: HealthColor::Red,
            usage_trend: Some(0.5),
            renewal_date: Some(day(10)),
            start_date: day(-5),
            has_csm: false,
            new_detractor_response_ids: &ids,
        };
        assert_eq!(kinds(&context), AlertType::ALL);
    }

    fn color() -> impl Strategy<Value = HealthColor> {
        prop::sample::select(HealthColor::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn reasons_depend_on_the_situation_only(
            previous in prop::option::of(color()),
            current in color(),
            trend in prop::option::of(0.0f64..2.0),
            other_trend in 0.0f64..0.7,
            renewal in prop::option::of(-30i64..400),
            start in -400i64..60,
            has_csm in any::<bool>(),
            later in 0i64..5,
        ) {
            let ids = ["r-1".to_owned()];
            let context = AlertContext {
                today: day(0),
                previous_color: previous,
                color: current,
                usage_trend: trend,
                renewal_date: renewal.map(day),
                start_date: day(start),
                has_csm,
                new_detractor_response_ids: &ids,
            };
            let first = alerts(&context);
            prop_assert_eq!(&first, &alerts(&context));
            // A different drop depth, or a recomputation a few days later that stays in
            // the same windows, changes no reason of the alerts both raise.
            let moved = AlertContext {
                today: day(later),
                usage_trend: trend.map(|t| if t <= USAGE_DROP_RATIO { other_trend } else { t }),
                ..context
            };
            for alert in alerts(&moved) {
                if let Some(same) = first.iter().find(|a| a.kind == alert.kind) {
                    prop_assert_eq!(&same.reason, &alert.reason);
                }
            }
        }
    }

    #[test]
    fn one_alert_per_type_keeps_the_last_reason_and_counts() {
        let context = AlertContext {
            usage_trend: Some(0.5),
            new_detractor_response_ids: &["r1".to_owned(), "r2".to_owned(), "r3".to_owned()],
            ..quiet()
        };
        let merged = one_per_type(alerts(&context));
        let summary: Vec<(AlertType, &str, u32)> = merged
            .iter()
            .map(|(c, n)| (c.kind, c.reason.as_str(), *n))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    AlertType::UsageDrop,
                    "usage of the last 30 days at least 30 % below the average month of the 3 months before",
                    1
                ),
                (AlertType::Detractor, "detractor response r3", 3),
            ]
        );
        assert_eq!(merged[1].0.survey_response_id.as_deref(), Some("r3"));
    }

    #[test]
    fn a_color_drop_clears_when_the_color_is_back() {
        use HealthColor::*;
        let now = |color| AlertContext { color, ..quiet() };
        assert_eq!(
            resolution(AlertType::ColorDrop, "GREEN → RED", &now(Yellow)),
            None
        );
        assert_eq!(
            resolution(AlertType::ColorDrop, "GREEN → RED", &now(Green)).as_deref(),
            Some("colour back to GREEN")
        );
        assert_eq!(
            resolution(AlertType::ColorDrop, "YELLOW → RED", &now(Yellow)).as_deref(),
            Some("colour back to YELLOW")
        );
        assert_eq!(
            resolution(AlertType::ColorDrop, "not a drop", &now(Green)),
            None
        );
    }

    #[test]
    fn usage_renewal_and_owner_alerts_clear_with_their_condition() {
        let trend = |t| AlertContext {
            usage_trend: t,
            ..quiet()
        };
        let usage = |c: &AlertContext<'_>| resolution(AlertType::UsageDrop, "", c);
        assert_eq!(usage(&trend(Some(0.7))), None);
        assert_eq!(usage(&trend(None)), None);
        assert!(usage(&trend(Some(0.71))).is_some());

        let renewal = |color, days: Option<i64>| AlertContext {
            color,
            renewal_date: days.map(day),
            ..quiet()
        };
        let at_risk = |c: &AlertContext<'_>| resolution(AlertType::RenewalAtRisk, "", c);
        assert_eq!(at_risk(&renewal(HealthColor::Red, Some(30))), None);
        assert_eq!(at_risk(&renewal(HealthColor::Red, Some(-3))), None);
        assert_eq!(
            at_risk(&renewal(HealthColor::Red, Some(400))).as_deref(),
            Some("renewal done: next renewal on 2027-04-05")
        );
        assert_eq!(
            at_risk(&renewal(HealthColor::Green, Some(30))).as_deref(),
            Some("account green again")
        );

        let owner = |has_csm| AlertContext { has_csm, ..quiet() };
        assert_eq!(
            resolution(AlertType::UnassignedAccount, "", &owner(false)),
            None
        );
        assert!(resolution(AlertType::UnassignedAccount, "", &owner(true)).is_some());
        assert_eq!(
            resolution(AlertType::Detractor, "detractor response r", &quiet()),
            None
        );
    }

    proptest! {
        /// A situation that raises an alert of a type never clears an open one of that
        /// type in the same computation: nothing is raised and resolved at once.
        #[test]
        fn what_is_raised_is_never_cleared_at_once(
            trend in prop::option::of(0.0f64..2.0),
            renewal in prop::option::of(-30i64..400),
            color in prop::sample::select(HealthColor::ALL.to_vec()),
            previous in prop::sample::select(HealthColor::ALL.to_vec()),
            has_csm in any::<bool>(),
            start in -400i64..30,
        ) {
            let context = AlertContext {
                usage_trend: trend,
                renewal_date: renewal.map(day),
                color,
                previous_color: Some(previous),
                has_csm,
                start_date: day(start),
                ..quiet()
            };
            for candidate in alerts(&context) {
                prop_assert_eq!(resolution(candidate.kind, &candidate.reason, &context), None);
            }
        }
    }
}
