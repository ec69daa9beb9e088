//! Scoring types between protobuf and the domain.

use chrono::{DateTime, Utc};
use nordstern_domain::{
    churn::{self, Coefficient, Model},
    health::{
        ColorThresholds, RawComponentWeight, RawScoringConfig, RawSegmentWeights, ScoringConfig,
    },
};
use nordstern_proto::{common::v1 as common, scoring::v1 as pb};
use nordstern_runtime::wire::timestamp;
// The enums every scoring module converts, and the one bridge that converts them.
pub use nordstern_domain::{
    account::{Segment, Tier},
    health::{HealthColor, HealthComponent, alerts::AlertType},
};
pub use nordstern_runtime::bridge::{self, ProtoEnum};

/// An amount as the scoring messages carry it (an optional field).
pub fn optional_money(minor_units: i64, currency_code: &str) -> Option<common::Money> {
    Some(nordstern_runtime::wire::money(minor_units, currency_code))
}

/// A date as the other services send it; `None` when unset or not a calendar day.
pub fn date_from_proto(value: Option<&common::Date>) -> Option<chrono::NaiveDate> {
    let value = value?;
    chrono::NaiveDate::from_ymd_opt(
        value.year,
        u32::try_from(value.month).ok()?,
        u32::try_from(value.day).ok()?,
    )
}

pub fn config_to_proto(
    config: &ScoringConfig,
    version: i32,
    created_at: DateTime<Utc>,
) -> pb::ScoringConfig {
    let raw = config.to_raw();
    pb::ScoringConfig {
        version,
        segment_weights: raw
            .segment_weights
            .iter()
            .map(|entry| pb::SegmentWeights {
                segment: entry
                    .segment
                    .map_or(common::Segment::Unspecified, Segment::to_proto)
                    as i32,
                weights: entry
                    .weights
                    .iter()
                    .filter_map(|weight| {
                        Some(pb::ComponentWeight {
                            component: bridge::to_i32(weight.component?),
                            weight: weight.weight,
                        })
                    })
                    .collect(),
            })
            .collect(),
        color_thresholds: Some(pb::ColorThresholds {
            green_min: config.thresholds().green_min,
            yellow_min: config.thresholds().yellow_min,
        }),
        created_at: Some(timestamp(created_at)),
    }
}

/// The raw form the domain validates; an unknown segment number is reported here
/// because the domain cannot tell it from "unspecified".
pub fn raw_config_from_proto(
    config: &pb::ScoringConfig,
    violations: &mut Vec<(String, String)>,
) -> RawScoringConfig {
    RawScoringConfig {
        segment_weights: config
            .segment_weights
            .iter()
            .enumerate()
            .map(|(at, entry)| {
                if common::Segment::try_from(entry.segment).is_err() {
                    violations.push((
                        format!("config.segment_weights[{at}].segment"),
                        format!("unknown segment {}", entry.segment),
                    ));
                }
                RawSegmentWeights {
                    segment: Segment::from_i32(entry.segment),
                    weights: entry
                        .weights
                        .iter()
                        .map(|weight| RawComponentWeight {
                            component: HealthComponent::from_i32(weight.component),
                            weight: weight.weight,
                        })
                        .collect(),
                }
            })
            .collect(),
        color_thresholds: config.color_thresholds.as_ref().map(|t| ColorThresholds {
            green_min: t.green_min,
            yellow_min: t.yellow_min,
        }),
    }
}

/// What a stored model carries besides its coefficients.
#[derive(Debug, Clone)]
pub struct ModelMeta {
    pub model_id: String,
    pub version: i32,
    pub source: pb::ChurnModelSource,
    pub trained_at: Option<DateTime<Utc>>,
    pub label_column: String,
    pub training_duration: Option<std::time::Duration>,
}

pub fn model_to_proto(model: &Model, meta: &ModelMeta, active: bool) -> pb::ChurnModel {
    pb::ChurnModel {
        model_id: meta.model_id.clone(),
        version: meta.version,
        source: meta.source as i32,
        active,
        trained_at: meta.trained_at.map(timestamp),
        numeric_columns: model.numeric_columns().to_vec(),
        categorical_columns: model.categorical_columns().to_vec(),
        label_column: meta.label_column.clone(),
        intercept: model.intercept(),
        coefficients: model
            .coefficients()
            .iter()
            .map(|c| pb::ModelCoefficient {
                feature: c.feature.clone(),
                coefficient: c.coefficient,
                mean: c.mean,
                standard_deviation: c.standard_deviation,
            })
            .collect(),
        evaluation: model.evaluation().map(|e| pb::ModelEvaluation {
            auc: e.auc,
            brier_score: e.brier_score,
            training_samples: clamp_i32(e.training_samples),
            held_out_samples: clamp_i32(e.held_out_samples),
            churned_samples: clamp_i32(e.churned_samples),
            training_duration: meta.training_duration.and_then(|d| d.try_into().ok()),
        }),
        activatable: churn::is_activatable(model),
    }
}

/// A stored model back into the domain; the evaluation stays in the stored message.
pub fn model_from_proto(stored: &pb::ChurnModel) -> Result<Model, String> {
    Model::from_parts(
        stored.numeric_columns.clone(),
        stored.categorical_columns.clone(),
        stored.intercept,
        stored
            .coefficients
            .iter()
            .map(|c| Coefficient {
                feature: c.feature.clone(),
                coefficient: c.coefficient,
                mean: c.mean,
                standard_deviation: c.standard_deviation,
            })
            .collect(),
        None,
    )
    .map_err(|error| error.0)
}

/// A prediction's drivers as the API shows them.
pub fn drivers_to_proto(drivers: Vec<nordstern_domain::churn::Driver>) -> Vec<pb::ChurnDriver> {
    drivers
        .into_iter()
        .map(|d| pb::ChurnDriver {
            feature: d.feature,
            value: d.value,
            contribution: d.contribution,
        })
        .collect()
}

pub fn clamp_i32(value: usize) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}
