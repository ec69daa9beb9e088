use super::*;
use crate::churn::{FeatureValues, Row};
use proptest::prelude::*;

/// SplitMix64 for test data (the split's generator is private to its module).
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u = 1.0 - self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * self.unit()).cos()
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// Rows whose true log-odds are −1 + 1.5·x₁ − 1·x₂ (+0.8 for plan=basic), x standard
/// normal around 100 ± 10 and 0 ± 1, some x₁ missing; `noise` is an unrelated column.
fn synthetic(rows: usize, seed: u64) -> Dataset {
    let mut rng = Rng(seed);
    let plans = ["basic", "pro", "enterprise"];
    let rows = (0..rows)
        .map(|_| {
            let x1 = rng.normal();
            let x2 = rng.normal();
            let plan = plans[(rng.next_u64() % 3) as usize];
            let logit = -1.0 + 1.5 * x1 - x2 + if plan == "basic" { 0.8 } else { 0.0 };
            let churned = rng.unit() < 1.0 / (1.0 + (-logit).exp());
            let missing = rng.unit() < 0.05;
            Row {
                numeric: vec![
                    (!missing).then_some(100.0 + 10.0 * x1),
                    Some(x2),
                    Some(rng.normal() * 1000.0),
                ],
                categorical: vec![plan.to_owned()],
                churned,
            }
        })
        .collect();
    Dataset {
        numeric_columns: names(&["usage", "tickets", "noise"]),
        categorical_columns: names(&["plan"]),
        rows,
    }
}

fn coefficient_of(model: &Model, feature: &str) -> f64 {
    model
        .coefficients()
        .iter()
        .find(|c| c.feature == feature)
        .unwrap()
        .coefficient
}

fn all_rows(dataset: &Dataset) -> Vec<usize> {
    (0..dataset.rows.len()).collect()
}

fn values_of(dataset: &Dataset, row: &Row) -> FeatureValues {
    let mut values = FeatureValues::new();
    for (name, value) in dataset.numeric_columns.iter().zip(&row.numeric) {
        values = values.with_numeric(name.clone(), *value);
    }
    for (name, value) in dataset.categorical_columns.iter().zip(&row.categorical) {
        values = values.with_categorical(name.clone(), value.clone());
    }
    values
}

#[test]
fn matches_scikit_learn_on_a_small_case() {
    // Reference: sklearn 1.x LogisticRegression(C=1, tol=1e-12) on StandardScaler(x)
    // and one-hot(plan); lbfgs and newton-cg agree to 1e-8 on these values.
    let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
    let plan = ["a", "b", "a", "b", "c", "a", "b", "c", "a", "b"];
    let churned = [0, 0, 1, 0, 0, 1, 0, 1, 1, 1];
    let dataset = Dataset {
        numeric_columns: names(&["x"]),
        categorical_columns: names(&["plan"]),
        rows: (0..10)
            .map(|i| Row {
                numeric: vec![Some(x[i])],
                categorical: vec![plan[i].to_owned()],
                churned: churned[i] == 1,
            })
            .collect(),
    };
    let model = fit(&dataset, &all_rows(&dataset)).unwrap();
    let expected = [
        ("x", 1.008_327_951_897_291_4),
        ("plan=a", 0.692_590_296_626_322_3),
        ("plan=b", -0.587_180_070_080_752_6),
        ("plan=c", -0.105_410_226_545_569_65),
    ];
    let got: Vec<(&str, f64)> = model
        .coefficients()
        .iter()
        .map(|c| (c.feature.as_str(), c.coefficient))
        .collect();
    assert_eq!(got.len(), expected.len());
    for ((feature, coefficient), (want_feature, want)) in got.iter().zip(expected) {
        assert_eq!(*feature, want_feature);
        assert!(
            (coefficient - want).abs() < 1e-7,
            "{feature}: {coefficient} vs {want}"
        );
    }
    assert!((model.intercept() - -0.019_094_926_557_384_644).abs() < 1e-7);
    // Standardisation is StandardScaler's: population standard deviation.
    let x_term = &model.coefficients()[0];
    assert_eq!(x_term.mean, 5.5);
    assert!((x_term.standard_deviation - 8.25f64.sqrt()).abs() < 1e-12);
}

#[test]
fn the_solution_is_stationary() {
    // At the optimum: Σ(p − y) = 0 for the intercept and w_j + Σ(p − y)·x_ij = 0 for
    // each weight, checked through the public prediction path.
    let dataset = synthetic(2_000, 7);
    let model = fit(&dataset, &all_rows(&dataset)).unwrap();
    let mut intercept_gradient = 0.0;
    let mut weight_gradients = vec![0.0; model.coefficients().len()];
    for row in &dataset.rows {
        let values = values_of(&dataset, row);
        let residual = model.predict_probability(&values) - if row.churned { 1.0 } else { 0.0 };
        intercept_gradient += residual;
        for (gradient, term) in weight_gradients.iter_mut().zip(model.coefficients()) {
            let x = match term.feature.split_once('=') {
                Some((_, value)) => f64::from(u8::from(row.categorical[0] == value)),
                None => {
                    let at = dataset
                        .numeric_columns
                        .iter()
                        .position(|n| *n == term.feature)
                        .unwrap();
                    row.numeric[at].map_or(0.0, |v| (v - term.mean) / term.standard_deviation)
                }
            };
            *gradient += residual * x;
        }
    }
    assert!(intercept_gradient.abs() < 1e-5, "{intercept_gradient}");
    for (gradient, term) in weight_gradients.iter().zip(model.coefficients()) {
        let total = gradient + term.coefficient;
        assert!(total.abs() < 1e-5, "{}: {total}", term.feature);
    }
}

#[test]
fn recovers_the_signs_of_generated_effects() {
    let dataset = synthetic(3_000, 11);
    let model = train(&dataset, 0.25, 5).unwrap();
    // usage is 10 × x₁, so its coefficient per standard deviation is ≈ 1.5.
    let usage = coefficient_of(&model, "usage");
    let tickets = coefficient_of(&model, "tickets");
    assert!((1.2..1.8).contains(&usage), "{usage}");
    assert!((-1.3..-0.7).contains(&tickets), "{tickets}");
    assert!(coefficient_of(&model, "noise").abs() < 0.2);
    assert!(coefficient_of(&model, "plan=basic") > coefficient_of(&model, "plan=pro") + 0.4);
    let evaluation = model.evaluation().unwrap();
    assert!(evaluation.auc.unwrap() > 0.75, "{evaluation:?}");
    assert!(evaluation.brier_score.unwrap() < 0.2, "{evaluation:?}");
    assert_eq!(
        evaluation.training_samples + evaluation.held_out_samples,
        3_000
    );
    // 25 % of each class, rounded per class.
    assert!((749..=751).contains(&evaluation.held_out_samples));
    let churned = dataset.rows.iter().filter(|r| r.churned).count();
    assert_eq!(evaluation.churned_samples, churned);
    // Deterministic for a seed.
    assert_eq!(model, train(&dataset, 0.25, 5).unwrap());
}

#[test]
fn twenty_thousand_rows_train_well() {
    let dataset = synthetic(20_000, 2024);
    let model = train(&dataset, 0.2, 1).unwrap();
    let evaluation = model.evaluation().unwrap();
    // The true model's AUC on this design is about 0.86.
    assert!(evaluation.auc.unwrap() > 0.82, "{evaluation:?}");
    assert_eq!(evaluation.held_out_samples, 4_000);
}

#[test]
fn without_information_the_probability_is_the_churn_rate() {
    // Same features everywhere: the constant column scales by 1, every weight is 0
    // (the L2 term pulls it there and no data pushes back), and the unpenalised
    // intercept is the log-odds of the churn rate, 9 of 30.
    let dataset = Dataset {
        numeric_columns: names(&["arr"]),
        categorical_columns: names(&["segment"]),
        rows: (0..30)
            .map(|i| Row {
                numeric: vec![Some(5_000.0)],
                categorical: vec!["SME".to_owned()],
                churned: i % 10 < 3,
            })
            .collect(),
    };
    let model = fit(&dataset, &all_rows(&dataset)).unwrap();
    let arr = &model.coefficients()[0];
    assert_eq!((arr.mean, arr.standard_deviation), (5_000.0, 1.0));
    for term in model.coefficients() {
        assert!(term.coefficient.abs() < 1e-9, "{term:?}");
    }
    let values = values_of(&dataset, &dataset.rows[0]);
    assert!((model.predict_probability(&values) - 0.3).abs() < 1e-9);
}

#[test]
fn standardisation_skips_missing_values_and_unseen_categories_count_nothing() {
    let dataset = Dataset {
        numeric_columns: names(&["arr", "empty"]),
        categorical_columns: names(&["segment"]),
        rows: (0..12)
            .map(|i| Row {
                numeric: vec![(i < 10).then_some(f64::from(i)), None],
                categorical: vec![if i % 2 == 0 { "SME" } else { "" }.to_owned()],
                churned: i % 3 == 0,
            })
            .collect(),
    };
    let model = fit(&dataset, &all_rows(&dataset)).unwrap();
    let terms = model.coefficients();
    // arr: 0..=9 → mean 4.5, population variance 8.25.
    assert_eq!(terms[0].mean, 4.5);
    assert!((terms[0].standard_deviation - 8.25f64.sqrt()).abs() < 1e-12);
    assert_eq!((terms[1].mean, terms[1].standard_deviation), (0.0, 1.0));
    assert_eq!(terms[1].coefficient, 0.0);
    // Empty categories are missing, not a category of their own.
    let features: Vec<&str> = terms.iter().map(|t| t.feature.as_str()).collect();
    assert_eq!(features, vec!["arr", "empty", "segment=SME"]);
    let base = FeatureValues::new().with_numeric("arr", Some(4.5));
    assert_eq!(
        model.logit(&base.clone().with_categorical("segment", "ENTERPRISE")),
        model.logit(&base)
    );
    assert_eq!(model.logit(&base), model.intercept());
}

#[test]
fn separable_data_gives_finite_coefficients() {
    let dataset = Dataset {
        numeric_columns: names(&["x"]),
        categorical_columns: vec![],
        rows: (0..40)
            .map(|i| Row {
                numeric: vec![Some(f64::from(i))],
                categorical: vec![],
                churned: i >= 20,
            })
            .collect(),
    };
    let model = train(&dataset, 0.2, 3).unwrap();
    let x = coefficient_of(&model, "x");
    // Unregularised, the weight would grow without bound; L2 holds it finite.
    assert!(x.is_finite() && x > 1.0 && x < 10.0, "{x}");
    assert_eq!(model.evaluation().unwrap().auc, Some(1.0));
}

#[test]
fn refuses_what_it_cannot_train_on() {
    let good = synthetic(40, 1);
    assert!(matches!(
        train(&good, 0.0, 1),
        Err(TrainError::HeldOutFraction(_))
    ));
    assert!(matches!(
        train(&good, 0.6, 1),
        Err(TrainError::HeldOutFraction(_))
    ));

    let mut few = good.clone();
    few.rows.truncate(9);
    assert_eq!(train(&few, 0.2, 1), Err(TrainError::TooFewRows { rows: 9 }));

    let mut one_class = good.clone();
    for row in &mut one_class.rows {
        row.churned = false;
    }
    assert_eq!(train(&one_class, 0.2, 1), Err(TrainError::SingleClass));

    let mut ragged = good.clone();
    ragged.rows[3].numeric.pop();
    assert_eq!(train(&ragged, 0.2, 1), Err(TrainError::RowShape { row: 3 }));

    let mut twice = good.clone();
    twice.categorical_columns = names(&["usage"]);
    assert!(matches!(
        train(&twice, 0.2, 1),
        Err(TrainError::Column { .. })
    ));

    let empty = Dataset {
        rows: good
            .rows
            .iter()
            .map(|r| Row {
                numeric: vec![],
                categorical: vec![],
                churned: r.churned,
            })
            .collect(),
        ..Dataset::default()
    };
    assert_eq!(train(&empty, 0.2, 1), Err(TrainError::NoColumns));

    let mut ids = synthetic(100, 1);
    for (i, row) in ids.rows.iter_mut().enumerate() {
        row.categorical[0] = format!("customer-{i}");
    }
    let error = train(&ids, 0.2, 1).unwrap_err();
    assert!(
        matches!(error, TrainError::TooManyCategories { values, .. } if values > MAX_CATEGORY_VALUES)
    );
}

#[test]
fn cholesky_solves_and_survives_a_singular_matrix() {
    // [[4, 2], [2, 3]] x = [2, 1] → x = [0.5, 0].
    let x = solve_positive_definite(&[4.0, 2.0, 2.0, 3.0], &[2.0, 1.0], 2).unwrap();
    assert!((x[0] - 0.5).abs() < 1e-12 && x[1].abs() < 1e-12, "{x:?}");
    // Rank one: the ridge makes it solvable, and the answer still satisfies H x ≈ g.
    let x = solve_positive_definite(&[1.0, 1.0, 1.0, 1.0], &[2.0, 2.0], 2).unwrap();
    assert!((x[0] + x[1] - 2.0).abs() < 1e-6, "{x:?}");
    assert!(cholesky(&[0.0, 0.0, 0.0, -1.0], 2, 0.0).is_none());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn trained_models_give_probabilities_within_zero_and_one(
        seed in any::<u64>(),
        rows in 10usize..80,
        scale in prop_oneof![Just(1e-6), Just(1.0), Just(1e9)],
        probe in proptest::collection::vec(-1e12f64..1e12, 3),
    ) {
        let mut dataset = synthetic(rows, seed);
        for row in &mut dataset.rows {
            for value in row.numeric.iter_mut().flatten() {
                *value *= scale;
            }
        }
        let both = dataset.rows.iter().any(|r| r.churned) && dataset.rows.iter().any(|r| !r.churned);
        prop_assume!(both);
        let model = train(&dataset, 0.3, seed).unwrap();
        let values = FeatureValues::new()
            .with_numeric("usage", Some(probe[0]))
            .with_numeric("tickets", Some(probe[1]))
            .with_numeric("noise", Some(probe[2]))
            .with_categorical("plan", "basic");
        let prediction = model.predict(&values);
        prop_assert!(prediction.probability > 0.0 && prediction.probability < 1.0);
        prop_assert!(prediction.logit.is_finite());
        let sum: f64 = model.contributions(&values).iter().map(|d| d.contribution).sum();
        prop_assert!((model.intercept() + sum - prediction.logit).abs() <= 1e-9 * prediction.logit.abs().max(1.0));
    }
}
