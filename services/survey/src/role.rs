//! The survey role in a process: its storage, its service on the server, and its
//! in-process handle for the roles that call it.

use nordstern_runtime::{
    Role,
    start::{RoleContext, StartError},
};

use crate::{Migrator, grpc_service, remote, service};

pub async fn start(context: &mut RoleContext) -> Result<(), StartError> {
    let accounts = nordstern_accounts::remote::api(context)?;
    let db = context.open_storage::<Migrator>(Role::Survey).await?;
    let service = service(db, accounts);
    context.provide(
        Role::Survey,
        remote::local(service.clone(), &context.config.grpc),
    );
    let max_request_bytes = context.config.grpc.max_request_bytes;
    context
        .services
        .add(grpc_service(service, max_request_bytes));
    Ok(())
}
