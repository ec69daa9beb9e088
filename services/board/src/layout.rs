//! The page shell: head, navigation, language switch and sign-out, and the traffic-light
//! badge every page uses.

use maud::{DOCTYPE, Markup, html};

use crate::{i18n::Lang, session::Viewer, words};

/// Which navigation entry a page is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Portfolio,
    Risk,
    Upsell,
    Alerts,
    Renewals,
    Account,
}

/// What a full page needs besides its content.
pub struct Frame<'a> {
    pub title: &'a str,
    pub nav: Nav,
    /// The path and query of this page, to come back to after switching language.
    pub here: &'a str,
    /// `csm=…` carried from page to page, when one was chosen.
    pub csm_query: Option<&'a str>,
    /// The live feed this page listens to (`/live?…`), if any.
    pub live: Option<String>,
}

fn head(lang: Lang, title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Nordstern" }
            link rel="stylesheet" href="/assets/board.css";
            script src="/assets/board.js" defer {}
            meta name="color-scheme" content="light";
            meta name="nordstern-lang" content=(lang.code());
        }
    }
}

/// A signed-in page.
pub fn page(viewer: &Viewer, frame: Frame<'_>, content: Markup) -> Markup {
    let lang = viewer.lang;
    // The company's book exists only for lists; the portfolio and renewals are one CSM's.
    let with_csm = |path: &str| match frame.csm_query {
        Some("csm=all") if matches!(path, "/" | "/renewals") => path.to_owned(),
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let entries = [
        (Nav::Portfolio, "/", lang.t("Portfolio", "Portfolio")),
        (Nav::Risk, "/risk", lang.t("Risk list", "Risikoliste")),
        (Nav::Upsell, "/upsell", lang.t("Upsell", "Upsell")),
        (Nav::Alerts, "/alerts", lang.t("Alerts", "Warnungen")),
        (
            Nav::Renewals,
            "/renewals",
            lang.t("Renewals", "Verlängerungen"),
        ),
    ];
    let switch = format!(
        "/lang/{}?back={}",
        lang.other().code(),
        serde_urlencoded::to_string([("x", frame.here)])
            .unwrap_or_default()
            .trim_start_matches("x=")
    );
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            (head(lang, frame.title))
            body data-live=[frame.live.as_deref()] {
                a.skip href="#main" { (lang.t("Skip to content", "Zum Inhalt springen")) }
                header.top {
                    a.brand href="/" { "Nordstern" }
                    nav aria-label=(lang.t("Main", "Hauptnavigation")) {
                        ul {
                            @for (nav, path, name) in entries {
                                li {
                                    a href=(with_csm(path)) aria-current=[(nav == frame.nav).then_some("page")] { (name) }
                                }
                            }
                        }
                    }
                    div.session {
                        span #live-status.live-status role="status" aria-live="polite" {}
                        a.lang href=(switch) hreflang=(lang.other().code()) lang=(lang.other().code()) {
                            (lang.other().code().to_uppercase())
                        }
                        span.who { (viewer.principal.name) }
                        form method="post" action="/signout" {
                            button.link type="submit" { (lang.t("Sign out", "Abmelden")) }
                        }
                    }
                }
                main #main {
                    h1 { (frame.title) }
                    (content)
                }
            }
        }
    }
}

/// A page without navigation: sign-in and refusals.
pub fn bare(lang: Lang, title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            (head(lang, title))
            body.bare {
                header.top {
                    span.brand { "Nordstern" }
                    div.session {
                        a.lang href=(format!("/lang/{}?back=/signin", lang.other().code())) hreflang=(lang.other().code()) {
                            (lang.other().code().to_uppercase())
                        }
                    }
                }
                main #main {
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

/// The traffic light as a coloured badge that also says its colour, with the score.
pub fn health_badge(lang: Lang, color: i32, score: Option<f64>) -> Markup {
    let (word, class) = words::color(lang, color);
    html! {
        span class=(format!("badge {class}")) data-color=(class) {
            span.dot aria-hidden="true" {}
            span.word { (word) }
            @if let Some(score) = score {
                span.score { (format!("{score:.0}")) }
            }
        }
    }
}

/// A note naming the sections a backend did not answer.
pub fn missing_note(lang: Lang, missing: &[String]) -> Markup {
    html! {
        @if !missing.is_empty() {
            p.missing role="note" {
                (lang.t("Not available right now: ", "Gerade nicht verfügbar: "))
                (missing.join(", "))
            }
        }
    }
}
