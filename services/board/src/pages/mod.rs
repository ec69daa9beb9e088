//! The board's pages, one module each, and what they share: whose accounts a page shows
//! and the names of accounts an answer only names by id.

/// A page handler that reads the query string: the viewer's session is checked against
/// the route's row of the scope table, then `$render(&board, &viewer, query)` draws it.
macro_rules! query_page {
    ($handler:ident, $route:literal, $render:path) => {
        pub async fn $handler(
            axum::extract::State(board): axum::extract::State<crate::Board>,
            headers: axum::http::HeaderMap,
            axum::extract::RawQuery(query): axum::extract::RawQuery,
        ) -> axum::response::Response {
            board
                .clone()
                .page(&headers, $route, |viewer| async move {
                    $render(&board, &viewer, query.as_deref())
                        .await
                        .map(axum::response::IntoResponse::into_response)
                })
                .await
        }
    };
}

pub mod account;
pub mod alerts;
pub mod lists;
pub mod portfolio;
pub mod renewals;

use std::collections::HashMap;

use nordstern_domain::scope::Scope;
use nordstern_proto::{accounts::v1 as accounts_pb, gateway::v1 as gateway_pb};
use nordstern_runtime::wire::MAX_BATCH;

use crate::{
    Calls,
    session::{PageError, Viewer},
};

/// Whose accounts a page shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Book {
    Csm(String),
    Company,
}

impl Book {
    pub fn csm_id(&self) -> String {
        match self {
            Book::Csm(id) => id.clone(),
            Book::Company => String::new(),
        }
    }

    /// `csm=…` for links that keep the choice.
    pub fn query(&self) -> String {
        match self {
            Book::Csm(id) => format!("csm={id}"),
            Book::Company => "csm=all".to_owned(),
        }
    }
}

/// The query string's pairs.
pub fn query_pairs(query: Option<&str>) -> HashMap<String, String> {
    query
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .collect()
}

/// The book a viewer asked for in the query (`csm=<id>` or `csm=all`), or their default: their own
/// CSM's, else (with `accounts:read`) the company's when `company_default`, else the first
/// CSM's. Other CSMs' books and the company's need `accounts:read`.
pub async fn choose_book(
    calls: &Calls,
    viewer: &Viewer,
    query: Option<&str>,
    company_default: bool,
) -> Result<Book, PageError> {
    let pairs = query_pairs(query);
    let asked = pairs.get("csm").map(String::as_str);
    let lang = viewer.lang;
    let reads_company = viewer.may(Scope::AccountsRead);
    let refuse = || {
        PageError::Forbidden(
            lang.t(
                "This token speaks for one CSM; other portfolios and the whole company need the scope accounts:read.",
                "Dieses Token spricht für einen CSM; andere Portfolios und das ganze Unternehmen brauchen den Scope accounts:read.",
            )
            .to_owned(),
        )
    };
    match (asked, viewer.own_csm()) {
        (Some("all"), _) if reads_company => Ok(Book::Company),
        (Some(id), Some(own)) if id == own => Ok(Book::Csm(id.to_owned())),
        (Some(id), _) if reads_company && id != "all" => Ok(Book::Csm(id.to_owned())),
        (Some(_), _) => Err(refuse()),
        (None, Some(own)) => Ok(Book::Csm(own.to_owned())),
        (None, None) if !reads_company => Err(PageError::Forbidden(
            lang.t(
                "This token speaks for no CSM and may not read the company's accounts (accounts:read). Ask for a token tied to your CSM id.",
                "Dieses Token spricht für keinen CSM und darf die Accounts des Unternehmens nicht lesen (accounts:read). Bitten Sie um ein Token für Ihre CSM-ID.",
            )
            .to_owned(),
        )),
        (None, None) if company_default => Ok(Book::Company),
        (None, None) => {
            let first = csms(calls).await?.into_iter().find(|csm| csm.active);
            first.map(|csm| Book::Csm(csm.csm_id)).ok_or_else(|| {
                PageError::Status(tonic::Status::not_found(
                    lang.t("No CSM exists yet.", "Es gibt noch keinen CSM."),
                ))
            })
        }
    }
}

/// The one CSM of a book, for pages that show one CSM's accounts.
pub fn one_csm(book: &Book, viewer: &Viewer) -> Result<String, PageError> {
    match book {
        Book::Csm(id) => Ok(id.clone()),
        Book::Company => Err(PageError::Forbidden(
            viewer
                .lang
                .t(
                    "Choose one CSM's portfolio.",
                    "Wählen Sie das Portfolio eines CSM.",
                )
                .to_owned(),
        )),
    }
}

/// The book a page asked for, which must be one CSM's, and that CSM's portfolio.
pub async fn csm_portfolio(
    calls: &Calls,
    viewer: &Viewer,
    query: Option<&str>,
) -> Result<(Book, String, gateway_pb::GetPortfolioResponse), PageError> {
    let book = choose_book(calls, viewer, query, false).await?;
    let csm_id = one_csm(&book, viewer)?;
    let portfolio = calls
        .gateway()
        .get_portfolio(calls.request(gateway_pb::GetPortfolioRequest {
            csm_id: csm_id.clone(),
            period: None,
        }))
        .await?
        .into_inner();
    Ok((book, csm_id, portfolio))
}

/// Every CSM, by name.
pub async fn csms(calls: &Calls) -> Result<Vec<accounts_pb::Csm>, tonic::Status> {
    let mut csms = Vec::new();
    let mut page_token = String::new();
    loop {
        let response = calls
            .accounts()
            .list_csms(calls.request(accounts_pb::ListCsmsRequest {
                page_size: 1_000,
                page_token,
            }))
            .await?
            .into_inner();
        csms.extend(response.csms);
        if response.next_page_token.is_empty() {
            break;
        }
        page_token = response.next_page_token;
    }
    csms.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(csms)
}

/// The accounts of `ids` by id (those that exist).
pub async fn accounts_by_id(
    calls: &Calls,
    ids: &[String],
) -> Result<HashMap<String, accounts_pb::Account>, tonic::Status> {
    let mut unique: Vec<String> = ids.to_vec();
    unique.sort();
    unique.dedup();
    let mut found = HashMap::with_capacity(unique.len());
    for chunk in unique.chunks(MAX_BATCH) {
        let response = calls
            .accounts()
            .batch_get_accounts(calls.request(accounts_pb::BatchGetAccountsRequest {
                account_ids: chunk.to_vec(),
            }))
            .await?
            .into_inner();
        found.extend(
            response
                .accounts
                .into_iter()
                .map(|account| (account.account_id.clone(), account)),
        );
    }
    Ok(found)
}

/// The CSM picker above a page, for viewers who may look at other books (a list that
/// fails to load leaves the picker out).
pub async fn book_picker(
    calls: &Calls,
    viewer: &Viewer,
    book: &Book,
    action: &str,
    with_company: bool,
) -> maud::Markup {
    let lang = viewer.lang;
    let csms = if viewer.may(Scope::AccountsRead) {
        csms(calls).await.unwrap_or_default()
    } else {
        Vec::new()
    };
    maud::html! {
        @if viewer.may(Scope::AccountsRead) {
            form.picker method="get" action=(action) {
                label for="csm" { (lang.t("Portfolio of", "Portfolio von")) }
                select #csm name="csm" data-autosubmit {
                    @if with_company {
                        option value="all" selected[*book == Book::Company] { (lang.t("the whole company", "dem ganzen Unternehmen")) }
                    }
                    @for csm in &csms {
                        option value=(csm.csm_id) selected[*book == Book::Csm(csm.csm_id.clone())] { (csm.name) }
                    }
                }
                noscript { button type="submit" { (lang.t("Show", "Anzeigen")) } }
            }
        }
    }
}
