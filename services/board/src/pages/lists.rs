//! The company's (or a CSM's) risk list and upsell list, in the domain's priority: churn
//! prevention first, by ARR at risk; upsell only for green accounts, by expected value.

use maud::{Markup, html};
use nordstern_proto::scoring::v1 as scoring_pb;

use super::{Book, accounts_by_id, book_picker, choose_book};
use crate::{
    Board, format,
    layout::{self, Frame, Nav},
    session::{PageError, Viewer},
    words,
};

/// Rows of each list.
const LIST_LENGTH: i32 = 100;

query_page!(risk, "GET /risk", render_risk);

query_page!(upsell, "GET /upsell", render_upsell);

async fn render_risk(
    board: &Board,
    viewer: &Viewer,
    query: Option<&str>,
) -> Result<Markup, PageError> {
    let lang = viewer.lang;
    let book = choose_book(&board.calls, viewer, query, true).await?;
    let scores = board
        .calls
        .scoring()
        .list_at_risk_accounts(board.calls.request(scoring_pb::ListAtRiskAccountsRequest {
            page_size: LIST_LENGTH,
            csm_id: book.csm_id(),
            ..Default::default()
        }))
        .await?
        .into_inner()
        .health_scores;
    let ids: Vec<String> = scores.iter().map(|s| s.account_id.clone()).collect();
    let accounts = accounts_by_id(&board.calls, &ids).await?;
    let title = match book {
        Book::Company => lang.t("Risk list of the company", "Risikoliste des Unternehmens"),
        Book::Csm(_) => lang.t("Risk list of the portfolio", "Risikoliste des Portfolios"),
    };
    let content = html! {
        (book_picker(&board.calls, viewer, &book, "/risk", true).await)
        p.hint { (lang.t("Churn prevention comes first: accounts by ARR at risk (ARR × churn probability).", "Churn-Prävention zuerst: Accounts nach ARR im Risiko (ARR × Churn-Wahrscheinlichkeit).")) }
        table.rows #risk {
            thead { tr {
                th scope="col" { "#" }
                th scope="col" { (lang.t("Account", "Account")) }
                th scope="col" { (lang.t("Health", "Health")) }
                th scope="col" { (lang.t("Churn", "Churn")) }
                th scope="col" { "ARR" }
                th scope="col" { (lang.t("ARR at risk", "ARR im Risiko")) }
                th scope="col" { (lang.t("Main driver", "Haupttreiber")) }
            } }
            tbody {
                @for (rank, score) in scores.iter().enumerate() {
                    @let churn = score.churn.as_ref();
                    @let driver = churn.and_then(|c| c.top_drivers.iter().find(|d| d.contribution > 0.0));
                    tr data-account=(score.account_id) {
                        td.num { (rank + 1) }
                        th scope="row" { a href=(format!("/accounts/{}", score.account_id)) { (accounts.get(&score.account_id).map_or(score.account_id.as_str(), |a| a.name.as_str())) } }
                        td.health { (layout::health_badge(lang, score.color, Some(score.score))) }
                        td.num { (format::percent(lang, churn.map(|c| c.probability))) }
                        td.num { (format::money(lang, score.arr.as_ref())) }
                        td.num { (format::money(lang, score.arr_at_risk.as_ref())) }
                        td { @if let Some(driver) = driver { (words::driver(lang, driver, None)) } }
                    }
                }
            }
        }
        @if scores.is_empty() { p.empty { (lang.t("No scored accounts.", "Keine bewerteten Accounts.")) } }
    };
    let here = format!("/risk?{}", query.unwrap_or_default());
    Ok(layout::page(
        viewer,
        Frame {
            title,
            nav: Nav::Risk,
            here: &here,
            csm_query: Some(&book.query()),
            live: Some(live_url(&book)),
        },
        content,
    ))
}

async fn render_upsell(
    board: &Board,
    viewer: &Viewer,
    query: Option<&str>,
) -> Result<Markup, PageError> {
    let lang = viewer.lang;
    let book = choose_book(&board.calls, viewer, query, true).await?;
    let opportunities = board
        .calls
        .scoring()
        .list_upsell_opportunities(board.calls.request(
            scoring_pb::ListUpsellOpportunitiesRequest {
                page_size: LIST_LENGTH,
                csm_id: book.csm_id(),
                ..Default::default()
            },
        ))
        .await?
        .into_inner()
        .opportunities;
    let ids: Vec<String> = opportunities.iter().map(|o| o.account_id.clone()).collect();
    let accounts = accounts_by_id(&board.calls, &ids).await?;
    let content = html! {
        (book_picker(&board.calls, viewer, &book, "/upsell", true).await)
        p.hint { (lang.t("Only green accounts with high adoption of what they bought; after the risk list in priority.", "Nur grüne Accounts mit hoher Nutzung des Gekauften; in der Priorität nach der Risikoliste.")) }
        table.rows #upsell {
            thead { tr {
                th scope="col" { (lang.t("Account", "Account")) }
                th scope="col" { (lang.t("Module", "Modul")) }
                th scope="col" { (lang.t("List price", "Listenpreis")) }
                th scope="col" { (lang.t("Likelihood", "Wahrscheinlichkeit")) }
                th scope="col" { (lang.t("Expected value", "Erwartungswert")) }
                th scope="col" { (lang.t("Why", "Warum")) }
            } }
            tbody {
                @for opportunity in &opportunities {
                    tr data-account=(opportunity.account_id) {
                        th scope="row" { a href=(format!("/accounts/{}", opportunity.account_id)) { (accounts.get(&opportunity.account_id).map_or(opportunity.account_id.as_str(), |a| a.name.as_str())) } }
                        td { (opportunity.module_key) }
                        td.num { (format::money(lang, opportunity.list_price.as_ref())) }
                        td.num { (format::percent(lang, Some(opportunity.likelihood))) }
                        td.num { (format::money(lang, opportunity.expected_value.as_ref())) }
                        td { (opportunity.reason) }
                    }
                }
            }
        }
        @if opportunities.is_empty() { p.empty { (lang.t("No upsell opportunities.", "Keine Upsell-Gelegenheiten.")) } }
    };
    let here = format!("/upsell?{}", query.unwrap_or_default());
    Ok(layout::page(
        viewer,
        Frame {
            title: lang.t("Upsell opportunities", "Upsell-Gelegenheiten"),
            nav: Nav::Upsell,
            here: &here,
            csm_query: Some(&book.query()),
            live: None,
        },
        content,
    ))
}

/// The live feed of a book's scores.
pub fn live_url(book: &Book) -> String {
    match book {
        Book::Csm(id) => format!("/live?csm={id}"),
        Book::Company => "/live".to_owned(),
    }
}
