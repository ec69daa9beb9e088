//! How a role starts itself: each service crate has one `start(&mut RoleContext)` that
//! opens its storage, builds its service, adds it to the server and leaves its in-process
//! handle for the roles started after it. The context does what every role needs once:
//! storage, local-or-remote handles of other roles, background work.

use std::{any::Any, collections::HashMap};

use futures::future::BoxFuture;
use sea_orm::DatabaseConnection;

use crate::{
    Config, Role,
    client::ClientSecurity,
    config::GrpcConfig,
    server::GrpcServices,
    shutdown::ShutdownSignal,
    storage::{self, MigratorTrait, StorageTarget},
};

/// Work a role does beside answering requests (e.g. retention sweeps); it runs until
/// the shutdown signal and ends before the pools close.
pub type BackgroundTask = Box<dyn FnOnce(ShutdownSignal) -> BoxFuture<'static, ()> + Send>;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{role} storage: {source}")]
    Storage { role: Role, source: sea_orm::DbErr },
    #[error("{0}")]
    Config(String),
}

/// What the roles of one process share while they start, and what they leave behind.
pub struct RoleContext {
    pub config: Config,
    /// What this process's clients of other processes present.
    pub security: ClientSecurity,
    pub services: GrpcServices,
    pub pools: Vec<(Role, DatabaseConnection)>,
    pub background: Vec<BackgroundTask>,
    /// The gateway's HTTP routes, when the gateway runs here.
    pub http: Option<axum::Router>,
    /// The in-process handle of every role started so far, by role.
    locals: HashMap<Role, Box<dyn Any + Send + Sync>>,
    /// What the process gives every role (e.g. the webhook store), by type.
    shared: HashMap<std::any::TypeId, Box<dyn Any + Send + Sync>>,
}

impl RoleContext {
    pub fn new(config: Config) -> Result<RoleContext, StartError> {
        let security = ClientSecurity::for_services(&config).map_err(StartError::Config)?;
        Ok(RoleContext {
            config,
            security,
            services: GrpcServices::new(),
            pools: Vec::new(),
            background: Vec::new(),
            http: None,
            locals: HashMap::new(),
            shared: HashMap::new(),
        })
    }

    /// Connects and migrates `role`'s own database, closed when the process stops.
    pub async fn open_storage<M: MigratorTrait>(
        &mut self,
        role: Role,
    ) -> Result<DatabaseConnection, StartError> {
        let target = match &self.config.database_url {
            Some(url) => StorageTarget::Postgres { url },
            None => StorageTarget::Sqlite {
                data_dir: &self.config.data_dir,
            },
        };
        let db = storage::open::<M>(target, role, self.config.database_max_connections)
            .await
            .map_err(|source| StartError::Storage { role, source })?;
        self.pools.push((role, db.clone()));
        Ok(db)
    }

    /// Leaves `role`'s in-process handle for the roles started after it.
    pub fn provide<Api: Clone + Send + Sync + 'static>(&mut self, role: Role, api: Api) {
        self.locals.insert(role, Box::new(api));
    }

    /// The handle of `role`: the one in this process, or a client of its configured
    /// endpoint (`connect` and `into_api` are the role's remote client).
    pub fn api<Api: Clone + Send + Sync + 'static, Remote>(
        &self,
        role: Role,
        connect: fn(&str, &GrpcConfig, &ClientSecurity) -> Result<Remote, tonic::transport::Error>,
        into_api: fn(Remote) -> Api,
    ) -> Result<Api, StartError> {
        if let Some(local) = self
            .locals
            .get(&role)
            .and_then(|api| api.downcast_ref::<Api>())
        {
            return Ok(local.clone());
        }
        let url = self.config.endpoints.get(role).ok_or_else(|| {
            StartError::Config(format!(
                "this service needs the {role} service: run it in this process or set endpoints.{role}"
            ))
        })?;
        connect(url, &self.config.grpc, &self.security)
            .map(into_api)
            .map_err(|error| StartError::Config(format!("endpoints.{role}: {error}")))
    }

    /// Gives `value` to every role started after this (one value per type).
    pub fn share<T: Any + Clone + Send + Sync>(&mut self, value: T) {
        self.shared
            .insert(std::any::TypeId::of::<T>(), Box::new(value));
    }

    /// What the process provided of type `T`, if anything.
    pub fn shared<T: Any + Clone + Send + Sync>(&self) -> Option<T> {
        self.shared
            .get(&std::any::TypeId::of::<T>())
            .and_then(|value| value.downcast_ref::<T>())
            .cloned()
    }

    pub fn spawn_background(
        &mut self,
        task: impl FnOnce(ShutdownSignal) -> BoxFuture<'static, ()> + Send + 'static,
    ) {
        self.background.push(Box::new(task));
    }
}

/// `roles` in an order where every role comes after the roles it calls, so each finds
/// its dependencies' in-process handles; the order given does not matter.
pub fn dependency_order(roles: &[Role]) -> Vec<Role> {
    let depth = |role: Role| {
        fn depth_of(role: Role) -> usize {
            role.dependencies()
                .iter()
                .map(|dependency| depth_of(*dependency) + 1)
                .max()
                .unwrap_or(0)
        }
        depth_of(role)
    };
    let mut ordered = roles.to_vec();
    ordered.sort_by_key(|role| depth(*role));
    ordered.dedup();
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_starts_after_the_roles_it_calls() {
        let reversed: Vec<Role> = Role::ALL.iter().rev().copied().collect();
        let ordered = dependency_order(&reversed);
        assert_eq!(ordered.len(), Role::ALL.len());
        for (index, role) in ordered.iter().enumerate() {
            for dependency in role.dependencies() {
                let at = ordered.iter().position(|r| r == dependency);
                assert!(
                    at.is_some_and(|at| at < index),
                    "{role} before {dependency}"
                );
            }
        }
        assert_eq!(dependency_order(&[Role::Usage]), vec![Role::Usage]);
    }
}
