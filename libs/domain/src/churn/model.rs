//! A churn model and what it says about one account: the probability, the log-odds and
//! the features that moved it.

use std::collections::BTreeMap;

use super::{Dataset, check_column_name};

/// Most drivers reported with a prediction.
pub const MAX_DRIVERS: usize = 5;

/// Probabilities are kept this far from 0 and 1: a logistic model never has grounds for
/// certainty, and an exact 0 or 1 would read as such in a risk list.
const PROBABILITY_MARGIN: f64 = 1e-12;

/// Bounds on a standardised value and on one contribution. Inputs billions of standard
/// deviations out (a typo, a unit mix-up) must still give a finite logit rather than
/// ∞ − ∞; any bound far beyond the ±40 log-odds where the sigmoid saturates would do.
const MAX_STANDARDISED: f64 = 1e9;
const MAX_CONTRIBUTION: f64 = 1e6;

/// One feature's weight, as in `ModelCoefficient`.
#[derive(Debug, Clone, PartialEq)]
pub struct Coefficient {
    /// A numeric column name, or `column=value` for a one-hot category.
    pub feature: String,
    /// Log-odds per standard deviation (numeric) or for having the category (one-hot).
    pub coefficient: f64,
    /// Training mean of a numeric feature; 0 for categories.
    pub mean: f64,
    /// Training standard deviation of a numeric feature (1 when it was constant); 1 for
    /// categories.
    pub standard_deviation: f64,
}

/// Held-out quality of a trained model, as in `ModelEvaluation` (without the duration,
/// which the caller measures).
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// `None` when the held-out rows hold one class only.
    pub auc: Option<f64>,
    /// `None` without held-out rows.
    pub brier_score: Option<f64>,
    pub training_samples: usize,
    pub held_out_samples: usize,
    /// Rows labelled churned, over both sets.
    pub churned_samples: usize,
}

/// Why stored model parts do not make a model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid churn model: {0}")]
pub struct ModelError(pub String);

/// An account's features by name. A numeric feature that is absent, `None` or not
/// finite is missing and scored at the training mean; a category that is absent, empty
/// or not seen in training contributes nothing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FeatureValues {
    pub numeric: BTreeMap<String, Option<f64>>,
    pub categorical: BTreeMap<String, String>,
}

impl FeatureValues {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_numeric(mut self, name: impl Into<String>, value: Option<f64>) -> Self {
        self.numeric.insert(name.into(), value);
        self
    }

    pub fn with_categorical(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.categorical.insert(name.into(), value.into());
        self
    }
}

/// One feature's part in a prediction, as in `ChurnDriver`.
#[derive(Debug, Clone, PartialEq)]
pub struct Driver {
    /// A numeric feature name, or `column=value` for a category.
    pub feature: String,
    /// The account's raw value; `None` for categories.
    pub value: Option<f64>,
    /// Coefficient × standardised value, in log-odds; positive raises the probability.
    pub contribution: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Within (0, 1).
    pub probability: f64,
    /// Log-odds: the intercept plus every contribution.
    pub logit: f64,
    /// Up to [`MAX_DRIVERS`] non-zero contributions, largest in absolute value first.
    pub top_drivers: Vec<Driver>,
}

/// A logistic-regression churn model. The parts are private so that the lookup tables
/// built from the coefficients can never disagree with them; build one with
/// [`super::train`], [`super::default_model`] or [`Model::from_parts`] (from storage).
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    numeric_columns: Vec<String>,
    categorical_columns: Vec<String>,
    intercept: f64,
    coefficients: Vec<Coefficient>,
    evaluation: Option<Evaluation>,
    /// Per numeric column: (coefficient, mean, standard deviation).
    numeric_terms: Vec<(f64, f64, f64)>,
    /// Per categorical column: value → coefficient.
    category_terms: Vec<BTreeMap<String, f64>>,
}

impl Model {
    /// Checks and assembles stored parts: every numeric column has exactly one
    /// coefficient with a positive standard deviation, every other coefficient is
    /// `column=value` for a categorical column (mean 0, standard deviation 1), each
    /// feature appears once, and every number is finite.
    pub fn from_parts(
        numeric_columns: Vec<String>,
        categorical_columns: Vec<String>,
        intercept: f64,
        coefficients: Vec<Coefficient>,
        evaluation: Option<Evaluation>,
    ) -> Result<Model, ModelError> {
        let fail = |message: String| Err(ModelError(message));
        let mut columns = std::collections::BTreeSet::new();
        for name in numeric_columns.iter().chain(&categorical_columns) {
            if let Err(problem) = check_column_name(name) {
                return fail(format!("column '{name}' {problem}"));
            }
            if !columns.insert(name.as_str()) {
                return fail(format!("column '{name}' is listed twice"));
            }
        }
        if !intercept.is_finite() {
            return fail("the intercept is not finite".to_owned());
        }
        let mut numeric_terms: Vec<Option<(f64, f64, f64)>> = vec![None; numeric_columns.len()];
        let mut category_terms: Vec<BTreeMap<String, f64>> =
            vec![BTreeMap::new(); categorical_columns.len()];
        for c in &coefficients {
            let feature = &c.feature;
            if ![c.coefficient, c.mean, c.standard_deviation]
                .iter()
                .all(|v| v.is_finite())
            {
                return fail(format!(
                    "feature '{feature}' has a number that is not finite"
                ));
            }
            if let Some((column, value)) = feature.split_once('=') {
                let Some(at) = categorical_columns.iter().position(|n| n == column) else {
                    return fail(format!("feature '{feature}' names no categorical column"));
                };
                if c.mean != 0.0 || c.standard_deviation != 1.0 {
                    return fail(format!(
                        "category '{feature}' must have mean 0 and standard deviation 1"
                    ));
                }
                if category_terms[at]
                    .insert(value.to_owned(), c.coefficient)
                    .is_some()
                {
                    return fail(format!("feature '{feature}' appears twice"));
                }
            } else {
                let Some(at) = numeric_columns.iter().position(|n| n == feature) else {
                    return fail(format!("feature '{feature}' names no numeric column"));
                };
                if c.standard_deviation <= 0.0 {
                    return fail(format!(
                        "feature '{feature}' needs a positive standard deviation"
                    ));
                }
                if numeric_terms[at]
                    .replace((c.coefficient, c.mean, c.standard_deviation))
                    .is_some()
                {
                    return fail(format!("feature '{feature}' appears twice"));
                }
            }
        }
        let numeric_terms = numeric_terms
            .into_iter()
            .zip(&numeric_columns)
            .map(|(term, name)| {
                term.ok_or_else(|| ModelError(format!("no coefficient for '{name}'")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Model {
            numeric_columns,
            categorical_columns,
            intercept,
            coefficients,
            evaluation,
            numeric_terms,
            category_terms,
        })
    }

    pub(super) fn with_evaluation(mut self, evaluation: Evaluation) -> Model {
        self.evaluation = Some(evaluation);
        self
    }

    pub fn numeric_columns(&self) -> &[String] {
        &self.numeric_columns
    }

    pub fn categorical_columns(&self) -> &[String] {
        &self.categorical_columns
    }

    /// Log-odds of churn for an account at every training mean with no known category.
    pub fn intercept(&self) -> f64 {
        self.intercept
    }

    /// Numeric features in column order, then categories by column and value.
    pub fn coefficients(&self) -> &[Coefficient] {
        &self.coefficients
    }

    /// `None` for a model that was not trained here (the default model).
    pub fn evaluation(&self) -> Option<&Evaluation> {
        self.evaluation.as_ref()
    }

    /// Log-odds, the fast path: no drivers, no allocation.
    pub fn logit(&self, values: &FeatureValues) -> f64 {
        self.logit_with(
            |at| {
                values
                    .numeric
                    .get(&self.numeric_columns[at])
                    .copied()
                    .flatten()
            },
            |at| {
                values
                    .categorical
                    .get(&self.categorical_columns[at])
                    .map(String::as_str)
            },
        )
    }

    /// The churn probability without drivers (for scoring many accounts).
    pub fn predict_probability(&self, values: &FeatureValues) -> f64 {
        sigmoid(self.logit(values))
    }

    /// Every non-zero contribution, largest in absolute value first (ties by name, so
    /// the order is stable). With the intercept they add up to the logit.
    pub fn contributions(&self, values: &FeatureValues) -> Vec<Driver> {
        let mut drivers = Vec::new();
        for (name, &(coefficient, mean, sd)) in self.numeric_columns.iter().zip(&self.numeric_terms)
        {
            let value = values.numeric.get(name).copied().flatten();
            let contribution = numeric_contribution(coefficient, mean, sd, value);
            if contribution != 0.0 {
                drivers.push(Driver {
                    feature: name.clone(),
                    value,
                    contribution,
                });
            }
        }
        for (name, terms) in self.categorical_columns.iter().zip(&self.category_terms) {
            let Some(value) = values.categorical.get(name) else {
                continue;
            };
            let contribution = category_contribution(terms, value);
            if contribution != 0.0 {
                drivers.push(Driver {
                    feature: format!("{name}={value}"),
                    value: None,
                    contribution,
                });
            }
        }
        drivers.sort_by(|a, b| {
            b.contribution
                .abs()
                .total_cmp(&a.contribution.abs())
                .then_with(|| a.feature.cmp(&b.feature))
        });
        drivers
    }

    /// The probability with its top drivers.
    pub fn predict(&self, values: &FeatureValues) -> Prediction {
        let logit = self.logit(values);
        let mut top_drivers = self.contributions(values);
        top_drivers.truncate(MAX_DRIVERS);
        Prediction {
            probability: sigmoid(logit),
            logit,
            top_drivers,
        }
    }

    /// Churn probabilities for every row of a data set, its columns matched to the
    /// model's by name (a column the data set lacks is missing).
    pub fn score_dataset(&self, dataset: &Dataset) -> Vec<f64> {
        let numeric_at: Vec<Option<usize>> = self
            .numeric_columns
            .iter()
            .map(|name| dataset.numeric_columns.iter().position(|n| n == name))
            .collect();
        let categorical_at: Vec<Option<usize>> = self
            .categorical_columns
            .iter()
            .map(|name| dataset.categorical_columns.iter().position(|n| n == name))
            .collect();
        dataset
            .rows
            .iter()
            .map(|row| {
                sigmoid(self.logit_with(
                    |at| numeric_at[at].and_then(|i| row.numeric.get(i).copied().flatten()),
                    |at| {
                        categorical_at[at].and_then(|i| row.categorical.get(i).map(String::as_str))
                    },
                ))
            })
            .collect()
    }

    /// The logit from accessors by column position, shared by every scoring path so
    /// they cannot drift apart.
    pub(super) fn logit_with<'v>(
        &self,
        numeric: impl Fn(usize) -> Option<f64>,
        categorical: impl Fn(usize) -> Option<&'v str>,
    ) -> f64 {
        let mut logit = self.intercept;
        for (at, &(coefficient, mean, sd)) in self.numeric_terms.iter().enumerate() {
            logit += numeric_contribution(coefficient, mean, sd, numeric(at));
        }
        for (at, terms) in self.category_terms.iter().enumerate() {
            if let Some(value) = categorical(at) {
                logit += category_contribution(terms, value);
            }
        }
        logit
    }
}

/// (value − mean) / sd, with missing and non-finite values at the mean.
pub(super) fn standardise(value: Option<f64>, mean: f64, sd: f64) -> f64 {
    match value {
        Some(v) if v.is_finite() => ((v - mean) / sd).clamp(-MAX_STANDARDISED, MAX_STANDARDISED),
        _ => 0.0,
    }
}

fn numeric_contribution(coefficient: f64, mean: f64, sd: f64, value: Option<f64>) -> f64 {
    (coefficient * standardise(value, mean, sd)).clamp(-MAX_CONTRIBUTION, MAX_CONTRIBUTION)
}

fn category_contribution(terms: &BTreeMap<String, f64>, value: &str) -> f64 {
    terms
        .get(value)
        .map_or(0.0, |c| c.clamp(-MAX_CONTRIBUTION, MAX_CONTRIBUTION))
}

/// The logistic function, evaluated so that neither tail overflows (exp of a negative
/// number only), and kept within (0, 1).
pub fn sigmoid(logit: f64) -> f64 {
    let p = if logit >= 0.0 {
        1.0 / (1.0 + (-logit).exp())
    } else {
        let e = logit.exp();
        e / (1.0 + e)
    };
    if p.is_nan() {
        return 0.5;
    }
    p.clamp(PROBABILITY_MARGIN, 1.0 - PROBABILITY_MARGIN)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::churn::Row;
    use proptest::prelude::*;

    fn coefficient(feature: &str, coefficient: f64, mean: f64, sd: f64) -> Coefficient {
        Coefficient {
            feature: feature.to_owned(),
            coefficient,
            mean,
            standard_deviation: sd,
        }
    }

    /// arr: 0.5 per sd around 100 ± 20; usage −1 per sd around 50 ± 10;
    /// segment=SME +0.7, segment=ENTERPRISE −0.3; intercept −1.
    fn small_model() -> Model {
        Model::from_parts(
            vec!["arr".to_owned(), "usage".to_owned()],
            vec!["segment".to_owned()],
            -1.0,
            vec![
                coefficient("arr", 0.5, 100.0, 20.0),
                coefficient("usage", -1.0, 50.0, 10.0),
                coefficient("segment=ENTERPRISE", -0.3, 0.0, 1.0),
                coefficient("segment=SME", 0.7, 0.0, 1.0),
            ],
            None,
        )
        .unwrap()
    }

    #[test]
    fn a_hand_computed_prediction() {
        let model = small_model();
        let values = FeatureValues::new()
            .with_numeric("arr", Some(140.0))
            .with_numeric("usage", Some(45.0))
            .with_categorical("segment", "SME");
        // arr: 0.5 × (140 − 100)/20 = 1.0; usage: −1 × (45 − 50)/10 = 0.5; SME 0.7.
        // logit = −1 + 1 + 0.5 + 0.7 = 1.2; p = 1/(1 + e^−1.2) = 0.768525.
        let prediction = model.predict(&values);
        assert!((prediction.logit - 1.2).abs() < 1e-12);
        assert!((prediction.probability - 0.768_524_783_499_017_9).abs() < 1e-12);
        let drivers: Vec<(&str, Option<f64>, f64)> = prediction
            .top_drivers
            .iter()
            .map(|d| {
                (
                    d.feature.as_str(),
                    d.value,
                    (d.contribution * 1e9).round() / 1e9,
                )
            })
            .collect();
        assert_eq!(
            drivers,
            vec![
                ("arr", Some(140.0), 1.0),
                ("segment=SME", None, 0.7),
                ("usage", Some(45.0), 0.5),
            ]
        );
        assert_eq!(model.predict_probability(&values), prediction.probability);
    }

    #[test]
    fn missing_unknown_and_non_finite_values_contribute_nothing() {
        let model = small_model();
        let values = FeatureValues::new()
            .with_numeric("arr", None)
            .with_numeric("usage", Some(f64::NAN))
            .with_categorical("segment", "PROSUMER");
        let prediction = model.predict(&values);
        assert_eq!(prediction.logit, -1.0);
        assert!(prediction.top_drivers.is_empty());
        assert_eq!(model.logit(&FeatureValues::new()), -1.0);
        // A value at the mean is a zero contribution and is left out.
        let at_mean = FeatureValues::new().with_numeric("arr", Some(100.0));
        assert!(model.predict(&at_mean).top_drivers.is_empty());
    }

    #[test]
    fn at_most_five_drivers_largest_first() {
        let names: Vec<String> = (0..8).map(|i| format!("f{i}")).collect();
        let model = Model::from_parts(
            names.clone(),
            vec![],
            0.0,
            names
                .iter()
                .enumerate()
                .map(|(i, n)| coefficient(n, if i % 2 == 0 { 1.0 } else { -1.0 }, 0.0, 1.0))
                .collect(),
            None,
        )
        .unwrap();
        let mut values = FeatureValues::new();
        for (i, name) in names.iter().enumerate() {
            values = values.with_numeric(name.clone(), Some(i as f64));
        }
        let prediction = model.predict(&values);
        let features: Vec<&str> = prediction
            .top_drivers
            .iter()
            .map(|d| d.feature.as_str())
            .collect();
        assert_eq!(features, vec!["f7", "f6", "f5", "f4", "f3"]);
        assert_eq!(prediction.top_drivers[0].contribution, -7.0);
        let all: f64 = model
            .contributions(&values)
            .iter()
            .map(|d| d.contribution)
            .sum();
        assert!((model.intercept() + all - prediction.logit).abs() < 1e-12);
    }

    #[test]
    fn stored_parts_are_checked() {
        let parts = |coefficients: Vec<Coefficient>| {
            Model::from_parts(
                vec!["arr".to_owned()],
                vec!["segment".to_owned()],
                0.0,
                coefficients,
                None,
            )
        };
        assert!(parts(vec![coefficient("arr", 1.0, 0.0, 1.0)]).is_ok());
        for bad in [
            vec![],
            vec![coefficient("arr", 1.0, 0.0, 0.0)],
            vec![coefficient("arr", f64::NAN, 0.0, 1.0)],
            vec![
                coefficient("arr", 1.0, 0.0, 1.0),
                coefficient("arr", 1.0, 0.0, 1.0),
            ],
            vec![
                coefficient("arr", 1.0, 0.0, 1.0),
                coefficient("mrr", 1.0, 0.0, 1.0),
            ],
            vec![
                coefficient("arr", 1.0, 0.0, 1.0),
                coefficient("tier=A", 1.0, 0.0, 1.0),
            ],
            vec![
                coefficient("arr", 1.0, 0.0, 1.0),
                coefficient("segment=A", 1.0, 2.0, 1.0),
            ],
        ] {
            assert!(parts(bad.clone()).is_err(), "{bad:?}");
        }
        let twice = Model::from_parts(
            vec!["arr".to_owned(), "arr".to_owned()],
            vec![],
            0.0,
            vec![coefficient("arr", 1.0, 0.0, 1.0)],
            None,
        );
        assert!(twice.is_err());
    }

    #[test]
    fn scoring_a_dataset_matches_by_name() {
        let model = small_model();
        let dataset = Dataset {
            numeric_columns: vec!["usage".to_owned(), "other".to_owned()],
            categorical_columns: vec!["segment".to_owned()],
            rows: vec![Row {
                numeric: vec![Some(45.0), Some(9.0)],
                categorical: vec!["SME".to_owned()],
                churned: false,
            }],
        };
        let values = FeatureValues::new()
            .with_numeric("usage", Some(45.0))
            .with_categorical("segment", "SME");
        assert_eq!(
            model.score_dataset(&dataset),
            vec![model.predict_probability(&values)]
        );
    }

    #[test]
    fn sigmoid_is_stable_in_both_tails() {
        assert_eq!(sigmoid(0.0), 0.5);
        assert!((sigmoid(2.0) + sigmoid(-2.0) - 1.0).abs() < 1e-15);
        assert!(sigmoid(-800.0) > 0.0);
        assert!(sigmoid(800.0) < 1.0);
        assert_eq!(sigmoid(f64::INFINITY), 1.0 - PROBABILITY_MARGIN);
        assert_eq!(sigmoid(f64::NEG_INFINITY), PROBABILITY_MARGIN);
        assert_eq!(sigmoid(f64::NAN), 0.5);
    }

    proptest! {
        #[test]
        fn probabilities_are_finite_within_zero_and_one_and_drivers_add_up(
            arr in proptest::num::f64::NORMAL | proptest::num::f64::ZERO,
            usage in -1e6f64..1e6,
            segment in prop_oneof![Just("SME"), Just("ENTERPRISE"), Just("OTHER"), Just("")],
        ) {
            let model = small_model();
            let values = FeatureValues::new()
                .with_numeric("arr", Some(arr))
                .with_numeric("usage", Some(usage))
                .with_categorical("segment", segment);
            let prediction = model.predict(&values);
            prop_assert!(prediction.probability.is_finite());
            prop_assert!(prediction.probability > 0.0 && prediction.probability < 1.0);
            prop_assert!(prediction.logit.is_finite());
            // At most three features, so the top drivers are all of them.
            let sum: f64 = prediction.top_drivers.iter().map(|d| d.contribution).sum();
            let scale = prediction.logit.abs().max(1.0);
            prop_assert!((model.intercept() + sum - prediction.logit).abs() <= 1e-9 * scale);
        }
    }
}
