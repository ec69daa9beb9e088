//! Churn model training and scoring (pure domain code) on a generated history of
//! platform features, next to scikit-learn's `LogisticRegression` on the same CSV and
//! the same held-out rows when Python with scikit-learn is installed
//! (`scripts/churn_sklearn.py`).

use std::{fmt::Write as _, path::Path, process::Command, time::Instant};

use nordstern_domain::churn::{
    self, Dataset, FeatureValues, Model, PLATFORM_CATEGORICAL_FEATURES, PLATFORM_NUMERIC_FEATURES,
    parse_csv, stratified_split, train,
};
use rand::{Rng, SeedableRng, rngs::SmallRng};

const LABEL: &str = "churned";
const HELD_OUT_FRACTION: f64 = 0.2;
const SKLEARN_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../scripts/churn_sklearn.py"
);

#[derive(clap::Args, Debug)]
pub struct ChurnArgs {
    /// Historical accounts (rows of the generated CSV).
    #[arg(long, default_value_t = 20_000)]
    pub rows: usize,
    /// Training repetitions; the median time is reported.
    #[arg(long, default_value_t = 7)]
    pub runs: usize,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Python interpreter for the scikit-learn comparison.
    #[arg(long, default_value = "python3")]
    pub python: String,
}

pub fn run(args: &ChurnArgs) -> anyhow::Result<()> {
    let csv = generate_history(args.rows, args.seed);
    let numeric: Vec<String> = PLATFORM_NUMERIC_FEATURES.map(str::to_owned).to_vec();
    let categorical: Vec<String> = PLATFORM_CATEGORICAL_FEATURES.map(str::to_owned).to_vec();

    let started = Instant::now();
    let dataset = parse_csv(&csv, ',', &numeric, &categorical, LABEL).map_err(|violations| {
        anyhow::anyhow!("generated CSV refused: {}", violations[0].description)
    })?;
    let parse_ms = started.elapsed().as_secs_f64() * 1000.0;
    println!(
        "churn benchmark: {} rows ({} churned), {} numeric and {} categorical columns, CSV {:.1} MB parsed in {parse_ms:.1} ms",
        dataset.rows.len(),
        dataset.rows.iter().filter(|row| row.churned).count(),
        numeric.len(),
        categorical.len(),
        csv.len() as f64 / 1e6,
    );

    let mut times = Vec::with_capacity(args.runs.max(1));
    let mut model = None;
    for _ in 0..args.runs.max(1) {
        let started = Instant::now();
        model = Some(train(&dataset, HELD_OUT_FRACTION, args.seed)?);
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let training_ms = times[times.len() / 2];
    let model = model.ok_or_else(|| anyhow::anyhow!("no training run"))?;
    let evaluation = model
        .evaluation()
        .ok_or_else(|| anyhow::anyhow!("a trained model has an evaluation"))?;
    println!(
        "nordstern: training median {training_ms:.1} ms (split, fit, held-out evaluation; goal well under 1 s), held-out AUC {}, Brier {}",
        format_metric(evaluation.auc),
        format_metric(evaluation.brier_score),
    );

    score_rates(&model, &dataset);
    compare_with_sklearn(args, &csv, &dataset, &model, training_ms)?;
    Ok(())
}

/// Rows scored per second: the fast path without drivers, and full predictions with
/// the top drivers as the scoring service asks for them.
fn score_rates(model: &Model, dataset: &Dataset) {
    let rows: Vec<FeatureValues> = dataset
        .rows
        .iter()
        .map(|row| {
            let mut values = FeatureValues::new();
            for (name, value) in dataset.numeric_columns.iter().zip(&row.numeric) {
                values = values.with_numeric(name, *value);
            }
            for (name, value) in dataset.categorical_columns.iter().zip(&row.categorical) {
                values = values.with_categorical(name, value);
            }
            values
        })
        .collect();
    let rate = |with_drivers: bool| {
        let started = Instant::now();
        let mut scored = 0usize;
        let mut checksum = 0.0;
        while started.elapsed().as_secs_f64() < 1.0 {
            for values in &rows {
                checksum += if with_drivers {
                    model.predict(values).probability
                } else {
                    model.predict_probability(values)
                };
            }
            scored += rows.len();
        }
        (scored as f64 / started.elapsed().as_secs_f64(), checksum)
    };
    let (fast, _) = rate(false);
    let (full, _) = rate(true);
    let started = Instant::now();
    let probabilities = model.score_dataset(dataset);
    let columnar = probabilities.len() as f64 / started.elapsed().as_secs_f64();
    println!(
        "nordstern: scoring {fast:.0} rows/s by feature name, {full:.0} rows/s with top drivers, {columnar:.0} rows/s over a parsed dataset"
    );
}

fn compare_with_sklearn(
    args: &ChurnArgs,
    csv: &str,
    dataset: &Dataset,
    model: &Model,
    training_ms: f64,
) -> anyhow::Result<()> {
    let labels: Vec<bool> = dataset.rows.iter().map(|row| row.churned).collect();
    let split = stratified_split(&labels, HELD_OUT_FRACTION, args.seed)?;
    let dir = tempfile::tempdir()?;
    let csv_path = dir.path().join("history.csv");
    let rows_path = dir.path().join("held_out_rows.txt");
    std::fs::write(&csv_path, csv)?;
    let held_out: String = split
        .held_out
        .iter()
        .map(|row| format!("{row}\n"))
        .collect();
    std::fs::write(&rows_path, held_out)?;

    let output = Command::new(&args.python)
        .arg(Path::new(SKLEARN_SCRIPT))
        .arg(&csv_path)
        .args(["--numeric", &PLATFORM_NUMERIC_FEATURES.join(",")])
        .args(["--categorical", &PLATFORM_CATEGORICAL_FEATURES.join(",")])
        .args(["--label", LABEL])
        .arg("--held-out-rows")
        .arg(&rows_path)
        .output();
    let output = match output {
        Ok(output) if output.status.success() => output,
        Ok(output) => {
            println!(
                "scikit-learn: skipped ({})",
                String::from_utf8_lossy(&output.stderr).trim()
            );
            return Ok(());
        }
        Err(error) => {
            println!(
                "scikit-learn: skipped ({} not runnable: {error})",
                args.python
            );
            return Ok(());
        }
    };
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let number = |key: &str| report.get(key).and_then(serde_json::Value::as_f64);
    let sklearn_ms = number("training_ms").unwrap_or(f64::NAN);
    let sklearn_auc = number("auc");
    let ours = model.evaluation().and_then(|e| e.auc);
    let auc_gap = match (ours, sklearn_auc) {
        (Some(a), Some(b)) => format!("{:+.4}", a - b),
        _ => "n/a".to_owned(),
    };
    println!(
        "scikit-learn (same CSV, same held-out rows): fit {sklearn_ms:.1} ms, AUC {}, Brier {}",
        format_metric(sklearn_auc),
        format_metric(number("brier_score")),
    );
    println!(
        "nordstern vs scikit-learn: AUC difference {auc_gap} (goal within ±0.005), training {:.2}× faster (nordstern's time includes the split and the evaluation)",
        sklearn_ms / training_ms
    );
    Ok(())
}

fn format_metric(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.4}"))
}

/// A CSV export of accounts that churned or renewed, with platform features and labels
/// drawn from a known logistic model (so the achievable AUC is bounded and stable).
fn generate_history(rows: usize, seed: u64) -> String {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut csv = String::with_capacity(rows * 96);
    csv.push_str(&PLATFORM_NUMERIC_FEATURES.join(","));
    csv.push(',');
    csv.push_str(&PLATFORM_CATEGORICAL_FEATURES.join(","));
    csv.push_str(",churned\n");
    for _ in 0..rows {
        let arr = crate::demo::log_normal_arr(&mut rng) as f64 / 100.0;
        let login = component(&mut rng, 50.0);
        let breadth = component(&mut rng, 45.0);
        let integration = if rng.random_bool(0.6) { 100.0 } else { 0.0 };
        let trend = component(&mut rng, 40.0);
        let peers = component(&mut rng, 50.0);
        let nps = rng.random_bool(0.6).then(|| component(&mut rng, 50.0));
        let ces = rng.random_bool(0.5).then(|| component(&mut rng, 50.0));
        let support = component(&mut rng, 30.0) + 20.0;
        let renewal = component(&mut rng, 50.0);
        let segment = ["ENTERPRISE", "SME", "PROSUMER"][rng.random_range(0..3)];
        let tier = ["A", "B", "C"][rng.random_range(0..3)];
        let logit = -1.6
            - 0.5 * (arr.max(1.0).ln() - 10.0)
            - 0.03 * (login - 50.0)
            - 0.02 * (breadth - 50.0)
            - 0.004 * (integration - 50.0)
            - 0.035 * (trend - 50.0)
            - 0.02 * (nps.unwrap_or(50.0) - 50.0)
            - 0.01 * (support - 70.0)
            + if segment == "PROSUMER" { 0.5 } else { 0.0 };
        let churned = rng.random_bool(churn::sigmoid(logit));
        let optional = |value: Option<f64>| value.map(|v| format!("{v:.1}")).unwrap_or_default();
        let _ = writeln!(
            csv,
            "{arr:.2},{login:.1},{breadth:.1},{integration:.0},{trend:.1},{peers:.1},{},{},{support:.1},{renewal:.1},{segment},{tier},{}",
            optional(nps),
            optional(ces),
            u8::from(churned),
        );
    }
    csv
}

/// A health component value spread uniformly around 50.
fn component(rng: &mut SmallRng, spread: f64) -> f64 {
    (50.0 + rng.random_range(-spread..spread)).clamp(0.0, 100.0)
}
