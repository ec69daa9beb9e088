//! Platform features (what the platform knows about every live account, and so the
//! columns a model needs to score accounts), and the built-in default model.

use crate::account::{Segment, Tier};

use super::{Coefficient, FeatureValues, Model};

/// `arr` in major currency units; the rest are health components, 0–100, higher is
/// healthier (`support_load` high = little load, `time_to_renewal` low = renewal close).
pub const PLATFORM_NUMERIC_FEATURES: [&str; 10] = [
    "arr",
    "login_regularity",
    "feature_breadth",
    "integration",
    "usage_trend",
    "peer_percentile",
    "nps",
    "ces",
    "support_load",
    "time_to_renewal",
];
/// Values are the stored names, e.g. `ENTERPRISE` and `A`.
pub const PLATFORM_CATEGORICAL_FEATURES: [&str; 2] = ["segment", "tier"];

/// Whether a model can score live accounts: every column is a platform feature of its
/// kind. Others report their metrics but cannot be activated.
pub fn is_activatable(model: &Model) -> bool {
    model
        .numeric_columns()
        .iter()
        .all(|c| PLATFORM_NUMERIC_FEATURES.contains(&c.as_str()))
        && model
            .categorical_columns()
            .iter()
            .all(|c| PLATFORM_CATEGORICAL_FEATURES.contains(&c.as_str()))
}

/// ln(0.15 / 0.85): an account at every mean churns with probability 15 %, a typical
/// annual churn rate for B2B SaaS.
const DEFAULT_INTERCEPT: f64 = -1.734_601_055_388_106_4;

/// The default model's terms: (feature, log-odds per standard deviation, mean,
/// standard deviation). Every sign is negative because every feature is "more is
/// better"; the sizes rank what practice shows matters most.
const DEFAULT_TERMS: [(&str, f64, f64, f64); 10] = [
    // Contract value: typical SME/mid-market ARR around 30,000 with a long right tail.
    // The wide standard deviation makes the effect gentle, close to logarithmic over
    // the usual range, so a large account is not declared safe on size alone.
    ("arr", -0.30, 30_000.0, 40_000.0),
    // Regular logins are the most direct sign that the product is part of the routine.
    ("login_regularity", -0.45, 50.0, 25.0),
    // Using few of the purchased features leaves the customer paying for shelfware.
    ("feature_breadth", -0.40, 50.0, 25.0),
    // Mostly 0 or 100 (live or not), hence the wide spread; integrations add switching
    // cost but matter less than use itself.
    ("integration", -0.25, 50.0, 40.0),
    // Falling usage is the strongest early warning; 50 is a flat trend.
    ("usage_trend", -0.55, 50.0, 20.0),
    // A percentile is uniform on 0–100: standard deviation 100/√12 ≈ 29.
    ("peer_percentile", -0.20, 50.0, 29.0),
    // Detractors churn; on the 0–100 scale 50 is an NPS of 0.
    ("nps", -0.35, 50.0, 25.0),
    // Effort matters, but CES is answered by few and mostly after support contacts.
    ("ces", -0.15, 50.0, 25.0),
    // Most accounts have little support load (high scores); a low score means many
    // tickets or slow resolution.
    ("support_load", -0.30, 70.0, 20.0),
    // A close renewal (low score) is when dissatisfaction turns into cancellation.
    ("time_to_renewal", -0.25, 50.0, 30.0),
];

/// The built-in model that applies until one is trained: the platform's numeric
/// features with the terms documented above, no categories, no evaluation. A missing
/// component (no survey yet) sits at its mean and contributes nothing.
pub fn default_model() -> Model {
    let coefficients = DEFAULT_TERMS
        .iter()
        .map(
            |&(feature, coefficient, mean, standard_deviation)| Coefficient {
                feature: feature.to_owned(),
                coefficient,
                mean,
                standard_deviation,
            },
        )
        .collect();
    let columns = DEFAULT_TERMS
        .iter()
        .map(|(feature, ..)| (*feature).to_owned())
        .collect();
    match Model::from_parts(columns, Vec::new(), DEFAULT_INTERCEPT, coefficients, None) {
        Ok(model) => model,
        // The terms are constants checked by the tests; this arm cannot be reached.
        Err(error) => unreachable!("{error}"),
    }
}

/// What the platform knows about one account, in model terms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlatformFeatures {
    /// Major currency units (ARR in minor units / 10^decimals).
    pub arr: Option<f64>,
    /// Health component values by feature name, 0–100; a component without a value
    /// (no survey yet) is left out.
    pub components: Vec<(&'static str, f64)>,
    pub segment: Option<Segment>,
    pub tier: Option<Tier>,
}

impl PlatformFeatures {
    /// Sets a health component by its lower-case name (`HealthComponent` without the
    /// prefix); false when the name is not a component.
    pub fn set_component(&mut self, name: &str, value: Option<f64>) -> bool {
        let Some(&known) = PLATFORM_NUMERIC_FEATURES[1..].iter().find(|&&n| n == name) else {
            return false;
        };
        self.components.retain(|(n, _)| *n != known);
        if let Some(value) = value {
            self.components.push((known, value));
        }
        true
    }

    pub fn feature_values(&self) -> FeatureValues {
        let mut values = FeatureValues::new().with_numeric("arr", self.arr);
        for &(name, value) in &self.components {
            values = values.with_numeric(name, Some(value));
        }
        if let Some(segment) = self.segment {
            values = values.with_categorical("segment", segment.as_str());
        }
        if let Some(tier) = self.tier {
            values = values.with_categorical("tier", tier.as_str());
        }
        values
    }
}

/// ARR in major units from the minor units it is stored in.
pub fn arr_in_major_units(arr_minor: i64, currency_decimals: u32) -> f64 {
    arr_minor as f64 / 10f64.powi(currency_decimals.min(18) as i32)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn middling() -> PlatformFeatures {
        let mut features = PlatformFeatures {
            arr: Some(30_000.0),
            ..PlatformFeatures::default()
        };
        for &(name, _, mean, _) in &DEFAULT_TERMS[1..] {
            assert!(features.set_component(name, Some(mean)));
        }
        features
    }

    #[test]
    fn the_default_model_is_over_platform_features_and_activatable() {
        let model = default_model();
        assert_eq!(
            model.numeric_columns(),
            PLATFORM_NUMERIC_FEATURES.map(str::to_owned)
        );
        assert!(model.categorical_columns().is_empty());
        assert!(is_activatable(&model));
        assert!(model.evaluation().is_none());
        assert!((DEFAULT_INTERCEPT - (0.15f64 / 0.85).ln()).abs() < 1e-15);
    }

    #[test]
    fn a_middling_account_has_fifteen_percent() {
        let p = default_model().predict_probability(&middling().feature_values());
        assert!((p - 0.15).abs() < 1e-12, "{p}");
        // No data at all is middling too.
        let p = default_model().predict_probability(&FeatureValues::new());
        assert!((p - 0.15).abs() < 1e-12, "{p}");
    }

    #[test]
    fn signs_follow_practice() {
        let model = default_model();
        let base = model.predict_probability(&middling().feature_values());
        let moved = |name: &str, value: f64| {
            let mut features = middling();
            if name == "arr" {
                features.arr = Some(value);
            } else {
                features.set_component(name, Some(value));
            }
            model.predict_probability(&features.feature_values())
        };
        assert!(moved("arr", 200_000.0) < base);
        assert!(moved("usage_trend", 80.0) < base);
        assert!(moved("login_regularity", 90.0) < base);
        assert!(moved("nps", 10.0) > base);
        assert!(moved("feature_breadth", 10.0) > base);
        assert!(moved("support_load", 10.0) > base);
        assert!(moved("time_to_renewal", 5.0) > base);
        // An account in trouble everywhere is very likely to churn, a thriving one not.
        let mut troubled = PlatformFeatures {
            arr: Some(5_000.0),
            ..PlatformFeatures::default()
        };
        let mut thriving = PlatformFeatures {
            arr: Some(100_000.0),
            ..PlatformFeatures::default()
        };
        for name in &PLATFORM_NUMERIC_FEATURES[1..] {
            troubled.set_component(name, Some(20.0));
            thriving.set_component(name, Some(85.0));
        }
        assert!(model.predict_probability(&troubled.feature_values()) > 0.8);
        assert!(model.predict_probability(&thriving.feature_values()) < 0.01);
    }

    #[test]
    fn platform_features_become_feature_values() {
        let mut features = PlatformFeatures {
            arr: Some(arr_in_major_units(1_234_500, 2)),
            segment: Some(Segment::Sme),
            tier: Some(Tier::B),
            ..PlatformFeatures::default()
        };
        assert!(features.set_component("nps", Some(40.0)));
        assert!(features.set_component("nps", Some(45.0)));
        assert!(features.set_component("ces", None));
        assert!(!features.set_component("arr", Some(1.0)));
        assert!(!features.set_component("segment", Some(1.0)));
        let values = features.feature_values();
        assert_eq!(values.numeric.get("arr"), Some(&Some(12_345.0)));
        assert_eq!(values.numeric.get("nps"), Some(&Some(45.0)));
        assert_eq!(values.numeric.get("ces"), None);
        assert_eq!(
            values.categorical.get("segment").map(String::as_str),
            Some("SME")
        );
        assert_eq!(
            values.categorical.get("tier").map(String::as_str),
            Some("B")
        );
        assert_eq!(arr_in_major_units(500, 0), 500.0);
    }

    #[test]
    fn activatable_needs_every_column_to_be_a_platform_feature_of_its_kind() {
        let model = |numeric: &[&str], categorical: &[&str]| {
            let coefficients = numeric
                .iter()
                .map(|n| Coefficient {
                    feature: (*n).to_owned(),
                    coefficient: 1.0,
                    mean: 0.0,
                    standard_deviation: 1.0,
                })
                .collect();
            Model::from_parts(
                numeric.iter().map(|s| (*s).to_owned()).collect(),
                categorical.iter().map(|s| (*s).to_owned()).collect(),
                0.0,
                coefficients,
                None,
            )
            .unwrap()
        };
        assert!(is_activatable(&model(
            &["arr", "nps"],
            &["segment", "tier"]
        )));
        assert!(!is_activatable(&model(&["arr", "seats"], &[])));
        assert!(!is_activatable(&model(&["arr"], &["region"])));
        assert!(!is_activatable(&model(&["segment"], &[])));
        assert!(!is_activatable(&model(&[], &["arr"])));
    }

    proptest! {
        #[test]
        fn more_arr_or_rising_usage_never_raises_the_probability(
            arr in 0.0f64..5e7,
            more_arr in 0.0f64..5e7,
            trend in 0.0f64..=100.0,
            more_trend in 0.0f64..=100.0,
            others in proptest::collection::vec(proptest::option::of(0.0f64..=100.0), 9),
        ) {
            let model = default_model();
            let probability = |arr: f64, trend: f64| {
                let mut features = PlatformFeatures { arr: Some(arr), ..PlatformFeatures::default() };
                for (name, value) in PLATFORM_NUMERIC_FEATURES[1..].iter().zip(&others) {
                    features.set_component(name, *value);
                }
                features.set_component("usage_trend", Some(trend));
                model.predict_probability(&features.feature_values())
            };
            let p = probability(arr, trend);
            prop_assert!(p > 0.0 && p < 1.0);
            prop_assert!(probability(arr + more_arr, trend) <= p);
            prop_assert!(probability(arr, (trend + more_trend).min(100.0)) <= p);
        }
    }
}
