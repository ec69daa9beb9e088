//! The OpenAPI 3.1 document of the HTTP routes, generated from the same annotations the
//! transcoder serves and the same descriptors it reads, with the proto comments as
//! descriptions: what a client generator or an API catalogue needs, never out of date.

use std::collections::{BTreeMap, BTreeSet};

use nordstern_runtime::http_routes::{HttpBody, HttpRoute, descriptor_pool, http_routes};
use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use prost_types::FileDescriptorProto;
use serde_json::{Map, Value, json};

/// The document, as JSON.
pub fn document() -> Value {
    let mut schemas = Schemas::default();
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for route in http_routes() {
        let operation = operation(route, scope_of(route), &mut schemas);
        paths
            .entry(route.template.clone())
            .or_default()
            .insert(route.method.as_str().to_ascii_lowercase(), operation);
    }
    let mut components = schemas.finish();
    components.insert("ErrorBody".to_owned(), error_schema());
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Nordstern HTTP/JSON API",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "Customer success: accounts, usage, surveys, health and churn scores, tickets.",
            "description": "Every route is an RPC of the gRPC API, transcoded: the request fields come from the path, the query string (for routes without a body) and the JSON body, in proto3 JSON (lowerCamelCase or proto field names, enum names, 64-bit integers as strings, RFC 3339 times). Errors carry the gRPC status and field violations.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token (`nordstern token create`) with the route's scope."
                }
            },
            "responses": {
                "Error": {
                    "description": "The gRPC status of a refusal, as its HTTP code.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
                }
            }
        }
    })
}

/// The scope a route needs, from the one table (`x-nordstern-scope`).
fn scope_of(route: &HttpRoute) -> Option<&'static str> {
    match nordstern_auth::table::grpc_requirement(&route.grpc_path, false) {
        nordstern_auth::table::Requirement::Scope(scope) => Some(scope.as_str()),
        _ => None,
    }
}

fn operation(route: &HttpRoute, scope: Option<&str>, schemas: &mut Schemas) -> Value {
    let rpc = &route.rpc;
    let service = rpc.parent_service();
    let input = rpc.input();
    let mut parameters = Vec::new();
    for field_path in &route.path_fields {
        let field = leaf(&input, field_path);
        parameters.push(json!({
            "name": field_path,
            "in": "path",
            "required": true,
            "description": field.as_ref().map(|f| comments(f.parent_message().parent_file_descriptor_proto(), f.path())).unwrap_or_default(),
            "schema": field.as_ref().map_or(json!({"type": "string"}), |f| schemas.field(f)),
        }));
    }
    if route.body == HttpBody::None {
        for field in input.fields() {
            if route.path_fields.iter().any(|p| p == field.name()) || !in_query(&field) {
                continue;
            }
            let mut parameter = json!({
                "name": field.name(),
                "in": "query",
                "required": false,
                "description": comments(input.parent_file_descriptor_proto(), field.path()),
                "schema": schemas.field(&field),
            });
            if field.is_list() {
                parameter["style"] = json!("form");
                parameter["explode"] = json!(true);
            }
            parameters.push(parameter);
        }
    }
    let summary = comments(service.parent_file_descriptor_proto(), rpc.path());
    let mut operation = json!({
        "operationId": format!("{}_{}", service.name(), rpc.name()),
        "tags": [service.name()],
        "summary": first_sentence(&summary),
        "description": format!("{summary}\n\ngRPC: `{}`", route.grpc_path),
        "parameters": parameters,
        "responses": {
            "200": {
                "description": "The RPC's answer.",
                "content": {"application/json": {"schema": schemas.reference(&rpc.output())}}
            },
            "default": {"$ref": "#/components/responses/Error"}
        }
    });
    let body_schema = match &route.body {
        HttpBody::None => None,
        HttpBody::Whole => Some(schemas.reference(&input)),
        HttpBody::Field(name) => input.get_field_by_name(name).map(|f| schemas.field(&f)),
    };
    if let Some(schema) = body_schema {
        operation["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": schema}}
        });
    }
    if let Some(scope) = scope {
        operation["x-nordstern-scope"] = json!(scope);
    }
    operation
}

/// Fields a query string can carry: scalars, enums and times, or lists of them.
fn in_query(field: &FieldDescriptor) -> bool {
    !field.is_map()
        && match field.kind() {
            Kind::Message(message) => matches!(
                message.full_name(),
                "google.protobuf.Timestamp" | "google.protobuf.Duration"
            ),
            _ => true,
        }
}

fn leaf(input: &MessageDescriptor, path: &str) -> Option<FieldDescriptor> {
    let mut message = input.clone();
    let mut found = None;
    for part in path.split('.') {
        let field = message.get_field_by_name(part)?;
        if let Kind::Message(inner) = field.kind() {
            message = inner;
        }
        found = Some(field);
    }
    found
}

/// The leading comment of the element at `path` of `file`, as one paragraph.
fn comments(file: &FileDescriptorProto, path: &[i32]) -> String {
    file.source_code_info
        .as_ref()
        .and_then(|info| info.location.iter().find(|location| location.path == path))
        .and_then(|location| location.leading_comments.as_deref())
        .map(|text| text.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn first_sentence(text: &str) -> String {
    match text.find(". ") {
        Some(end) => text[..=end].to_owned(),
        None => text.to_owned(),
    }
}

/// The schemas of every message the routes reach, collected as they are referenced.
#[derive(Default)]
struct Schemas {
    wanted: BTreeSet<String>,
}

impl Schemas {
    fn reference(&mut self, message: &MessageDescriptor) -> Value {
        if let Some(schema) = well_known(message.full_name()) {
            return schema;
        }
        self.wanted.insert(message.full_name().to_owned());
        json!({"$ref": format!("#/components/schemas/{}", message.full_name())})
    }

    fn field(&mut self, field: &FieldDescriptor) -> Value {
        if let (true, Kind::Message(entry)) = (field.is_map(), field.kind()) {
            let value = entry.map_entry_value_field();
            return json!({"type": "object", "additionalProperties": self.single(&value)});
        }
        let single = self.single(field);
        if field.is_list() {
            json!({"type": "array", "items": single})
        } else {
            single
        }
    }

    fn single(&mut self, field: &FieldDescriptor) -> Value {
        match field.kind() {
            Kind::String => json!({"type": "string"}),
            Kind::Bytes => json!({"type": "string", "contentEncoding": "base64"}),
            Kind::Bool => json!({"type": "boolean"}),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                json!({"type": "integer", "format": "int32"})
            }
            Kind::Uint32 | Kind::Fixed32 => {
                json!({"type": "integer", "format": "int64", "minimum": 0})
            }
            // Written as strings; numbers are read too.
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => {
                json!({"type": ["string", "integer"], "format": "int64"})
            }
            Kind::Double | Kind::Float => json!({"type": "number"}),
            Kind::Enum(descriptor) => {
                let names: Vec<String> = descriptor.values().map(|v| v.name().to_owned()).collect();
                json!({"type": "string", "enum": names})
            }
            Kind::Message(message) => self.reference(&message),
        }
    }

    /// Every wanted schema, following the references each adds.
    fn finish(mut self) -> Map<String, Value> {
        let pool = descriptor_pool();
        let mut done: BTreeMap<String, Value> = BTreeMap::new();
        while let Some(name) = self.wanted.iter().find(|n| !done.contains_key(*n)).cloned() {
            let Some(message) = pool.get_message_by_name(&name) else {
                done.insert(name, json!({}));
                continue;
            };
            let mut properties = Map::new();
            for field in message.fields() {
                let mut schema = self.field(&field);
                let description = comments(message.parent_file_descriptor_proto(), field.path());
                if !description.is_empty() {
                    schema = json!({"allOf": [schema], "description": description});
                }
                properties.insert(field.json_name().to_owned(), schema);
            }
            let mut schema = json!({"type": "object", "properties": properties});
            let description = comments(message.parent_file_descriptor_proto(), message.path());
            if !description.is_empty() {
                schema["description"] = json!(description);
            }
            done.insert(name, schema);
        }
        done.into_iter().collect()
    }
}

/// The proto3 JSON forms of the well-known types our protos use.
fn well_known(full_name: &str) -> Option<Value> {
    Some(match full_name {
        "google.protobuf.Timestamp" => json!({"type": "string", "format": "date-time"}),
        "google.protobuf.Duration" => {
            json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?s$"})
        }
        "google.protobuf.FieldMask" => {
            json!({"type": "string", "description": "Comma-separated field paths, lowerCamelCase."})
        }
        "google.protobuf.Struct" => json!({"type": "object"}),
        "google.protobuf.Value" => json!({}),
        "google.protobuf.ListValue" => json!({"type": "array"}),
        "google.protobuf.Empty" => json!({"type": "object"}),
        _ => return None,
    })
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "status", "message"],
                "properties": {
                    "code": {"type": "integer", "description": "The HTTP status code."},
                    "status": {"type": "string", "description": "The gRPC code's name, e.g. INVALID_ARGUMENT."},
                    "message": {"type": "string"},
                    "fieldViolations": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "field": {"type": "string"},
                                "description": {"type": "string"}
                            }
                        }
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_with_resolvable_references() {
        let document = document();
        let text = document.to_string();
        for route in http_routes() {
            let method = route.method.as_str().to_ascii_lowercase();
            let operation = &document["paths"][&route.template][&method];
            assert!(operation.is_object(), "{} {}", route.method, route.template);
        }
        let schemas = document["components"]["schemas"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap_or_default();
            assert!(schemas.contains_key(name), "dangling reference to {name}");
        }
        let get_account = &document["paths"]["/v1/accounts/{account_id}"]["get"];
        assert_eq!(get_account["operationId"], "AccountsService_GetAccount");
        assert_eq!(get_account["parameters"][0]["in"], "path");
        assert_eq!(get_account["x-nordstern-scope"], "accounts:read");
    }
}
