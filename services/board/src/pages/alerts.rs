//! The alert queue: the open alerts of a book, newest first, each with acknowledge and
//! resolve; the acknowledged ones below, still to resolve.

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::HeaderMap,
    response::{IntoResponse, Redirect, Response},
};
use maud::{Markup, html};
use nordstern_domain::scope::Scope;
use nordstern_proto::scoring::v1::{self as scoring_pb, AlertStatus};

use super::{Book, accounts_by_id, book_picker, choose_book, lists::live_url};
use crate::{
    Board, format,
    i18n::Lang,
    layout::{self, Frame, Nav},
    session::{PageError, Viewer, is_local_path, same_origin},
    words,
};

/// Alerts shown per status.
const QUEUE_LENGTH: i32 = 200;
/// The most a listing answers at once: the whole of a book's queue.
const MAX_PAGE: i32 = 1_000;

query_page!(page, "GET /alerts", render);

async fn alerts_with(
    board: &Board,
    book: &Book,
    status: AlertStatus,
    limit: i32,
) -> Result<Vec<scoring_pb::Alert>, tonic::Status> {
    Ok(board
        .calls
        .scoring()
        .list_alerts(board.calls.request(scoring_pb::ListAlertsRequest {
            page_size: limit,
            csm_id: book.csm_id(),
            statuses: vec![status as i32],
            ..Default::default()
        }))
        .await?
        .into_inner()
        .alerts)
}

async fn render(board: &Board, viewer: &Viewer, query: Option<&str>) -> Result<Markup, PageError> {
    let lang = viewer.lang;
    let book = choose_book(&board.calls, viewer, query, true).await?;
    let (open, acknowledged) = tokio::join!(
        alerts_with(board, &book, AlertStatus::Open, QUEUE_LENGTH),
        alerts_with(board, &book, AlertStatus::Acknowledged, QUEUE_LENGTH)
    );
    let (open, acknowledged) = (open?, acknowledged?);
    let ids: Vec<String> = open
        .iter()
        .chain(&acknowledged)
        .map(|a| a.account_id.clone())
        .collect();
    let accounts = accounts_by_id(&board.calls, &ids).await?;
    let name = |id: &str| accounts.get(id).map_or(id.to_owned(), |a| a.name.clone());
    let here = match query {
        Some(query) if !query.is_empty() => format!("/alerts?{query}"),
        _ => "/alerts".to_owned(),
    };
    let table = |alerts: &[scoring_pb::Alert], id: &str| {
        html! {
            table.rows id=(id) {
                thead { tr {
                    th scope="col" { (lang.t("Raised", "Ausgelöst")) }
                    th scope="col" { (lang.t("Account", "Account")) }
                    th scope="col" { (lang.t("Type", "Typ")) }
                    th scope="col" { (lang.t("Reason", "Grund")) }
                    th scope="col" { "ARR" }
                    th scope="col" { span.visually-hidden { (lang.t("Actions", "Aktionen")) } }
                } }
                tbody {
                    @for alert in alerts {
                        tr data-alert=(alert.alert_id) data-account=(alert.account_id) {
                            td { (format::day_of(lang, alert.last_raised_at.as_ref().or(alert.raised_at.as_ref()))) }
                            th scope="row" { a href=(format!("/accounts/{}", alert.account_id)) { (name(&alert.account_id)) } }
                            td { (words::alert_type(lang, alert.alert_type)) @if alert.raise_count > 1 { " ×" (alert.raise_count) } }
                            td { (alert.reason) }
                            td.num { (format::money(lang, alert.arr.as_ref())) }
                            td { (alert_actions(lang, viewer, alert, &here)) }
                        }
                    }
                }
            }
        }
    };
    let content = html! {
        (book_picker(&board.calls, viewer, &book, "/alerts", true).await)
        h2 { (lang.t("Open", "Offen")) " (" span #open-count { (open.len()) } ")" }
        @if open.is_empty() { p.empty { (lang.t("The queue is empty.", "Die Warteschlange ist leer.")) } }
        @else { (table(&open, "queue")) }
        h2 { (lang.t("Acknowledged, not resolved", "Gesehen, nicht erledigt")) " (" (acknowledged.len()) ")" }
        @if !acknowledged.is_empty() { (table(&acknowledged, "acknowledged")) }
    };
    Ok(layout::page(
        viewer,
        Frame {
            title: lang.t("Alert queue", "Warteschlange der Warnungen"),
            nav: Nav::Alerts,
            here: &here,
            csm_query: Some(&book.query()),
            live: Some(live_url(&book)),
        },
        content,
    ))
}

/// Acknowledge and resolve buttons for an alert (for tokens that may), coming back to
/// `back` afterwards.
pub fn alert_actions(lang: Lang, viewer: &Viewer, alert: &scoring_pb::Alert, back: &str) -> Markup {
    let open = alert.status == AlertStatus::Open as i32;
    html! {
        @if viewer.may(Scope::AlertsWrite) {
            div.actions {
                @if open {
                    form method="post" action=(format!("/alerts/{}/acknowledge", alert.alert_id)) {
                        input type="hidden" name="back" value=(back);
                        button type="submit" data-action="acknowledge" { (lang.t("Acknowledge", "Gesehen")) }
                    }
                }
                form method="post" action=(format!("/alerts/{}/resolve", alert.alert_id)) {
                    input type="hidden" name="back" value=(back);
                    button type="submit" data-action="resolve" { (lang.t("Resolve", "Erledigt")) }
                }
            }
        }
    }
}

/// A viewer without `accounts:read` works only the alerts of their own CSM's book.
async fn in_own_book(board: &Board, viewer: &Viewer, alert_id: &str) -> Result<(), PageError> {
    let refused = || {
        PageError::Forbidden(
            viewer
                .lang
                .t(
                    "This alert is not in your portfolio's queue.",
                    "Diese Warnung ist nicht in der Warteschlange Ihres Portfolios.",
                )
                .to_owned(),
        )
    };
    let own = viewer.own_csm().ok_or_else(refused)?;
    let book = Book::Csm(own.to_owned());
    let (open, acknowledged) = tokio::join!(
        alerts_with(board, &book, AlertStatus::Open, MAX_PAGE),
        alerts_with(board, &book, AlertStatus::Acknowledged, MAX_PAGE)
    );
    let found = open?
        .iter()
        .chain(acknowledged?.iter())
        .any(|alert| alert.alert_id == alert_id);
    if found { Ok(()) } else { Err(refused()) }
}

#[derive(Clone, Copy)]
enum Action {
    Acknowledge,
    Resolve,
}

pub async fn acknowledge(
    state: State<Board>,
    headers: HeaderMap,
    path: Path<String>,
    body: Bytes,
) -> Response {
    act(state, headers, path, body, Action::Acknowledge).await
}

pub async fn resolve(
    state: State<Board>,
    headers: HeaderMap,
    path: Path<String>,
    body: Bytes,
) -> Response {
    act(state, headers, path, body, Action::Resolve).await
}

async fn act(
    State(board): State<Board>,
    headers: HeaderMap,
    Path(alert_id): Path<String>,
    body: Bytes,
    action: Action,
) -> Response {
    if let Err(refused) = same_origin(&headers) {
        return refused.into_response();
    }
    let back = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
        .unwrap_or_default()
        .into_iter()
        .find_map(|(key, value)| (key == "back").then_some(value))
        .filter(|path| is_local_path(path))
        .unwrap_or_else(|| "/alerts".to_owned());
    let route = match action {
        Action::Acknowledge => "POST /alerts/{alert_id}/acknowledge",
        Action::Resolve => "POST /alerts/{alert_id}/resolve",
    };
    board
        .clone()
        .page(&headers, route, |viewer| async move {
            if !viewer.may(Scope::AccountsRead) {
                in_own_book(&board, &viewer, &alert_id).await?;
            }
            let mut scoring = board.calls.scoring();
            match action {
                Action::Acknowledge => {
                    scoring
                        .acknowledge_alert(
                            board
                                .calls
                                .request(scoring_pb::AcknowledgeAlertRequest { alert_id }),
                        )
                        .await?;
                }
                Action::Resolve => {
                    scoring
                        .resolve_alert(
                            board
                                .calls
                                .request(scoring_pb::ResolveAlertRequest { alert_id }),
                        )
                        .await?;
                }
            }
            Ok(Redirect::to(&back).into_response())
        })
        .await
}
