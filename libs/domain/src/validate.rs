//! Parsers for user-supplied strings. Errors are short lower-case descriptions that
//! become gRPC field-violation descriptions.

use chrono::NaiveDate;

fn char_count_between(value: &str, min: usize, max: usize) -> Result<(), String> {
    let count = value.chars().count();
    if count < min || count > max {
        return Err(format!("must be {min} to {max} characters"));
    }
    Ok(())
}

fn display_name(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    char_count_between(trimmed, 1, 200)?;
    if trimmed.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(trimmed.to_owned())
}

/// An account's display name: trimmed (copy-paste from CRMs brings stray spaces),
/// 1 to 200 characters, no control characters (they break CSV exports and UIs).
pub fn account_name(raw: &str) -> Result<String, String> {
    display_name(raw)
}

/// A CSM's display name; the same rule as [`account_name`].
pub fn csm_name(raw: &str) -> Result<String, String> {
    display_name(raw)
}

fn key_like(
    raw: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
    what: &str,
) -> Result<String, String> {
    char_count_between(raw, 1, max)?;
    if !raw.chars().all(allowed) {
        return Err(format!("may contain only {what}"));
    }
    Ok(raw.to_owned())
}

/// An external CRM id (Salesforce, HubSpot): 1 to 64 characters of `[A-Za-z0-9_.:-]`,
/// not trimmed, because it is compared byte for byte with what the CRM sends.
pub fn crm_id(raw: &str) -> Result<String, String> {
    key_like(
        raw,
        64,
        |c| c.is_ascii_alphanumeric() || "_.:-".contains(c),
        "letters, digits, '_', '.', ':' and '-'",
    )
}

/// An account's internet domain such as `kunde.de`: lower-cased, without a scheme, `www.`
/// or trailing dot; labels of letters, digits and inner hyphens, at least two of them.
pub fn web_domain(raw: &str) -> Result<String, String> {
    let domain = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let domain = domain.strip_prefix("www.").unwrap_or(&domain).to_owned();
    let valid_label = |label: &str| {
        (1..=63).contains(&label.len())
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let labels: Vec<&str> = domain.split('.').collect();
    if domain.len() > 253 || labels.len() < 2 || !labels.iter().all(|l| valid_label(l)) {
        return Err("must be a domain such as kunde.de".to_owned());
    }
    Ok(domain)
}

/// A product module key such as `analytics-pro`: 1 to 64 characters of `[a-z0-9_-]`
/// starting with a letter, so keys are stable identifiers, not display text.
pub fn module_key(raw: &str) -> Result<String, String> {
    let key = key_like(
        raw,
        64,
        |c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-".contains(c),
        "lower-case letters, digits, '_' and '-'",
    )?;
    if !key.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err("must start with a lower-case letter".to_owned());
    }
    Ok(key)
}

/// A feature key such as `reports.export`: 1 to 128 characters of `[a-z0-9_.-]` starting
/// with a letter; the dot lets products namespace features by module.
pub fn feature_key(raw: &str) -> Result<String, String> {
    let key = key_like(
        raw,
        128,
        |c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c),
        "lower-case letters, digits, '_', '.' and '-'",
    )?;
    if !key.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err("must start with a lower-case letter".to_owned());
    }
    Ok(key)
}

/// An e-mail address, trimmed and lower-cased so the same person is found under one
/// spelling: at most 254 characters, exactly one `@`, a non-empty local part and a
/// dotted domain. Deliberately not RFC 5322: it catches typos, not exotic addresses.
pub fn email(raw: &str) -> Result<String, String> {
    let email = raw.trim().to_lowercase();
    if email.is_empty() || email.len() > 254 {
        return Err("must be 1 to 254 characters".to_owned());
    }
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if valid {
        Ok(email)
    } else {
        Err("must be an e-mail address".to_owned())
    }
}

/// An ISO 4217 currency code: exactly three upper-case ASCII letters. Not trimmed or
/// upper-cased, so clients learn to send the canonical form.
pub fn currency_code(raw: &str) -> Result<String, String> {
    if raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(raw.to_owned())
    } else {
        Err("must be an ISO 4217 code such as EUR".to_owned())
    }
}

/// A client-chosen idempotency key: 1 to 128 printable ASCII characters without spaces,
/// so it can be logged and compared without escaping.
pub fn idempotency_key(raw: &str) -> Result<String, String> {
    char_count_between(raw, 1, 128)?;
    if !raw.chars().all(|c| c.is_ascii_graphic()) {
        return Err("must be printable ASCII without spaces".to_owned());
    }
    Ok(raw.to_owned())
}

/// A real calendar date between the years 1900 and 2200; the range keeps date arithmetic
/// (terms, windows) far from the limits of the date type.
pub fn date(year: i32, month: i32, day: i32) -> Result<NaiveDate, String> {
    if !(1900..=2200).contains(&year) {
        return Err("year must be between 1900 and 2200".to_owned());
    }
    let (Ok(month), Ok(day)) = (u32::try_from(month), u32::try_from(day)) else {
        return Err("is not a calendar date".to_owned());
    };
    NaiveDate::from_ymd_opt(year, month, day).ok_or_else(|| "is not a calendar date".to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {

    #[test]
    fn domains_are_normalised_and_odd_ones_refused() {
        assert_eq!(web_domain(" WWW.Kunde.DE. "), Ok("kunde.de".to_owned()));
        assert_eq!(
            web_domain("mail.stahl-werk.co.uk"),
            Ok("mail.stahl-werk.co.uk".to_owned())
        );
        for bad in [
            "kunde",
            "https://kunde.de",
            "-a.de",
            "a..de",
            "kunde.de/x",
            "a b.de",
            "",
        ] {
            assert!(web_domain(bad).is_err(), "{bad}");
        }
    }

    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(account_name("  Acme  "), Ok("Acme".to_owned()));
        assert!(account_name("   ").is_err());
        assert!(account_name(&"x".repeat(201)).is_err());
        assert!(account_name(&"ü".repeat(200)).is_ok());
        assert!(csm_name("a\u{0007}b").is_err());
    }

    #[test]
    fn keys_and_ids() {
        assert!(crm_id("0015g00000XyZ:1").is_ok());
        assert!(crm_id("has space").is_err());
        assert!(module_key("analytics-pro").is_ok());
        assert!(module_key("9lives").is_err());
        assert!(module_key("Analytics").is_err());
        assert!(feature_key("reports.export").is_ok());
        assert!(idempotency_key("abc-123").is_ok());
        assert!(idempotency_key("a b").is_err());
        assert!(idempotency_key("").is_err());
    }

    #[test]
    fn emails_and_currencies() {
        assert_eq!(email(" Ada@Example.COM "), Ok("ada@example.com".to_owned()));
        assert!(email("ada@localhost").is_err());
        assert!(email("@example.com").is_err());
        assert!(email("a@b@example.com").is_err());
        assert!(currency_code("EUR").is_ok());
        assert!(currency_code("eur").is_err());
    }

    #[test]
    fn dates_must_exist() {
        assert!(date(2024, 2, 29).is_ok());
        assert!(date(2025, 2, 29).is_err());
        assert!(date(2025, 13, 1).is_err());
        assert!(date(1800, 1, 1).is_err());
        assert!(date(2025, -1, 1).is_err());
        assert!(date(2025, 1, 0).is_err());
        assert!(date(1900, 1, 1).is_ok());
        assert!(date(2200, 12, 31).is_ok());
        assert!(date(2201, 1, 1).is_err());
    }

    #[test]
    fn length_limits_are_inclusive() {
        assert!(crm_id(&"a".repeat(64)).is_ok());
        assert!(crm_id(&"a".repeat(65)).is_err());
        assert!(crm_id("").is_err());
        assert!(module_key(&"a".repeat(64)).is_ok());
        assert!(module_key(&"a".repeat(65)).is_err());
        assert!(feature_key(&"a".repeat(128)).is_ok());
        assert!(feature_key(&"a".repeat(129)).is_err());
        assert!(idempotency_key(&"k".repeat(128)).is_ok());
        assert!(idempotency_key(&"k".repeat(129)).is_err());
        let local = "a".repeat(254 - "@example.com".len());
        assert!(email(&format!("{local}@example.com")).is_ok());
        assert!(email(&format!("{local}a@example.com")).is_err());
    }

    #[test]
    fn character_sets() {
        assert!(module_key("a_b-c9").is_ok());
        assert!(module_key("a.b").is_err());
        assert!(module_key("-a").is_err());
        assert!(feature_key("1x").is_err());
        assert!(feature_key("x.Y").is_err());
        assert!(crm_id("ümlaut").is_err());
        assert!(idempotency_key("ключ").is_err());
        assert!(idempotency_key("a\tb").is_err());
        assert!(currency_code("EU").is_err());
        assert!(currency_code("EURO").is_err());
        assert!(currency_code("ÄUR").is_err());
        assert!(email("ada@exa mple.com").is_err());
        assert!(email("ada@.com").is_err());
        assert!(email("ada@example.").is_err());
        assert!(email("").is_err());
    }

    #[test]
    fn errors_are_short_lower_case_descriptions() {
        let errors = [
            account_name("").unwrap_err(),
            csm_name("a\u{0}").unwrap_err(),
            crm_id("a b").unwrap_err(),
            module_key("1").unwrap_err(),
            feature_key("").unwrap_err(),
            email("x").unwrap_err(),
            currency_code("x").unwrap_err(),
            idempotency_key("").unwrap_err(),
            date(2025, 2, 30).unwrap_err(),
        ];
        for error in errors {
            assert!(
                error.starts_with(|c: char| c.is_ascii_lowercase()),
                "{error}"
            );
            assert!(error.len() < 80, "{error}");
        }
    }
}
