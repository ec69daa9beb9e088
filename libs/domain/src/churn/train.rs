//! Training: standardise, one-hot encode, and solve L2-regularised logistic regression
//! by Newton–Raphson.
//!
//! The objective is scikit-learn's `LogisticRegression()` default,
//! ½‖w‖² + C Σᵢ log-loss(yᵢ, b + w·xᵢ) with C = 1 and the intercept b not penalised,
//! so coefficients agree with `scripts/churn_sklearn.py` up to its solver tolerance.
//! Newton's method fits the problem: it is strictly convex, the Hessian is only
//! (features + 1)², and it converges in a handful of iterations where a first-order
//! method would need hundreds.

use std::collections::BTreeSet;

use super::model::standardise;
use super::{
    Coefficient, Dataset, Evaluation, Model, ModelError, auc, brier_score, check_column_name,
    sigmoid, stratified_split,
};

/// Fewest rows a model is trained from; below this the held-out metrics are noise.
pub const MIN_TRAINING_ROWS: usize = 10;
/// Held-out share when the request leaves it at 0.
pub const DEFAULT_HELD_OUT_FRACTION: f64 = 0.2;
/// Most distinct values one-hot encoded per categorical column. A column with more is
/// usually an id or free text, which would overfit and blow up the Hessian.
pub const MAX_CATEGORY_VALUES: usize = 50;
/// Most features after one-hot encoding. Each Newton iteration costs
/// rows × features² / 2, which keeps 20,000 rows well under a second.
pub const MAX_FEATURES: usize = 100;

/// Newton converges quadratically, so hitting this means something is wrong.
const MAX_ITERATIONS: usize = 100;
const MAX_STEP_HALVINGS: usize = 40;
/// Convergence when every gradient component is below this per row: far below any
/// difference that shows in a probability, yet well above the rounding noise of a sum
/// over rows.
const GRADIENT_TOLERANCE_PER_ROW: f64 = 1e-8;
/// A standard deviation this small relative to the mean is rounding noise in a
/// constant column; like scikit-learn's StandardScaler, such columns are scaled by 1.
const CONSTANT_RELATIVE_SD: f64 = 1e-12;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainError {
    #[error("the held-out fraction must be within (0, 0.5], got {0}")]
    HeldOutFraction(f64),
    #[error("{rows} rows; at least {MIN_TRAINING_ROWS} are needed")]
    TooFewRows { rows: usize },
    #[error("needs both churned and renewed rows")]
    SingleClass,
    #[error("at least one numeric or categorical column is needed")]
    NoColumns,
    #[error("column '{column}' {problem}")]
    Column { column: String, problem: String },
    /// 0-based row index.
    #[error("row {row} does not have one value per column")]
    RowShape { row: usize },
    #[error(
        "column '{column}' has {values} distinct values; at most {MAX_CATEGORY_VALUES} can be one-hot encoded"
    )]
    TooManyCategories { column: String, values: usize },
    #[error("{features} features after one-hot encoding; at most {MAX_FEATURES} are supported")]
    TooManyFeatures { features: usize },
    #[error("the solver did not converge")]
    NotConverged,
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// Trains on a stratified split of `dataset` (see [`stratified_split`]) and evaluates
/// on the held-out rows: AUC and Brier score, with the sample counts.
pub fn train(dataset: &Dataset, held_out_fraction: f64, seed: u64) -> Result<Model, TrainError> {
    check_dataset(dataset)?;
    let labels: Vec<bool> = dataset.rows.iter().map(|row| row.churned).collect();
    let split = stratified_split(&labels, held_out_fraction, seed)?;
    let model = fit(dataset, &split.training)?;

    let held_out = &split.held_out;
    let logits: Vec<f64> = held_out
        .iter()
        .map(|&i| {
            let row = &dataset.rows[i];
            model.logit_with(
                |at| row.numeric[at],
                |at| Some(row.categorical[at].as_str()),
            )
        })
        .collect();
    let probabilities: Vec<f64> = logits.iter().map(|&z| sigmoid(z)).collect();
    let held_out_labels: Vec<bool> = held_out.iter().map(|&i| labels[i]).collect();
    let evaluation = Evaluation {
        auc: auc(&logits, &held_out_labels),
        brier_score: brier_score(&probabilities, &held_out_labels),
        training_samples: split.training.len(),
        held_out_samples: held_out.len(),
        churned_samples: labels.iter().filter(|&&c| c).count(),
    };
    Ok(model.with_evaluation(evaluation))
}

fn check_dataset(dataset: &Dataset) -> Result<(), TrainError> {
    if dataset.numeric_columns.is_empty() && dataset.categorical_columns.is_empty() {
        return Err(TrainError::NoColumns);
    }
    let mut seen = BTreeSet::new();
    for column in dataset
        .numeric_columns
        .iter()
        .chain(&dataset.categorical_columns)
    {
        check_column_name(column).map_err(|problem| TrainError::Column {
            column: column.clone(),
            problem,
        })?;
        if !seen.insert(column) {
            return Err(TrainError::Column {
                column: column.clone(),
                problem: "is listed twice".to_owned(),
            });
        }
    }
    for (row, values) in dataset.rows.iter().enumerate() {
        if values.numeric.len() != dataset.numeric_columns.len()
            || values.categorical.len() != dataset.categorical_columns.len()
        {
            return Err(TrainError::RowShape { row });
        }
    }
    if dataset.rows.len() < MIN_TRAINING_ROWS {
        return Err(TrainError::TooFewRows {
            rows: dataset.rows.len(),
        });
    }
    let churned = dataset.rows.iter().filter(|row| row.churned).count();
    if churned == 0 || churned == dataset.rows.len() {
        return Err(TrainError::SingleClass);
    }
    Ok(())
}

/// Fits on the given rows (assumed checked) without evaluating.
fn fit(dataset: &Dataset, rows: &[usize]) -> Result<Model, TrainError> {
    let mut coefficients = Vec::new();
    for (at, column) in dataset.numeric_columns.iter().enumerate() {
        let (mean, standard_deviation) =
            mean_and_sd(rows.iter().filter_map(|&i| dataset.rows[i].numeric[at]));
        coefficients.push(Coefficient {
            feature: column.clone(),
            coefficient: 0.0,
            mean,
            standard_deviation,
        });
    }
    // Per categorical column, the values seen in training, sorted so the feature order
    // (and with it the stored model) does not depend on row order.
    let mut categories: Vec<Vec<String>> = Vec::new();
    for (at, column) in dataset.categorical_columns.iter().enumerate() {
        let values: BTreeSet<&str> = rows
            .iter()
            .map(|&i| dataset.rows[i].categorical[at].as_str())
            .filter(|value| !value.is_empty())
            .collect();
        if values.len() > MAX_CATEGORY_VALUES {
            return Err(TrainError::TooManyCategories {
                column: column.clone(),
                values: values.len(),
            });
        }
        for value in &values {
            coefficients.push(Coefficient {
                feature: format!("{column}={value}"),
                coefficient: 0.0,
                mean: 0.0,
                standard_deviation: 1.0,
            });
        }
        categories.push(values.into_iter().map(str::to_owned).collect());
    }
    let features = coefficients.len();
    if features > MAX_FEATURES {
        return Err(TrainError::TooManyFeatures { features });
    }

    // Design matrix, row-major, with a trailing 1 for the intercept.
    let width = features + 1;
    let numeric_count = dataset.numeric_columns.len();
    let mut design = vec![0.0; rows.len() * width];
    let mut outcome = Vec::with_capacity(rows.len());
    for (r, &i) in rows.iter().enumerate() {
        let row = &dataset.rows[i];
        let cells = &mut design[r * width..(r + 1) * width];
        for (at, term) in coefficients[..numeric_count].iter().enumerate() {
            cells[at] = standardise(row.numeric[at], term.mean, term.standard_deviation);
        }
        let mut offset = numeric_count;
        for (at, values) in categories.iter().enumerate() {
            if let Ok(k) = values.binary_search(&row.categorical[at]) {
                cells[offset + k] = 1.0;
            }
            offset += values.len();
        }
        cells[features] = 1.0;
        outcome.push(if row.churned { 1.0 } else { 0.0 });
    }

    let solution = newton(&design, &outcome, width)?;
    for (term, &weight) in coefficients.iter_mut().zip(&solution) {
        term.coefficient = weight;
    }
    Ok(Model::from_parts(
        dataset.numeric_columns.clone(),
        dataset.categorical_columns.clone(),
        solution[features],
        coefficients,
        None,
    )?)
}

/// Mean and population standard deviation (StandardScaler's) of the finite values; a
/// column with no values gets (0, 1) and a constant one a standard deviation of 1, so
/// standardising never divides by zero.
fn mean_and_sd(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let (count, sum) = values
        .clone()
        .filter(|v| v.is_finite())
        .fold((0usize, 0.0), |(n, s), v| (n + 1, s + v));
    if count == 0 {
        return (0.0, 1.0);
    }
    let mean = sum / count as f64;
    // Two passes: the one-pass formula loses everything to cancellation on ARR-sized
    // values with a small spread.
    let squares: f64 = values
        .filter(|v| v.is_finite())
        .map(|v| (v - mean).powi(2))
        .sum();
    let sd = (squares / count as f64).sqrt();
    if !sd.is_finite() || sd <= CONSTANT_RELATIVE_SD * mean.abs().max(1.0) {
        return (mean, 1.0);
    }
    (mean, sd)
}

/// log(1 + eᶻ) without overflow.
fn softplus(z: f64) -> f64 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

/// The logistic function without [`sigmoid`]'s margin: the solver needs the exact
/// curvature p(1 − p) in the tails.
fn logistic(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// ½‖w‖² + Σ log-loss for linear predictors `z`, the last parameter (the intercept)
/// unpenalised.
fn objective(z: &[f64], outcome: &[f64], beta: &[f64]) -> f64 {
    let penalty: f64 = beta[..beta.len() - 1].iter().map(|w| w * w).sum::<f64>() / 2.0;
    let loss: f64 = z
        .iter()
        .zip(outcome)
        .map(|(&z, &y)| softplus(z) - y * z)
        .sum();
    penalty + loss
}

fn linear_predictors(design: &[f64], width: usize, beta: &[f64], z: &mut [f64]) {
    for (zi, row) in z.iter_mut().zip(design.chunks_exact(width)) {
        *zi = row.iter().zip(beta).map(|(x, b)| x * b).sum();
    }
}

/// Minimises [`objective`] by Newton–Raphson with backtracking (the step is halved
/// until the objective falls enough, so the iteration cannot diverge on badly scaled
/// data). Returns the weights, the intercept last.
fn newton(design: &[f64], outcome: &[f64], width: usize) -> Result<Vec<f64>, TrainError> {
    let n = outcome.len();
    let mut beta = vec![0.0; width];
    // The exact answer when no feature carries information, so uninformative data
    // converges at once.
    let rate = (outcome.iter().sum::<f64>() / n.max(1) as f64).clamp(1e-9, 1.0 - 1e-9);
    beta[width - 1] = (rate / (1.0 - rate)).ln();
    let tolerance = GRADIENT_TOLERANCE_PER_ROW * n.max(1) as f64;
    let mut z = vec![0.0; n];
    linear_predictors(design, width, &beta, &mut z);
    let mut current = objective(&z, outcome, &beta);
    let mut candidate_z = vec![0.0; n];

    for _ in 0..MAX_ITERATIONS {
        let mut gradient = vec![0.0; width];
        // Upper triangle only; the Hessian is symmetric.
        let mut hessian = vec![0.0; width * width];
        for ((row, &zi), &y) in design.chunks_exact(width).zip(&z).zip(outcome) {
            let p = logistic(zi);
            let residual = p - y;
            let curvature = p * (1.0 - p);
            for (a, &xa) in row.iter().enumerate() {
                // One-hot and missing cells are mostly zero.
                if xa == 0.0 {
                    continue;
                }
                gradient[a] += residual * xa;
                let weighted = curvature * xa;
                let line = &mut hessian[a * width + a..(a + 1) * width];
                for (h, &xb) in line.iter_mut().zip(&row[a..]) {
                    *h += weighted * xb;
                }
            }
        }
        for a in 0..width - 1 {
            gradient[a] += beta[a];
            hessian[a * width + a] += 1.0;
        }
        for a in 0..width {
            for b in 0..a {
                hessian[a * width + b] = hessian[b * width + a];
            }
        }
        let largest = gradient.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        if !largest.is_finite() {
            return Err(TrainError::NotConverged);
        }
        if largest <= tolerance {
            return Ok(beta);
        }

        let step = solve_positive_definite(&hessian, &gradient, width)?;
        let decrease: f64 = gradient.iter().zip(&step).map(|(g, s)| g * s).sum();
        let mut scale = 1.0;
        let mut accepted = false;
        for _ in 0..MAX_STEP_HALVINGS {
            let candidate: Vec<f64> = beta.iter().zip(&step).map(|(b, s)| b - scale * s).collect();
            linear_predictors(design, width, &candidate, &mut candidate_z);
            let value = objective(&candidate_z, outcome, &candidate);
            // Armijo: demand a fraction of the decrease the quadratic model promises.
            if value.is_finite() && value <= current - 1e-4 * scale * decrease {
                beta = candidate;
                std::mem::swap(&mut z, &mut candidate_z);
                current = value;
                accepted = true;
                break;
            }
            scale /= 2.0;
        }
        if !accepted {
            // No step lowers the objective any more: the optimum is reached to within
            // floating-point precision, even if the gradient test is stricter.
            return Ok(beta);
        }
    }
    Err(TrainError::NotConverged)
}

/// Solves H x = g by Cholesky. H is positive definite in theory (the L2 term makes the
/// weight block so; the intercept's curvature Σ p(1 − p) vanishes only when every
/// probability saturates), so a failed factorisation is rounding; a growing ridge on
/// the diagonal gets past it.
fn solve_positive_definite(h: &[f64], g: &[f64], size: usize) -> Result<Vec<f64>, TrainError> {
    let largest_diagonal = (0..size).fold(1.0f64, |m, i| m.max(h[i * size + i].abs()));
    let mut ridge = 0.0;
    for _ in 0..12 {
        if let Some(lower) = cholesky(h, size, ridge) {
            let mut x = g.to_vec();
            // L y = g, then Lᵀ x = y.
            for i in 0..size {
                let mut sum = x[i];
                for k in 0..i {
                    sum -= lower[i * size + k] * x[k];
                }
                x[i] = sum / lower[i * size + i];
            }
            for i in (0..size).rev() {
                let mut sum = x[i];
                for k in i + 1..size {
                    sum -= lower[k * size + i] * x[k];
                }
                x[i] = sum / lower[i * size + i];
            }
            return Ok(x);
        }
        ridge = if ridge == 0.0 {
            1e-12 * largest_diagonal
        } else {
            ridge * 100.0
        };
    }
    Err(TrainError::NotConverged)
}

/// Lower-triangular L with L Lᵀ = H + ridge·I, or `None` when a pivot is not positive.
fn cholesky(h: &[f64], size: usize, ridge: f64) -> Option<Vec<f64>> {
    let mut lower = vec![0.0f64; size * size];
    for j in 0..size {
        let mut pivot = h[j * size + j] + ridge;
        for k in 0..j {
            pivot -= lower[j * size + k].powi(2);
        }
        if !(pivot > 0.0 && pivot.is_finite()) {
            return None;
        }
        let root = pivot.sqrt();
        lower[j * size + j] = root;
        for i in j + 1..size {
            let mut sum = h[i * size + j];
            for k in 0..j {
                sum -= lower[i * size + k] * lower[j * size + k];
            }
            lower[i * size + j] = sum / root;
        }
    }
    Some(lower)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
