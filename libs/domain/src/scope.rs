//! What a token may do: `resource:action` scopes, and `admin` for everything. Which scope
//! each RPC and HTTP route needs is one table in `nordstern-auth`.

named_enum!(
    /// One right of a token.
    Scope {
        AccountsRead => "accounts:read",
        AccountsWrite => "accounts:write",
        UsageRead => "usage:read",
        UsageWrite => "usage:write",
        SurveysRead => "surveys:read",
        SurveysWrite => "surveys:write",
        ScoresRead => "scores:read",
        ScoresWrite => "scores:write",
        AlertsWrite => "alerts:write",
        TicketsRoute => "tickets:route",
        WebhooksManage => "webhooks:manage",
        PrivacyExport => "privacy:export",
        PrivacyErase => "privacy:erase",
        Admin => "admin",
    }
);

impl Scope {
    /// Whether a token holding `granted` may use a method that needs `self`.
    pub fn is_granted_by(self, granted: &[Scope]) -> bool {
        granted
            .iter()
            .any(|scope| *scope == self || *scope == Scope::Admin)
    }

    /// Reads change nothing; everything else is written to the audit trail.
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Scope::AccountsRead | Scope::UsageRead | Scope::SurveysRead | Scope::ScoresRead
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_grants_everything_and_a_scope_only_itself() {
        for needed in Scope::ALL {
            assert!(needed.is_granted_by(&[Scope::Admin]));
            assert!(needed.is_granted_by(&[needed]));
            assert!(!needed.is_granted_by(&[]));
        }
        assert!(!Scope::ScoresWrite.is_granted_by(&[Scope::ScoresRead]));
        assert!(!Scope::Admin.is_granted_by(&[Scope::AccountsWrite, Scope::PrivacyErase]));
    }

    #[test]
    fn names_round_trip_and_are_resource_colon_action() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
            assert!(scope == Scope::Admin || scope.as_str().split_once(':').is_some());
        }
        assert_eq!(Scope::parse("Scores:Read"), None);
    }
}
