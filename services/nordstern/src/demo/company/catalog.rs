//! The demo's product catalog. The core platform and the integrations module come with
//! an integration (a CRM sync), so every demo account has one to set up.

/// (key, name, feature keys, list price in minor units, comes with an integration).
pub type Module = (
    &'static str,
    &'static str,
    &'static [&'static str],
    i64,
    bool,
);

pub const MODULES: [Module; 5] = [
    (
        "core",
        "Core platform",
        &["dashboard", "reports", "user-admin"],
        0,
        true,
    ),
    (
        "analytics",
        "Analytics",
        &["cohorts", "funnels", "exports"],
        1_200_000,
        false,
    ),
    (
        "automation",
        "Automation",
        &["workflows", "triggers"],
        900_000,
        false,
    ),
    (
        "integrations",
        "Integrations",
        &["crm-sync", "webhooks", "api"],
        600_000,
        true,
    ),
    (
        "ai-assist",
        "AI assistant",
        &["summaries", "forecasts"],
        1_500_000,
        false,
    ),
];
