//! `nordstern.webhooks.v1.WebhookService`: subscriptions and the delivery log over gRPC
//! (and so over HTTP, through the transcoder), on every server.

use nordstern_domain::webhook::{DeliveryStatus, EventType, PayloadFormat};
use nordstern_proto::webhooks::v1::{
    self as pb,
    webhook_service_server::{WebhookService, WebhookServiceServer},
};
use nordstern_runtime::{
    bridge::{self, ProtoEnum},
    paging::{PageRequest, page},
    status::{FieldViolations, internal},
    wire::{from_micros, required_id, timestamp},
};
use tonic::{Request, Response, Status};

use crate::{
    Webhooks, sign,
    store::{DeliveryFilter, DeliveryRow, SubscriptionRow},
    target,
};

/// How long a rotated-out secret keeps signing.
const ROTATION_OVERLAP_MICROS: i64 = 24 * 3_600 * 1_000_000;
const MAX_URL_BYTES: usize = 2_048;
const MAX_DESCRIPTION_CHARS: usize = 500;

#[derive(Clone)]
pub struct WebhookAdmin {
    webhooks: Webhooks,
}

impl WebhookAdmin {
    pub fn new(webhooks: Webhooks) -> Self {
        WebhookAdmin { webhooks }
    }

    pub fn into_server(self) -> WebhookServiceServer<WebhookAdmin> {
        WebhookServiceServer::new(self)
    }

    /// Checks what a caller may set on a subscription.
    async fn check(&self, subscription: &pb::Subscription, violations: &mut FieldViolations) {
        if subscription.url.len() > MAX_URL_BYTES {
            violations.add("subscription.url", format!("at most {MAX_URL_BYTES} bytes"));
        } else {
            match target::parse(&subscription.url) {
                Err(problem) => violations.add("subscription.url", problem),
                Ok(target) => {
                    if let Err(problem) =
                        target::resolve(&target, &self.webhooks.config.allowed_hosts).await
                    {
                        violations.add("subscription.url", problem);
                    }
                }
            }
        }
        if subscription.event_types.is_empty() {
            violations.add(
                "subscription.event_types",
                format!("name at least one of {}", event_type_names()),
            );
        }
        for (i, name) in subscription.event_types.iter().enumerate() {
            if EventType::parse(name).is_none() {
                violations.add(
                    format!("subscription.event_types[{i}]"),
                    format!("`{name}` is not one of {}", event_type_names()),
                );
            }
        }
        bridge::optional_field::<PayloadFormat>(
            violations,
            "subscription.format",
            subscription.format,
        );
        if subscription.description.chars().count() > MAX_DESCRIPTION_CHARS {
            violations.add(
                "subscription.description",
                format!("at most {MAX_DESCRIPTION_CHARS} characters"),
            );
        }
    }

    async fn existing(&self, id: &str) -> Result<SubscriptionRow, Status> {
        self.webhooks
            .store
            .subscription(id)
            .await
            .map_err(|e| internal(&e))?
            .ok_or_else(|| Status::not_found(format!("no subscription {id}")))
    }
}

fn event_type_names() -> String {
    EventType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The format a request names; unset means standard.
fn format_of(format: i32) -> PayloadFormat {
    bridge::optional::<PayloadFormat>(format)
        .ok()
        .flatten()
        .unwrap_or(PayloadFormat::Standard)
}

fn to_proto(row: &SubscriptionRow) -> pb::Subscription {
    pb::Subscription {
        subscription_id: row.subscription_id.clone(),
        url: row.url.clone(),
        event_types: row.event_types.clone(),
        active: row.active,
        format: row.format.to_proto() as i32,
        description: row.description.clone(),
        created_at: Some(timestamp(from_micros(row.created_at))),
        secret_prefix: sign::prefix(&row.secret),
    }
}

fn delivery_to_proto(row: DeliveryRow) -> pb::Delivery {
    let at = |micros: i64| Some(timestamp(from_micros(micros)));
    pb::Delivery {
        status: row.status.to_proto() as i32,
        next_attempt_at: (row.status == DeliveryStatus::Pending)
            .then(|| timestamp(from_micros(row.next_attempt_at))),
        delivery_id: row.delivery_id,
        subscription_id: row.subscription_id,
        event_id: row.event_id,
        event_type: row.event_type,
        attempts: row.attempts,
        last_response_code: row.last_response_code,
        last_error: row.last_error,
        created_at: at(row.created_at),
        last_attempt_at: row.last_attempt_at.and_then(at),
        delivered_at: row.delivered_at.and_then(at),
    }
}

#[tonic::async_trait]
impl WebhookService for WebhookAdmin {
    async fn create_subscription(
        &self,
        request: Request<pb::CreateSubscriptionRequest>,
    ) -> Result<Response<pb::CreateSubscriptionResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let subscription = request.subscription.unwrap_or_default();
        self.check(&subscription, &mut violations).await;
        if request.request_id.len() > 128 {
            violations.add("request_id", "at most 128 bytes");
        }
        violations.into_result()?;
        let row = SubscriptionRow {
            subscription_id: uuid::Uuid::now_v7().to_string(),
            url: subscription.url,
            event_types: subscription.event_types,
            active: subscription.active,
            format: format_of(subscription.format),
            description: subscription.description,
            secret: sign::new_secret().map_err(|e| internal(&e))?,
            previous_secret: None,
            previous_secret_expires_at: None,
            created_at: chrono::Utc::now().timestamp_micros(),
        };
        let request_id = (!request.request_id.is_empty()).then_some(request.request_id.as_str());
        let stored = self
            .webhooks
            .store
            .create_subscription(&row, request_id)
            .await
            .map_err(|e| internal(&e))?;
        Ok(Response::new(pb::CreateSubscriptionResponse {
            subscription: Some(to_proto(&stored)),
            secret: stored.secret,
        }))
    }

    async fn list_subscriptions(
        &self,
        _request: Request<pb::ListSubscriptionsRequest>,
    ) -> Result<Response<pb::ListSubscriptionsResponse>, Status> {
        let rows = self
            .webhooks
            .store
            .subscriptions()
            .await
            .map_err(|e| internal(&e))?;
        Ok(Response::new(pb::ListSubscriptionsResponse {
            subscriptions: rows.iter().map(to_proto).collect(),
        }))
    }

    async fn update_subscription(
        &self,
        request: Request<pb::UpdateSubscriptionRequest>,
    ) -> Result<Response<pb::UpdateSubscriptionResponse>, Status> {
        let request = request.into_inner();
        let changes = request.subscription.unwrap_or_default();
        let id = required_id("subscription.subscription_id", &changes.subscription_id)?;
        let mut row = self.existing(&id).await?;
        let paths = request.update_mask.map(|m| m.paths).unwrap_or_default();
        let mut violations = FieldViolations::new();
        if paths.is_empty() {
            violations.add(
                "update_mask",
                "name the fields to change: url, event_types, active, format, description",
            );
        }
        for path in &paths {
            match path.as_str() {
                "url" => row.url = changes.url.clone(),
                "event_types" => row.event_types = changes.event_types.clone(),
                "active" => row.active = changes.active,
                "format" => row.format = format_of(changes.format),
                "description" => row.description = changes.description.clone(),
                other => violations.add("update_mask", format!("`{other}` cannot be changed")),
            }
        }
        let checked = pb::Subscription {
            url: row.url.clone(),
            event_types: row.event_types.clone(),
            format: changes.format,
            description: row.description.clone(),
            ..Default::default()
        };
        self.check(&checked, &mut violations).await;
        violations.into_result()?;
        self.webhooks
            .store
            .update_subscription(&row)
            .await
            .map_err(|e| internal(&e))?;
        Ok(Response::new(pb::UpdateSubscriptionResponse {
            subscription: Some(to_proto(&row)),
        }))
    }

    async fn rotate_subscription_secret(
        &self,
        request: Request<pb::RotateSubscriptionSecretRequest>,
    ) -> Result<Response<pb::RotateSubscriptionSecretResponse>, Status> {
        let id = required_id("subscription_id", &request.get_ref().subscription_id)?;
        self.existing(&id).await?;
        let secret = sign::new_secret().map_err(|e| internal(&e))?;
        let until = chrono::Utc::now().timestamp_micros() + ROTATION_OVERLAP_MICROS;
        self.webhooks
            .store
            .rotate_secret(&id, &secret, until)
            .await
            .map_err(|e| internal(&e))?;
        Ok(Response::new(pb::RotateSubscriptionSecretResponse {
            secret,
            previous_secret_expires_at: Some(timestamp(from_micros(until))),
        }))
    }

    async fn delete_subscription(
        &self,
        request: Request<pb::DeleteSubscriptionRequest>,
    ) -> Result<Response<pb::DeleteSubscriptionResponse>, Status> {
        let id = required_id("subscription_id", &request.get_ref().subscription_id)?;
        let deleted = self
            .webhooks
            .store
            .delete_subscription(&id)
            .await
            .map_err(|e| internal(&e))?;
        Ok(Response::new(pb::DeleteSubscriptionResponse { deleted }))
    }

    async fn list_deliveries(
        &self,
        request: Request<pb::ListDeliveriesRequest>,
    ) -> Result<Response<pb::ListDeliveriesResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let paging = PageRequest::parse_id(&mut violations, request.page_size, &request.page_token);
        let status =
            bridge::optional_field::<DeliveryStatus>(&mut violations, "status", request.status);
        violations.into_result()?;
        let filter = DeliveryFilter {
            subscription_id: (!request.subscription_id.is_empty())
                .then_some(request.subscription_id),
            status,
            event_id: (!request.event_id.is_empty()).then_some(request.event_id),
        };
        let rows = self
            .webhooks
            .store
            .deliveries(&filter, paging.after_id(), paging.fetch_limit())
            .await
            .map_err(|e| internal(&e))?;
        let (rows, next_page_token) = page(rows, paging.limit, |row| row.delivery_id.clone());
        Ok(Response::new(pb::ListDeliveriesResponse {
            deliveries: rows.into_iter().map(delivery_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn redeliver_delivery(
        &self,
        request: Request<pb::RedeliverDeliveryRequest>,
    ) -> Result<Response<pb::RedeliverDeliveryResponse>, Status> {
        let id = required_id("delivery_id", &request.get_ref().delivery_id)?;
        let now = chrono::Utc::now().timestamp_micros();
        let delivery = self
            .webhooks
            .store
            .redeliver(&id, now, self.webhooks.retry_window_micros())
            .await
            .map_err(|e| internal(&e))?
            .ok_or_else(|| Status::not_found(format!("no delivery {id}")))?;
        self.webhooks.wake.notify_one();
        Ok(Response::new(pb::RedeliverDeliveryResponse {
            delivery: Some(delivery_to_proto(delivery)),
        }))
    }
}
