//! The accounts role in a process: its storage, its service on the server, and its
//! in-process handle for the roles that call it.

use nordstern_proto::accounts::v1::accounts_service_server::AccountsServiceServer;
use nordstern_runtime::{
    Role,
    start::{RoleContext, StartError},
};

use crate::{AccountsGrpc, Migrator, Store, remote, rules};

pub async fn start(context: &mut RoleContext) -> Result<(), StartError> {
    let db = context.open_storage::<Migrator>(Role::Accounts).await?;
    let rules = rules(&context.config.accounts).map_err(StartError::Config)?;
    let store = Store::new(db, rules);
    // Tiers for the configured shares before the first read (after an upgrade or a
    // change of `accounts.tier_*_share`; otherwise one lookup).
    store
        .prepare_tiers()
        .await
        .map_err(|source| StartError::Storage {
            role: Role::Accounts,
            source,
        })?;
    // The events this service announces leave its outbox for the webhook store.
    if let Some(webhooks) = context.shared::<nordstern_webhooks::Webhooks>() {
        context.spawn_background(nordstern_webhooks::worker::relay(store.writer(), webhooks));
    }
    let service = AccountsGrpc::new(store);
    context.provide(
        Role::Accounts,
        remote::local(service.clone(), &context.config.grpc),
    );
    let max_request_bytes = context.config.grpc.max_request_bytes;
    context
        .services
        .add(AccountsServiceServer::new(service).max_decoding_message_size(max_request_bytes));
    Ok(())
}
