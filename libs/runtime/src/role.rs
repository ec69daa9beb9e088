//! The services one process can run. `nordstern serve --services accounts,usage` picks a
//! subset; `all` means every role this binary implements.

use std::{fmt, str::FromStr};

/// One Nordstern service. Each has its own gRPC service, tables and health entry.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Accounts,
    Usage,
    Survey,
    Scoring,
    Gateway,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Accounts,
        Role::Usage,
        Role::Survey,
        Role::Scoring,
        Role::Gateway,
    ];

    /// The roles this one calls; each must run in the same process or have an endpoint.
    pub fn dependencies(self) -> &'static [Role] {
        match self {
            Role::Accounts => &[],
            Role::Usage | Role::Survey => &[Role::Accounts],
            Role::Scoring => &[Role::Accounts, Role::Usage, Role::Survey],
            Role::Gateway => &[Role::Accounts, Role::Usage, Role::Survey, Role::Scoring],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Accounts => "accounts",
            Role::Usage => "usage",
            Role::Survey => "survey",
            Role::Scoring => "scoring",
            Role::Gateway => "gateway",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == raw.trim())
            .ok_or_else(|| {
                format!("unknown service `{raw}` (expected all, accounts, usage, survey, scoring or gateway)")
            })
    }
}

/// Parses a comma-separated role list such as `all` or `accounts,usage`; `all` expands to
/// `implemented`. Asking for a role this binary does not implement is an error rather than
/// a server that answers UNIMPLEMENTED.
pub fn parse_roles(raw: &str, implemented: &[Role]) -> Result<Vec<Role>, String> {
    let mut roles = Vec::new();
    for part in raw
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
    {
        if part == "all" {
            roles.extend_from_slice(implemented);
            continue;
        }
        let role: Role = part.parse()?;
        if !implemented.contains(&role) {
            return Err(format!(
                "service `{role}` is not available in this build yet"
            ));
        }
        roles.push(role);
    }
    if roles.is_empty() {
        return Err("no service selected".to_owned());
    }
    roles.sort();
    roles.dedup();
    Ok(roles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_expands_to_implemented_roles() {
        let roles = parse_roles("all", &[Role::Accounts, Role::Usage]).unwrap_or_default();
        assert_eq!(roles, vec![Role::Accounts, Role::Usage]);
    }

    #[test]
    fn unimplemented_and_unknown_roles_are_refused() {
        assert!(parse_roles("gateway", &[Role::Accounts]).is_err());
        assert!(parse_roles("billing", &[Role::Accounts]).is_err());
        assert!(parse_roles(" , ", &[Role::Accounts]).is_err());
    }

    #[test]
    fn lists_are_trimmed_sorted_and_deduplicated() {
        let roles = parse_roles("usage, accounts,usage", &[Role::Accounts, Role::Usage]);
        assert_eq!(roles, Ok(vec![Role::Accounts, Role::Usage]));
    }
}
