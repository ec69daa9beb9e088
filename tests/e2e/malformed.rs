//! Malformed input (issue 17, scenario 6): random and mutated protobuf bodies against
//! every unary RPC of every service, malformed JSON, query strings and path values against
//! every HTTP route, and broken HTTP/2 on the gRPC port. Nothing panics: every answer is a
//! status a caller can act on (never INTERNAL or UNKNOWN, nor a reset stream), every HTTP
//! answer is below 500, and the server stays up and healthy.
//!
//! 10⁴ inputs in CI; `NORDSTERN_FUZZ_INPUTS=1000000 cargo test --release -p
//! nordstern-tests --test e2e malformed -- --nocapture` runs the long one, and
//! `NORDSTERN_FUZZ_SEED` repeats a run (each run prints its seed).

use std::{collections::BTreeMap, time::Duration};

use bytes::{BufMut, Bytes};
use nordstern_runtime::Role;
use nordstern_tests::{
    Backend, TestSuite, Topology, http,
    raw::{WithAuthorization, call_code},
};
use prost_reflect::{
    DescriptorPool, DynamicMessage, Kind, MessageDescriptor, MethodDescriptor, Value,
    prost::Message,
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

/// Codes a random request may get back: it was refused, or it happened to be a valid
/// request and was answered.
const FINE: [Code; 8] = [
    Code::Ok,
    Code::InvalidArgument,
    Code::NotFound,
    Code::AlreadyExists,
    Code::FailedPrecondition,
    Code::ResourceExhausted,
    Code::OutOfRange,
    Code::PermissionDenied,
];

/// Services no server carries (the benchmark's echo).
const NOT_SERVED: [&str; 1] = ["nordstern.bench.v1.EchoService"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_is_refused_and_harms_nothing() {
    let inputs: usize = std::env::var("NORDSTERN_FUZZ_INPUTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let seed: u64 = std::env::var("NORDSTERN_FUZZ_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    println!("malformed input: {inputs} protobuf bodies, seed {seed}");
    let suite = TestSuite::start(Backend::Sqlite, Topology::OneServer).await;
    let mut rng = StdRng::seed_from_u64(seed);

    // gRPC: every unary method, random and mutated bodies.
    let pool = DescriptorPool::decode(nordstern_proto::FILE_DESCRIPTOR_SET)
        .unwrap_or_else(|e| panic!("descriptors: {e}"));
    let methods: Vec<MethodDescriptor> = pool
        .services()
        .filter(|service| !NOT_SERVED.contains(&service.full_name()))
        .flat_map(|service| service.methods().collect::<Vec<_>>())
        .filter(|method| !method.is_client_streaming() && !method.is_server_streaming())
        .collect();
    let channel =
        WithAuthorization::bearer(suite.raw_channel(Role::Gateway).await, suite.admin_token());
    let mut codes: BTreeMap<String, u64> = BTreeMap::new();
    let mut bad = Vec::new();
    for n in 0..inputs {
        let method = &methods[n % methods.len()];
        let body = body_for(&method.input(), &mut rng);
        let path = format!("/{}/{}", method.parent_service().full_name(), method.name());
        let code = call_code(channel.clone(), &path, body.to_vec()).await;
        *codes.entry(format!("{code:?}")).or_default() += 1;
        if !FINE.contains(&code) && bad.len() < 10 {
            bad.push(format!(
                "{path} → {code:?} for {:02x?}",
                &body[..body.len().min(64)]
            ));
        }
    }
    println!("  gRPC answers over {} methods: {codes:?}", methods.len());
    assert!(
        bad.is_empty(),
        "answers that are not a refusal:\n{}",
        bad.join("\n")
    );

    // HTTP: broken bodies, query strings and path values on every route.
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let mut server_errors = Vec::new();
    let auth = format!("Bearer {}", suite.admin_token());
    for route in nordstern_runtime::http_routes::http_routes() {
        let method = route.method.as_str();
        for (path_value, query, body) in http_cases(&mut rng) {
            let path = route
                .router_path
                .split('/')
                .map(|part| {
                    if part.starts_with('{') {
                        path_value.as_str()
                    } else {
                        part
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let target = format!("{path}?{query}");
            let response = http::send(
                suite.http_addr(),
                method,
                &target,
                &[("Authorization", auth.as_str())],
                "application/json",
                &body,
            )
            .await;
            *statuses.entry(response.status).or_default() += 1;
            if response.status >= 500 && server_errors.len() < 10 {
                server_errors.push(format!(
                    "{method} {target} {body:.80} → {} {}",
                    response.status, response.body
                ));
            }
        }
    }
    println!("  HTTP answers: {statuses:?}");
    assert!(
        server_errors.is_empty(),
        "HTTP server errors:\n{}",
        server_errors.join("\n")
    );

    // Broken HTTP/2 on the gRPC port: each connection is dropped, nothing else happens.
    let addr = suite
        .url(Role::Gateway)
        .trim_start_matches("http://")
        .to_owned();
    for garbage in broken_http2(&mut rng) {
        let mut stream = tokio::net::TcpStream::connect(&addr)
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"));
        let _ = stream.write_all(&garbage).await;
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut sink)).await;
    }

    // Still up, still serving.
    let mut health =
        tonic_health::pb::health_client::HealthClient::new(suite.raw_channel(Role::Gateway).await);
    let status = health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap_or_else(|s| panic!("health after the inputs: {s}"))
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    suite.stop().await;
}

/// A request body for `input`: a random message, often mutated afterwards, or bytes.
fn body_for(input: &MessageDescriptor, rng: &mut StdRng) -> Bytes {
    if rng.random_bool(0.1) {
        let len = rng.random_range(0..64);
        return Bytes::from((0..len).map(|_| rng.random::<u8>()).collect::<Vec<_>>());
    }
    let mut bytes = random_message(input, rng, 0).encode_to_vec();
    match rng.random_range(0..10) {
        0..=1 if !bytes.is_empty() => {
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..bytes.len());
                bytes[at] ^= 1 << rng.random_range(0..8);
            }
        }
        2 if !bytes.is_empty() => bytes.truncate(rng.random_range(0..bytes.len())),
        3 => bytes.extend((0..rng.random_range(1..16)).map(|_| rng.random::<u8>())),
        _ => {}
    }
    Bytes::from(bytes)
}

fn random_message(descriptor: &MessageDescriptor, rng: &mut StdRng, depth: u32) -> DynamicMessage {
    let mut message = DynamicMessage::new(descriptor.clone());
    if depth > 3 {
        return message;
    }
    for field in descriptor.fields() {
        if field.is_map() || rng.random_bool(0.4) {
            continue;
        }
        let value = if field.is_list() {
            Value::List(
                (0..rng.random_range(0..4))
                    .map(|_| random_value(&field.kind(), rng, depth))
                    .collect(),
            )
        } else {
            random_value(&field.kind(), rng, depth)
        };
        let _ = message.try_set_field(&field, value);
    }
    message
}

fn random_value(kind: &Kind, rng: &mut StdRng, depth: u32) -> Value {
    let pick = |rng: &mut StdRng, choices: &[i64]| choices[rng.random_range(0..choices.len())];
    let int = |rng: &mut StdRng| {
        let any = rng.random();
        pick(
            rng,
            &[0, 1, -1, 7, 100, 1_000, 100_000, i64::MAX, i64::MIN, any],
        )
    };
    match kind {
        Kind::Double => Value::F64(
            [
                0.0,
                -1.0,
                0.5,
                1e308,
                f64::NAN,
                f64::INFINITY,
                -f64::INFINITY,
            ][rng.random_range(0..7)],
        ),
        Kind::Float => {
            Value::F32([0.0, -1.0, 0.5, 3e38, f32::NAN, f32::INFINITY][rng.random_range(0..6)])
        }
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(int(rng) as i32),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(int(rng)),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(int(rng) as u32),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(int(rng) as u64),
        Kind::Bool => Value::Bool(rng.random()),
        Kind::String => Value::String(random_text(rng)),
        Kind::Bytes => Value::Bytes(Bytes::from(
            (0..rng.random_range(0..32))
                .map(|_| rng.random::<u8>())
                .collect::<Vec<_>>(),
        )),
        Kind::Message(inner) => Value::Message(random_message(inner, rng, depth + 1)),
        Kind::Enum(_) => Value::EnumNumber(pick(rng, &[0, 1, 2, 3, 5, 99, -1]) as i32),
    }
}

fn random_text(rng: &mut StdRng) -> String {
    match rng.random_range(0..10) {
        0 => String::new(),
        1 => "01a246cc-4e1d-721d-bae0-c1c0da7904d3".to_owned(),
        2 => "x".repeat(rng.random_range(1..5_000)),
        3 => "Zählerstand \u{0} \u{202e}ǅ 🦀 \r\n\t'\";--".to_owned(),
        4 => "SF-0815".to_owned(),
        5 => "https://127.0.0.1/hook".to_owned(),
        6 => "a@b.c".to_owned(),
        7 => "2026-13-45T99:99:99Z".to_owned(),
        _ => (0..rng.random_range(1..24))
            .map(|_| rng.random_range(b' '..=b'~') as char)
            .collect(),
    }
}

/// (path value, query string, JSON body) triples that are each wrong in some way.
fn http_cases(rng: &mut StdRng) -> Vec<(String, String, String)> {
    let deep = "[".repeat(10_000);
    let random: String = (0..40)
        .map(|_| rng.random_range(b' '..=b'~') as char)
        .collect();
    vec![
        ("%00".into(), "page_size=abc".into(), "{".into()),
        ("..".into(), "%".into(), "[]".into()),
        ("x".repeat(3_000), "a=%zz&=&&=".into(), "null".into()),
        (
            "01a246cc-4e1d-721d-bae0-c1c0da7904d3".into(),
            "color=PURPLE&page_token=%FF%FE".into(),
            "\"text\"".into(),
        ),
        (
            "%F0%9F%A6%80".into(),
            format!("q={}", "y".repeat(9_000)),
            deep,
        ),
        (
            "1".into(),
            "segment=1e309".into(),
            "{\"account\": {\"arr\": 1e400, \"name\": [1,2]}}".into(),
        ),
        (urlencode(&random), urlencode(&random), random),
    ]
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Byte strings that are not valid HTTP/2: garbage, a truncated frame after the preface,
/// a frame claiming 16 MiB, a HEADERS frame with a broken HPACK block.
fn broken_http2(rng: &mut StdRng) -> Vec<Vec<u8>> {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let frame = |length: u32, kind: u8, flags: u8, stream: u32, payload: &[u8]| {
        let mut frame = Vec::new();
        frame.put_uint(u64::from(length), 3);
        frame.put_u8(kind);
        frame.put_u8(flags);
        frame.put_u32(stream);
        frame.extend_from_slice(payload);
        frame
    };
    let with_preface = |rest: Vec<u8>| {
        let mut bytes = PREFACE.to_vec();
        bytes.extend(frame(0, 4, 0, 0, &[]));
        bytes.extend(rest);
        bytes
    };
    vec![
        (0..512).map(|_| rng.random::<u8>()).collect(),
        with_preface(frame(100, 0, 0, 1, b"short")),
        with_preface(frame(16 * 1024 * 1024, 0, 0, 1, &[0; 32])),
        with_preface(frame(8, 1, 4, 1, &[0xff; 8])),
        PREFACE[..10].to_vec(),
    ]
}
