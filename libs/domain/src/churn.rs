//! Churn risk: a logistic-regression model over standardised numeric and one-hot
//! categorical features, trained from accounts that churned or renewed (or from a CSV
//! export of them), evaluated on a stratified held-out split, and explained per account
//! by each feature's contribution in log-odds.
//!
//! The objective is scikit-learn's `LogisticRegression` default (L2, C = 1, intercept
//! not penalised), so a model trained here can be checked against
//! `scripts/churn_sklearn.py`. It is solved by Newton–Raphson in this crate rather than
//! with linfa, to keep ndarray and BLAS out of the build for a problem with a few dozen
//! features. Randomness (the split) comes in as a seed, and training time is measured
//! by the caller, so everything here is deterministic.

mod csv;
mod metrics;
mod model;
mod platform;
mod predict;
mod split;
mod train;

pub use csv::{CsvViolation, MAX_CSV_VIOLATIONS, delimiter_from_request, parse_csv};
pub use metrics::{auc, brier_score};
pub use model::{
    Coefficient, Driver, Evaluation, FeatureValues, MAX_DRIVERS, Model, ModelError, Prediction,
    sigmoid,
};
pub use platform::{
    PLATFORM_CATEGORICAL_FEATURES, PLATFORM_NUMERIC_FEATURES, PlatformFeatures, arr_in_major_units,
    default_model, is_activatable,
};
pub use predict::{MAX_PREDICTION_ROWS, RowToScore, rows_to_score};
pub use split::{Split, stratified_split};
pub use train::{
    DEFAULT_HELD_OUT_FRACTION, MAX_CATEGORY_VALUES, MAX_FEATURES, MIN_TRAINING_ROWS, TrainError,
    train,
};

/// Training data: one row per account that churned or renewed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dataset {
    pub numeric_columns: Vec<String>,
    pub categorical_columns: Vec<String>,
    pub rows: Vec<Row>,
}

/// One account's features, in the order of the dataset's column lists.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `None` is a missing value; training imputes the training mean.
    pub numeric: Vec<Option<f64>>,
    /// An empty string is a missing category; like an unseen one it contributes nothing.
    pub categorical: Vec<String>,
    pub churned: bool,
}

/// Longest column name, in characters.
pub const MAX_COLUMN_NAME_CHARS: usize = 128;

/// The rule every column name obeys. `=` is refused because a one-hot feature is named
/// `column=value` and must split back into its column unambiguously.
pub fn check_column_name(name: &str) -> Result<(), String> {
    let count = name.chars().count();
    if count == 0 {
        return Err("must not be empty".to_owned());
    }
    if count > MAX_COLUMN_NAME_CHARS {
        return Err(format!(
            "must be at most {MAX_COLUMN_NAME_CHARS} characters"
        ));
    }
    if name.contains('=') {
        return Err("must not contain '='".to_owned());
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(())
}
