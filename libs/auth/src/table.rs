//! The one table of who may call what: every RPC of every service and every HTTP route,
//! with the one scope it needs. A method missing here is refused for everyone (and a test
//! fails), so a new RPC cannot ship unguarded.

use nordstern_domain::scope::Scope::{self, *};

/// Methods anyone may call without a token: load-balancer probes.
const OPEN_PREFIXES: [&str; 1] = ["/grpc.health.v1.Health/"];

/// Reflection: open when `auth.reflection` is on (the contracts are public).
const REFLECTION_PREFIXES: [&str; 2] = [
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

pub const ACCOUNTS: &str = "/nordstern.accounts.v1.AccountsService/";
pub const USAGE: &str = "/nordstern.usage.v1.UsageService/";
pub const SURVEY: &str = "/nordstern.survey.v1.SurveyService/";
pub const SCORING: &str = "/nordstern.scoring.v1.ScoringService/";
pub const GATEWAY: &str = "/nordstern.gateway.v1.GatewayService/";
pub const AUTH: &str = "/nordstern.auth.v1.AuthService/";
pub const WEBHOOKS: &str = "/nordstern.webhooks.v1.WebhookService/";

/// Every gRPC method, by service, with the scope it needs.
pub const GRPC_SCOPES: &[(&str, &[(&str, Scope)])] = &[
    (
        ACCOUNTS,
        &[
            ("CreateAccount", AccountsWrite),
            ("GetAccount", AccountsRead),
            ("UpdateAccount", AccountsWrite),
            ("ListAccounts", AccountsRead),
            ("BatchGetAccounts", AccountsRead),
            ("UpsertProductModule", AccountsWrite),
            ("ListProductModules", AccountsRead),
            ("CreateCsm", AccountsWrite),
            ("GetCsm", AccountsRead),
            ("UpdateCsm", AccountsWrite),
            ("ListCsms", AccountsRead),
            ("AssignAccount", AccountsWrite),
            ("GetTierSummary", AccountsRead),
            // A plan changes nothing, but it reads every portfolio.
            ("PlanPortfolioBalance", AccountsRead),
            ("ApplyPortfolioBalance", AccountsWrite),
            ("RecordContractEvent", AccountsWrite),
            ("BatchCreateAccounts", AccountsWrite),
            ("BatchRecordContractEvents", AccountsWrite),
            ("ListContractEvents", AccountsRead),
            ("GetRevenueMetrics", AccountsRead),
            ("EraseAccount", PrivacyErase),
            ("ExportAccount", PrivacyExport),
        ],
    ),
    (
        USAGE,
        &[
            ("IngestEvents", UsageWrite),
            ("IngestTrackEvents", UsageWrite),
            ("IngestEventStream", UsageWrite),
            ("GetUsageSummary", UsageRead),
            ("BatchGetUsageSummaries", UsageRead),
            ("BatchGetUsageSummariesAt", UsageRead),
            ("StreamUsageSummaries", UsageRead),
            ("StreamUsageSummariesAt", UsageRead),
            ("GetUsageTimeseries", UsageRead),
            ("EraseAccountUsage", PrivacyErase),
            ("EraseUserUsage", PrivacyErase),
            ("ExportAccountUsage", PrivacyExport),
        ],
    ),
    (
        SURVEY,
        &[
            ("CreateCampaign", SurveysWrite),
            ("GetCampaign", SurveysRead),
            ("UpdateCampaign", SurveysWrite),
            ("ListCampaigns", SurveysRead),
            ("CreateInvitations", SurveysWrite),
            ("GetInvitation", SurveysRead),
            ("SubmitResponse", SurveysWrite),
            ("RecordResponse", SurveysWrite),
            ("BatchRecordResponses", SurveysWrite),
            ("ListResponses", SurveysRead),
            ("GetSurveyStats", SurveysRead),
            ("BatchGetSurveyStats", SurveysRead),
            ("ListDetractorResponses", SurveysRead),
            ("EraseAccountSurveyData", PrivacyErase),
            ("EraseRespondentSurveyData", PrivacyErase),
            ("ExportAccountSurveyData", PrivacyExport),
        ],
    ),
    (
        SCORING,
        &[
            ("GetHealthScore", ScoresRead),
            ("BatchGetHealthScores", ScoresRead),
            ("ListHealthScores", ScoresRead),
            ("WatchHealthScores", ScoresRead),
            ("ListHealthScoreHistory", ScoresRead),
            ("BatchGetHealthTrends", ScoresRead),
            ("ListColorChanges", ScoresRead),
            ("RecomputeHealthScore", ScoresWrite),
            ("RecomputeHealthScores", ScoresWrite),
            ("GetScoringConfig", ScoresRead),
            ("UpdateScoringConfig", ScoresWrite),
            ("TrainChurnModelFromHistory", ScoresWrite),
            ("TrainChurnModelFromCsv", ScoresWrite),
            ("GetChurnModel", ScoresRead),
            ("PredictChurn", ScoresRead),
            ("ListChurnModels", ScoresRead),
            ("ActivateChurnModel", ScoresWrite),
            ("ListAtRiskAccounts", ScoresRead),
            ("ListAlerts", ScoresRead),
            ("AcknowledgeAlert", AlertsWrite),
            ("ResolveAlert", AlertsWrite),
            ("ListUpsellOpportunities", ScoresRead),
            ("EraseAccountScoringData", PrivacyErase),
            ("ExportAccountScoringData", PrivacyExport),
        ],
    ),
    (
        GATEWAY,
        &[
            // The 360 and the portfolio are what a CRM integration reads with its scores.
            ("GetCustomer360", ScoresRead),
            ("GetPortfolio", ScoresRead),
            ("RouteTicket", TicketsRoute),
            ("RouteHelpdeskTicket", TicketsRoute),
            ("ResolveTicket", TicketsRoute),
        ],
    ),
    (
        AUTH,
        &[
            ("CreateToken", Admin),
            ("ListTokens", Admin),
            ("RevokeToken", Admin),
            ("ListAuditEvents", Admin),
        ],
    ),
    (
        WEBHOOKS,
        &[
            ("CreateSubscription", WebhooksManage),
            ("ListSubscriptions", WebhooksManage),
            ("UpdateSubscription", WebhooksManage),
            ("RotateSubscriptionSecret", WebhooksManage),
            ("DeleteSubscription", WebhooksManage),
            ("ListDeliveries", WebhooksManage),
            ("RedeliverDelivery", WebhooksManage),
        ],
    ),
];

/// HTTP routes that stand for no RPC, with what they need. Every other route is an
/// RPC's (`google.api.http` in the protos) and needs that RPC's scope.
pub const HTTP_ONLY: &[(&str, &str, Requirement)] = &[
    // The contract is public, like the protos.
    ("GET", OPENAPI_PATH, Requirement::Open),
];

/// The board's pages (`METHOD /route` as its router names them), checked against the
/// token of the session cookie rather than an `Authorization` header, with what each
/// needs. A page missing here is refused for everyone.
pub const BOARD_ROUTES: &[(&str, Scope)] = &[
    // Signing in checks that the token may at least read what every page shows.
    ("POST /signin", ScoresRead),
    ("GET /", ScoresRead),
    ("GET /risk", ScoresRead),
    ("GET /upsell", ScoresRead),
    ("GET /accounts/{account_id}", ScoresRead),
    ("GET /alerts", ScoresRead),
    ("POST /alerts/{alert_id}/acknowledge", AlertsWrite),
    ("POST /alerts/{alert_id}/resolve", AlertsWrite),
    ("GET /renewals", ScoresRead),
    ("GET /live", ScoresRead),
];

/// The requirement of a board page (`GET /accounts/{account_id}`).
pub fn board_requirement(route: &str) -> Requirement {
    BOARD_ROUTES
        .iter()
        .find(|(listed, _)| *listed == route)
        .map_or(Requirement::Unlisted, |(_, scope)| {
            Requirement::Scope(*scope)
        })
}

/// Where the OpenAPI document of the HTTP routes is served.
pub const OPENAPI_PATH: &str = "/v1/openapi.json";

/// What a method needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Nothing: health checks (and reflection when it is open).
    Open,
    Scope(Scope),
    /// A method in no table: nobody may call it.
    Unlisted,
}

/// The requirement of a gRPC method path (`/package.Service/Method`).
pub fn grpc_requirement(path: &str, reflection_open: bool) -> Requirement {
    if OPEN_PREFIXES.iter().any(|prefix| path.starts_with(prefix))
        || (reflection_open && REFLECTION_PREFIXES.iter().any(|p| path.starts_with(p)))
    {
        return Requirement::Open;
    }
    GRPC_SCOPES
        .iter()
        .find_map(|(service, methods)| {
            let method = path.strip_prefix(service)?;
            methods
                .iter()
                .find(|(name, _)| *name == method)
                .map(|(_, scope)| Requirement::Scope(*scope))
        })
        .unwrap_or(Requirement::Unlisted)
}

/// The requirement of an HTTP route as the router matched it (`None`: no route matched):
/// the scope of the RPC it transcodes to, the same as over gRPC.
pub fn http_requirement(method: &http::Method, route: Option<&str>) -> Requirement {
    let Some(route) = route else {
        return Requirement::Unlisted;
    };
    if let Some(rpc) = nordstern_runtime::http_routes::route_of(method, route) {
        return grpc_requirement(&rpc.grpc_path, false);
    }
    HTTP_ONLY
        .iter()
        .find(|(verb, path, _)| *verb == method.as_str() && *path == route)
        .map_or(Requirement::Unlisted, |(_, _, requirement)| *requirement)
}

/// Whether some method is served on `route` (as the router matched it).
pub fn is_known_path(route: &str) -> bool {
    nordstern_runtime::http_routes::http_routes()
        .iter()
        .any(|served| served.router_path == route)
        || HTTP_ONLY.iter().any(|(_, path, _)| *path == route)
}

/// Every gRPC method path in the table.
pub fn grpc_paths() -> impl Iterator<Item = (String, Scope)> {
    GRPC_SCOPES.iter().flat_map(|(service, methods)| {
        methods
            .iter()
            .map(move |(method, scope)| (format!("{service}{method}"), *scope))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_reflect::DescriptorPool;

    /// Services in the descriptor set that no server carries: the benchmarks' echo
    /// baseline runs only inside `nordstern bench`.
    const NOT_SERVED: [&str; 1] = ["nordstern.bench.v1.EchoService"];

    fn served_methods() -> Vec<String> {
        let pool = DescriptorPool::decode(nordstern_proto::FILE_DESCRIPTOR_SET)
            .unwrap_or_else(|error| panic!("descriptor set: {error}"));
        pool.services()
            .filter(|service| !NOT_SERVED.contains(&service.full_name()))
            .flat_map(|service| {
                service
                    .methods()
                    .map(|method| format!("/{}/{}", service.full_name(), method.name()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn every_rpc_of_every_service_needs_exactly_one_listed_scope() {
        let served = served_methods();
        let missing: Vec<&String> = served
            .iter()
            .filter(|path| grpc_requirement(path, true) == Requirement::Unlisted)
            .collect();
        assert!(
            missing.is_empty(),
            "RPCs without a scope in libs/auth/src/table.rs: {missing:?}"
        );
        let listed: Vec<String> = grpc_paths().map(|(path, _)| path).collect();
        let stale: Vec<&String> = listed.iter().filter(|p| !served.contains(p)).collect();
        assert!(
            stale.is_empty(),
            "table rows for RPCs that do not exist: {stale:?}"
        );
        let mut unique = listed.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), listed.len(), "a method is listed twice");
    }

    #[test]
    fn every_http_route_needs_a_listed_scope() {
        for route in nordstern_runtime::http_routes::http_routes() {
            assert!(
                matches!(
                    http_requirement(&route.method, Some(&route.router_path)),
                    Requirement::Scope(_)
                ),
                "{} {} has no scope",
                route.method,
                route.template
            );
        }
    }

    #[test]
    fn health_is_open_reflection_is_configurable_and_unknown_methods_are_closed() {
        assert_eq!(
            grpc_requirement("/grpc.health.v1.Health/Check", false),
            Requirement::Open
        );
        let reflection = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
        assert_eq!(grpc_requirement(reflection, true), Requirement::Open);
        assert_eq!(grpc_requirement(reflection, false), Requirement::Unlisted);
        assert_eq!(
            grpc_requirement(
                "/nordstern.accounts.v1.AccountsService/DropEverything",
                true
            ),
            Requirement::Unlisted
        );
        assert_eq!(
            grpc_requirement("/nordstern.accounts.v1.AccountsService/EraseAccount", true),
            Requirement::Scope(PrivacyErase)
        );
        assert_eq!(
            http_requirement(&http::Method::POST, Some("/v1/health-scores")),
            Requirement::Unlisted
        );
        assert_eq!(
            http_requirement(&http::Method::GET, Some("/v1/health-scores")),
            Requirement::Scope(ScoresRead)
        );
        assert_eq!(
            http_requirement(&http::Method::POST, Some("/v1/alerts/{p0}/resolve")),
            Requirement::Scope(AlertsWrite)
        );
        assert_eq!(
            http_requirement(&http::Method::GET, Some(OPENAPI_PATH)),
            Requirement::Open
        );
        assert_eq!(
            board_requirement("POST /alerts/{alert_id}/resolve"),
            Requirement::Scope(AlertsWrite)
        );
        assert_eq!(board_requirement("DELETE /"), Requirement::Unlisted);
    }
}
