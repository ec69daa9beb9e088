//! The HTTP routes of the RPCs, read once from the `google.api.http` annotations in the
//! built-in descriptor set. The transcoder serves them, the scope table guards them and
//! the OpenAPI document describes them: one declaration, in the protos.

use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, Value};

/// What the HTTP body of a route carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpBody {
    /// No body: every field comes from the path and the query string.
    None,
    /// The whole request message (`body: "*"`).
    Whole,
    /// One message field of the request (`body: "event"`).
    Field(String),
}

/// One RPC reachable over HTTP.
#[derive(Debug, Clone)]
pub struct HttpRoute {
    pub method: http::Method,
    /// As the annotation writes it: `/v1/accounts/{account.account_id}`.
    pub template: String,
    /// As the router matches it: path parameters are named `p0`, `p1`, … in order, since
    /// a field path may contain dots.
    pub router_path: String,
    /// The request field path of each path parameter, in order.
    pub path_fields: Vec<String>,
    pub body: HttpBody,
    /// `/package.Service/Method`, as gRPC names it.
    pub grpc_path: String,
    pub rpc: MethodDescriptor,
}

/// Every Nordstern message, service and annotation.
pub fn descriptor_pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(nordstern_proto::FILE_DESCRIPTOR_SET)
            // The set is generated at build time from our own protos.
            .unwrap_or_else(|error| panic!("the built-in descriptor set is invalid: {error}"))
    })
}

/// Every annotated RPC of the Nordstern services, in declaration order.
pub fn http_routes() -> &'static [HttpRoute] {
    static ROUTES: OnceLock<Vec<HttpRoute>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        let pool = descriptor_pool();
        let Some(extension) = pool.get_extension_by_name("google.api.http") else {
            return Vec::new();
        };
        let mut routes = Vec::new();
        for service in pool.services() {
            for rpc in service.methods() {
                let options = rpc.options();
                if !options.has_extension(&extension) {
                    continue;
                }
                if let Value::Message(rule) = options.get_extension(&extension).as_ref() {
                    collect_rule(&rpc, rule, &mut routes);
                }
            }
        }
        routes
    })
}

/// The route of `rule` and of its additional bindings. A malformed annotation is a bug in
/// our own protos; `annotations_are_well_formed` fails on it.
fn collect_rule(rpc: &MethodDescriptor, rule: &DynamicMessage, routes: &mut Vec<HttpRoute>) {
    let text = |name: &str| {
        rule.get_field_by_name(name)
            .and_then(|value| value.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    let verbs = [
        ("get", http::Method::GET),
        ("put", http::Method::PUT),
        ("post", http::Method::POST),
        ("delete", http::Method::DELETE),
        ("patch", http::Method::PATCH),
    ];
    if let Some((template, method)) = verbs.into_iter().find_map(|(name, method)| {
        let template = text(name);
        (!template.is_empty()).then_some((template, method))
    }) {
        let (router_path, path_fields) = router_path(&template);
        let body = match text("body").as_str() {
            "" => HttpBody::None,
            "*" => HttpBody::Whole,
            field => HttpBody::Field(field.to_owned()),
        };
        routes.push(HttpRoute {
            method,
            template,
            router_path,
            path_fields,
            body,
            grpc_path: format!("/{}/{}", rpc.parent_service().full_name(), rpc.name()),
            rpc: rpc.clone(),
        });
    }
    if let Some(Value::List(bindings)) = rule
        .get_field_by_name("additional_bindings")
        .map(|value| value.into_owned())
    {
        for binding in bindings {
            if let Value::Message(binding) = binding {
                collect_rule(rpc, &binding, routes);
            }
        }
    }
}

/// `/v1/accounts/{account.account_id}/x` → (`/v1/accounts/{p0}/x`, [`account.account_id`]).
fn router_path(template: &str) -> (String, Vec<String>) {
    let mut fields = Vec::new();
    let segments: Vec<String> = template
        .split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(field) => {
                    let name = format!("{{p{}}}", fields.len());
                    fields.push(field.to_owned());
                    name
                }
                None => segment.to_owned(),
            },
        )
        .collect();
    (segments.join("/"), fields)
}

/// The route matched as `router_path` with `method`.
pub fn route_of(method: &http::Method, router_path: &str) -> Option<&'static HttpRoute> {
    http_routes()
        .iter()
        .find(|route| route.method == method && route.router_path == router_path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_reflect::Kind;

    #[test]
    fn annotations_are_well_formed() {
        let routes = http_routes();
        assert!(routes.len() >= 20, "{} routes", routes.len());
        let mut seen = std::collections::HashSet::new();
        for route in routes {
            assert!(
                seen.insert((route.method.clone(), route.router_path.clone())),
                "{} {} is declared twice",
                route.method,
                route.template
            );
            assert!(route.template.starts_with("/v1/"), "{}", route.template);
            let input = route.rpc.input();
            for field_path in &route.path_fields {
                let mut message = input.clone();
                let parts: Vec<&str> = field_path.split('.').collect();
                for (i, part) in parts.iter().enumerate() {
                    let field = message
                        .get_field_by_name(part)
                        .unwrap_or_else(|| panic!("{}: no field {field_path}", route.template));
                    match field.kind() {
                        Kind::Message(inner) if i + 1 < parts.len() => message = inner,
                        Kind::String if i + 1 == parts.len() => {}
                        other => panic!("{}: {field_path} is {other:?}", route.template),
                    }
                }
            }
            if let HttpBody::Field(name) = &route.body {
                let field = input
                    .get_field_by_name(name)
                    .unwrap_or_else(|| panic!("{}: no body field {name}", route.template));
                assert!(matches!(field.kind(), Kind::Message(_)), "{name}");
            }
            assert!(
                !route.rpc.is_client_streaming() && !route.rpc.is_server_streaming(),
                "{} streams; only unary RPCs are transcoded",
                route.grpc_path
            );
            if route.method == http::Method::GET {
                assert_eq!(route.body, HttpBody::None, "{}", route.template);
            }
        }
    }

    #[test]
    fn nested_path_parameters_get_router_names() {
        let (path, fields) = router_path("/v1/accounts/{event.account_id}/contract-events");
        assert_eq!(path, "/v1/accounts/{p0}/contract-events");
        assert_eq!(fields, ["event.account_id"]);
        let route = route_of(&http::Method::GET, "/v1/accounts/{p0}/health");
        assert_eq!(
            route.map(|r| r.grpc_path.as_str()),
            Some("/nordstern.scoring.v1.ScoringService/GetHealthScore")
        );
    }
}
