//! Churn models: trained from a CSV export or from the platform's own history,
//! activated, and scoring rows of any model (PredictChurn).

use super::*;

in_every_combination!(
    churn_models_from_csv_and_activation,
    churn_model_from_platform_history,
);

/// A deterministic CSV of `rows` accounts over platform columns (plus `extra`), churn
/// driven by low login regularity and falling usage.
fn history_csv(rows: usize, extra: Option<&str>) -> String {
    let mut csv = String::from("arr,login_regularity,usage_trend,segment");
    if let Some(extra) = extra {
        csv.push(',');
        csv.push_str(extra);
    }
    csv.push_str(",churned\n");
    let mut state: u64 = 42;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for row in 0..rows {
        let login = 100.0 * next();
        let trend = 100.0 * next();
        let arr = 5_000.0 + 100_000.0 * next();
        let risk = 1.0 / (1.0 + (0.06 * (login - 50.0) + 0.04 * (trend - 50.0)).exp());
        let churned = next() < risk;
        let segment = ["SME", "ENTERPRISE", "PROSUMER"][row % 3];
        csv.push_str(&format!("{arr:.2},{login:.1},{trend:.1},{segment}"));
        if extra.is_some() {
            csv.push_str(&format!(",{}", row % 7));
        }
        csv.push_str(if churned { ",yes\n" } else { ",no\n" });
    }
    csv
}

fn csv_request(csv: String, numeric: &[&str]) -> pb::TrainChurnModelFromCsvRequest {
    pb::TrainChurnModelFromCsvRequest {
        content: Some(pb::train_churn_model_from_csv_request::Content::CsvText(
            csv,
        )),
        numeric_columns: numeric.iter().map(|c| (*c).to_owned()).collect(),
        categorical_columns: vec!["segment".to_owned()],
        label_column: "churned".to_owned(),
        seed: 7,
        ..pb::TrainChurnModelFromCsvRequest::default()
    }
}

/// A model trained on a company's own columns cannot score accounts, but it scores
/// rows: each with the probability its coefficients give and its top drivers.
async fn predict_with_a_model_of_foreign_columns(client: &mut Scoring, model: &pb::ChurnModel) {
    let csv = "crm_id,arr,login_regularity,usage_trend,segment,seats\n\
               RISKY,20000,5,5,SME,3\n\
               SAFE,20000,95,95,SME,3\n\
               SPARSE,,50,50,,\n"
        .to_owned();
    let answer = client
        .predict_churn(pb::PredictChurnRequest {
            model_id: model.model_id.clone(),
            content: Some(pb::predict_churn_request::Content::CsvText(csv)),
            ..pb::PredictChurnRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert_eq!(
        (answer.model_id.as_str(), answer.model_version),
        (model.model_id.as_str(), model.version)
    );
    let rows: Vec<(i32, i32, &str)> = answer
        .predictions
        .iter()
        .map(|p| (p.index, p.line, p.id.as_str()))
        .collect();
    assert_eq!(rows, [(0, 2, "RISKY"), (1, 3, "SAFE"), (2, 4, "SPARSE")]);
    let (risky, safe) = (&answer.predictions[0], &answer.predictions[1]);
    assert!(
        risky.probability > safe.probability,
        "few logins and falling usage churn more: {} vs {}",
        risky.probability,
        safe.probability
    );
    // The coefficients applied by hand give the same probability.
    let row = [
        ("arr", Some(20_000.0)),
        ("login_regularity", Some(5.0)),
        ("usage_trend", Some(5.0)),
        ("seats", Some(3.0)),
    ];
    let mut logit = model.intercept;
    for c in &model.coefficients {
        if let Some((_, Some(value))) = row.iter().find(|(name, _)| *name == c.feature) {
            logit += c.coefficient * (value - c.mean) / c.standard_deviation;
        } else if c.feature == "segment=SME" {
            logit += c.coefficient;
        }
    }
    let by_hand = 1.0 / (1.0 + (-logit).exp());
    assert!(
        (risky.probability - by_hand).abs() < 1e-9,
        "{} vs {by_hand}",
        risky.probability
    );
    let sizes: Vec<f64> = risky
        .top_drivers
        .iter()
        .map(|d| d.contribution.abs())
        .collect();
    assert!(
        !sizes.is_empty() && sizes.windows(2).all(|w| w[0] >= w[1]),
        "{sizes:?}"
    );
    // Rows given directly score the same; an unknown feature is named.
    let direct = client
        .predict_churn(pb::PredictChurnRequest {
            model_id: model.model_id.clone(),
            content: Some(pb::predict_churn_request::Content::Rows(pb::FeatureRows {
                rows: vec![pb::FeatureRow {
                    id: "RISKY".to_owned(),
                    numeric: row
                        .iter()
                        .filter_map(|(name, value)| Some(((*name).to_owned(), (*value)?)))
                        .collect(),
                    categorical: [("segment".to_owned(), "SME".to_owned())].into(),
                }],
            })),
            ..pb::PredictChurnRequest::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert!((direct.predictions[0].probability - risky.probability).abs() < 1e-12);
    assert_invalid(
        client
            .predict_churn(pb::PredictChurnRequest {
                model_id: model.model_id.clone(),
                content: Some(pb::predict_churn_request::Content::Rows(pb::FeatureRows {
                    rows: vec![pb::FeatureRow {
                        numeric: [("height".to_owned(), 1.0)].into(),
                        ..pb::FeatureRow::default()
                    }],
                })),
                ..pb::PredictChurnRequest::default()
            })
            .await,
        &["rows.rows[0].numeric[height]"],
    );
    // A bad cell and a missing column are both named, by line and column.
    let refused = client
        .predict_churn(pb::PredictChurnRequest {
            model_id: model.model_id.clone(),
            content: Some(pb::predict_churn_request::Content::CsvText(
                "arr,login_regularity,segment,seats\nlots,5,SME,1\n".to_owned(),
            )),
            ..pb::PredictChurnRequest::default()
        })
        .await
        .err()
        .unwrap_or_else(|| panic!("a CSV without usage_trend must be refused"));
    assert_eq!(refused.code(), Code::InvalidArgument);
    let said: Vec<String> = nordstern_runtime::status::field_violations(&refused)
        .into_iter()
        .map(|(field, description)| format!("{field}: {description}"))
        .collect();
    assert_eq!(
        said,
        ["csv_text: no column named 'usage_trend' in the header; the model needs it"]
    );
    let refused = client
        .predict_churn(pb::PredictChurnRequest {
            model_id: model.model_id.clone(),
            content: Some(pb::predict_churn_request::Content::CsvText(
                "arr,login_regularity,usage_trend,segment,seats\nlots,5,5,SME,1\n1,2,3,SME,x\n"
                    .to_owned(),
            )),
            ..pb::PredictChurnRequest::default()
        })
        .await
        .err()
        .unwrap_or_else(|| panic!("bad cells must be refused"));
    let said: Vec<String> = nordstern_runtime::status::field_violations(&refused)
        .into_iter()
        .map(|(_, description)| description)
        .collect();
    assert_eq!(
        said,
        [
            "line 2: 'lots' in column arr is not a number",
            "line 3: 'x' in column seats is not a number"
        ]
    );
    assert_code(
        client
            .predict_churn(pb::PredictChurnRequest {
                model_id: "00000000-0000-7000-8000-000000000042".to_owned(),
                content: Some(pb::predict_churn_request::Content::CsvText(
                    "arr\n1\n".to_owned(),
                )),
                ..pb::PredictChurnRequest::default()
            })
            .await,
        Code::NotFound,
    );
}

async fn churn_models_from_csv_and_activation(suite: &TestSuite) {
    let mut accounts_client = accounts(suite).await;
    let id = create(
        &mut accounts_client,
        NewAccount {
            name: "Modelled AG",
            arr: 2_000_000,
            ..NewAccount::default()
        },
    )
    .await;
    let mut client = scoring(suite).await;
    let active = client
        .get_churn_model(pb::GetChurnModelRequest::default())
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .model
        .unwrap_or_default();
    assert_eq!(
        (active.model_id.as_str(), active.version, active.active),
        ("default", 0, true)
    );
    assert_eq!(active.source, pb::ChurnModelSource::Default as i32);
    let platform = ["arr", "login_regularity", "usage_trend"];

    let trained = client
        .train_churn_model_from_csv(csv_request(history_csv(400, None), &platform))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .model
        .unwrap_or_default();
    let evaluation = trained.evaluation.unwrap_or_default();
    assert!(!trained.active && trained.activatable && trained.version == 1);
    assert_eq!(trained.source, pb::ChurnModelSource::Csv as i32);
    assert!(
        evaluation.auc.is_some_and(|auc| auc > 0.5 && auc <= 1.0),
        "{evaluation:?}"
    );
    assert!(evaluation.brier_score.is_some_and(|b| b < 0.25));
    assert_eq!(
        evaluation.training_samples + evaluation.held_out_samples,
        400
    );
    let login = trained
        .coefficients
        .iter()
        .find(|c| c.feature == "login_regularity")
        .map_or(0.0, |c| c.coefficient);
    assert!(login < 0.0, "more logins, less churn: {login}");

    let foreign = client
        .train_churn_model_from_csv(csv_request(
            history_csv(400, Some("seats")),
            &["arr", "login_regularity", "usage_trend", "seats"],
        ))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .model
        .unwrap_or_default();
    assert!(!foreign.activatable && foreign.version == 2);
    predict_with_a_model_of_foreign_columns(&mut client, &foreign).await;
    assert_code(
        client
            .activate_churn_model(pb::ActivateChurnModelRequest {
                model_id: foreign.model_id.clone(),
            })
            .await,
        Code::FailedPrecondition,
    );
    assert_invalid(
        client
            .train_churn_model_from_csv(csv_request(history_csv(50, None), &["arr", "nope"]))
            .await,
        &["numeric_columns[1]"],
    );
    let mut bad = history_csv(250, None);
    bad.push_str("lots,1,2,SME,no\n");
    // Sent as text, the problem is reported under the field that was set.
    assert_invalid(
        client
            .train_churn_model_from_csv(csv_request(bad.clone(), &platform))
            .await,
        &["csv_text"],
    );
    let mut request = csv_request(bad, &platform);
    if let Some(pb::train_churn_model_from_csv_request::Content::CsvText(text)) =
        request.content.take()
    {
        request.content = Some(pb::train_churn_model_from_csv_request::Content::CsvData(
            text.into_bytes(),
        ));
    }
    assert_invalid(
        client.train_churn_model_from_csv(request).await,
        &["csv_data"],
    );
    let models = client
        .list_churn_models(pb::ListChurnModelsRequest::default())
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .models;
    assert_eq!(models.len(), 3, "refused uploads store no model");
    let before = health(&mut client, &id).await;
    assert_eq!(
        before.churn.as_ref().map(|c| c.model_id.as_str()),
        Some("default"),
        "training alone activates nothing"
    );

    let activated = client
        .activate_churn_model(pb::ActivateChurnModelRequest {
            model_id: trained.model_id.clone(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    assert!(activated.model.as_ref().is_some_and(|m| m.active));
    assert!(activated.accounts_rescored > 0);
    assert_eq!(activated.accounts_rescored, 1);
    let rescored = health(&mut client, &id).await;
    assert_eq!(rescored.version, before.version + 1);
    let churn = rescored.churn.unwrap_or_default();
    assert_eq!(
        (churn.model_id, churn.model_version),
        (trained.model_id.clone(), 1)
    );
    assert!(churn.probability > 0.0 && churn.probability < 1.0);

    let models = client
        .list_churn_models(pb::ListChurnModelsRequest::default())
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .models;
    let versions: Vec<i32> = models.iter().map(|m| m.version).collect();
    assert_eq!(versions, vec![2, 1, 0], "newest first, the default last");
    assert_eq!(models.last().map(|m| m.model_id.as_str()), Some("default"));
    assert_eq!(
        models
            .iter()
            .find(|m| m.active)
            .map(|m| m.model_id.as_str()),
        Some(trained.model_id.as_str())
    );
    assert_eq!(models.iter().filter(|m| m.active).count(), 1);
    let active = client
        .get_churn_model(pb::GetChurnModelRequest::default())
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .model
        .unwrap_or_default();
    assert_eq!(active.model_id, trained.model_id);
    // Back to the built-in model.
    client
        .activate_churn_model(pb::ActivateChurnModelRequest {
            model_id: "default".to_owned(),
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"));
    let churn = health(&mut client, &id).await.churn.unwrap_or_default();
    assert_eq!(churn.model_id, "default");
}

/// 16 accounts scored today; tomorrow 8 churn and 8 renew. With a cut-off of one day,
/// today's scores are their features; with too little history the refusal is a
/// precondition, not an error about request fields.
async fn churn_model_from_platform_history(suite: &TestSuite) {
    let mut accounts_client = accounts(suite).await;
    let mut client = scoring(suite).await;
    assert_code(
        client
            .train_churn_model_from_history(pb::TrainChurnModelFromHistoryRequest::default())
            .await,
        Code::FailedPrecondition,
    );
    accounts_with_outcomes(&mut accounts_client, &mut client, "History").await;
    let learned = client
        .train_churn_model_from_history(pb::TrainChurnModelFromHistoryRequest {
            cutoff_days: 1,
            held_out_fraction: 0.25,
            seed: 3,
            earliest_cutoff: None,
        })
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .model
        .unwrap_or_default();
    let evaluation = learned.evaluation.unwrap_or_default();
    assert_eq!(learned.source, pb::ChurnModelSource::PlatformHistory as i32);
    assert!(learned.activatable && !learned.active);
    assert_eq!(
        (
            evaluation.training_samples + evaluation.held_out_samples,
            evaluation.churned_samples
        ),
        (16, 8)
    );
    // Cut-offs before the platform's data is complete are left out: none remain here.
    assert_code(
        client
            .train_churn_model_from_history(pb::TrainChurnModelFromHistoryRequest {
                cutoff_days: 1,
                earliest_cutoff: days_from_now(1),
                ..pb::TrainChurnModelFromHistoryRequest::default()
            })
            .await,
        Code::FailedPrecondition,
    );
}
