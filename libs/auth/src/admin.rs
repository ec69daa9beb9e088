//! `nordstern.auth.v1.AuthService`: tokens and the audit trail over gRPC (scope `admin`).
//! A token created or revoked here takes effect in this process at once and in every
//! other one within `auth.refresh_interval_ms`.

use std::sync::Arc;

use nordstern_proto::auth::v1::{self as pb, auth_service_server::AuthService};
use nordstern_runtime::{
    error::ServiceError,
    paging::{PageRequest, page},
    status::FieldViolations,
    wire::{from_micros, from_timestamp, timestamp},
};
use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

use crate::{
    Keeper,
    store::{self, AuditFilter, AuditRecord, TokenRecord},
    tokens::{self, NewToken},
};

#[derive(Clone)]
pub struct AuthAdmin {
    db: DatabaseConnection,
    keeper: Arc<Keeper>,
}

impl AuthAdmin {
    pub fn new(db: DatabaseConnection, keeper: Arc<Keeper>) -> Self {
        AuthAdmin { db, keeper }
    }

    pub fn into_server(self) -> pb::auth_service_server::AuthServiceServer<AuthAdmin> {
        pb::auth_service_server::AuthServiceServer::new(self)
    }
}

fn micros_timestamp(micros: i64) -> Option<prost_types::Timestamp> {
    Some(timestamp(from_micros(micros)))
}

pub fn token_to_proto(record: &TokenRecord) -> pb::Token {
    pb::Token {
        token_id: record.token_id.clone(),
        name: record.name.clone(),
        scopes: record
            .scopes
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect(),
        created_at: micros_timestamp(record.created_at),
        expires_at: record.expires_at.and_then(micros_timestamp),
        last_used_at: record.last_used_at.and_then(micros_timestamp),
        revoked_at: record.revoked_at.and_then(micros_timestamp),
        rate_limit_per_second: record.rate_per_second,
        rate_limit_burst: record.burst,
        secret_prefix: record.secret_prefix.clone(),
        csm_id: record.csm_id.clone(),
    }
}

pub fn audit_to_proto(record: AuditRecord) -> pb::AuditEvent {
    pb::AuditEvent {
        event_id: record.event_id,
        occurred_at: micros_timestamp(record.occurred_at),
        token_id: record.token_id,
        token_name: record.token_name,
        via_service: if record.via_service {
            "service".to_owned()
        } else {
            String::new()
        },
        method: record.method,
        account_id: record.account_id,
        outcome: record.outcome,
        scope: record.scope,
    }
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

#[tonic::async_trait]
impl AuthService for AuthAdmin {
    async fn create_token(
        &self,
        request: Request<pb::CreateTokenRequest>,
    ) -> Result<Response<pb::CreateTokenResponse>, Status> {
        let request = request.into_inner();
        let new = NewToken {
            name: request.name,
            scopes: request.scopes,
            expires_in_seconds: request.expires_in_seconds,
            rate_limit_per_second: request.rate_limit_per_second,
            rate_limit_burst: request.rate_limit_burst,
            csm_id: request.csm_id,
        };
        let (record, secret) = tokens::create(&self.db, &new, now_micros()).await?;
        self.keeper.insert_token(record.clone());
        tracing::info!(token_id = %record.token_id, name = %record.name, "token created");
        Ok(Response::new(pb::CreateTokenResponse {
            token: Some(token_to_proto(&record)),
            secret: secret.expose().to_owned(),
        }))
    }

    async fn list_tokens(
        &self,
        request: Request<pb::ListTokensRequest>,
    ) -> Result<Response<pb::ListTokensResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let paging = PageRequest::parse_id(&mut violations, request.page_size, &request.page_token);
        violations.into_result().map_err(ServiceError::from)?;
        let before = paging.after_id().map(str::to_owned);
        let rows = store::list_tokens(
            &self.db,
            request.include_revoked,
            before,
            paging.fetch_limit(),
        )
        .await
        .map_err(ServiceError::from)?;
        let (rows, next_page_token) = page(rows, paging.limit, |row| row.token_id.clone());
        Ok(Response::new(pb::ListTokensResponse {
            tokens: rows.iter().map(token_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn revoke_token(
        &self,
        request: Request<pb::RevokeTokenRequest>,
    ) -> Result<Response<pb::RevokeTokenResponse>, Status> {
        let token_id = request.into_inner().token_id;
        let (record, already_revoked) = tokens::revoke(&self.db, &token_id, now_micros()).await?;
        self.keeper.remove_token(&record.token_id);
        tracing::info!(token_id = %record.token_id, already_revoked, "token revoked");
        Ok(Response::new(pb::RevokeTokenResponse {
            token: Some(token_to_proto(&record)),
            already_revoked,
        }))
    }

    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let paging = PageRequest::parse_id(&mut violations, request.page_size, &request.page_token);
        let since = from_timestamp(request.since.as_ref()).map(|at| at.timestamp_micros());
        let until = from_timestamp(request.until.as_ref()).map(|at| at.timestamp_micros());
        if let (Some(since), Some(until)) = (since, until)
            && since >= until
        {
            violations.add("until", "must be after since");
        }
        violations.into_result().map_err(ServiceError::from)?;
        let filter = AuditFilter {
            token_id: request.token_id,
            account_id: request.account_id,
            method: request.method,
            since,
            until,
            before_id: paging.after_id().map(str::to_owned),
        };
        let rows = store::list_audit(&self.db, &filter, paging.fetch_limit())
            .await
            .map_err(ServiceError::from)?;
        let (rows, next_page_token) = page(rows, paging.limit, |row| row.event_id.clone());
        Ok(Response::new(pb::ListAuditEventsResponse {
            events: rows.into_iter().map(audit_to_proto).collect(),
            next_page_token,
        }))
    }
}
