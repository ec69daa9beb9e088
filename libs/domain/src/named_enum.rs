//! Enums with a stable upper-case name each (how they are stored in SQL and shown in
//! protos and CSV), so the name and its parser can never drift apart.

/// Declares an enum with `ALL`, `as_str` and its exact inverse `parse`.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in declaration order (for listings, round trips and tests).
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$variant),+];

            /// The stable name it is stored and shown under.
            pub const fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The exact inverse of [`Self::as_str`]: case-sensitive, no trimming.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
