//! User ids are pseudonymised before anything is stored or logged: a keyed HMAC-SHA256
//! whose key comes from configuration, never from the database, so the stored pseudonym
//! cannot be reversed or recomputed without the key, yet a user's events still line up.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

#[derive(Clone)]
pub struct Pseudonymizer {
    /// The keyed state; cloned per id, which spares re-deriving the key pads.
    keyed: Hmac<Sha256>,
}

impl Pseudonymizer {
    pub fn new(key: &[u8]) -> Self {
        // HMAC takes keys of any length; configuration validation enforces 32 bytes.
        let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
        Pseudonymizer { keyed }
    }

    /// 128 bits of the HMAC in hex; empty for an empty id (events without a user).
    pub fn pseudonym(&self, user_id: &str) -> String {
        if user_id.is_empty() {
            return String::new();
        }
        let mut mac = self.keyed.clone();
        mac.update(user_id.as_bytes());
        let digest = mac.finalize().into_bytes();
        digest[..16]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymizer(<key redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_keyed_and_hide_the_id() {
        let a = Pseudonymizer::new(b"0123456789abcdef0123456789abcdef");
        let b = Pseudonymizer::new(b"another key of thirty-two bytes!");
        let id = "jane.doe@example.com";
        assert_eq!(a.pseudonym(id), a.pseudonym(id));
        assert_ne!(a.pseudonym(id), b.pseudonym(id));
        assert_ne!(a.pseudonym(id), a.pseudonym("john.doe@example.com"));
        assert_eq!(a.pseudonym(id).len(), 32);
        assert!(!a.pseudonym(id).contains("jane"));
        assert_eq!(a.pseudonym(""), "");
    }
}
