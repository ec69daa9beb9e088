//! The pure domain of Nordstern: types, formulas and rules of customer success, with no
//! I/O. Time, ids and randomness come in as arguments, so everything here is testable
//! with plain values and property tests.

#[macro_use]
mod named_enum;

pub mod account;
pub mod balance;
pub mod churn;
pub mod contract;
pub mod csv;
pub mod health;
pub mod lifecycle;
pub mod portfolio;
pub mod rate_limit;
pub mod revenue;
pub mod routing;
pub mod scope;
pub mod survey;
pub mod tiers;
pub mod usage;
pub mod validate;
pub mod webhook;
