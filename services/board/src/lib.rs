//! The CSM's board: portfolio, company risk and upsell lists, the account 360 with its
//! charts, the alert queue and the renewals ahead, in German and English, updated live.
//!
//! Pages are rendered on the server from the same gRPC services every other client
//! calls (in-process through tonic's router, so scopes and validation are theirs), with
//! templates checked at compile time and charts as SVG. The browser gets a little
//! JavaScript for live updates and nothing else it needs: every page works without it.
//!
//! Signing in stores the API token in an HttpOnly, SameSite=Strict cookie; every page
//! checks it with the same [`Keeper`] as the gRPC and JSON APIs (scopes, rate limits,
//! audit), and a missing or wrong token gets the sign-in page, never data.

mod calls;
mod charts;
mod format;
mod i18n;
mod layout;
mod live;
mod pages;
mod session;
mod words;

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    http::header,
    response::IntoResponse,
    routing::{get, post},
};
use nordstern_auth::Keeper;
use tonic::service::Routes;

pub use calls::Calls;

/// What the board needs from the process that serves it.
pub struct BoardSettings {
    /// The deadline of each backend call a page makes.
    pub request_timeout: Duration,
    /// Whether the HTTP listener runs TLS, so the session cookie is `Secure`.
    pub secure_cookies: bool,
}

#[derive(Clone)]
pub(crate) struct Board {
    calls: Calls,
    keeper: Arc<Keeper>,
    secure_cookies: bool,
}

/// The board's pages at `/`, next to the JSON API under `/v1/`.
pub fn router(services: Routes, keeper: Arc<Keeper>, settings: BoardSettings) -> Router {
    let board = Board {
        calls: Calls::new(services, settings.request_timeout),
        keeper,
        secure_cookies: settings.secure_cookies,
    };
    Router::new()
        .route("/", get(pages::portfolio::page))
        .route("/risk", get(pages::lists::risk))
        .route("/upsell", get(pages::lists::upsell))
        .route("/accounts/{account_id}", get(pages::account::page))
        .route("/alerts", get(pages::alerts::page))
        .route(
            "/alerts/{alert_id}/acknowledge",
            post(pages::alerts::acknowledge),
        )
        .route("/alerts/{alert_id}/resolve", post(pages::alerts::resolve))
        .route("/renewals", get(pages::renewals::page))
        .route("/live", get(live::events))
        .route("/signin", get(session::sign_in_page).post(session::sign_in))
        .route("/signout", post(session::sign_out))
        .route("/lang/{lang}", get(session::switch_language))
        .route("/assets/board.css", get(stylesheet))
        .route("/assets/board.js", get(script))
        .with_state(board)
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../assets/board.css"),
    )
}

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../assets/board.js"),
    )
}
