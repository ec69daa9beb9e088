//! The vocabulary of accounts: segments, tiers, lifecycle stages and contract event kinds,
//! each with the stable upper-case name it is stored under.

named_enum!(
    /// Customer segment; health weights and peer groups are per segment.
    Segment { Enterprise => "ENTERPRISE", Sme => "SME", Prosumer => "PROSUMER" }
);
named_enum!(
    /// ABC tier by contract value.
    Tier { A => "A", B => "B", C => "C" }
);
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
    }
}
