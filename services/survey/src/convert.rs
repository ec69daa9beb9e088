//! Survey enums between protobuf and the domain.

use nordstern_domain::survey::{ChurnReason, NpsCategory, SurveyKind, Touchpoint};
use nordstern_proto::{common::v1 as common, survey::v1 as pb};

pub fn kind_from_proto(value: i32) -> Result<Option<SurveyKind>, String> {
    match pb::SurveyKind::try_from(value) {
        Ok(pb::SurveyKind::Unspecified) => Ok(None),
        Ok(pb::SurveyKind::Nps) => Ok(Some(SurveyKind::Nps)),
        Ok(pb::SurveyKind::Ces) => Ok(Some(SurveyKind::Ces)),
        Ok(pb::SurveyKind::Csat) => Ok(Some(SurveyKind::Csat)),
        Err(_) => Err(format!("unknown survey kind {value}")),
    }
}

pub fn kind_to_proto(kind: SurveyKind) -> pb::SurveyKind {
    match kind {
        SurveyKind::Nps => pb::SurveyKind::Nps,
        SurveyKind::Ces => pb::SurveyKind::Ces,
        SurveyKind::Csat => pb::SurveyKind::Csat,
    }
}

pub fn touchpoint_from_proto(value: i32) -> Result<Option<Touchpoint>, String> {
    match pb::Touchpoint::try_from(value) {
        Ok(pb::Touchpoint::Unspecified) => Ok(None),
        Ok(pb::Touchpoint::Onboarding) => Ok(Some(Touchpoint::Onboarding)),
        Ok(pb::Touchpoint::Support) => Ok(Some(Touchpoint::Support)),
        Ok(pb::Touchpoint::Renewal) => Ok(Some(Touchpoint::Renewal)),
        Ok(pb::Touchpoint::Quarterly) => Ok(Some(Touchpoint::Quarterly)),
        Ok(pb::Touchpoint::Cancellation) => Ok(Some(Touchpoint::Cancellation)),
        Err(_) => Err(format!("unknown touchpoint {value}")),
    }
}

pub fn touchpoint_to_proto(touchpoint: Touchpoint) -> pb::Touchpoint {
    match touchpoint {
        Touchpoint::Onboarding => pb::Touchpoint::Onboarding,
        Touchpoint::Support => pb::Touchpoint::Support,
        Touchpoint::Renewal => pb::Touchpoint::Renewal,
        Touchpoint::Quarterly => pb::Touchpoint::Quarterly,
        Touchpoint::Cancellation => pb::Touchpoint::Cancellation,
    }
}

pub fn churn_reason_from_proto(value: i32) -> Result<Option<ChurnReason>, String> {
    use pb::ChurnReason as P;
    Ok(Some(match P::try_from(value) {
        Ok(P::Unspecified) => return Ok(None),
        Ok(P::TooExpensive) => ChurnReason::TooExpensive,
        Ok(P::MissingFeatures) => ChurnReason::MissingFeatures,
        Ok(P::ProductQuality) => ChurnReason::ProductQuality,
        Ok(P::PoorSupport) => ChurnReason::PoorSupport,
        Ok(P::SwitchedToCompetitor) => ChurnReason::SwitchedToCompetitor,
        Ok(P::LowUsage) => ChurnReason::LowUsage,
        Ok(P::BudgetCuts) => ChurnReason::BudgetCuts,
        Ok(P::BusinessClosed) => ChurnReason::BusinessClosed,
        Ok(P::Other) => ChurnReason::Other,
        Err(_) => return Err(format!("unknown churn reason {value}")),
    }))
}

pub fn churn_reason_to_proto(reason: ChurnReason) -> pb::ChurnReason {
    use pb::ChurnReason as P;
    match reason {
        ChurnReason::TooExpensive => P::TooExpensive,
        ChurnReason::MissingFeatures => P::MissingFeatures,
        ChurnReason::ProductQuality => P::ProductQuality,
        ChurnReason::PoorSupport => P::PoorSupport,
        ChurnReason::SwitchedToCompetitor => P::SwitchedToCompetitor,
        ChurnReason::LowUsage => P::LowUsage,
        ChurnReason::BudgetCuts => P::BudgetCuts,
        ChurnReason::BusinessClosed => P::BusinessClosed,
        ChurnReason::Other => P::Other,
    }
}

pub fn nps_category_to_proto(category: NpsCategory) -> pb::NpsCategory {
    match category {
        NpsCategory::Promoter => pb::NpsCategory::Promoter,
        NpsCategory::Passive => pb::NpsCategory::Passive,
        NpsCategory::Detractor => pb::NpsCategory::Detractor,
    }
}

/// Stored language names; unspecified means English.
pub fn language_from_proto(value: i32) -> Result<&'static str, String> {
    match common::Language::try_from(value) {
        Ok(common::Language::German) => Ok("GERMAN"),
        Ok(common::Language::English | common::Language::Unspecified) => Ok("ENGLISH"),
        Err(_) => Err(format!("unknown language {value}")),
    }
}

pub fn language_to_proto(stored: &str) -> common::Language {
    if stored == "GERMAN" {
        common::Language::German
    } else {
        common::Language::English
    }
}
