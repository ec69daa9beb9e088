//! Pagination, one way everywhere. A listing answers `page_size` rows after the cursor of
//! `page_token`, ordered by a key, and names the next page's cursor (empty: last page).
//!
//! - One cursor format: the key's parts joined by `~` (a single-part key, such as an id,
//!   is the id itself), each part escaped, checked on the way back in ([`Cursor`]).
//! - One rule for the extra row: the handler asks the store for [`PageRequest::fetch_limit`]
//!   (one more than the page) and [`page`] cuts it off; a store never adds one itself.
//! - One walker for callers that need every page ([`all_pages`] over a [`Listing`]), and
//!   one that works on each page while the next is fetched ([`all_pages_overlapped`]).

use tonic::Status;

use crate::status::FieldViolations;

pub const MAX_PAGE_SIZE: i32 = 1000;
pub const DEFAULT_PAGE_SIZE: i32 = 100;

/// A listing request's page size and cursor, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest<const N: usize> {
    /// Rows on the page.
    pub limit: u64,
    /// The key of the last row of the previous page.
    pub after: Option<[String; N]>,
}

impl PageRequest<1> {
    /// For lists ordered by id: the token must be an id (a UUID) this service issued.
    pub fn parse_id(violations: &mut FieldViolations, page_size: i32, page_token: &str) -> Self {
        let mut request = PageRequest::parse(violations, page_size, page_token);
        if let Some([id]) = &request.after
            && crate::wire::uuid(id).is_err()
        {
            violations.add("page_token", "is not a token this service issued");
            request.after = None;
        }
        request
    }

    /// The id of the previous page's last row.
    pub fn after_id(&self) -> Option<&str> {
        self.after.as_ref().map(|[id]| id.as_str())
    }
}

impl<const N: usize> PageRequest<N> {
    /// Checks `page_size` (0: the default; at most [`MAX_PAGE_SIZE`]) and `page_token`,
    /// recording each problem under its field.
    pub fn parse(violations: &mut FieldViolations, page_size: i32, page_token: &str) -> Self {
        PageRequest {
            limit: page_size_of(violations, page_size),
            after: Cursor::decode(violations, page_token),
        }
    }

    /// What to ask the store for: one row more than the page, which says whether there
    /// is a next page.
    pub fn fetch_limit(&self) -> u64 {
        self.limit + 1
    }
}

/// Page size with the documented default and cap.
pub fn page_size_of(violations: &mut FieldViolations, requested: i32) -> u64 {
    match requested {
        0 => DEFAULT_PAGE_SIZE as u64,
        1..=MAX_PAGE_SIZE => requested as u64,
        _ => {
            violations.add(
                "page_size",
                format!("must be between 0 and {MAX_PAGE_SIZE}"),
            );
            DEFAULT_PAGE_SIZE as u64
        }
    }
}

/// The page token format.
pub struct Cursor;

impl Cursor {
    /// `parts` as a page token.
    pub fn encode<S: AsRef<str>>(parts: &[S]) -> String {
        parts
            .iter()
            .map(|part| escape(part.as_ref()))
            .collect::<Vec<_>>()
            .join("~")
    }

    /// The `N` parts of a token this service issued; `None` for an empty token (the first
    /// page) and, with a violation on `page_token`, for anything else that is not one.
    pub fn decode<const N: usize>(
        violations: &mut FieldViolations,
        raw: &str,
    ) -> Option<[String; N]> {
        if raw.is_empty() {
            return None;
        }
        let parts: Option<Vec<String>> = raw.split('~').map(unescape).collect();
        let parsed = parts
            .and_then(|parts| <[String; N]>::try_from(parts).ok())
            .filter(|parts| parts.iter().all(|part| !part.is_empty()));
        if parsed.is_none() {
            violations.add("page_token", "is not a token this service issued");
        }
        parsed
    }
}

/// `%` and `~` would break the split: percent-encoded.
fn escape(part: &str) -> String {
    part.replace('%', "%25").replace('~', "%7E")
}

fn unescape(part: &str) -> Option<String> {
    let mut text = String::with_capacity(part.len());
    let mut rest = part;
    while let Some(at) = rest.find('%') {
        text.push_str(&rest[..at]);
        match rest.get(at..at + 3) {
            Some("%25") => text.push('%'),
            Some("%7E") => text.push('~'),
            _ => return None,
        }
        rest = &rest[at + 3..];
    }
    text.push_str(rest);
    Some(text)
}

/// Splits rows fetched with [`PageRequest::fetch_limit`] into the page and the next
/// page's token (the key of the page's last row; empty on the last page).
pub fn page<T>(mut rows: Vec<T>, limit: u64, key: impl Fn(&T) -> String) -> (Vec<T>, String) {
    if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        let token = rows.last().map(&key).unwrap_or_default();
        (rows, token)
    } else {
        (rows, String::new())
    }
}

/// A listing RPC's request and response, for walking every page.
pub trait Listing: Clone {
    type Page;
    type Item;
    fn set_page_token(&mut self, token: String);
    fn into_items(page: Self::Page) -> (Vec<Self::Item>, String);
}

/// Implements [`Listing`] for requests with `page_token` whose responses carry the items
/// in one field and `next_page_token`.
#[macro_export]
macro_rules! listing {
    ($($request:ty => $page:ty, $items:ident: $item:ty;)*) => {$(
        impl $crate::paging::Listing for $request {
            type Page = $page;
            type Item = $item;
            fn set_page_token(&mut self, token: String) {
                self.page_token = token;
            }
            fn into_items(page: $page) -> (Vec<Self::Item>, String) {
                (page.$items, page.next_page_token)
            }
        }
    )*};
}

/// Every page of a listing, following `next_page_token` until it is empty (or, from a
/// broken server, repeats itself).
pub async fn all_pages<R: Listing, Fut>(
    mut request: R,
    call: impl Fn(R) -> Fut,
) -> Result<Vec<R::Item>, Status>
where
    Fut: std::future::Future<Output = Result<tonic::Response<R::Page>, Status>>,
{
    let mut items = Vec::new();
    let mut previous = String::new();
    loop {
        let (page, token) = R::into_items(call(request.clone()).await?.into_inner());
        items.extend(page);
        if token.is_empty() || token == previous {
            return Ok(items);
        }
        previous.clone_from(&token);
        request.set_page_token(token);
    }
}

/// [`all_pages`], with `each` run on every page while the next one is fetched, so work
/// per page (a read keyed by the page's ids) overlaps the listing instead of following
/// it. Answers the items and what `each` answered for each page, in order.
pub async fn all_pages_overlapped<R: Listing, Fut, T, Each>(
    mut request: R,
    call: impl Fn(R) -> Fut,
    each: impl Fn(&[R::Item]) -> Each,
) -> Result<(Vec<R::Item>, Vec<T>), Status>
where
    Fut: std::future::Future<Output = Result<tonic::Response<R::Page>, Status>>,
    Each: std::future::Future<Output = Result<T, Status>>,
{
    let mut items = Vec::new();
    let mut answers = Vec::new();
    let mut previous = String::new();
    let mut working: Option<Each> = None;
    loop {
        let fetched = call(request.clone());
        let (fetched, answer) = match working.take() {
            Some(work) => {
                let (fetched, answer) = tokio::join!(fetched, work);
                (fetched, Some(answer?))
            }
            None => (fetched.await, None),
        };
        answers.extend(answer);
        let (page, token) = R::into_items(fetched?.into_inner());
        working = Some(each(&page));
        items.extend(page);
        if token.is_empty() || token == previous {
            break;
        }
        previous.clone_from(&token);
        request.set_page_token(token);
    }
    if let Some(work) = working {
        answers.push(work.await?);
    }
    Ok((items, answers))
}

/// Every listing some caller walks to the end.
mod listings {
    use nordstern_proto::{
        accounts::v1 as accounts, auth::v1 as auth, scoring::v1 as scoring, survey::v1 as survey,
    };

    crate::listing! {
        accounts::ListAccountsRequest => accounts::ListAccountsResponse, accounts: accounts::Account;
        accounts::ListCsmsRequest => accounts::ListCsmsResponse, csms: accounts::Csm;
        accounts::ListContractEventsRequest => accounts::ListContractEventsResponse, events: accounts::ContractEvent;
        scoring::ListHealthScoresRequest => scoring::ListHealthScoresResponse, health_scores: scoring::HealthScore;
        scoring::ListHealthScoreHistoryRequest => scoring::ListHealthScoreHistoryResponse, entries: scoring::HealthScoreHistoryEntry;
        scoring::ListAlertsRequest => scoring::ListAlertsResponse, alerts: scoring::Alert;
        scoring::ListUpsellOpportunitiesRequest => scoring::ListUpsellOpportunitiesResponse, opportunities: scoring::UpsellOpportunity;
        survey::ListResponsesRequest => survey::ListResponsesResponse, responses: survey::SurveyResponse;
        auth::ListTokensRequest => auth::ListTokensResponse, tokens: auth::Token;
        auth::ListAuditEventsRequest => auth::ListAuditEventsResponse, events: auth::AuditEvent;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_any_text_and_refuse_what_we_did_not_issue() {
        let parts = ["2026-12-05", "a~b", "100%", "01a2"];
        let token = Cursor::encode(&parts);
        let mut violations = FieldViolations::new();
        assert_eq!(
            Cursor::decode::<4>(&mut violations, &token),
            Some(parts.map(str::to_owned))
        );
        // A one-part key is the key itself: id-ordered lists keep their tokens.
        assert_eq!(
            Cursor::encode(&["01a244ed-5750-7633"]),
            "01a244ed-5750-7633"
        );
        assert!(violations.is_empty());
        assert_eq!(Cursor::decode::<1>(&mut violations, ""), None);
        assert!(violations.is_empty());
        for bad in [&token[..], "a~~b~c~d", "%zz~a~b~c", "a~b"] {
            let mut violations = FieldViolations::new();
            assert_eq!(Cursor::decode::<3>(&mut violations, bad), None, "{bad}");
            assert_eq!(violations.violations()[0].0, "page_token");
        }
    }

    #[test]
    fn the_handler_fetches_one_more_row_and_page_cuts_it_off() {
        let mut violations = FieldViolations::new();
        let request = PageRequest::<1>::parse(&mut violations, 2, "");
        assert_eq!(request.fetch_limit(), 3);
        let (rows, next) = page(vec![1, 2, 3], request.limit, |n| n.to_string());
        assert_eq!((rows, next.as_str()), (vec![1, 2], "2"));
        let (rows, next) = page(vec![1, 2], request.limit, |n| n.to_string());
        assert_eq!((rows, next.as_str()), (vec![1, 2], ""));
        let request = PageRequest::<1>::parse(&mut violations, 1001, "");
        assert_eq!(request.limit, DEFAULT_PAGE_SIZE as u64);
        assert_eq!(violations.violations()[0].0, "page_size");
        let mut violations = FieldViolations::new();
        let id = "01a244ed-5750-7633-bfeb-5ca4c87ce21d";
        assert_eq!(
            PageRequest::parse_id(&mut violations, 0, id).after_id(),
            Some(id)
        );
        assert!(violations.is_empty());
        assert_eq!(
            PageRequest::parse_id(&mut violations, 0, "x").after_id(),
            None
        );
        assert_eq!(violations.violations()[0].0, "page_token");
    }

    #[derive(Clone, Default)]
    struct Request {
        page_token: String,
    }
    struct Response {
        items: Vec<u32>,
        next_page_token: String,
    }
    crate::listing! { Request => Response, items: u32; }

    #[tokio::test]
    async fn all_pages_follows_tokens_and_stops_on_a_repeated_one() {
        let pages = |request: Request| async move {
            let (items, next) = match request.page_token.as_str() {
                "" => (vec![1, 2], "2"),
                "2" => (vec![3], "3"),
                // A broken server handing out the same token again.
                _ => (vec![4], "3"),
            };
            Ok(tonic::Response::new(Response {
                items,
                next_page_token: next.to_owned(),
            }))
        };
        let items = all_pages(Request::default(), pages)
            .await
            .unwrap_or_default();
        assert_eq!(items, vec![1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn each_page_is_worked_on_while_the_next_is_fetched() {
        use std::sync::Arc;
        use tokio::sync::Notify;
        // The first page's work and the second page's fetch each wait for the other to
        // begin: walked one after the other, either order would wait forever.
        let (worked, fetched) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let pages = |request: Request| {
            let (worked, fetched) = (worked.clone(), fetched.clone());
            async move {
                let (items, next) = match request.page_token.as_str() {
                    "" => (vec![1, 2], "2"),
                    _ => {
                        fetched.notify_one();
                        worked.notified().await;
                        (vec![4], "")
                    }
                };
                Ok(tonic::Response::new(Response {
                    items,
                    next_page_token: next.to_owned(),
                }))
            }
        };
        let each = |page: &[u32]| {
            let first_page = page.first() == Some(&1);
            let sum: u32 = page.iter().sum();
            let (worked, fetched) = (worked.clone(), fetched.clone());
            async move {
                if first_page {
                    worked.notify_one();
                    fetched.notified().await;
                }
                Ok(sum)
            }
        };
        let walked = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            all_pages_overlapped(Request::default(), pages, each),
        )
        .await
        .expect("the first page's work and the next fetch ran one after the other");
        let (items, sums) = walked.unwrap_or_default();
        assert_eq!(items, vec![1, 2, 4]);
        assert_eq!(sums, vec![3, 4], "one answer per page, in page order");
    }
}
