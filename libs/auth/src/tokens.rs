//! Creating, listing and revoking tokens, the same for the `AuthService` RPCs and for
//! `nordstern token`, which works on the store directly (no running server needed).

use nordstern_domain::scope::Scope;
use nordstern_runtime::{error::ServiceError, status::FieldViolations};
use sea_orm::DatabaseConnection;

use crate::{
    secret::Secret,
    store::{self, TokenRecord},
};

/// What a new token should be.
#[derive(Debug, Clone, Default)]
pub struct NewToken {
    pub name: String,
    pub scopes: Vec<String>,
    /// Seconds until it expires; 0: never.
    pub expires_in_seconds: i64,
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    /// The CSM the token speaks for; empty for none.
    pub csm_id: String,
}

const MAX_NAME_LEN: usize = 64;
/// Ten years: a longer expiry is a typo for "never", which is said with 0.
const MAX_EXPIRY_SECONDS: i64 = 10 * 366 * 24 * 3_600;

/// Checks every field at once and returns the scopes.
pub fn validate(new: &NewToken) -> Result<Vec<Scope>, FieldViolations> {
    let mut violations = FieldViolations::new();
    let name = new.name.as_str();
    if name.trim().is_empty() || name.len() > MAX_NAME_LEN {
        violations.add("name", format!("must be 1 to {MAX_NAME_LEN} characters"));
    } else if !name.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        // Names travel in gRPC metadata when a service forwards its caller.
        violations.add(
            "name",
            "must be printable ASCII (letters, digits, spaces, punctuation)",
        );
    }
    let mut scopes = Vec::new();
    if new.scopes.is_empty() {
        violations.add("scopes", "name at least one scope, e.g. scores:read");
    }
    for (index, name) in new.scopes.iter().enumerate() {
        match Scope::parse(name) {
            Some(scope) if !scopes.contains(&scope) => scopes.push(scope),
            Some(_) => {}
            None => violations.add(
                format!("scopes[{index}]"),
                format!(
                    "`{name}` is not a scope; use one of {}",
                    Scope::ALL.map(|s| s.as_str()).join(", ")
                ),
            ),
        }
    }
    if !(0..=MAX_EXPIRY_SECONDS).contains(&new.expires_in_seconds) {
        violations.add(
            "expires_in_seconds",
            "must be between 0 (never) and ten years",
        );
    }
    if !new.csm_id.is_empty() && nordstern_runtime::wire::uuid(&new.csm_id).is_err() {
        violations.add("csm_id", "must be a CSM id (a UUID) or empty");
    }
    if new.rate_limit_burst > 0 && new.rate_limit_per_second == 0 {
        violations.add(
            "rate_limit_burst",
            "a burst needs rate_limit_per_second as well",
        );
    }
    violations.into_result().map(|()| scopes)
}

/// Stores a new token and returns it with its secret, which exists nowhere else.
pub async fn create(
    db: &DatabaseConnection,
    new: &NewToken,
    now_micros: i64,
) -> Result<(TokenRecord, Secret), ServiceError> {
    let scopes = validate(new)?;
    let secret = Secret::generate()
        .map_err(|error| ServiceError::FailedPrecondition(format!("no randomness: {error}")))?;
    let record = TokenRecord {
        token_id: uuid::Uuid::now_v7().to_string(),
        name: new.name.trim().to_owned(),
        secret_hash: secret.hash(),
        secret_prefix: secret.shown_prefix().to_owned(),
        scopes,
        created_at: now_micros,
        expires_at: (new.expires_in_seconds > 0)
            .then(|| now_micros + new.expires_in_seconds * 1_000_000),
        last_used_at: None,
        revoked_at: None,
        rate_per_second: new.rate_limit_per_second,
        burst: new.rate_limit_burst,
        csm_id: new.csm_id.clone(),
    };
    store::insert_token(db, &record).await?;
    Ok((record, secret))
}

/// Revokes a token; the record and whether it was revoked before.
pub async fn revoke(
    db: &DatabaseConnection,
    token_id: &str,
    now_micros: i64,
) -> Result<(TokenRecord, bool), ServiceError> {
    if uuid::Uuid::parse_str(token_id).is_err() {
        return Err(ServiceError::invalid(
            "token_id",
            "must be a token id (a UUID)",
        ));
    }
    let newly = store::revoke_token(db, token_id, now_micros).await?;
    let record = store::get_token(db, token_id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("token {token_id}")))?;
    Ok((record, !newly))
}

/// `90d`, `12h`, `30m`, `45s` or plain seconds, as `--expires-in` takes it.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().last() {
        Some((at, unit)) if unit.is_ascii_alphabetic() => (&text[..at], Some(unit)),
        _ => (text, None),
    };
    let amount: i64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 90d, 12h, 30m or 3600"))?;
    let unit_seconds = match unit {
        None | Some('s') => 1,
        Some('m') => 60,
        Some('h') => 3_600,
        Some('d') => 86_400,
        Some(other) => return Err(format!("unknown unit `{other}`; use d, h, m or s")),
    };
    amount
        .checked_mul(unit_seconds)
        .filter(|seconds| *seconds > 0)
        .ok_or_else(|| format!("`{text}` must be a positive duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_of_a_new_token_is_named_at_once() {
        let bad = NewToken {
            name: String::new(),
            scopes: vec!["scores:read".into(), "scores:delete".into()],
            expires_in_seconds: -1,
            rate_limit_per_second: 0,
            rate_limit_burst: 5,
            csm_id: "anna".into(),
        };
        let violations = validate(&bad).err().unwrap_or_default();
        let fields: Vec<&str> = violations
            .violations()
            .iter()
            .map(|(f, _)| f.as_str())
            .collect();
        assert_eq!(
            fields,
            [
                "name",
                "scopes[1]",
                "expires_in_seconds",
                "csm_id",
                "rate_limit_burst"
            ]
        );
        let good = NewToken {
            name: "crm sync".into(),
            scopes: vec!["scores:read".into(), "scores:read".into(), "admin".into()],
            ..NewToken::default()
        };
        assert_eq!(
            validate(&good).ok(),
            Some(vec![Scope::ScoresRead, Scope::Admin])
        );
        let unicode = NewToken {
            name: "Zählerstand".into(),
            ..good
        };
        assert!(validate(&unicode).is_err());
    }

    #[test]
    fn durations_take_a_unit_and_refuse_nonsense() {
        assert_eq!(parse_duration("90d"), Ok(90 * 86_400));
        assert_eq!(parse_duration("12h"), Ok(43_200));
        assert_eq!(parse_duration("3600"), Ok(3_600));
        for bad in ["", "d", "-5d", "0", "5w", "1.5h", "99999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
