//! Help desks' ticket-created webhooks: the account found by its id or the organisation's
//! CRM id, the ticket routed as RouteTicket routes it, and an answer a help-desk trigger
//! can act on (destination, assignee e-mail, priority, category).

use nordstern_proto::{accounts::v1 as accounts_pb, gateway::v1 as pb};
use nordstern_runtime::status::FieldViolations;
use tonic::Status;

use crate::{Backends, fanout::Budget, tickets::Tickets};

/// Longest help-desk ticket id.
const MAX_TICKET_ID_BYTES: usize = 128;

pub async fn route(
    backends: &Backends,
    tickets: &Tickets,
    budget: &Budget,
    request: pb::RouteHelpdeskTicketRequest,
) -> Result<pb::RouteHelpdeskTicketResponse, Status> {
    let mut violations = FieldViolations::new();
    let ticket_id = request.ticket_id.trim();
    if ticket_id.is_empty() {
        violations.add("ticket_id", "the help desk's ticket id is required");
    } else if ticket_id.len() > MAX_TICKET_ID_BYTES {
        violations.add("ticket_id", format!("at most {MAX_TICKET_ID_BYTES} bytes"));
    }
    let crm_id = request
        .organization
        .as_ref()
        .map(|organization| organization.external_id.trim().to_owned())
        .unwrap_or_default();
    if request.account_id.is_empty() && crm_id.is_empty() {
        violations.add(
            "organization.external_id",
            "the organisation's external id (the CRM id) or account_id is required",
        );
    }
    violations.into_result()?;

    let account =
        if request.account_id.is_empty() {
            account_by_crm_id(backends, budget, &crm_id).await?
        } else {
            budget
                .run(backends.accounts.get_account(budget.request(
                    accounts_pb::GetAccountRequest {
                        account_id: request.account_id.clone(),
                    },
                )))
                .await?
                .into_inner()
                .account
                .unwrap_or_default()
        };
    let routed = tickets
        .route(
            backends,
            budget,
            pb::RouteTicketRequest {
                // A re-sent webhook is the same request under the same key: answered.
                idempotency_key: format!("helpdesk:{ticket_id}"),
                account_id: account.account_id.clone(),
                subject: request.subject,
                body: request.body,
                category: 0,
                language: 0,
                opened_at: request.created_at,
            },
        )
        .await?;
    let assignee = if routed.assignee_csm_id.is_empty() {
        None
    } else {
        let csm = budget
            .run(
                backends
                    .accounts
                    .get_csm(budget.request(accounts_pb::GetCsmRequest {
                        csm_id: routed.assignee_csm_id.clone(),
                    })),
            )
            .await;
        match csm {
            Ok(response) => response.into_inner().csm,
            Err(status) => {
                // The ticket is routed; the trigger falls back to its own assignment.
                tracing::warn!(code = ?status.code(), "the assignee's e-mail is unknown");
                None
            }
        }
    };
    let (assignee_email, assignee_name) =
        assignee.map_or_else(Default::default, |csm| (csm.email, csm.name));
    Ok(pb::RouteHelpdeskTicketResponse {
        ticket_id: routed.ticket_id,
        account_id: account.account_id,
        account_name: account.name,
        destination: routed.destination,
        assignee_email,
        assignee_name,
        priority: routed.priority,
        category: routed.category,
        reason: routed.reason,
    })
}

async fn account_by_crm_id(
    backends: &Backends,
    budget: &Budget,
    crm_id: &str,
) -> Result<accounts_pb::Account, Status> {
    budget
        .run(
            backends
                .accounts
                .list_accounts(budget.request(accounts_pb::ListAccountsRequest {
                    crm_id: crm_id.to_owned(),
                    page_size: 1,
                    ..Default::default()
                })),
        )
        .await?
        .into_inner()
        .accounts
        .into_iter()
        .next()
        .ok_or_else(|| Status::not_found(format!("no account has the CRM id `{crm_id}`")))
}
