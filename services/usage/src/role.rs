//! The usage role in a process: its storage and retention sweep, its service on the
//! server, and its in-process handle for the roles that call it.

use nordstern_runtime::{
    Role,
    start::{RoleContext, StartError},
};

use crate::{Migrator, grpc_service, remote, run_retention, service};

pub async fn start(context: &mut RoleContext) -> Result<(), StartError> {
    let accounts = nordstern_accounts::remote::api(context)?;
    let db = context.open_storage::<Migrator>(Role::Usage).await?;
    let service =
        service(db.clone(), accounts, &context.config.usage).map_err(StartError::Config)?;
    context.provide(
        Role::Usage,
        remote::local(service.clone(), &context.config.grpc),
    );
    let max_request_bytes = context.config.grpc.max_request_bytes;
    context
        .services
        .add(grpc_service(service, max_request_bytes));
    let config = context.config.usage.clone();
    context.spawn_background(move |shutdown| Box::pin(run_retention(db, config, shutdown)));
    Ok(())
}
