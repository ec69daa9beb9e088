//! The gateway role in a process: the clients of the four services it fans out to, its
//! ticket storage, its gRPC service and its HTTP/JSON routes.

use nordstern_accounts::remote::LocalAccounts;
use nordstern_proto::{
    accounts::v1::accounts_service_server::AccountsServiceServer,
    scoring::v1::scoring_service_server::ScoringServiceServer,
    survey::v1::survey_service_server::SurveyServiceServer,
    usage::v1::usage_service_server::UsageServiceServer,
};
use nordstern_runtime::{
    Role,
    start::{RoleContext, StartError},
};

use nordstern_scoring::remote::LocalScoring;
use nordstern_survey::remote::LocalSurvey;
use nordstern_usage::remote::LocalUsage;
use std::sync::Arc;

use tonic::service::Routes;

use crate::{
    Backends, Migrator, gateway, grpc_service, http, rules::load_rules, transcode::Dispatch,
};

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
    // The events this service announces leave its outbox for the webhook store, and this
    // process delivers them.
    if let Some(webhooks) = context.shared::<nordstern_webhooks::Webhooks>() {
        context.spawn_background(nordstern_webhooks::worker::relay(
            gateway.writer(),
            webhooks.clone(),
        ));
        context.spawn_background(nordstern_webhooks::worker::deliver(webhooks));
    }
    let max_request_bytes = context.config.grpc.max_request_bytes;
    if context.config.gateway.http_listen_addr.is_some() {
        let grpc = &context.config.grpc;
        // The HTTP routes reach the services as this process holds them: in-process, or
        // the clients of remote ones.
        let services = Routes::new(
            AccountsServiceServer::new(LocalAccounts::new(backends.accounts.clone(), grpc))
                .max_decoding_message_size(max_request_bytes),
        )
        .add_service(
            UsageServiceServer::new(LocalUsage::new(backends.usage.clone(), grpc))
                .max_decoding_message_size(max_request_bytes),
        )
        .add_service(
            SurveyServiceServer::new(LocalSurvey::new(backends.survey.clone(), grpc))
                .max_decoding_message_size(max_request_bytes),
        )
        .add_service(
            ScoringServiceServer::new(LocalScoring::new(backends.scoring.clone(), grpc))
                .max_decoding_message_size(max_request_bytes),
        )
        .add_service(grpc_service(gateway.clone(), max_request_bytes));
        let services = match context.shared::<nordstern_webhooks::Webhooks>() {
            Some(webhooks) => services
                .add_service(nordstern_webhooks::admin::WebhookAdmin::new(webhooks).into_server()),
            None => services,
        };
        let keeper = context
            .shared::<Arc<nordstern_auth::Keeper>>()
            .ok_or_else(|| StartError::Config("the HTTP listener needs the token keeper".into()))?;
        // No JSON route runs before its bearer token is checked; the board checks the
        // token of its session cookie itself, and answers with its sign-in page.
        let api = http::router(
            Dispatch::new(services.clone()),
            nordstern_runtime::server::RequestLimits::of(grpc),
            max_request_bytes,
        )
        .layer(axum::middleware::from_fn_with_state(
            keeper.clone(),
            nordstern_auth::http::authorize,
        ));
        let board = nordstern_board::router(
            services,
            keeper,
            nordstern_board::BoardSettings {
                request_timeout: grpc.request_timeout(),
                secure_cookies: context.config.tls.cert_file.is_some(),
            },
        );
        context.http = Some(api.merge(board));
    }
    context
        .services
        .add(grpc_service(gateway, max_request_bytes));
    Ok(())
}
