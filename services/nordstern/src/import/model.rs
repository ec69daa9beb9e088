//! `model train`: a churn model from a CSV of past renewals and churns;
//! `model train-from-history`: one from the renewals and churns the platform recorded;
//! `model score`: rows of a CSV scored with one.

use super::*;
use nordstern_proto::scoring::v1::{self as scoring, scoring_service_client::ScoringServiceClient};

pub struct TrainArgs {
    pub label: String,
    /// Empty: the header's columns that are platform features.
    pub numeric: Vec<String>,
    pub categorical: Vec<String>,
    /// Activates the model (and rescores every account) when it can score live accounts.
    pub activate: bool,
}

/// Trains a churn model on a CSV of past renewals and churns; the server checks every
/// row and refuses the file with each bad row's line and column.
pub async fn train_model(
    channel: Channel,
    text: String,
    args: TrainArgs,
    output: Output,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    use nordstern_domain::churn::{PLATFORM_CATEGORICAL_FEATURES, PLATFORM_NUMERIC_FEATURES};
    let (mut numeric, mut categorical) = (args.numeric, args.categorical);
    if numeric.is_empty() && categorical.is_empty() {
        let header = Records::new(text.strip_prefix('\u{feff}').unwrap_or(&text), ',')
            .next()
            .and_then(Result::ok)
            .map(|record| record.fields)
            .unwrap_or_default();
        for column in header.iter().map(|c| c.trim()) {
            if PLATFORM_NUMERIC_FEATURES.contains(&column) {
                numeric.push(column.to_owned());
            } else if PLATFORM_CATEGORICAL_FEATURES.contains(&column) {
                categorical.push(column.to_owned());
            }
        }
        anyhow::ensure!(
            !numeric.is_empty() || !categorical.is_empty(),
            "no column of the header is a platform feature ({}, {}); name the feature columns with --numeric and --categorical",
            PLATFORM_NUMERIC_FEATURES.join(", "),
            PLATFORM_CATEGORICAL_FEATURES.join(", ")
        );
    }
    let mut client = ScoringServiceClient::new(channel);
    let model = client
        .train_churn_model_from_csv(scoring::TrainChurnModelFromCsvRequest {
            content: Some(scoring::train_churn_model_from_csv_request::Content::CsvText(text)),
            numeric_columns: numeric,
            categorical_columns: categorical,
            label_column: args.label,
            ..Default::default()
        })
        .await
        .map_err(|s| describe(&s))?
        .into_inner()
        .model
        .unwrap_or_default();
    activate_and_report(&mut client, &model, args.activate, output, out).await
}

/// What `model train-from-history` asks for.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct HistoryArgs {
    /// Days before each renewal or churn that its features are taken.
    #[arg(long, default_value_t = 90)]
    pub cutoff_days: u32,
    /// Leave out outcomes whose cut-off falls before this day (YYYY-MM-DD): the
    /// platform's data before it is incomplete, e.g. usage recorded only since then
    /// plus the 120 days a usage trend needs.
    #[arg(long, value_name = "DATE")]
    pub earliest_cutoff: Option<NaiveDate>,
    /// Share of outcomes held out for the AUC and Brier score, in (0, 0.5].
    #[arg(long, default_value_t = 0.2)]
    pub held_out: f64,
    /// Seed of the held-out split, for reproducible results.
    #[arg(long, default_value_t = 7)]
    pub seed: i64,
    /// Activate the model and rescore every account.
    #[arg(long)]
    pub activate: bool,
}

/// Trains a churn model on the platform's own renewals and churns
/// (`TrainChurnModelFromHistory`); the server refuses a history with too few outcomes of
/// either kind, and says so.
pub async fn train_model_from_history(
    channel: Channel,
    args: HistoryArgs,
    output: Output,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut client = ScoringServiceClient::new(channel);
    let model = client
        .train_churn_model_from_history(scoring::TrainChurnModelFromHistoryRequest {
            cutoff_days: i32::try_from(args.cutoff_days).unwrap_or(i32::MAX),
            held_out_fraction: args.held_out,
            seed: args.seed,
            earliest_cutoff: args
                .earliest_cutoff
                .map(nordstern_runtime::wire::date_to_proto),
        })
        .await
        .map_err(|s| describe(&s))?
        .into_inner()
        .model
        .unwrap_or_default();
    activate_and_report(&mut client, &model, args.activate, output, out).await
}

/// Activates a trained model when asked and it can score live accounts, then prints it:
/// as JSON, or its evaluation, its coefficients and whether it is active.
async fn activate_and_report(
    client: &mut ScoringServiceClient<Channel>,
    model: &scoring::ChurnModel,
    activate: bool,
    output: Output,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let rescored = if activate && model.activatable {
        let answer = client
            .activate_churn_model(scoring::ActivateChurnModelRequest {
                model_id: model.model_id.clone(),
            })
            .await
            .map_err(|s| describe(&s))?;
        Some(answer.into_inner().accounts_rescored)
    } else {
        None
    };
    if output == Output::Json {
        let body = nordstern_gateway::http::to_json(model, "nordstern.scoring.v1.ChurnModel")
            .map_err(|s| describe(&s))?;
        out.write_all(&body)?;
        writeln!(out)?;
        return Ok(());
    }
    let evaluation = model.evaluation.unwrap_or_default();
    writeln!(
        out,
        "churn model {} (version {}): held-out AUC {}, Brier score {}; {} training rows, {} held out, {} churned",
        model.model_id,
        model.version,
        evaluation.auc.map_or("-".to_owned(), |v| format!("{v:.3}")),
        evaluation
            .brier_score
            .map_or("-".to_owned(), |v| format!("{v:.3}")),
        evaluation.training_samples,
        evaluation.held_out_samples,
        evaluation.churned_samples
    )?;
    let mut coefficients = model.coefficients.clone();
    coefficients.sort_by(|a, b| b.coefficient.abs().total_cmp(&a.coefficient.abs()));
    let mut table = crate::terminal::Table::new(&["FEATURE", ">LOG-ODDS", "EFFECT"]);
    for c in &coefficients {
        let log_odds = format!("{:+.3}", c.coefficient);
        // As printed: a feature the history gave no signal (e.g. CES with no CES answers)
        // has a coefficient of zero, not a small negative one.
        let effect = match log_odds.as_str() {
            "+0.000" | "-0.000" => "no effect",
            _ if c.coefficient > 0.0 => "raises churn risk",
            _ => "lowers churn risk",
        };
        table.row(vec![c.feature.clone(), log_odds, effect.to_owned()]);
    }
    table.write(out)?;
    match rescored {
        Some(count) => writeln!(out, "activated; {count} accounts rescored with it")?,
        None if !model.activatable => writeln!(
            out,
            "not activatable: a column is not a platform feature, so it cannot score live accounts"
        )?,
        None => writeln!(
            out,
            "stored, not active; activate it with --activate or ActivateChurnModel"
        )?,
    }
    Ok(())
}

/// Scores the rows of a CSV with a churn model (the active one unless named) and prints
/// each row's probability and top drivers, riskiest first.
pub async fn score_rows(
    channel: Channel,
    text: String,
    model_id: String,
    id_column: String,
    output: Output,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let answer = ScoringServiceClient::new(channel)
        .predict_churn(scoring::PredictChurnRequest {
            model_id,
            content: Some(scoring::predict_churn_request::Content::CsvText(text)),
            id_column,
            ..Default::default()
        })
        .await
        .map_err(|s| describe(&s))?
        .into_inner();
    if output == Output::Json {
        let body =
            nordstern_gateway::http::to_json(&answer, "nordstern.scoring.v1.PredictChurnResponse")
                .map_err(|s| describe(&s))?;
        out.write_all(&body)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "{} rows scored with churn model {} (version {})",
        answer.predictions.len(),
        answer.model_id,
        answer.model_version
    )?;
    let mut rows = answer.predictions;
    rows.sort_by(|a, b| b.probability.total_cmp(&a.probability));
    let mut table = crate::terminal::Table::new(&["LINE", "ROW", ">CHURN", "TOP DRIVERS"]);
    for row in &rows {
        let drivers: Vec<String> = row
            .top_drivers
            .iter()
            .take(3)
            .map(|d| format!("{} {:+.2}", d.feature, d.contribution))
            .collect();
        table.row(vec![
            row.line.to_string(),
            row.id.clone(),
            format!("{:.1} %", row.probability * 100.0),
            drivers.join(", "),
        ]);
    }
    table.write(out)?;
    Ok(())
}
