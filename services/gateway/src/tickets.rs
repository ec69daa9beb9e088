//! Ticket routing: classify with the configured rules, decide support or CSM and the
//! priority from the account's colour and tier, and record TICKET_OPENED /
//! TICKET_RESOLVED with the usage service.
//!
//! The local ticket row and the idempotency answer are committed first, the usage event
//! second. A usage failure in between leaves the row marked "event owed"; a retry with
//! the same idempotency key (or a ResolveTicket) sends it again under the same event id,
//! which the usage service deduplicates. So an acknowledged ticket is never lost and an
//! event is never counted twice.

use nordstern_domain::{account::Tier, health::HealthColor};
use nordstern_runtime::bridge::{self, ProtoEnum};
use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use nordstern_domain::{
    routing::{self, AccountContext, Category, Decision, RoutingRules, Ticket},
    usage::MAX_FUTURE_SKEW_MICROS,
};
use nordstern_proto::{
    accounts::v1 as accounts_pb, common::v1 as common, gateway::v1 as pb,
    scoring::v1 as scoring_pb, usage::v1 as usage_pb,
};
use nordstern_runtime::{
    idempotency::{self, IdempotencyError, IdempotencyKey},
    status::FieldViolations,
    storage::{SerialWriter, execute, query_one},
    wire::{self, from_timestamp, id_field, micros, now_micros, timestamp},
};
use prost::Message;
use sea_orm::{DatabaseConnection, DbErr, QueryResult};
use tonic::{Code, Status};

use crate::{fanout::Budget, views::Backends};

const WRITE_LOCK_KEY: i64 = 0x4741_5445;
const ROUTE_TICKET: &str = "RouteTicket";
const MAX_SUBJECT_CHARS: usize = 1_000;
const MAX_BODY_CHARS: usize = 50_000;

/// One routed ticket as the gateway keeps it.
#[derive(Debug, Clone)]
struct TicketRow {
    ticket_id: String,
    account_id: String,
    category: String,
    destination: String,
    priority: String,
    opened_at: DateTime<Utc>,
    opened_recorded: bool,
    resolved_at: Option<DateTime<Utc>>,
    resolved_recorded: bool,
}

pub struct Tickets {
    writer: SerialWriter,
    rules: Arc<RoutingRules>,
}

impl Tickets {
    pub fn new(db: DatabaseConnection, rules: Arc<RoutingRules>) -> Self {
        Tickets {
            writer: SerialWriter::new(db, WRITE_LOCK_KEY),
            rules,
        }
    }

    pub fn writer(&self) -> SerialWriter {
        self.writer.clone()
    }

    pub async fn route(
        &self,
        backends: &Backends,
        budget: &Budget,
        request: pb::RouteTicketRequest,
    ) -> Result<pb::RouteTicketResponse, Status> {
        let mut violations = FieldViolations::new();
        let key = wire::idempotency_key(
            &mut violations,
            "idempotency_key",
            &request.idempotency_key,
            &request,
        );
        let account_id = id_field(&mut violations, "account_id", &request.account_id);
        if request.subject.trim().is_empty() && request.body.trim().is_empty() {
            violations.add("body", "a ticket needs a subject or a body");
        }
        if request.subject.chars().count() > MAX_SUBJECT_CHARS {
            violations.add("subject", format!("at most {MAX_SUBJECT_CHARS} characters"));
        }
        if request.body.chars().count() > MAX_BODY_CHARS {
            violations.add("body", format!("at most {MAX_BODY_CHARS} characters"));
        }
        let given_category = match pb::TicketCategory::try_from(request.category) {
            Ok(pb::TicketCategory::Unspecified) => None,
            Ok(category) => category_from_wire(category),
            Err(_) => {
                violations.add("category", "is not a TicketCategory value");
                None
            }
        };
        let language = match common::Language::try_from(request.language) {
            Ok(common::Language::Unspecified) => None,
            Ok(common::Language::German) => Some(routing::Language::German),
            Ok(common::Language::English) => Some(routing::Language::English),
            Err(_) => {
                violations.add("language", "is not a Language value");
                None
            }
        };
        let opened_at = event_time(&mut violations, "opened_at", request.opened_at.as_ref());
        violations.into_result()?;

        if let Some(key) = &key
            && let Some(stored) = self.stored_route(key).await?
        {
            // A retry: answer as the first time, and send the event if it is still owed.
            if let Some(ticket) = self.ticket(&stored.ticket_id).await? {
                self.record_opened(backends, &ticket, Some(&stored)).await?;
            }
            return Ok(stored);
        }

        let (account, health) = tokio::join!(
            budget.run(backends.accounts.get_account(budget.request(
                accounts_pb::GetAccountRequest {
                    account_id: account_id.clone(),
                }
            ))),
            budget.run(backends.scoring.get_health_score(budget.request(
                scoring_pb::GetHealthScoreRequest {
                    account_id: account_id.clone(),
                }
            ))),
        );
        let account = account?.into_inner().account.unwrap_or_default();
        let color = match health {
            Ok(response) => response
                .into_inner()
                .health_score
                .and_then(|score| bridge::optional::<HealthColor>(score.color).ok().flatten()),
            Err(status) => {
                tracing::warn!(%account_id, code = ?status.code(), "routing without the account's health");
                None
            }
        };
        let tier = Tier::from_i32(account.tier);
        let decision = routing::route(
            &self.rules,
            &Ticket {
                subject: &request.subject,
                body: &request.body,
                category: given_category,
                language,
            },
            &AccountContext { color, tier },
        );
        let response = route_response(wire::new_id(), &decision, &account);
        let ticket = TicketRow {
            ticket_id: response.ticket_id.clone(),
            account_id: account_id.clone(),
            category: decision.category.as_str().to_owned(),
            destination: decision.destination.as_str().to_owned(),
            priority: decision.priority.as_str().to_owned(),
            opened_at,
            opened_recorded: false,
            resolved_at: None,
            resolved_recorded: false,
        };
        self.insert(&ticket, key.as_ref(), &response)
            .await
            .map_err(db_error)?;
        if let Err(status) = self.record_opened(backends, &ticket, Some(&response)).await {
            // A refused event will be refused again: undo. A transient failure is repaired
            // by a retry with the same key; without a key no retry can find it: undo.
            if key.is_none() || status.code() == Code::InvalidArgument {
                self.remove(&ticket.ticket_id, key.as_ref())
                    .await
                    .map_err(db_error)?;
            }
            return Err(status);
        }
        Ok(response)
    }

    pub async fn resolve(
        &self,
        backends: &Backends,
        request: pb::ResolveTicketRequest,
    ) -> Result<pb::ResolveTicketResponse, Status> {
        let mut violations = FieldViolations::new();
        let account_id = id_field(&mut violations, "account_id", &request.account_id);
        let ticket_id = id_field(&mut violations, "ticket_id", &request.ticket_id);
        let resolved_at = event_time(&mut violations, "resolved_at", request.resolved_at.as_ref());
        violations.into_result()?;

        let ticket = self
            .ticket(&ticket_id)
            .await?
            .filter(|ticket| ticket.account_id == account_id)
            .ok_or_else(|| {
                Status::not_found(format!("no ticket {ticket_id} for account {account_id}"))
            })?;
        if ticket.resolved_recorded {
            return Ok(pb::ResolveTicketResponse {
                already_resolved: true,
            });
        }
        if ticket.resolved_at.is_none() && resolved_at < ticket.opened_at {
            return Err(FieldViolations::single(
                "resolved_at",
                "must not be before the ticket was opened",
            )
            .into());
        }
        // The routing answer is not kept without an idempotency key: the announcement
        // then names no assignee.
        self.record_opened(backends, &ticket, None).await?;
        // The first resolution time stands, so a retry sends the same event.
        execute(
            self.writer.db(),
            "UPDATE tickets SET resolved_at = $1 WHERE ticket_id = $2 AND resolved_at IS NULL",
            vec![resolved_at.into(), ticket_id.clone().into()],
        )
        .await
        .map_err(db_error)?;
        let ticket = self
            .ticket(&ticket_id)
            .await?
            .ok_or_else(|| Status::not_found(format!("no ticket {ticket_id}")))?;
        let resolved_at = ticket.resolved_at.unwrap_or(resolved_at);
        record_event(
            backends,
            usage_pb::UsageEvent {
                event_id: format!("{ticket_id}:resolved"),
                kind: usage_pb::UsageEventKind::TicketResolved as i32,
                occurred_at: Some(timestamp(resolved_at)),
                ..ticket_event(&ticket)
            },
            "resolved_at",
        )
        .await?;
        execute(
            self.writer.db(),
            "UPDATE tickets SET resolved_recorded = $1 WHERE ticket_id = $2",
            vec![true.into(), ticket_id.into()],
        )
        .await
        .map_err(db_error)?;
        Ok(pb::ResolveTicketResponse {
            already_resolved: false,
        })
    }

    /// Sends the TICKET_OPENED event unless it is known to have arrived.
    /// Sends the owed TICKET_OPENED event, then marks it sent and announces the routing
    /// (`ticket.routed`) in one transaction: once per ticket, and only for a ticket whose
    /// routing completed (one that is undone is never announced).
    async fn record_opened(
        &self,
        backends: &Backends,
        ticket: &TicketRow,
        routed: Option<&pb::RouteTicketResponse>,
    ) -> Result<(), Status> {
        if ticket.opened_recorded {
            return Ok(());
        }
        record_event(backends, ticket_event(ticket), "opened_at").await?;
        let announce = async {
            let tx = self.writer.begin().await?;
            let marked = execute(
                &tx.txn,
                "UPDATE tickets SET opened_recorded = $1 WHERE ticket_id = $2 AND opened_recorded = $3",
                vec![true.into(), ticket.ticket_id.clone().into(), false.into()],
            )
            .await?;
            if marked == 1 {
                nordstern_outbox::enqueue(&tx.txn, &[routed_event(ticket, routed)]).await?;
            }
            tx.commit().await
        };
        announce.await.map_err(db_error)?;
        Ok(())
    }

    async fn stored_route(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<pb::RouteTicketResponse>, Status> {
        let stored =
            idempotency::find_response(self.writer.db(), ROUTE_TICKET, &key.key, key.fingerprint)
                .await
                .map_err(|error| match error {
                    // FAILED_PRECONDITION, as every service answers a reused key.
                    IdempotencyError::KeyReused(_) => {
                        Status::failed_precondition(error.to_string())
                    }
                    IdempotencyError::Db(error) => db_error(error),
                })?;
        stored
            .map(|bytes| {
                pb::RouteTicketResponse::decode(bytes.as_slice())
                    .map_err(|error| nordstern_runtime::status::internal(&error))
            })
            .transpose()
    }

    async fn ticket(&self, ticket_id: &str) -> Result<Option<TicketRow>, Status> {
        let row = query_one(
            self.writer.db(),
            "SELECT ticket_id, account_id, category, destination, priority, opened_at, \
             opened_recorded, resolved_at, resolved_recorded FROM tickets WHERE ticket_id = $1",
            vec![ticket_id.into()],
        )
        .await
        .map_err(db_error)?;
        row.map(|row| ticket_row(&row))
            .transpose()
            .map_err(db_error)
    }

    async fn insert(
        &self,
        ticket: &TicketRow,
        key: Option<&IdempotencyKey>,
        response: &pb::RouteTicketResponse,
    ) -> Result<(), DbErr> {
        let tx = self.writer.begin().await?;
        execute(
            &tx.txn,
            "INSERT INTO tickets (ticket_id, account_id, category, destination, priority, \
             opened_at, opened_recorded, resolved_at, resolved_recorded) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8)",
            vec![
                ticket.ticket_id.clone().into(),
                ticket.account_id.clone().into(),
                ticket.category.clone().into(),
                ticket.destination.clone().into(),
                ticket.priority.clone().into(),
                ticket.opened_at.into(),
                false.into(),
                false.into(),
            ],
        )
        .await?;
        if let Some(key) = key {
            idempotency::store_response(
                &tx.txn,
                ROUTE_TICKET,
                &key.key,
                key.fingerprint,
                response.encode_to_vec(),
                Some(&ticket.account_id),
            )
            .await?;
        }
        tx.commit().await
    }

    async fn remove(&self, ticket_id: &str, key: Option<&IdempotencyKey>) -> Result<(), DbErr> {
        let tx = self.writer.begin().await?;
        execute(
            &tx.txn,
            "DELETE FROM tickets WHERE ticket_id = $1",
            vec![ticket_id.into()],
        )
        .await?;
        if let Some(key) = key {
            execute(
                &tx.txn,
                "DELETE FROM idempotency_keys WHERE operation = $1 AND idempotency_key = $2",
                vec![ROUTE_TICKET.into(), key.key.clone().into()],
            )
            .await?;
        }
        tx.commit().await
    }
}

fn ticket_row(row: &QueryResult) -> Result<TicketRow, DbErr> {
    Ok(TicketRow {
        ticket_id: row.try_get("", "ticket_id")?,
        account_id: row.try_get("", "account_id")?,
        category: row.try_get("", "category")?,
        destination: row.try_get("", "destination")?,
        priority: row.try_get("", "priority")?,
        opened_at: row.try_get("", "opened_at")?,
        opened_recorded: row.try_get("", "opened_recorded")?,
        resolved_at: row.try_get("", "resolved_at")?,
        resolved_recorded: row.try_get("", "resolved_recorded")?,
    })
}

/// The TICKET_OPENED event of a ticket; its event id is the ticket id, so sending it
/// again is a duplicate, not a second ticket.
fn ticket_event(ticket: &TicketRow) -> usage_pb::UsageEvent {
    usage_pb::UsageEvent {
        event_id: ticket.ticket_id.clone(),
        account_id: ticket.account_id.clone(),
        user_id: String::new(),
        kind: usage_pb::UsageEventKind::TicketOpened as i32,
        occurred_at: Some(timestamp(ticket.opened_at)),
        quantity: 1,
        feature_key: String::new(),
        ticket_id: ticket.ticket_id.clone(),
        properties: HashMap::from([
            ("category".to_owned(), ticket.category.clone()),
            ("destination".to_owned(), ticket.destination.clone()),
            ("priority".to_owned(), ticket.priority.clone()),
        ]),
    }
}

/// Sends one event; a refusal becomes INVALID_ARGUMENT on `time_field` when it is about
/// the time, FAILED_PRECONDITION otherwise.
async fn record_event(
    backends: &Backends,
    event: usage_pb::UsageEvent,
    time_field: &str,
) -> Result<(), Status> {
    let response = backends
        .usage
        .ingest_events(tonic::Request::new(usage_pb::IngestEventsRequest {
            events: vec![event],
        }))
        .await?
        .into_inner();
    let Some(rejected) = response.rejected_events.first() else {
        return Ok(());
    };
    let reason = usage_pb::RejectReason::try_from(rejected.reason)
        .unwrap_or(usage_pb::RejectReason::Unspecified);
    Err(match reason {
        usage_pb::RejectReason::TooFarInFuture | usage_pb::RejectReason::OlderThanRetention => {
            FieldViolations::single(
                time_field,
                format!(
                    "the usage service refused the time ({})",
                    reason.as_str_name()
                ),
            )
            .into()
        }
        other => Status::failed_precondition(format!(
            "the usage service refused the ticket event: {} {}",
            other.as_str_name(),
            rejected.field
        )),
    })
}

fn routed_event(
    ticket: &TicketRow,
    routed: Option<&pb::RouteTicketResponse>,
) -> nordstern_outbox::OutboxEvent {
    nordstern_outbox::OutboxEvent::new(
        nordstern_domain::webhook::EventType::TicketRouted,
        serde_json::json!({
            "ticketId": ticket.ticket_id,
            "accountId": ticket.account_id,
            "destination": ticket.destination,
            "assigneeCsmId": routed.map(|r| r.assignee_csm_id.as_str()).unwrap_or_default(),
            "priority": ticket.priority,
            "category": ticket.category,
            "reason": routed.map(|r| r.reason.as_str()).unwrap_or_default(),
        }),
    )
}

fn route_response(
    ticket_id: String,
    decision: &Decision,
    account: &accounts_pb::Account,
) -> pb::RouteTicketResponse {
    let to_csm = decision.destination == routing::Destination::Csm;
    pb::RouteTicketResponse {
        ticket_id,
        category: pb::TicketCategory::from_str_name(&format!(
            "TICKET_CATEGORY_{}",
            decision.category.as_str()
        ))
        .unwrap_or(pb::TicketCategory::Other) as i32,
        destination: if to_csm {
            pb::TicketDestination::Csm
        } else {
            pb::TicketDestination::Support
        } as i32,
        assignee_csm_id: if to_csm {
            account.csm_id.clone()
        } else {
            String::new()
        },
        priority: pb::TicketPriority::from_str_name(&format!(
            "TICKET_PRIORITY_{}",
            decision.priority.as_str()
        ))
        .unwrap_or(pb::TicketPriority::Normal) as i32,
        confidence: decision.confidence,
        reason: if to_csm && account.csm_id.is_empty() {
            format!("{}; the account has no CSM yet", decision.reason)
        } else {
            decision.reason.clone()
        },
        rule_id: decision.rule_id.clone().unwrap_or_default(),
        language: match decision.language {
            routing::Language::German => common::Language::German,
            routing::Language::English => common::Language::English,
        } as i32,
    }
}

fn category_from_wire(category: pb::TicketCategory) -> Option<Category> {
    category
        .as_str_name()
        .strip_prefix("TICKET_CATEGORY_")
        .and_then(Category::parse)
}

/// An optional event time: unset means now; at most a few minutes ahead of our clock.
fn event_time(
    violations: &mut FieldViolations,
    field: &str,
    at: Option<&prost_types::Timestamp>,
) -> DateTime<Utc> {
    let now = now_micros();
    let Some(raw) = at else { return now };
    match from_timestamp(Some(raw)) {
        None => {
            violations.add(field, "is not a valid timestamp");
            now
        }
        // The usage service would refuse the event; say so before anything is written.
        Some(at) if at > now + ChronoDuration::microseconds(MAX_FUTURE_SKEW_MICROS) => {
            violations.add(field, "must not be more than 5 minutes in the future");
            now
        }
        Some(at) => micros(at),
    }
}

fn db_error(error: DbErr) -> Status {
    nordstern_runtime::error::ServiceError::Database(error).into()
}
