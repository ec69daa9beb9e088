//! An HTTP request as the gRPC request of its route: the JSON body, the path parameters
//! and the query string merged into one proto3 JSON object, then read as the RPC's input
//! message. Every problem is named by its field, in one answer.

use prost_reflect::{DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value};

use nordstern_runtime::{
    http_routes::{HttpBody, HttpRoute},
    status::FieldViolations,
};

/// What an HTTP request brought, before it is read.
pub struct Incoming<'a> {
    /// The path parameters, in the route's order.
    pub path: &'a [String],
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
    pub body: &'a [u8],
}

/// RPCs whose HTTP body comes from outside tools that send more than we read (a Segment
/// batch carries `anonymousId`, `integrations`, …): unknown fields are skipped there and
/// refused everywhere else, so a typo in a field name is an error, not silently ignored.
const LENIENT: [&str; 2] = [
    "/nordstern.usage.v1.UsageService/IngestTrackEvents",
    "/nordstern.gateway.v1.GatewayService/RouteHelpdeskTicket",
];

/// The input message of `route` built from `incoming`.
pub fn input_message(
    route: &HttpRoute,
    incoming: &Incoming<'_>,
) -> Result<DynamicMessage, FieldViolations> {
    let input = route.rpc.input();
    let mut violations = FieldViolations::new();
    let mut root = body_object(route, &input, incoming.body, &mut violations);

    let query = match serde_urlencoded::from_str::<Vec<(String, String)>>(
        incoming.query.unwrap_or_default(),
    ) {
        Ok(pairs) => pairs,
        Err(error) => {
            violations.add("query", format!("not a valid query string: {error}"));
            Vec::new()
        }
    };
    for (name, raw) in &query {
        if route.body == HttpBody::Whole {
            violations.add(
                name.clone(),
                "this route reads every field from the JSON body, not the query string",
            );
            continue;
        }
        match resolve(&input, name) {
            Ok(fields) => {
                if let Some(value) = scalar(&fields, name, raw, &mut violations) {
                    insert(&mut root, &fields, value);
                }
            }
            Err(problem) => violations.add(name.clone(), problem),
        }
    }
    for (field_path, raw) in route.path_fields.iter().zip(incoming.path) {
        match resolve(&input, field_path) {
            Ok(fields) => {
                if let Some(value) = scalar(&fields, field_path, raw, &mut violations) {
                    insert(&mut root, &fields, value);
                }
            }
            Err(problem) => violations.add(field_path.clone(), problem),
        }
    }
    violations.into_result()?;

    let options =
        DeserializeOptions::new().deny_unknown_fields(!LENIENT.contains(&route.grpc_path.as_str()));
    DynamicMessage::deserialize_with_options(input, Value::Object(root), &options)
        .map_err(|error| FieldViolations::single("body", error.to_string()))
}

/// The body as the start of the request object: the whole request, one field of it, or
/// nothing.
fn body_object(
    route: &HttpRoute,
    input: &MessageDescriptor,
    body: &[u8],
    violations: &mut FieldViolations,
) -> Map<String, Value> {
    if route.body == HttpBody::None || body.iter().all(u8::is_ascii_whitespace) {
        return Map::new();
    }
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(error) => {
            violations.add("body", format!("not valid JSON: {error}"));
            return Map::new();
        }
    };
    match (&route.body, value) {
        (HttpBody::Whole, Value::Object(object)) => object,
        (HttpBody::Field(name), value @ Value::Object(_)) => {
            let key = input
                .get_field_by_name(name)
                .map_or_else(|| name.clone(), |field| field.json_name().to_owned());
            Map::from_iter([(key, value)])
        }
        _ => {
            violations.add("body", "must be a JSON object");
            Map::new()
        }
    }
}

/// The fields a dotted path names (`account.account_id`, or `pageSize` by its JSON name).
fn resolve(input: &MessageDescriptor, path: &str) -> Result<Vec<FieldDescriptor>, String> {
    let mut message = input.clone();
    let mut fields = Vec::new();
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let field = message
            .get_field_by_name(part)
            .or_else(|| message.get_field_by_json_name(part))
            .ok_or_else(|| {
                let known: Vec<String> = message.fields().map(|f| f.name().to_owned()).collect();
                format!("unknown parameter (known: {})", known.join(", "))
            })?;
        let last = i + 1 == parts.len();
        match field.kind() {
            Kind::Message(inner) if !last => message = inner,
            _ if !last => return Err(format!("`{part}` has no fields")),
            _ => {}
        }
        fields.push(field);
    }
    Ok(fields)
}

/// One query or path value as the proto3 JSON of its field, or a violation.
fn scalar(
    fields: &[FieldDescriptor],
    name: &str,
    raw: &str,
    violations: &mut FieldViolations,
) -> Option<Value> {
    let field = fields.last()?;
    let result = match field.kind() {
        Kind::String | Kind::Bytes => Ok(Value::String(raw.to_owned())),
        Kind::Bool => match raw.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Value::Bool(true)),
            "false" | "0" => Ok(Value::Bool(false)),
            _ => Err("must be true or false".to_owned()),
        },
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => raw
            .parse::<i32>()
            .map(Value::from)
            .map_err(|_| "must be an integer".to_owned()),
        Kind::Uint32 | Kind::Fixed32 => raw
            .parse::<u32>()
            .map(Value::from)
            .map_err(|_| "must be a non-negative integer".to_owned()),
        // 64-bit integers travel as strings in proto3 JSON.
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => raw
            .parse::<i64>()
            .map(|n| Value::String(n.to_string()))
            .map_err(|_| "must be an integer".to_owned()),
        Kind::Uint64 | Kind::Fixed64 => raw
            .parse::<u64>()
            .map(|n| Value::String(n.to_string()))
            .map_err(|_| "must be a non-negative integer".to_owned()),
        Kind::Double | Kind::Float => raw
            .parse::<f64>()
            .ok()
            .and_then(|n| serde_json::Number::from_f64(n).map(Value::Number))
            .ok_or_else(|| "must be a number".to_owned()),
        Kind::Enum(descriptor) => enum_value(&descriptor, raw).map(Value::String),
        Kind::Message(message) => match message.full_name() {
            "google.protobuf.Timestamp" => chrono::DateTime::parse_from_rfc3339(raw)
                .map(|at| {
                    Value::String(
                        at.to_utc()
                            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                    )
                })
                .map_err(|_| "must be an RFC 3339 time such as 2026-11-01T00:00:00Z".to_owned()),
            "google.protobuf.Duration" | "google.protobuf.FieldMask" => {
                Ok(Value::String(raw.to_owned()))
            }
            other => Err(format!("a {other} cannot be given in the URL")),
        },
    };
    match result {
        Ok(value) => Some(value),
        Err(problem) => {
            violations.add(name, problem);
            None
        }
    }
}

/// An enum value by its short name (`red`) or the full name the API writes
/// (`HEALTH_COLOR_RED`), in any case, so a CRM can feed back the values it read.
fn enum_value(descriptor: &prost_reflect::EnumDescriptor, raw: &str) -> Result<String, String> {
    let upper = raw.to_ascii_uppercase();
    let suffix = format!("_{upper}");
    descriptor
        .values()
        .find(|value| value.name() == upper)
        .or_else(|| {
            descriptor
                .values()
                .find(|value| value.number() != 0 && value.name().ends_with(&suffix))
        })
        .map(|value| value.name().to_owned())
        .ok_or_else(|| {
            let names: Vec<String> = descriptor
                .values()
                .filter(|value| value.number() != 0)
                .map(|value| value.name().to_owned())
                .collect();
            format!("unknown value `{raw}` (one of: {})", names.join(", "))
        })
}

/// Sets the value at `fields` (by JSON names) in `root`; a repeated field collects every
/// value given for it.
fn insert(root: &mut Map<String, Value>, fields: &[FieldDescriptor], value: Value) {
    let Some((last, parents)) = fields.split_last() else {
        return;
    };
    let mut object = root;
    for parent in parents {
        let entry = object
            .entry(parent.json_name().to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(inner) = entry else {
            return;
        };
        object = inner;
    }
    let key = last.json_name().to_owned();
    if last.is_list() {
        match object
            .entry(key)
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            Value::Array(values) => values.push(value),
            other => *other = Value::Array(vec![value]),
        }
    } else {
        object.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nordstern_runtime::http_routes::route_of;

    fn route(method: http::Method, path: &str) -> &'static HttpRoute {
        route_of(&method, path).unwrap_or_else(|| panic!("no route {method} {path}"))
    }

    fn fields(violations: &FieldViolations) -> Vec<String> {
        let mut fields: Vec<String> = violations
            .violations()
            .iter()
            .map(|(field, _)| field.clone())
            .collect();
        fields.sort();
        fields
    }

    #[test]
    fn query_parameters_parse_by_kind_and_bad_ones_are_named() {
        let list = route(http::Method::GET, "/v1/health-scores");
        let message = input_message(
            list,
            &Incoming {
                path: &[],
                query: Some("changed_since=2026-11-01T10:00:00%2B01:00&color=red&pageSize=50&segment=SEGMENT_SME"),
                body: b"",
            },
        )
        .unwrap_or_else(|v| panic!("{v:?}"));
        let request: nordstern_proto::scoring::v1::ListHealthScoresRequest =
            message.transcode_to().unwrap_or_default();
        assert_eq!(request.page_size, 50);
        assert_eq!(request.color, 3, "HEALTH_COLOR_RED");
        assert_eq!(
            request.changed_since.map(|t| t.seconds),
            Some(1_793_523_600)
        );
        assert_ne!(request.segment, 0);

        let refused = input_message(
            list,
            &Incoming {
                path: &[],
                query: Some("changed_since=yesterday&color=PURPLE&page_size=many&colour=RED"),
                body: b"",
            },
        )
        .err()
        .unwrap_or_default();
        assert_eq!(
            fields(&refused),
            ["changed_since", "color", "colour", "page_size"]
        );
    }

    #[test]
    fn path_and_body_merge_and_the_path_wins() {
        let record = route(http::Method::POST, "/v1/accounts/{p0}/contract-events");
        let body = br#"{"accountId": "ignored", "kind": "CONTRACT_EVENT_KIND_EXPANSION",
                       "arrChange": {"currencyCode": "EUR", "minorUnits": "100000"}}"#;
        let message = input_message(
            record,
            &Incoming {
                path: &["0193a000-0000-7000-8000-000000000001".to_owned()],
                query: None,
                body,
            },
        )
        .unwrap_or_else(|v| panic!("{v:?}"));
        let request: nordstern_proto::accounts::v1::RecordContractEventRequest =
            message.transcode_to().unwrap_or_default();
        let event = request.event.unwrap_or_default();
        assert_eq!(event.account_id, "0193a000-0000-7000-8000-000000000001");
        assert_eq!(event.arr_change.map(|m| m.minor_units), Some(100_000));
    }

    #[test]
    fn unknown_body_fields_and_bad_json_are_refused() {
        let create = route(http::Method::POST, "/v1/accounts");
        for body in [&br#"{"acount": {}}"#[..], b"{not json", b"[1, 2]"] {
            let refused = input_message(
                create,
                &Incoming {
                    path: &[],
                    query: None,
                    body,
                },
            )
            .err()
            .unwrap_or_default();
            assert_eq!(
                fields(&refused),
                ["body"],
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let query_on_body_route = input_message(
            create,
            &Incoming {
                path: &[],
                query: Some("request_id=x"),
                body: b"{}",
            },
        )
        .err()
        .unwrap_or_default();
        assert_eq!(fields(&query_on_body_route), ["request_id"]);
    }

    #[test]
    fn repeated_query_parameters_collect() {
        let alerts = route(http::Method::GET, "/v1/alerts");
        let message = input_message(
            alerts,
            &Incoming {
                path: &[],
                query: Some("statuses=open&statuses=ACKNOWLEDGED"),
                body: b"",
            },
        )
        .unwrap_or_else(|v| panic!("{v:?}"));
        let request: nordstern_proto::scoring::v1::ListAlertsRequest =
            message.transcode_to().unwrap_or_default();
        assert_eq!(request.statuses.len(), 2);
    }
}
