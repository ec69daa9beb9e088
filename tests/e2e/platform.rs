//! What every server carries: health and reflection for exactly the enabled services,
//! trace context across a hop, graceful shutdown.

use nordstern_proto::accounts::v1 as pb;
use nordstern_runtime::Role;
use nordstern_tests::{Backend, TestSuite, Topology, finished_spans, service_name};
use opentelemetry::trace::TraceContextExt;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_cover_exactly_the_enabled_services() {
    let suite = TestSuite::start(Backend::Sqlite, Topology::OneServer).await;
    let channel = suite.channel(Role::Accounts).await;
    let mut health = HealthClient::new(channel.clone());
    let serving = |service: &str| HealthCheckRequest {
        service: service.to_owned(),
    };
    let status = health
        .check(serving(service_name(Role::Accounts)))
        .await
        .map(|r| r.into_inner().status);
    assert_eq!(status.ok(), Some(ServingStatus::Serving as i32));
    // A service this process does not run is unknown to health, not UNIMPLEMENTED-serving.
    let unknown = health
        .check(serving("nordstern.billing.v1.BillingService"))
        .await;
    assert_eq!(unknown.err().map(|s| s.code()), Some(tonic::Code::NotFound));

    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream_once(request))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner();
    let response = responses.message().await.unwrap_or_else(|s| panic!("{s}"));
    let mut names: Vec<String> = match response.and_then(|r| r.message_response) {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection answer {other:?}"),
    };
    names.sort();
    assert_eq!(
        names,
        vec![
            "grpc.health.v1.Health".to_owned(),
            "nordstern.accounts.v1.AccountsService".to_owned(),
            // Every server checks tokens, so every server manages them.
            "nordstern.auth.v1.AuthService".to_owned(),
            "nordstern.gateway.v1.GatewayService".to_owned(),
            "nordstern.scoring.v1.ScoringService".to_owned(),
            "nordstern.survey.v1.SurveyService".to_owned(),
            "nordstern.usage.v1.UsageService".to_owned(),
            // And the webhook subscriptions of the installation.
            "nordstern.webhooks.v1.WebhookService".to_owned(),
        ]
    );
    suite.stop().await;
}

fn tokio_stream_once<T: Send + 'static>(item: T) -> impl tokio_stream::Stream<Item = T> {
    tokio_stream::once(item)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_id_survives_every_hop_between_services() {
    use nordstern_proto::{common::v1 as common, survey::v1 as survey_pb};

    // Caller → survey (one server) → accounts (another server): a portfolio's survey
    // statistics make survey ask accounts which accounts the CSM owns.
    let suite = TestSuite::start(Backend::Sqlite, Topology::ServerPerRole).await;
    let channel = suite.channel(Role::Survey).await;
    let mut client = survey_pb::survey_service_client::SurveyServiceClient::new(channel);
    let caller = tracing::info_span!("caller");
    let trace_id = caller.context().span().span_context().trace_id();
    assert_ne!(
        trace_id,
        opentelemetry::trace::TraceId::INVALID,
        "the test subscriber records spans"
    );
    let today = nordstern_runtime::wire::date_to_proto(chrono::Utc::now().date_naive());
    let request = survey_pb::GetSurveyStatsRequest {
        scope: Some(common::Scope {
            scope: Some(common::scope::Scope::CsmId(
                "00000000-0000-7000-8000-0000000000c5".to_owned(),
            )),
        }),
        window: Some(common::Period {
            start_date: Some(common::Date {
                year: 2025,
                month: 1,
                day: 1,
            }),
            end_date: Some(today),
        }),
    };
    client
        .get_survey_stats(request)
        .instrument(caller.clone())
        .await
        .unwrap_or_else(|s| panic!("{s}"));
    drop(caller);
    let spans = finished_spans().get_finished_spans().unwrap_or_default();
    let method_of = |span: &opentelemetry_sdk::trace::SpanData| {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == "rpc.method")
            .map(|kv| kv.value.to_string())
            .unwrap_or_default()
    };
    let in_trace: Vec<String> = spans
        .iter()
        .filter(|span| span.name == "grpc.request" && span.span_context.trace_id() == trace_id)
        .map(method_of)
        .collect();
    assert!(
        in_trace
            .iter()
            .any(|m| m.ends_with("SurveyService/GetSurveyStats"))
            && in_trace
                .iter()
                .any(|m| m.ends_with("AccountsService/ListAccounts")),
        "both servers' request spans joined the caller's trace {trace_id}; in it: {in_trace:?}"
    );
    suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_accounts_api_is_the_same_contract_as_the_server() {
    use nordstern_accounts::remote::RemoteAccounts;
    use nordstern_runtime::config::GrpcConfig;
    use tonic::Request;

    let suite = TestSuite::start(Backend::Sqlite, Topology::ServerPerRole).await;
    let api = RemoteAccounts::connect(
        suite.url(Role::Accounts),
        &GrpcConfig::default(),
        &suite.security(),
    )
    .unwrap_or_else(|error| panic!("{error}"))
    .into_api();
    let created = api
        .create_account(Request::new(crate::support::new_account(
            "Remote Ltd",
            1_000,
        )))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .account
        .unwrap_or_default();
    let fetched = api
        .get_account(Request::new(pb::GetAccountRequest {
            account_id: created.account_id.clone(),
        }))
        .await
        .unwrap_or_else(|s| panic!("{s}"))
        .into_inner()
        .account
        .unwrap_or_default();
    assert_eq!(fetched, created);
    // Errors keep their code and field details across the hop.
    let status = api
        .get_account(Request::new(pb::GetAccountRequest {
            account_id: "x".to_owned(),
        }))
        .await
        .err()
        .unwrap_or_else(|| panic!("expected an error"));
    assert_eq!(
        nordstern_runtime::status::field_violations(&status)
            .first()
            .map(|(field, _)| field.as_str()),
        Some("account_id")
    );
    suite.stop().await;

    // A service that is gone answers UNAVAILABLE after the retries, within the deadline.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let dead_url = format!(
        "http://{}",
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    );
    drop(listener);
    let dead = RemoteAccounts::connect(&dead_url, &GrpcConfig::default(), &Default::default())
        .unwrap_or_else(|error| panic!("{error}"))
        .into_api();
    let started = std::time::Instant::now();
    let status = dead
        .list_csms(Request::new(pb::ListCsmsRequest::default()))
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(status, Some(tonic::Code::Unavailable));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_the_size_limit_are_refused() {
    let suite = TestSuite::start_with(Backend::Sqlite, Topology::OneServer, |config| {
        config.grpc.max_request_bytes = 4 * 1024;
    })
    .await;
    let mut client = crate::support::accounts(&suite).await;
    let too_big = pb::BatchGetAccountsRequest {
        account_ids: vec!["00000000-0000-7000-8000-000000000000".to_owned(); 200],
    };
    let status = client
        .batch_get_accounts(too_big)
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(status, Some(tonic::Code::OutOfRange));
    // A request under the limit still works on the same connection.
    let small = pb::BatchGetAccountsRequest {
        account_ids: vec!["00000000-0000-7000-8000-000000000000".to_owned()],
    };
    assert!(client.batch_get_accounts(small).await.is_ok());
    suite.stop().await;
}
