//! One bridge between each domain enum and its protobuf enum, whose names differ only by
//! the proto's prefix (`SEGMENT_SME` ↔ `Segment::Sme`): both directions generated once
//! by [`bridge!`], and one way to read a required or an optional enum field.

use nordstern_domain::{
    account::{ContractEventKind, LifecycleStage, Segment, Tier},
    health::{
        HealthColor, HealthComponent,
        alerts::{AlertStatus, AlertType},
    },
    survey::{ChurnReason, NpsCategory, SurveyKind, Touchpoint},
    usage::EventKind,
    webhook::{DeliveryStatus, PayloadFormat},
};
use nordstern_proto::{
    accounts::v1 as accounts, common::v1 as common, scoring::v1 as scoring, survey::v1 as survey,
    usage::v1 as usage, webhooks::v1 as webhooks,
};

use crate::status::FieldViolations;

/// A domain enum with a protobuf twin (whose zero value is `…_UNSPECIFIED`).
pub trait ProtoEnum: Copy + Sized + 'static {
    type Proto: Copy + Into<i32>;
    /// What errors call it: "segment", "alert type".
    const WHAT: &'static str;
    /// Every value's name, for "is required (A, B or C)".
    const NAMES: &'static [&'static str];
    fn to_proto(self) -> Self::Proto;
    /// `None` for UNSPECIFIED and for numbers the proto does not define.
    fn from_i32(value: i32) -> Option<Self>;
}

/// The wire value of a domain enum.
pub fn to_i32<T: ProtoEnum>(value: T) -> i32 {
    value.to_proto().into()
}

/// A field that must be set.
pub fn required<T: ProtoEnum>(value: i32) -> Result<T, String> {
    match (value, T::from_i32(value)) {
        (_, Some(parsed)) => Ok(parsed),
        (0, None) => Err(format!("is required ({})", listing(T::NAMES))),
        (_, None) => Err(format!("unknown {} {value}", T::WHAT)),
    }
}

/// A field (or a filter) where UNSPECIFIED means "none"; an unknown number is an error.
pub fn optional<T: ProtoEnum>(value: i32) -> Result<Option<T>, String> {
    match value {
        0 => Ok(None),
        _ => T::from_i32(value)
            .map(Some)
            .ok_or_else(|| format!("unknown {} {value}", T::WHAT)),
    }
}

/// [`optional`], recording an unknown number as a violation of `field`.
pub fn optional_field<T: ProtoEnum>(
    violations: &mut FieldViolations,
    field: &str,
    value: i32,
) -> Option<T> {
    violations.check(field, optional(value)).flatten()
}

/// [`required`], recording the problem as a violation of `field`.
pub fn required_field<T: ProtoEnum>(
    violations: &mut FieldViolations,
    field: &str,
    value: i32,
) -> Option<T> {
    violations.check(field, required(value))
}

/// `A, B or C`.
fn listing(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [only] => (*only).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// Implements [`ProtoEnum`] for domain enums whose variants are named like the proto's.
macro_rules! bridge {
    ($($domain:ident => $proto:ty, $what:literal { $($variant:ident),+ $(,)? })*) => {$(
        impl ProtoEnum for $domain {
            type Proto = $proto;
            const WHAT: &'static str = $what;
            const NAMES: &'static [&'static str] = &[$($domain::$variant.as_str()),+];

            fn to_proto(self) -> $proto {
                match self {
                    $($domain::$variant => <$proto>::$variant),+
                }
            }

            fn from_i32(value: i32) -> Option<Self> {
                match <$proto>::try_from(value).ok()? {
                    $(<$proto>::$variant => Some($domain::$variant),)+
                    _ => None,
                }
            }
        }
    )*};
}

bridge! {
    Segment => common::Segment, "segment" { Enterprise, Sme, Prosumer }
    Tier => common::Tier, "tier" { A, B, C }
    LifecycleStage => common::LifecycleStage, "lifecycle stage" {
        Onboarding, Adoption, Active, RenewalDue, Churned
    }
    HealthColor => common::HealthColor, "health color" { Green, Yellow, Red }
    ContractEventKind => accounts::ContractEventKind, "contract event kind" {
        New, Expansion, Contraction, Renewal, Churn
    }
    HealthComponent => scoring::HealthComponent, "health component" {
        LoginRegularity, FeatureBreadth, Integration, UsageTrend, PeerPercentile, Nps, Ces,
        SupportLoad, TimeToRenewal
    }
    AlertType => scoring::AlertType, "alert type" {
        ColorDrop, UsageDrop, Detractor, RenewalAtRisk, UnassignedAccount
    }
    AlertStatus => scoring::AlertStatus, "alert status" { Open, Acknowledged, Resolved }
    SurveyKind => survey::SurveyKind, "survey kind" { Nps, Ces, Csat }
    Touchpoint => survey::Touchpoint, "touchpoint" {
        Onboarding, Support, Renewal, Quarterly, Cancellation
    }
    ChurnReason => survey::ChurnReason, "churn reason" {
        TooExpensive, MissingFeatures, ProductQuality, PoorSupport, SwitchedToCompetitor,
        LowUsage, BudgetCuts, BusinessClosed, Other
    }
    NpsCategory => survey::NpsCategory, "NPS category" { Promoter, Passive, Detractor }
    EventKind => usage::UsageEventKind, "event kind" {
        Login, FeatureUsed, IntegrationSync, TicketOpened, TicketResolved
    }
    DeliveryStatus => webhooks::DeliveryStatus, "delivery status" { Pending, Delivered, Dead }
    PayloadFormat => webhooks::PayloadFormat, "payload format" { Standard, Slack }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T: ProtoEnum + PartialEq + std::fmt::Debug>(all: &[T]) {
        for value in all {
            assert_eq!(T::from_i32(to_i32(*value)), Some(*value));
            assert_eq!(required::<T>(to_i32(*value)), Ok(*value));
        }
        assert_eq!(T::NAMES.len(), all.len());
        assert!(required::<T>(0).is_err_and(|e| e.starts_with("is required (")));
        assert_eq!(optional::<T>(0), Ok(None));
        assert!(optional::<T>(9_999).is_err_and(|e| e == format!("unknown {} 9999", T::WHAT)));
    }

    #[test]
    fn every_domain_enum_round_trips_through_its_proto() {
        round_trips(&Segment::ALL);
        round_trips(&Tier::ALL);
        round_trips(&LifecycleStage::ALL);
        round_trips(&HealthColor::ALL);
        round_trips(&ContractEventKind::ALL);
        round_trips(&HealthComponent::ALL);
        round_trips(&AlertType::ALL);
        round_trips(&AlertStatus::ALL);
        round_trips(&SurveyKind::ALL);
        round_trips(&Touchpoint::ALL);
        round_trips(&ChurnReason::ALL);
        round_trips(&NpsCategory::ALL);
        round_trips(&EventKind::ALL);
        round_trips(&DeliveryStatus::ALL);
        round_trips(&PayloadFormat::ALL);
    }

    #[test]
    fn required_fields_name_their_choices() {
        assert_eq!(
            required::<Segment>(0),
            Err("is required (ENTERPRISE, SME or PROSUMER)".to_owned())
        );
        assert_eq!(
            required::<ContractEventKind>(0),
            Err("is required (NEW, EXPANSION, CONTRACTION, RENEWAL or CHURN)".to_owned())
        );
        let mut violations = FieldViolations::new();
        assert_eq!(optional_field::<Tier>(&mut violations, "tier", 7), None);
        assert_eq!(
            violations.violations()[0],
            ("tier".to_owned(), "unknown tier 7".to_owned())
        );
    }
}
