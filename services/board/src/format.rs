//! Numbers, money and dates as a German or English reader writes them.

use nordstern_proto::common::v1 as common;
use nordstern_runtime::wire::date_to_proto;

use crate::i18n::Lang;

/// Digits grouped by thousands: 1,234,567 in English, 1.234.567 in German.
pub fn grouped(lang: Lang, value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let separator = lang.t(",", ".");
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if value < 0 {
        out.push('−');
    }
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(separator);
        }
        out.push(digit);
    }
    out
}

/// Whole currency units: "€1,234,567" or "1.234.567 €" (other currencies by code).
pub fn money(lang: Lang, money: Option<&common::Money>) -> String {
    let Some(money) = money else {
        return "–".to_owned();
    };
    let whole = grouped(lang, money.minor_units / 100);
    let symbol = match money.currency_code.as_str() {
        "EUR" => "€",
        "USD" => "$",
        "GBP" => "£",
        "" => "",
        other => other,
    };
    match lang {
        Lang::En if symbol.len() <= 3 && !symbol.chars().all(|c| c.is_ascii_uppercase()) => {
            format!("{symbol}{whole}")
        }
        _ if symbol.is_empty() => whole,
        _ => format!("{whole} {symbol}"),
    }
}

/// A number with `decimals` places and the reader's decimal mark.
pub fn number(lang: Lang, value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    match lang {
        Lang::En => text,
        Lang::De => text.replace('.', ","),
    }
}

/// A ratio (0.123) as a percentage ("12.3 %" / "12,3 %").
pub fn percent(lang: Lang, ratio: Option<f64>) -> String {
    ratio.map_or_else(
        || "–".to_owned(),
        |ratio| format!("{} %", number(lang, ratio * 100.0, 1)),
    )
}

/// 2027-01-15 in English, 15.01.2027 in German.
pub fn date(lang: Lang, date: Option<&common::Date>) -> String {
    let Some(date) = date.filter(|d| d.year > 0) else {
        return "–".to_owned();
    };
    match lang {
        Lang::En => format!("{:04}-{:02}-{:02}", date.year, date.month, date.day),
        Lang::De => format!("{:02}.{:02}.{:04}", date.day, date.month, date.year),
    }
}

/// A timestamp's day, as [`date`].
pub fn day_of(lang: Lang, at: Option<&prost_types::Timestamp>) -> String {
    let day = at
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
        .map(|t| t.date_naive());
    date(lang, day.map(date_to_proto).as_ref())
}

/// A proto date as a calendar date (none when unset or not a date).
pub fn from_proto_date(date: Option<&common::Date>) -> Option<chrono::NaiveDate> {
    let date = date?;
    nordstern_domain::validate::date(date.year, date.month, date.day).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(minor_units: i64) -> common::Money {
        common::Money {
            minor_units,
            currency_code: "EUR".into(),
        }
    }

    #[test]
    fn money_reads_as_each_language_writes_it() {
        assert_eq!(money(Lang::En, Some(&eur(123_456_789))), "€1,234,567");
        assert_eq!(money(Lang::De, Some(&eur(123_456_789))), "1.234.567 €");
        assert_eq!(money(Lang::En, Some(&eur(99_900))), "€999");
        assert_eq!(money(Lang::De, Some(&eur(-100_000_000))), "−1.000.000 €");
        let chf = common::Money {
            minor_units: 500_000,
            currency_code: "CHF".into(),
        };
        assert_eq!(money(Lang::En, Some(&chf)), "5,000 CHF");
        assert_eq!(money(Lang::En, None), "–");
    }

    #[test]
    fn percentages_and_dates_follow_the_language() {
        assert_eq!(percent(Lang::En, Some(0.1234)), "12.3 %");
        assert_eq!(percent(Lang::De, Some(1.07)), "107,0 %");
        assert_eq!(percent(Lang::De, None), "–");
        let day = common::Date {
            year: 2027,
            month: 1,
            day: 5,
        };
        assert_eq!(date(Lang::En, Some(&day)), "2027-01-05");
        assert_eq!(date(Lang::De, Some(&day)), "05.01.2027");
        assert_eq!(date(Lang::De, Some(&common::Date::default())), "–");
    }
}
