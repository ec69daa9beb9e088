//! The vocabulary of accounts: segments, tiers, lifecycle stages and contract event kinds,
//! each with the stable upper-case name it is stored under.

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

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
