//! The versioned scoring configuration.

use nordstern_proto::scoring::v1::{self as pb};
use nordstern_runtime::{
    status::FieldViolations,
    wire::{self, now_micros},
};
use prost::Message;
use tonic::{Request, Response, Status};

use super::*;
use crate::{convert::*, models};

pub(super) async fn get_scoring_config(
    grpc: &ScoringGrpc,
    request: Request<pb::GetScoringConfigRequest>,
) -> Result<Response<pb::GetScoringConfigResponse>, Status> {
    let request = request.into_inner();
    if request.version < 0 {
        return Err(
            FieldViolations::single("version", "must be 0 (current) or a stored version").into(),
        );
    }
    let version = (request.version > 0).then_some(request.version);
    let config = models::config_message(&grpc.scoring.store, version)
        .await?
        .ok_or_else(|| {
            Status::not_found(format!(
                "scoring config version {} not found",
                request.version
            ))
        })?;
    Ok(Response::new(pb::GetScoringConfigResponse {
        config: Some(config),
    }))
}

pub(super) async fn update_scoring_config(
    grpc: &ScoringGrpc,
    request: Request<pb::UpdateScoringConfigRequest>,
) -> Result<Response<pb::UpdateScoringConfigResponse>, Status> {
    let request = request.into_inner();
    let mut v = FieldViolations::new();
    let paths = wire::mask_paths(
        &mut v,
        request.update_mask.as_ref(),
        &["segment_weights", "color_thresholds"],
    );
    let Some(update) = request.config else {
        v.add("config", "is required");
        return Err(v.into());
    };
    v.into_result()?;
    let (current, _) = models::current_config(&grpc.scoring.store).await?;
    let mut raw = current.to_raw();
    let mut violations = Vec::new();
    let requested = raw_config_from_proto(&update, &mut violations);
    if paths.iter().any(|p| p == "segment_weights") {
        raw.segment_weights = requested.segment_weights;
    }
    if paths.iter().any(|p| p == "color_thresholds") {
        raw.color_thresholds = requested.color_thresholds;
    }
    let validated = raw.validate();
    let mut v = FieldViolations::new();
    for (field, description) in violations {
        v.add(field, description);
    }
    let config = match validated {
        Ok(config) if v.is_empty() => config,
        Ok(_) => return Err(v.into()),
        Err(errors) => {
            v.merge(errors.into_iter().collect::<FieldViolations>());
            return Err(v.into());
        }
    };
    let now = now_micros();
    if request.validate_only {
        let (_, version) = models::current_config(&grpc.scoring.store).await?;
        return Ok(Response::new(pb::UpdateScoringConfigResponse {
            config: Some(config_to_proto(&config, version + 1, now)),
            accounts_rescored: 0,
        }));
    }
    let version = grpc
        .scoring
        .store
        .insert_config(
            |version| config_to_proto(&config, version, now).encode_to_vec(),
            now.timestamp_micros(),
        )
        .await
        .map_err(crate::db_error)?;
    let accounts_rescored = grpc.rescore_all().await?;
    let stored = models::config_message(&grpc.scoring.store, Some(version))
        .await?
        .unwrap_or_else(|| config_to_proto(&config, version, now));
    Ok(Response::new(pb::UpdateScoringConfigResponse {
        config: Some(stored),
        accounts_rescored,
    }))
}
