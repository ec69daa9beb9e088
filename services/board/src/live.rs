//! Live updates: Server-Sent Events fed by `WatchHealthScores`. Each computation of an
//! account in view becomes one `score` event with its colour (and its word), score and
//! open alert count, so an open board shows a colour change or a new alert without a
//! reload.

use std::convert::Infallible;

use axum::{
    extract::{RawQuery, State},
    http::HeaderMap,
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures::{Stream, StreamExt};
use nordstern_domain::scope::Scope;
use nordstern_proto::scoring::v1 as scoring_pb;
use std::time::Duration;

use crate::{
    Board,
    i18n::Lang,
    pages::{Book, choose_book, query_pairs},
    session::{PageError, Viewer},
    words,
};

/// Comments sent while nothing changes, so proxies keep the connection open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub async fn events(
    State(board): State<Board>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    board
        .clone()
        .page(&headers, "GET /live", |viewer| async move {
            let stream = feed(board.clone(), &viewer, query.as_deref()).await?;
            Ok(Sse::new(stream)
                .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
                .into_response())
        })
        .await
}

/// `?account=<id>`: one account (within the viewer's own book without `accounts:read`);
/// `?csm=<id>` or nothing: a book as the pages choose it, the company by default.
async fn feed(
    board: Board,
    viewer: &Viewer,
    query: Option<&str>,
) -> Result<impl Stream<Item = Result<Event, Infallible>> + use<>, PageError> {
    let pairs = query_pairs(query);
    let account = pairs.get("account").cloned();
    let csm_id = match (&account, viewer.may(Scope::AccountsRead)) {
        (Some(_), true) => String::new(),
        (Some(_), false) => viewer
            .own_csm()
            .map(str::to_owned)
            .ok_or_else(|| PageError::Forbidden("no CSM and no accounts:read".to_owned()))?,
        (None, _) => {
            choose_book(&board.calls, viewer, query, true)
                .await
                .map(|book| match book {
                    Book::Csm(id) => id,
                    Book::Company => String::new(),
                })?
        }
    };
    // A watch has no deadline: it lasts as long as the page is open.
    let scores = board
        .calls
        .scoring()
        .watch_health_scores(tonic::Request::new(scoring_pb::WatchHealthScoresRequest {
            csm_id,
            ..Default::default()
        }))
        .await?
        .into_inner();
    let lang = viewer.lang;
    let ready = futures::stream::once(async { Ok(Event::default().event("ready").data("{}")) });
    let updates = scores
        .take_while(|item| futures::future::ready(item.is_ok()))
        .filter_map(move |item| {
            let score = item.ok().and_then(|r| r.health_score);
            let wanted = score.filter(|s| account.as_ref().is_none_or(|id| *id == s.account_id));
            let board = board.clone();
            async move {
                let score = wanted?;
                let open_alerts = open_alert_count(&board, &score.account_id).await;
                Some(Ok(score_event(lang, &score, open_alerts)))
            }
        });
    Ok(ready.chain(updates))
}

async fn open_alert_count(board: &Board, account_id: &str) -> Option<usize> {
    let response = board
        .calls
        .scoring()
        .list_alerts(board.calls.request(scoring_pb::ListAlertsRequest {
            page_size: 1_000,
            account_id: account_id.to_owned(),
            ..Default::default()
        }))
        .await
        .ok()?;
    Some(response.into_inner().alerts.len())
}

fn score_event(lang: Lang, score: &scoring_pb::HealthScore, open_alerts: Option<usize>) -> Event {
    let (word, class) = words::color(lang, score.color);
    let data = serde_json::json!({
        "account_id": score.account_id,
        "color": class,
        "word": word,
        "score": score.score.round(),
        "churn": score.churn.as_ref().map(|c| c.probability),
        "open_alerts": open_alerts,
    });
    Event::default().event("score").data(data.to_string())
}
