//! Between protobuf messages and the domain: parsing with field-level violations on the
//! way in, plain mapping on the way out.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use nordstern_domain::{
    account::{ContractEventKind, LifecycleStage, Segment, Tier},
    validate,
};
use nordstern_proto::{accounts::v1 as pb, common::v1 as common};
use nordstern_runtime::status::FieldViolations;

pub const MAX_PAGE_SIZE: i32 = 1000;
pub const DEFAULT_PAGE_SIZE: i32 = 100;
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

pub fn money(minor_units: i64, currency_code: &str) -> common::Money {
    common::Money {
        minor_units,
        currency_code: currency_code.to_owned(),
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
        None => None,
        Some(common::Date {
            year: 0,
            month: 0,
            day: 0,
        }) => None,
        Some(date) => violations.check(field, validate::date(date.year, date.month, date.day)),
    }
}

/// An amount in the service's currency.
pub fn amount(
    violations: &mut FieldViolations,
    field: &str,
    money: Option<&common::Money>,
    currency_code: &str,
) -> Option<i64> {
    let money = money?;
    if money.currency_code != currency_code {
        violations.add(
            format!("{field}.currency_code"),
            format!("must be {currency_code}, the currency contract values are kept in"),
        );
        return None;
    }
    Some(money.minor_units)
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

pub fn new_id() -> String {
    uuid::Uuid::now_v7().hyphenated().to_string()
}

pub fn segment_from_proto(value: i32) -> Result<Segment, String> {
    match common::Segment::try_from(value) {
        Ok(common::Segment::Enterprise) => Ok(Segment::Enterprise),
        Ok(common::Segment::Sme) => Ok(Segment::Sme),
        Ok(common::Segment::Prosumer) => Ok(Segment::Prosumer),
        Ok(common::Segment::Unspecified) => {
            Err("is required (ENTERPRISE, SME or PROSUMER)".to_owned())
        }
        Err(_) => Err(format!("unknown segment value {value}")),
    }
}

/// A filter enum: unspecified means "no filter".
pub fn optional_segment(
    violations: &mut FieldViolations,
    field: &str,
    value: i32,
) -> Option<Segment> {
    if value == 0 {
        return None;
    }
    violations.check(field, segment_from_proto(value))
}

pub fn segment_to_proto(segment: Segment) -> common::Segment {
    match segment {
        Segment::Enterprise => common::Segment::Enterprise,
        Segment::Sme => common::Segment::Sme,
        Segment::Prosumer => common::Segment::Prosumer,
    }
}

pub fn optional_tier(violations: &mut FieldViolations, field: &str, value: i32) -> Option<Tier> {
    match common::Tier::try_from(value) {
        Ok(common::Tier::Unspecified) => None,
        Ok(common::Tier::A) => Some(Tier::A),
        Ok(common::Tier::B) => Some(Tier::B),
        Ok(common::Tier::C) => Some(Tier::C),
        Err(_) => {
            violations.add(field, format!("unknown tier value {value}"));
            None
        }
    }
}

pub fn tier_to_proto(tier: Tier) -> common::Tier {
    match tier {
        Tier::A => common::Tier::A,
        Tier::B => common::Tier::B,
        Tier::C => common::Tier::C,
    }
}

pub fn optional_lifecycle(
    violations: &mut FieldViolations,
    field: &str,
    value: i32,
) -> Option<LifecycleStage> {
    match common::LifecycleStage::try_from(value) {
        Ok(common::LifecycleStage::Unspecified) => None,
        Ok(common::LifecycleStage::Onboarding) => Some(LifecycleStage::Onboarding),
        Ok(common::LifecycleStage::Adoption) => Some(LifecycleStage::Adoption),
        Ok(common::LifecycleStage::Active) => Some(LifecycleStage::Active),
        Ok(common::LifecycleStage::RenewalDue) => Some(LifecycleStage::RenewalDue),
        Ok(common::LifecycleStage::Churned) => Some(LifecycleStage::Churned),
        Err(_) => {
            violations.add(field, format!("unknown lifecycle stage value {value}"));
            None
        }
    }
}

pub fn lifecycle_to_proto(stage: LifecycleStage) -> common::LifecycleStage {
    match stage {
        LifecycleStage::Onboarding => common::LifecycleStage::Onboarding,
        LifecycleStage::Adoption => common::LifecycleStage::Adoption,
        LifecycleStage::Active => common::LifecycleStage::Active,
        LifecycleStage::RenewalDue => common::LifecycleStage::RenewalDue,
        LifecycleStage::Churned => common::LifecycleStage::Churned,
    }
}

pub fn contract_kind_from_proto(value: i32) -> Result<ContractEventKind, String> {
    match pb::ContractEventKind::try_from(value) {
        Ok(pb::ContractEventKind::New) => Ok(ContractEventKind::New),
        Ok(pb::ContractEventKind::Expansion) => Ok(ContractEventKind::Expansion),
        Ok(pb::ContractEventKind::Contraction) => Ok(ContractEventKind::Contraction),
        Ok(pb::ContractEventKind::Renewal) => Ok(ContractEventKind::Renewal),
        Ok(pb::ContractEventKind::Churn) => Ok(ContractEventKind::Churn),
        Ok(pb::ContractEventKind::Unspecified) => {
            Err("is required (NEW, EXPANSION, CONTRACTION, RENEWAL or CHURN)".to_owned())
        }
        Err(_) => Err(format!("unknown contract event kind {value}")),
    }
}

pub fn contract_kind_to_proto(kind: ContractEventKind) -> pb::ContractEventKind {
    match kind {
        ContractEventKind::New => pb::ContractEventKind::New,
        ContractEventKind::Expansion => pb::ContractEventKind::Expansion,
        ContractEventKind::Contraction => pb::ContractEventKind::Contraction,
        ContractEventKind::Renewal => pb::ContractEventKind::Renewal,
        ContractEventKind::Churn => pb::ContractEventKind::Churn,
    }
}

/// Page size with the documented default and cap.
pub fn page_size(violations: &mut FieldViolations, requested: i32) -> u64 {
    match requested {
        0 => DEFAULT_PAGE_SIZE as u64,
        1..=MAX_PAGE_SIZE => requested as u64,
        _ => {
            violations.add(
                "page_size",
                format!("must be between 0 and {MAX_PAGE_SIZE}"),
            );
            DEFAULT_PAGE_SIZE as u64
        }
    }
}

/// Page tokens are the last id of the previous page (ids are time-ordered UUIDv7).
pub fn page_token(violations: &mut FieldViolations, token: &str) -> Option<String> {
    if token.is_empty() {
        return None;
    }
    violations.check(
        "page_token",
        uuid(token).map_err(|_| "is not a token this service issued".to_owned()),
    )
}
