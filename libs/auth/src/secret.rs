//! Token secrets: `nst_`, 256 random bits and a 32-bit checksum, all hex. The prefix makes
//! a leaked token recognisable to secret scanners; the checksum lets garbage be refused
//! without looking anything up. Only the SHA-256 of a secret is stored.

use rand::TryRngCore;
use sha2::{Digest, Sha256};

pub const PREFIX: &str = "nst_";
const RANDOM_BYTES: usize = 32;
const CHECKSUM_BYTES: usize = 4;
/// `nst_` + 64 hex digits of randomness + 8 of checksum.
pub const SECRET_LEN: usize = PREFIX.len() + 2 * (RANDOM_BYTES + CHECKSUM_BYTES);
/// How much of a secret listings show: the prefix and 8 hex digits.
const SHOWN_PREFIX_LEN: usize = PREFIX.len() + 8;

/// A token secret in the clear: exists between its creation and the one time it is shown.
pub struct Secret(String);

impl Secret {
    pub fn generate() -> Result<Secret, rand::rand_core::OsError> {
        let mut random = [0u8; RANDOM_BYTES];
        rand::rngs::OsRng.try_fill_bytes(&mut random)?;
        let body = hex(&random);
        let checksum = checksum(&body);
        Ok(Secret(format!("{PREFIX}{body}{}", hex(&checksum))))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> SecretHash {
        SecretHash::of(&self.0)
    }

    pub fn shown_prefix(&self) -> &str {
        &self.0[..SHOWN_PREFIX_LEN]
    }
}

// The secret never reaches a log by accident.
impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({}…)", self.shown_prefix())
    }
}

/// What is stored and looked up: the SHA-256 of a secret. The secrets carry 256 random
/// bits, so a fast hash is enough (no password stretching is needed), and a lookup by
/// hash reveals nothing about the secret through its timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretHash(pub [u8; 32]);

impl SecretHash {
    pub fn of(secret: &str) -> SecretHash {
        SecretHash(Sha256::digest(secret.as_bytes()).into())
    }

    pub fn to_hex(self) -> String {
        hex(&self.0)
    }

    pub fn from_hex(text: &str) -> Option<SecretHash> {
        let bytes = unhex(text)?;
        Some(SecretHash(bytes.try_into().ok()?))
    }

    /// Compares in constant time, for the one comparison that is not a lookup (the
    /// service credential).
    pub fn constant_time_eq(&self, other: &SecretHash) -> bool {
        let difference = self
            .0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(difference) == 0
    }
}

/// Whether `text` has the shape of a secret we issued (prefix, length, hex, checksum).
pub fn is_well_formed(text: &str) -> bool {
    let Some(rest) = text.strip_prefix(PREFIX) else {
        return false;
    };
    if rest.len() != 2 * (RANDOM_BYTES + CHECKSUM_BYTES)
        || !rest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return false;
    }
    let (body, sum) = rest.split_at(2 * RANDOM_BYTES);
    hex(&checksum(body)) == sum
}

fn checksum(body: &str) -> [u8; CHECKSUM_BYTES] {
    let digest = Sha256::digest(body.as_bytes());
    [digest[0], digest[1], digest[2], digest[3]]
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(DIGITS[usize::from(byte >> 4)] as char);
        text.push(DIGITS[usize::from(byte & 15)] as char);
    }
    text
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_well_formed_distinct_and_hash_stably() {
        let first = Secret::generate().unwrap_or_else(|e| panic!("{e}"));
        let second = Secret::generate().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first.expose().len(), SECRET_LEN);
        assert!(is_well_formed(first.expose()));
        assert_ne!(first.expose(), second.expose());
        assert_eq!(first.hash(), SecretHash::of(first.expose()));
        assert_eq!(
            SecretHash::from_hex(&first.hash().to_hex()),
            Some(first.hash())
        );
        assert!(first.hash().constant_time_eq(&first.hash()));
        assert!(!first.hash().constant_time_eq(&second.hash()));
        assert!(!format!("{first:?}").contains(&first.expose()[SHOWN_PREFIX_LEN..]));
    }

    #[test]
    fn a_changed_digit_breaks_the_checksum_and_garbage_is_not_a_secret() {
        let secret = Secret::generate().unwrap_or_else(|e| panic!("{e}"));
        let mut tampered = secret.expose().to_owned().into_bytes();
        let at = PREFIX.len() + 10;
        tampered[at] = if tampered[at] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).unwrap_or_default();
        assert!(!is_well_formed(&tampered));
        for garbage in ["", "nst_", "Bearer", "nst_ÄÖÜ", &"a".repeat(65_536)] {
            assert!(!is_well_formed(garbage), "{garbage:.20}");
        }
        assert!(!is_well_formed(&secret.expose().to_uppercase()));
    }
}
