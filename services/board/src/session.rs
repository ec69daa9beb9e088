//! Who is looking: the token in the session cookie, checked by the same keeper as every
//! API call; signing in and out; the language switch; and the same-origin check of
//! every form post.

use std::future::Future;

use axum::{
    extract::{Path, RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use maud::{Markup, html};
use nordstern_auth::{
    keeper::{Principal, Refusal},
    table::{self, Requirement},
};
use nordstern_domain::scope::Scope;
use nordstern_runtime::guard::{Caller, with_caller};

use crate::{
    Board,
    i18n::{LANG_COOKIE, Lang},
    layout,
};

/// Where the signed-in token is kept (HttpOnly: no script reads it).
pub const TOKEN_COOKIE: &str = "nordstern_token";

/// The longest sign-in form read; a token is 76 characters.
const MAX_FORM_BYTES: usize = 4_096;

/// The value of cookie `name` in the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then_some(value)
        })
}

/// A signed-in request: who, with which rights, in which language.
pub struct Viewer {
    pub principal: Principal,
    pub caller: Option<Caller>,
    pub lang: Lang,
}

impl Viewer {
    pub fn may(&self, scope: Scope) -> bool {
        self.principal.may(scope)
    }

    /// The CSM this viewer's token speaks for, if any.
    pub fn own_csm(&self) -> Option<&str> {
        Some(self.principal.csm_id.as_str()).filter(|id| !id.is_empty())
    }
}

/// Why a page is not shown.
pub enum PageError {
    Status(tonic::Status),
    Forbidden(String),
}

impl From<tonic::Status> for PageError {
    fn from(status: tonic::Status) -> Self {
        PageError::Status(status)
    }
}

/// The headers of a gRPC or HTTP call made with the session's token.
fn bearer_headers(headers: &HeaderMap) -> HeaderMap {
    let mut bearer = HeaderMap::new();
    if let Some(token) = cookie(headers, TOKEN_COOKIE)
        && let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}"))
    {
        bearer.insert(header::AUTHORIZATION, value);
    }
    bearer
}

impl Board {
    /// Serves `route` (as `table::BOARD_ROUTES` names it, e.g. `GET /accounts/{account_id}`)
    /// to a viewer whose token grants the scope the table gives it: the sign-in page
    /// without a valid token, a refusal page without the scope, else `render`'s page, run
    /// as the token's caller.
    pub async fn page<F, Fut>(&self, headers: &HeaderMap, route: &str, render: F) -> Response
    where
        F: FnOnce(Viewer) -> Fut,
        Fut: Future<Output = Result<Response, PageError>>,
    {
        let lang = Lang::of(headers);
        if self.keeper.is_enabled() && cookie(headers, TOKEN_COOKIE).is_none() {
            // Not signed in: nothing went wrong yet, so no reason is shown.
            return (StatusCode::UNAUTHORIZED, sign_in_markup(lang, None)).into_response();
        }
        let requirement = table::board_requirement(route);
        let viewer = match self.viewer(headers, route, requirement) {
            Ok(viewer) => viewer,
            Err(refusal) => return refused(lang, refusal),
        };
        let caller = viewer.caller.clone();
        let (audited, scope) = match requirement {
            Requirement::Scope(scope) => (!scope.is_read(), scope.as_str()),
            _ => (true, ""),
        };
        let answer = with_caller(caller.clone(), render(viewer)).await;
        let code = match &answer {
            Ok(_) => tonic::Code::Ok,
            Err(PageError::Status(status)) => status.code(),
            Err(PageError::Forbidden(_)) => tonic::Code::PermissionDenied,
        };
        if audited {
            self.keeper
                .audit()
                .record(route, caller.as_ref(), scope, None, code);
        }
        match answer {
            Ok(response) => response,
            Err(error) => error_page(lang, error),
        }
    }

    fn viewer(
        &self,
        headers: &HeaderMap,
        route: &str,
        requirement: Requirement,
    ) -> Result<Viewer, Refusal> {
        let bearer = bearer_headers(headers);
        let (admission, _) = self.keeper.decide(route, requirement, &bearer)?;
        let principal = self
            .keeper
            .principal(&bearer)
            .ok_or_else(|| Refusal::Unauthenticated("the token was revoked a moment ago".into()))?;
        Ok(Viewer {
            principal,
            caller: admission.caller,
            lang: Lang::of(headers),
        })
    }
}

/// The answer to a refused page: sign in again, or a page saying what is missing.
fn refused(lang: Lang, refusal: Refusal) -> Response {
    match refusal {
        Refusal::Unauthenticated(reason) => {
            let page = sign_in_markup(lang, Some(&reason));
            (StatusCode::UNAUTHORIZED, page).into_response()
        }
        Refusal::Forbidden(reason) => error_page(lang, PageError::Forbidden(reason)),
        Refusal::Limited { retry_after, .. } => {
            let seconds = retry_after.as_secs().max(1);
            let page = layout::bare(
                lang,
                lang.t("Slow down", "Bitte langsamer"),
                html! {
                    p { (lang.t("Too many requests for this token; try again in", "Zu viele Anfragen mit diesem Token; erneut versuchen in")) " " (seconds) " s." }
                },
            );
            let mut response = (StatusCode::TOO_MANY_REQUESTS, page).into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            response
        }
    }
}

/// A page for what went wrong, with the HTTP status it stands for.
pub fn error_page(lang: Lang, error: PageError) -> Response {
    let (status, title, detail) = match error {
        PageError::Forbidden(reason) => (
            StatusCode::FORBIDDEN,
            lang.t("Not allowed", "Nicht erlaubt"),
            reason,
        ),
        PageError::Status(status) => {
            let code = match status.code() {
                tonic::Code::NotFound => StatusCode::NOT_FOUND,
                tonic::Code::InvalidArgument => StatusCode::BAD_REQUEST,
                tonic::Code::PermissionDenied => StatusCode::FORBIDDEN,
                tonic::Code::FailedPrecondition => StatusCode::CONFLICT,
                tonic::Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
                tonic::Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            let title = match status.code() {
                tonic::Code::NotFound => lang.t("Not found", "Nicht gefunden"),
                tonic::Code::InvalidArgument => lang.t("Bad request", "Ungültige Anfrage"),
                _ => lang.t("Something failed", "Etwas ist schiefgegangen"),
            };
            (code, title, status.message().to_owned())
        }
    };
    let page = layout::bare(
        lang,
        title,
        html! {
            p.error { (detail) }
            p { a href="/" { (lang.t("Back to the portfolio", "Zurück zum Portfolio")) } }
        },
    );
    (status, page).into_response()
}

fn sign_in_markup(lang: Lang, problem: Option<&str>) -> Markup {
    layout::bare(
        lang,
        lang.t("Sign in", "Anmelden"),
        html! {
            form.signin method="post" action="/signin" {
                @if let Some(problem) = problem {
                    p.error role="alert" { (problem) }
                }
                label for="token" { (lang.t("API token", "API-Token")) }
                input #token type="password" name="token" autocomplete="off" required
                    placeholder="nst_…" autofocus;
                p.hint {
                    (lang.t(
                        "A token from your administrator (`nordstern token create`). A token tied to a CSM opens on that CSM's portfolio.",
                        "Ein Token von Ihrer Administration (`nordstern token create`). Ein Token, das an einen CSM gebunden ist, öffnet dessen Portfolio.",
                    ))
                }
                button type="submit" { (lang.t("Sign in", "Anmelden")) }
            }
        },
    )
}

pub async fn sign_in_page(headers: HeaderMap) -> Response {
    sign_in_markup(Lang::of(&headers), None).into_response()
}

#[derive(serde::Deserialize)]
struct SignInForm {
    token: String,
}

/// Checks the token like any call would (it must at least read scores, which every page
/// shows), then keeps it in the session cookie.
pub async fn sign_in(
    State(board): State<Board>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let lang = Lang::of(&headers);
    if let Err(refused) = same_origin(&headers) {
        return refused.into_response();
    }
    let Ok(body) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, sign_in_markup(lang, None)).into_response();
    };
    let Ok(form) = serde_urlencoded::from_bytes::<SignInForm>(&body) else {
        return (StatusCode::BAD_REQUEST, sign_in_markup(lang, None)).into_response();
    };
    let token = form.token.trim();
    let mut bearer = HeaderMap::new();
    let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}")) else {
        let page = sign_in_markup(
            lang,
            Some(lang.t("That is not a token.", "Das ist kein Token.")),
        );
        return (StatusCode::UNAUTHORIZED, page).into_response();
    };
    bearer.insert(header::AUTHORIZATION, value);
    if let Err(refusal) = board.keeper.decide(
        "POST /signin",
        table::board_requirement("POST /signin"),
        &bearer,
    ) {
        return refused(lang, refusal);
    }
    let secure = if board.secure_cookies { "; Secure" } else { "" };
    let cookie = format!("{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}");
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

pub async fn sign_out(headers: HeaderMap) -> Response {
    if let Err(refused) = same_origin(&headers) {
        return refused.into_response();
    }
    let mut response = Redirect::to("/signin").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("nordstern_token=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

/// `/lang/de?back=/accounts/…`: keeps the choice for a year and goes back.
pub async fn switch_language(Path(code): Path<String>, RawQuery(query): RawQuery) -> Response {
    let Some(lang) = Lang::parse(&code) else {
        return (StatusCode::NOT_FOUND, "no such language").into_response();
    };
    let back = query
        .as_deref()
        .and_then(|q| {
            serde_urlencoded::from_str::<Vec<(String, String)>>(q)
                .ok()?
                .into_iter()
                .find_map(|(key, value)| (key == "back").then_some(value))
        })
        .filter(|path| is_local_path(path))
        .unwrap_or_else(|| "/".to_owned());
    let mut response = Redirect::to(&back).into_response();
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
        lang.code()
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// A path on this site, never another one (`//evil.example` is another one).
pub fn is_local_path(path: &str) -> bool {
    path.starts_with('/') && !path.starts_with("//") && !path.contains('\\')
}

/// A form post from another site, refused.
#[derive(Debug)]
pub struct CrossSite(&'static str);

impl IntoResponse for CrossSite {
    fn into_response(self) -> Response {
        (StatusCode::FORBIDDEN, self.0).into_response()
    }
}

/// Form posts must come from the board itself: browsers send `Origin` (and
/// `Sec-Fetch-Site`) with every POST, so a page elsewhere cannot act with the session
/// even where SameSite cookies are not honoured.
pub fn same_origin(headers: &HeaderMap) -> Result<(), CrossSite> {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err(CrossSite("cross-site form posts are refused"));
    }
    if let (Some(origin), Some(host)) = (text(header::ORIGIN), text(header::HOST)) {
        let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
        if origin_host != host {
            return Err(CrossSite("cross-origin form posts are refused"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("x_nordstern_token=no; nordstern_token=nst_1; b=2"),
        );
        assert_eq!(cookie(&headers, TOKEN_COOKIE), Some("nst_1"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn only_local_paths_are_followed_back() {
        assert!(is_local_path("/accounts/1?x=2"));
        for outside in ["//evil.example", "https://evil.example", "/\\evil", "evil"] {
            assert!(!is_local_path(outside), "{outside}");
        }
    }

    #[test]
    fn posts_from_another_site_are_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(same_origin(&headers).is_ok());
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(same_origin(&headers).is_err());
        headers.remove(header::ORIGIN);
        headers.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(same_origin(&headers).is_err());
    }
}
