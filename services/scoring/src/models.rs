//! Scoring configurations and churn models as stored (their protobuf messages) and as the
//! domain uses them; training from a CSV export or from the platform's own history.

use nordstern_runtime::status::internal_with_context;
use std::time::Instant;

use chrono::DateTime;
use nordstern_domain::{
    churn::{self, Dataset, Model},
    health::ScoringConfig,
};
use nordstern_proto::scoring::v1 as pb;
use nordstern_runtime::wire::{from_timestamp, new_id, now_micros};
use prost::Message;
use tonic::Status;

use crate::{
    convert::*,
    store::{ACTIVE_MODEL, Store},
};

pub const DEFAULT_MODEL_ID: &str = "default";

/// The current configuration and its version; the built-in default (version 1) until
/// one is stored.
pub async fn current_config(store: &Store) -> Result<(ScoringConfig, i32), Status> {
    match store.config(None).await.map_err(crate::db_error)? {
        Some((version, body, _)) => Ok((decode_config(&body)?, version)),
        None => Ok((ScoringConfig::default(), 1)),
    }
}

/// A stored configuration as its message; version 1 is the built-in default when
/// nothing was stored.
pub async fn config_message(
    store: &Store,
    version: Option<i32>,
) -> Result<Option<pb::ScoringConfig>, Status> {
    match store.config(version).await.map_err(crate::db_error)? {
        Some((_, body, _)) => Ok(Some(
            pb::ScoringConfig::decode(body.as_slice())
                .map_err(|e| corrupt("scoring config", &e))?,
        )),
        None if version.is_none_or(|v| v == 1) => Ok(Some(config_to_proto(
            &ScoringConfig::default(),
            1,
            DateTime::UNIX_EPOCH,
        ))),
        None => Ok(None),
    }
}

fn decode_config(body: &[u8]) -> Result<ScoringConfig, Status> {
    let message = pb::ScoringConfig::decode(body).map_err(|e| corrupt("scoring config", &e))?;
    let mut violations = Vec::new();
    raw_config_from_proto(&message, &mut violations)
        .validate()
        .map_err(|_| Status::internal("a stored scoring config no longer validates"))
}

/// The active model with its message (the built-in default until one is activated).
pub async fn active_model(store: &Store) -> Result<(Model, ModelMeta), Status> {
    let active = store.state(ACTIVE_MODEL).await.map_err(crate::db_error)?;
    match active {
        Some(id) if id != DEFAULT_MODEL_ID => {
            let stored = stored_model(store, &id).await?.ok_or_else(|| {
                tracing::error!(model_id = %id, "the active model is not stored");
                Status::internal("internal error; the server log has the details")
            })?;
            let model = model_from_proto(&stored).map_err(|problem| {
                tracing::error!(model_id = %id, %problem, "the active model does not load");
                Status::internal("internal error; the server log has the details")
            })?;
            Ok((model, meta_of(&stored)))
        }
        _ => Ok((churn::default_model(), default_meta())),
    }
}

/// A model by id, the built-in default included; `None` when no such model is stored.
pub async fn model_by_id(
    store: &Store,
    model_id: &str,
) -> Result<Option<(Model, ModelMeta)>, Status> {
    if model_id == DEFAULT_MODEL_ID {
        return Ok(Some((churn::default_model(), default_meta())));
    }
    let Some(stored) = stored_model(store, model_id).await? else {
        return Ok(None);
    };
    let model = model_from_proto(&stored).map_err(|problem| {
        tracing::error!(model_id = %model_id, %problem, "a stored model does not load");
        Status::internal("internal error; the server log has the details")
    })?;
    Ok(Some((model, meta_of(&stored))))
}

pub fn default_meta() -> ModelMeta {
    ModelMeta {
        model_id: DEFAULT_MODEL_ID.to_owned(),
        version: 0,
        source: pb::ChurnModelSource::Default,
        trained_at: None,
        label_column: String::new(),
        training_duration: None,
    }
}

pub fn default_model_message(active: bool) -> pb::ChurnModel {
    model_to_proto(&churn::default_model(), &default_meta(), active)
}

pub async fn stored_model(store: &Store, model_id: &str) -> Result<Option<pb::ChurnModel>, Status> {
    store
        .model(model_id)
        .await
        .map_err(crate::db_error)?
        .map(|body| pb::ChurnModel::decode(body.as_slice()).map_err(|e| corrupt("churn model", &e)))
        .transpose()
}

fn meta_of(stored: &pb::ChurnModel) -> ModelMeta {
    ModelMeta {
        model_id: stored.model_id.clone(),
        version: stored.version,
        source: pb::ChurnModelSource::try_from(stored.source)
            .unwrap_or(pb::ChurnModelSource::Unspecified),
        trained_at: from_timestamp(stored.trained_at.as_ref()),
        label_column: stored.label_column.clone(),
        training_duration: None,
    }
}

/// Trains on `dataset` off the async runtime and stores the model (not active).
pub async fn train_and_store(
    store: &Store,
    dataset: Dataset,
    held_out_fraction: f64,
    seed: u64,
    source: pb::ChurnModelSource,
    label_column: String,
) -> Result<pb::ChurnModel, Status> {
    let (model, duration) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        churn::train(&dataset, held_out_fraction, seed).map(|model| (model, started.elapsed()))
    })
    .await
    .map_err(|e| internal_with_context("the training task failed", &e))?
    .map_err(|error| match source {
        // The platform's own history has no request fields to blame.
        pb::ChurnModelSource::PlatformHistory => Status::failed_precondition(error.to_string()),
        _ => train_error(error),
    })?;
    let model_id = new_id();
    let mut meta = ModelMeta {
        model_id: model_id.clone(),
        version: 0,
        source,
        trained_at: Some(now_micros()),
        label_column,
        training_duration: Some(duration),
    };
    let version = store
        .insert_model(&model_id, |version| {
            let mut versioned = meta.clone();
            versioned.version = version;
            model_to_proto(&model, &versioned, false).encode_to_vec()
        })
        .await
        .map_err(crate::db_error)?;
    meta.version = version;
    Ok(model_to_proto(&model, &meta, false))
}

/// Refusals of training: bad input is INVALID_ARGUMENT on the field that causes it,
/// data that cannot train a model is FAILED_PRECONDITION.
fn train_error(error: churn::TrainError) -> Status {
    use churn::TrainError as E;
    let field = match &error {
        E::HeldOutFraction(_) => "held_out_fraction",
        E::NoColumns
        | E::Column { .. }
        | E::TooManyCategories { .. }
        | E::TooManyFeatures { .. } => "numeric_columns",
        E::RowShape { .. } => "csv_data",
        E::TooFewRows { .. } | E::SingleClass | E::NotConverged | E::Model(_) => {
            return Status::failed_precondition(error.to_string());
        }
    };
    nordstern_runtime::status::FieldViolations::single(field, error.to_string()).into()
}

fn corrupt(what: &str, error: &prost::DecodeError) -> Status {
    internal_with_context(what, error)
}
