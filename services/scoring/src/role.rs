//! The scoring role in a process: its storage and score cache, its service on the
//! server, the scheduled recompute, and its in-process handle for the gateway.

use nordstern_runtime::{
    Role,
    cache::{CacheOptions, VersionedCache},
    start::{RoleContext, StartError},
};

use crate::{Migrator, ScoringGrpc, grpc_service, remote, run_scheduled_recompute, scoring};

pub async fn start(context: &mut RoleContext) -> Result<(), StartError> {
    let accounts = nordstern_accounts::remote::api(context)?;
    let usage = nordstern_usage::remote::api(context)?;
    let survey = nordstern_survey::remote::api(context)?;
    let db = context.open_storage::<Migrator>(Role::Scoring).await?;
    let cache = VersionedCache::connect(
        context.config.redis_url.as_deref(),
        &context.config.scoring.cache_namespace,
        CacheOptions::default(),
    )
    .await
    .map_err(|error| StartError::Config(format!("redis_url: {error}")))?;
    let scoring = scoring(
        db,
        cache,
        accounts,
        usage,
        survey,
        context.config.scoring.alert_max_answer_age(),
    );
    // The events this service announces leave its outbox for the webhook store.
    if let Some(webhooks) = context.shared::<nordstern_webhooks::Webhooks>() {
        context.spawn_background(nordstern_webhooks::worker::relay(
            scoring.store.writer(),
            webhooks,
        ));
    }
    context.provide(
        Role::Scoring,
        remote::local(ScoringGrpc::new(scoring.clone()), &context.config.grpc),
    );
    let max_request_bytes = context.config.grpc.max_request_bytes;
    context
        .services
        .add(grpc_service(scoring.clone(), max_request_bytes));
    let interval = context.config.scoring.recompute_interval();
    context.spawn_background(move |shutdown| {
        Box::pin(run_scheduled_recompute(scoring, interval, shutdown))
    });
    Ok(())
}
