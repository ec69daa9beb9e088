//! The gateway role in a process: the clients of the four services it fans out to, its
//! ticket storage, its gRPC service and its HTTP/JSON routes.

use std::sync::Arc;

use nordstern_runtime::{
    Role,
    start::{RoleContext, StartError},
};

use crate::{Backends, Migrator, gateway, grpc_service, http, rules::load_rules};

pub async fn start(context: &mut RoleContext) -> Result<(), StartError> {
    let backends = Backends {
        accounts: nordstern_accounts::remote::api(context)?,
        usage: nordstern_usage::remote::api(context)?,
        survey: nordstern_survey::remote::api(context)?,
        scoring: nordstern_scoring::remote::api(context)?,
    };
    let rules = load_rules(context.config.gateway.routing_rules_file.as_deref())
        .map_err(StartError::Config)?;
    let db = context.open_storage::<Migrator>(Role::Gateway).await?;
    let gateway = gateway(
        db,
        backends.clone(),
        rules,
        context.config.gateway.fanout_timeout(),
    );
    if context.config.gateway.http_listen_addr.is_some() {
        context.http = Some(http::router(
            Arc::new(gateway.clone()),
            backends.scoring,
            context.config.grpc.request_timeout(),
        ));
    }
    let max_request_bytes = context.config.grpc.max_request_bytes;
    context
        .services
        .add(grpc_service(gateway, max_request_bytes));
    Ok(())
}
