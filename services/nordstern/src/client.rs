//! How the client commands reach a running suite and speak to a person: the channel
//! with its token and TLS, statuses as readable errors, proto3 JSON output, and the
//! lookups several commands share.

use std::{collections::HashMap, io::Write};

use anyhow::Context;
use nordstern_proto::accounts::v1::{self as pb, accounts_service_client::AccountsServiceClient};
pub use nordstern_runtime::client::SecureChannel as Channel;
use nordstern_runtime::{
    client::ClientSecurity,
    paging::{MAX_PAGE_SIZE, all_pages},
};
use tonic::Status;

/// The default server of the client commands.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";

/// Where the client commands find a token when none is given: the file `demo` writes.
pub const DEFAULT_TOKEN_FILE: &str = "data/admin.token";

/// How long a client command waits for an answer.
const COMMAND_TIMEOUT_MS: u64 = 30_000;

/// A channel to `server` whose calls carry `security`'s token (and TLS for https://).
pub async fn connect(server: &str, security: &ClientSecurity) -> anyhow::Result<Channel> {
    connect_waiting(server, security, COMMAND_TIMEOUT_MS).await
}

/// Like [`connect`] for a batch job over the whole company (training from history):
/// calls wait as long as a server gives such a job by default
/// (`grpc.long_request_timeout_ms`).
pub async fn connect_for_batch_job(
    server: &str,
    security: &ClientSecurity,
) -> anyhow::Result<Channel> {
    let long = nordstern_runtime::config::GrpcConfig::default().long_request_timeout_ms;
    connect_waiting(server, security, long).await
}

async fn connect_waiting(
    server: &str,
    security: &ClientSecurity,
    client_timeout_ms: u64,
) -> anyhow::Result<Channel> {
    let grpc = nordstern_runtime::config::GrpcConfig {
        client_timeout_ms,
        ..Default::default()
    };
    nordstern_runtime::client::secure_channel(server, &grpc, security)
        .await
        .with_context(|| {
            format!("cannot reach {server}; is `nordstern serve` or `nordstern demo` running?")
        })
}

/// A status as a person reads it: the code, the message and every field violation.
pub fn describe(status: &Status) -> anyhow::Error {
    let violations = nordstern_runtime::status::field_violations(status);
    if violations.is_empty() {
        return anyhow::anyhow!("{:?}: {}", status.code(), status.message());
    }
    let mut text = format!("{:?}:", status.code());
    for (field, description) in violations {
        text.push_str(&format!("\n  {field}: {description}"));
    }
    anyhow::anyhow!(text)
}

pub fn json(out: &mut dyn Write, message: &impl prost::Message, name: &str) -> anyhow::Result<()> {
    let body = nordstern_gateway::http::to_json(message, name).map_err(|s| describe(&s))?;
    out.write_all(&body)?;
    writeln!(out)?;
    Ok(())
}

/// Every CSM id by lower-case e-mail.
pub async fn csms_by_email(
    client: &mut AccountsServiceClient<Channel>,
) -> anyhow::Result<HashMap<String, String>> {
    let request = pb::ListCsmsRequest {
        page_size: MAX_PAGE_SIZE,
        page_token: String::new(),
    };
    let csms = all_pages(request, |request| {
        let mut client = client.clone();
        async move { client.list_csms(request).await }
    })
    .await
    .map_err(|s| describe(&s))?;
    Ok(csms
        .into_iter()
        .map(|c| (c.email.to_lowercase(), c.csm_id))
        .collect())
}
