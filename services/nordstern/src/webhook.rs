//! `nordstern webhook …`: subscriptions and the delivery log, over gRPC (any server).

use std::io::Write;

use clap::Subcommand;
use nordstern_domain::webhook::DeliveryStatus;
use nordstern_proto::webhooks::v1::{self as pb, webhook_service_client::WebhookServiceClient};
use nordstern_runtime::{bridge::ProtoEnum, wire::from_timestamp};

use crate::{
    cli::ClientArgs,
    client::{Channel, describe, json},
    terminal::{Output, Table},
};

#[derive(Subcommand)]
pub enum WebhookCommand {
    /// Subscribe a URL; prints the signing secret (shown only now).
    Create {
        #[arg(long)]
        url: String,
        /// alert.raised, health.color_changed, ticket.routed, churn_model.activated or
        /// account.erased; repeat for more.
        #[arg(long = "event", required = true)]
        events: Vec<String>,
        /// `{"text": …}` bodies for Slack-compatible incoming-webhook URLs.
        #[arg(long)]
        slack: bool,
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Every subscription, without secrets.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Change a subscription's URL, events or whether it is active.
    Update {
        subscription_id: String,
        #[arg(long)]
        url: Option<String>,
        #[arg(long = "event")]
        events: Vec<String>,
        #[arg(long)]
        active: Option<bool>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// A new secret; the old one signs beside it for 24 hours.
    RotateSecret {
        subscription_id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    Delete {
        subscription_id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// The delivery log, newest first.
    Deliveries {
        #[arg(long, default_value = "")]
        subscription: String,
        /// pending, delivered or dead.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i32,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Deliver again, with a new retry window.
    Redeliver {
        delivery_id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

impl WebhookCommand {
    fn client(&self) -> &ClientArgs {
        match self {
            WebhookCommand::Create { client, .. }
            | WebhookCommand::List { client }
            | WebhookCommand::Update { client, .. }
            | WebhookCommand::RotateSecret { client, .. }
            | WebhookCommand::Delete { client, .. }
            | WebhookCommand::Deliveries { client, .. }
            | WebhookCommand::Redeliver { client, .. } => client,
        }
    }
}

pub async fn run(command: WebhookCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    let output = Output::detect(command.client().json);
    let channel: Channel = command.client().connect().await?;
    let mut client = WebhookServiceClient::new(channel);
    match command {
        WebhookCommand::Create {
            url,
            events,
            slack,
            description,
            ..
        } => {
            let format = if slack {
                pb::PayloadFormat::Slack
            } else {
                pb::PayloadFormat::Standard
            };
            let created = client
                .create_subscription(pb::CreateSubscriptionRequest {
                    request_id: String::new(),
                    subscription: Some(pb::Subscription {
                        url,
                        event_types: events,
                        active: true,
                        format: format as i32,
                        description,
                        ..Default::default()
                    }),
                })
                .await
                .map_err(|s| describe(&s))?
                .into_inner();
            if output == Output::Json {
                return json(
                    out,
                    &created,
                    "nordstern.webhooks.v1.CreateSubscriptionResponse",
                );
            }
            let id = created
                .subscription
                .map(|s| s.subscription_id)
                .unwrap_or_default();
            writeln!(out, "subscription {id}")?;
            writeln!(
                out,
                "secret {}  (shown only now; verify webhook-signature with it)",
                created.secret
            )?;
        }
        WebhookCommand::List { .. } => {
            let listed = client
                .list_subscriptions(pb::ListSubscriptionsRequest {})
                .await
                .map_err(|s| describe(&s))?
                .into_inner();
            if output == Output::Json {
                return json(
                    out,
                    &listed,
                    "nordstern.webhooks.v1.ListSubscriptionsResponse",
                );
            }
            let mut table = Table::new(&["id", "url", "events", "active", "format", "secret"]);
            for s in &listed.subscriptions {
                table.row(vec![
                    s.subscription_id.clone(),
                    s.url.clone(),
                    s.event_types.join(", "),
                    if s.active {
                        "yes".into()
                    } else {
                        output.alarm("no")
                    },
                    if s.format == pb::PayloadFormat::Slack as i32 {
                        "slack".into()
                    } else {
                        "standard".into()
                    },
                    format!("{}…", s.secret_prefix),
                ]);
            }
            if table.is_empty() {
                writeln!(out, "no subscriptions")?;
            } else {
                table.write(out)?;
            }
        }
        WebhookCommand::Update {
            subscription_id,
            url,
            events,
            active,
            ..
        } => {
            let mut paths = Vec::new();
            let mut subscription = pb::Subscription {
                subscription_id,
                ..Default::default()
            };
            if let Some(url) = url {
                subscription.url = url;
                paths.push("url".to_owned());
            }
            if !events.is_empty() {
                subscription.event_types = events;
                paths.push("event_types".to_owned());
            }
            if let Some(active) = active {
                subscription.active = active;
                paths.push("active".to_owned());
            }
            let updated = client
                .update_subscription(pb::UpdateSubscriptionRequest {
                    subscription: Some(subscription),
                    update_mask: Some(prost_types::FieldMask { paths }),
                })
                .await
                .map_err(|s| describe(&s))?
                .into_inner();
            json(
                out,
                &updated,
                "nordstern.webhooks.v1.UpdateSubscriptionResponse",
            )?;
        }
        WebhookCommand::RotateSecret {
            subscription_id, ..
        } => {
            let rotated = client
                .rotate_subscription_secret(pb::RotateSubscriptionSecretRequest { subscription_id })
                .await
                .map_err(|s| describe(&s))?
                .into_inner();
            if output == Output::Json {
                return json(
                    out,
                    &rotated,
                    "nordstern.webhooks.v1.RotateSubscriptionSecretResponse",
                );
            }
            let until = from_timestamp(rotated.previous_secret_expires_at.as_ref())
                .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default();
            writeln!(
                out,
                "secret {}  (the previous one also signs until {until})",
                rotated.secret
            )?;
        }
        WebhookCommand::Delete {
            subscription_id, ..
        } => {
            let deleted = client
                .delete_subscription(pb::DeleteSubscriptionRequest { subscription_id })
                .await
                .map_err(|s| describe(&s))?
                .into_inner();
            json(
                out,
                &deleted,
                "nordstern.webhooks.v1.DeleteSubscriptionResponse",
            )?;
        }
        WebhookCommand::Deliveries {
            subscription,
            status,
            limit,
            ..
        } => {
            let status = match status {
                None => pb::DeliveryStatus::Unspecified,
                Some(name) => DeliveryStatus::parse(&name.to_ascii_uppercase())
                    .map(ProtoEnum::to_proto)
                    .ok_or_else(|| {
                        anyhow::anyhow!("--status {name}: use pending, delivered or dead")
                    })?,
            };
            let log = client
                .list_deliveries(pb::ListDeliveriesRequest {
                    page_size: limit,
                    subscription_id: subscription,
                    status: status as i32,
                    ..Default::default()
                })
                .await
                .map_err(|s| describe(&s))?
                .into_inner();
            if output == Output::Json {
                return json(out, &log, "nordstern.webhooks.v1.ListDeliveriesResponse");
            }
            let mut table = Table::new(&[
                "delivery",
                "event",
                "type",
                "status",
                "attempts",
                "last code",
                "last error",
            ]);
            for d in &log.deliveries {
                let status = pb::DeliveryStatus::try_from(d.status)
                    .map(|s| {
                        s.as_str_name()
                            .trim_start_matches("DELIVERY_STATUS_")
                            .to_owned()
                    })
                    .unwrap_or_default();
                table.row(vec![
                    d.delivery_id.clone(),
                    d.event_id.clone(),
                    d.event_type.clone(),
                    if status == "DEAD" {
                        output.alarm(&status)
                    } else {
                        status
                    },
                    d.attempts.to_string(),
                    d.last_response_code.to_string(),
                    d.last_error.clone(),
                ]);
            }
            if table.is_empty() {
                writeln!(out, "no deliveries")?;
            } else {
                table.write(out)?;
            }
        }
        WebhookCommand::Redeliver { delivery_id, .. } => {
            let again = client
                .redeliver_delivery(pb::RedeliverDeliveryRequest { delivery_id })
                .await
                .map_err(|s| describe(&s))?
                .into_inner();
            json(
                out,
                &again,
                "nordstern.webhooks.v1.RedeliverDeliveryResponse",
            )?;
        }
    }
    Ok(())
}
