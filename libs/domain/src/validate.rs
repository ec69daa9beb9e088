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

pub fn account_name(raw: &str) -> Result<String, String> {
    display_name(raw)
}

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

pub fn crm_id(raw: &str) -> Result<String, String> {
    key_like(
        raw,
        64,
        |c| c.is_ascii_alphanumeric() || "_.:-".contains(c),
        "letters, digits, '_', '.', ':' and '-'",
    )
}

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

pub fn currency_code(raw: &str) -> Result<String, String> {
    if raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(raw.to_owned())
    } else {
        Err("must be an ISO 4217 code such as EUR".to_owned())
    }
}

pub fn idempotency_key(raw: &str) -> Result<String, String> {
    char_count_between(raw, 1, 128)?;
    if !raw.chars().all(|c| c.is_ascii_graphic()) {
        return Err("must be printable ASCII without spaces".to_owned());
    }
    Ok(raw.to_owned())
}

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
mod tests {
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
    }
}
