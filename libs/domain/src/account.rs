//! The vocabulary of accounts: segments, tiers, lifecycle stages and contract event kinds,
//! each with the stable upper-case name it is stored under.

named_enum!(
    /// Customer segment; health weights and peer groups are per segment.
    Segment { Enterprise => "ENTERPRISE", Sme => "SME", Prosumer => "PROSUMER" }
);
named_enum!(
    /// ABC tier by contract value (see [`crate::tiers`]); A is the most valuable.
    Tier { A => "A", B => "B", C => "C" }
);

impl Tier {
    /// Position in `[A, B, C]`, the order of per-tier arrays such as
    /// [`crate::balance::PortfolioLoad::tier_counts`].
    pub fn index(&self) -> usize {
        match self {
            Tier::A => 0,
            Tier::B => 1,
            Tier::C => 2,
        }
    }
}
named_enum!(
    /// Where an account stands in its lifecycle.
    LifecycleStage {
        Onboarding => "ONBOARDING",
        Adoption => "ADOPTION",
        Active => "ACTIVE",
        RenewalDue => "RENEWAL_DUE",
        Churned => "CHURNED",
    }
);
named_enum!(
    /// What happened to a contract.
    ContractEventKind {
        New => "NEW",
        Expansion => "EXPANSION",
        Contraction => "CONTRACTION",
        Renewal => "RENEWAL",
        Churn => "CHURN",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for segment in Segment::ALL {
            assert_eq!(Segment::parse(segment.as_str()), Some(segment));
        }
        for tier in Tier::ALL {
            assert_eq!(Tier::parse(tier.as_str()), Some(tier));
        }
        for stage in LifecycleStage::ALL {
            assert_eq!(LifecycleStage::parse(stage.as_str()), Some(stage));
        }
        for kind in ContractEventKind::ALL {
            assert_eq!(ContractEventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Segment::parse("enterprise"), None);
        assert_eq!(Segment::parse(" SME"), None);
        assert_eq!(
            LifecycleStage::parse("RENEWAL_DUE"),
            Some(LifecycleStage::RenewalDue)
        );
        assert_eq!(ContractEventKind::parse(""), None);
    }

    #[test]
    fn names_are_upper_snake_and_display_as_stored() {
        let names: Vec<&str> = Segment::ALL
            .iter()
            .map(Segment::as_str)
            .chain(LifecycleStage::ALL.iter().map(LifecycleStage::as_str))
            .chain(ContractEventKind::ALL.iter().map(ContractEventKind::as_str))
            .collect();
        for name in names {
            assert!(
                name.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{name}"
            );
        }
        assert_eq!(Segment::Enterprise.to_string(), "ENTERPRISE");
        assert_eq!(ContractEventKind::Churn.to_string(), "CHURN");
    }

    #[test]
    fn tier_index_follows_all() {
        for (position, tier) in Tier::ALL.iter().enumerate() {
            assert_eq!(tier.index(), position);
        }
    }
}
