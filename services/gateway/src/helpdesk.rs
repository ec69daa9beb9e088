//! Help desks' ticket-created webhooks: the account found by its id, the organisation's
//! CRM id or domains, or the requester's e-mail domain; the ticket routed as RouteTicket
//! routes it; and an answer a help-desk trigger can act on (destination, assignee e-mail,
//! priority, category).

use nordstern_domain::validate;
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
    let organization = request.organization.clone().unwrap_or_default();
    let crm_id = organization.external_id.trim().to_owned();
    // The organisation's domains first, then the requester's e-mail domain.
    let domains: Vec<String> = organization
        .domain_names
        .iter()
        .map(String::as_str)
        .chain(
            request
                .requester
                .as_ref()
                .and_then(|person| person.email.rsplit_once('@'))
                .map(|(_, domain)| domain),
        )
        .filter_map(|domain| validate::web_domain(domain).ok())
        .collect();
    if request.account_id.is_empty() && crm_id.is_empty() && domains.is_empty() {
        violations.add(
            "organization.external_id",
            "name the account: its id, the organisation's external id (the CRM id), its domain_names or the requester's e-mail",
        );
    }
    violations.into_result()?;

    let account =
        if !request.account_id.is_empty() {
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
        } else if !crm_id.is_empty() {
            one_account(backends, budget, "the CRM id", &crm_id, |request| {
                request.crm_id = crm_id.clone()
            })
            .await?
        } else {
            account_by_domain(backends, budget, &domains).await?
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

/// The one account that `filter` selects, or NOT_FOUND naming `what` and `value`.
async fn one_account(
    backends: &Backends,
    budget: &Budget,
    what: &str,
    value: &str,
    filter: impl FnOnce(&mut accounts_pb::ListAccountsRequest),
) -> Result<accounts_pb::Account, Status> {
    match matching(backends, budget, filter).await?.as_slice() {
        [account] => Ok(account.clone()),
        [] => Err(Status::not_found(format!(
            "no account has {what} `{value}`"
        ))),
        _ => Err(Status::failed_precondition(format!(
            "several accounts have {what} `{value}`; send the organisation's external id"
        ))),
    }
}

/// The account of the first domain that names exactly one.
async fn account_by_domain(
    backends: &Backends,
    budget: &Budget,
    domains: &[String],
) -> Result<accounts_pb::Account, Status> {
    let mut ambiguous = None;
    for domain in domains {
        let found = matching(backends, budget, |request| request.domain = domain.clone()).await?;
        match found.as_slice() {
            [account] => return Ok(account.clone()),
            [] => {}
            _ => ambiguous = ambiguous.or(Some(domain)),
        }
    }
    Err(match ambiguous {
        Some(domain) => Status::failed_precondition(format!(
            "several accounts have the domain `{domain}`; send the organisation's external id"
        )),
        None => Status::not_found(format!(
            "no account has the domain {}",
            domains.join(" or ")
        )),
    })
}

/// At most two accounts `filter` selects: enough to tell one from several.
async fn matching(
    backends: &Backends,
    budget: &Budget,
    filter: impl FnOnce(&mut accounts_pb::ListAccountsRequest),
) -> Result<Vec<accounts_pb::Account>, Status> {
    let mut request = accounts_pb::ListAccountsRequest {
        page_size: 2,
        ..Default::default()
    };
    filter(&mut request);
    Ok(budget
        .run(backends.accounts.list_accounts(budget.request(request)))
        .await?
        .into_inner()
        .accounts)
}
