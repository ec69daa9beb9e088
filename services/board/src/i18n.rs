//! German and English: the language of a request (the switch's cookie, else the
//! browser's `Accept-Language`), and each text in both, side by side where it is used.

use axum::http::{HeaderMap, header};

/// Where the language switch keeps its choice.
pub const LANG_COOKIE: &str = "nordstern_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    De,
}

impl Lang {
    pub fn parse(code: &str) -> Option<Lang> {
        match code.trim().to_ascii_lowercase().as_str() {
            "en" => Some(Lang::En),
            "de" => Some(Lang::De),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
        }
    }

    /// The other language, for the switch.
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::De,
            Lang::De => Lang::En,
        }
    }

    /// `en` in English, `de` in German.
    pub fn t(self, en: &'static str, de: &'static str) -> &'static str {
        match self {
            Lang::En => en,
            Lang::De => de,
        }
    }

    /// The language of a request: the switch's cookie, else the first of German or
    /// English the browser prefers (by q-value), else English.
    pub fn of(headers: &HeaderMap) -> Lang {
        if let Some(lang) = crate::session::cookie(headers, LANG_COOKIE).and_then(Lang::parse) {
            return lang;
        }
        let accepted = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        preferred(accepted).unwrap_or(Lang::En)
    }
}

/// The first of German or English in an `Accept-Language` list, by q-value then order.
fn preferred(accepted: &str) -> Option<Lang> {
    let mut best: Option<(f32, Lang)> = None;
    for item in accepted.split(',') {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or_default().trim();
        let primary = tag.split('-').next().unwrap_or_default();
        let Some(lang) = Lang::parse(primary) else {
            continue;
        };
        let quality = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        if quality > 0.0 && best.is_none_or(|(q, _)| quality > q) {
            best = Some((quality, lang));
        }
    }
    best.map(|(_, lang)| lang)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_browser_preference_picks_by_quality_then_order() {
        assert_eq!(preferred("de-DE,de;q=0.9,en;q=0.8"), Some(Lang::De));
        assert_eq!(preferred("fr-FR, en-GB;q=0.7, de;q=0.5"), Some(Lang::En));
        assert_eq!(preferred("en;q=0.4, de;q=0.6"), Some(Lang::De));
        assert_eq!(preferred("fr, es"), None);
        assert_eq!(preferred("de;q=0, en;q=0"), None);
        assert_eq!(preferred(""), None);
    }

    #[test]
    fn a_switched_language_wins_over_the_browser() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("de"));
        assert_eq!(Lang::of(&headers), Lang::De);
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; nordstern_lang=en"),
        );
        assert_eq!(Lang::of(&headers), Lang::En);
    }
}
