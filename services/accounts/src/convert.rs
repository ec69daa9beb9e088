//! Between protobuf messages and the domain: parsing with field-level violations on the
//! way in, plain mapping on the way out.

use nordstern_domain::account::{ContractEventKind, LifecycleStage, Segment, Tier};
use nordstern_proto::{accounts::v1 as pb, common::v1 as common};
use nordstern_runtime::status::FieldViolations;

pub fn money(minor_units: i64, currency_code: &str) -> common::Money {
    common::Money {
        minor_units,
        currency_code: currency_code.to_owned(),
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
