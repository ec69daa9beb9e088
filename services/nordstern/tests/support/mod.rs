//! What the tests that run the real `nordstern serve` binary share: the storage it runs
//! on, the server process (started on an ephemeral port, killed with SIGKILL), and tokens
//! made with `nordstern token create` before any server runs.

#![allow(dead_code)]

use std::{
    collections::VecDeque,
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use nordstern_runtime::{
    client::{ClientSecurity, Outgoing},
    server::wait_until_serving,
};
use tokio::sync::oneshot;
use tonic::{service::interceptor::InterceptedService, transport::Endpoint};

pub const USAGE_SERVICE: &str = "nordstern.usage.v1.UsageService";
pub const PSEUDONYM_KEY: &str = "kill-ingest-test-pseudonym-key-0123456789";
/// From spawn to SERVING, migrations included.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Log lines of the current server kept for failure messages.
const LOG_TAIL: usize = 40;

pub type Channel = InterceptedService<tonic::transport::Channel, Outgoing>;

pub enum Storage {
    Sqlite(PathBuf),
    Postgres(String),
}

pub fn authorized(endpoint: Endpoint, token: &str) -> Channel {
    let security = ClientSecurity::default()
        .with_token(token)
        .unwrap_or_else(|error| panic!("{error}"));
    InterceptedService::new(endpoint.connect_lazy(), Outgoing::new(&security))
}

/// A token with `scopes` for the test's clients, made the way an operator makes one: `nordstern token
/// create --json` against the store, before any server runs.
pub fn create_token(storage: &Storage, scopes: &[&str]) -> String {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_nordstern"));
    command.args(["token", "create", "--name", "test client", "--json"]);
    for scope in scopes {
        command.args(["--scope", scope]);
    }
    match storage {
        Storage::Sqlite(dir) => command.arg("--data-dir").arg(dir),
        Storage::Postgres(url) => command.args(["--database-url", url]),
    };
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("NORDSTERN_") {
            command.env_remove(name);
        }
    }
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("cannot run nordstern token create: {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "token create failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    json_string_field(&stdout, "token")
        .unwrap_or_else(|| panic!("no token in {stdout}"))
        .to_owned()
}

/// Creates an SME account started on 2026-01-01 with `arr_minor` ARR in EUR; its id.
pub async fn create_account(
    client: &mut nordstern_proto::accounts::v1::accounts_service_client::AccountsServiceClient<
        Channel,
    >,
    name: &str,
    arr_minor: i64,
) -> Result<String, tonic::Status> {
    use nordstern_proto::{accounts::v1 as accounts_pb, common::v1 as common};
    let response = client
        .create_account(accounts_pb::CreateAccountRequest {
            request_id: String::new(),
            account: Some(accounts_pb::Account {
                name: name.to_owned(),
                segment: common::Segment::Sme as i32,
                start_date: Some(common::Date {
                    year: 2026,
                    month: 1,
                    day: 1,
                }),
                ..Default::default()
            }),
            initial_arr: Some(common::Money {
                minor_units: arr_minor,
                currency_code: "EUR".to_owned(),
            }),
            assigned_at: None,
        })
        .await?;
    Ok(response.into_inner().account.unwrap_or_default().account_id)
}

/// A running `nordstern serve`; killed (SIGKILL) when dropped, whatever the exit path.
pub struct Server {
    child: Child,
    pub url: String,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl Server {
    /// Spawns the binary on an ephemeral port, reads the bound address from its
    /// `serving` log line, and waits until health reports the usage service SERVING.
    pub async fn start(storage: &Storage, env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_nordstern"));
        command.args([
            "serve",
            "--services",
            "all",
            "--listen",
            "127.0.0.1:0",
            "--log",
            "info",
        ]);
        match storage {
            Storage::Sqlite(dir) => command.arg("--data-dir").arg(dir),
            Storage::Postgres(url) => command.args(["--database-url", url]),
        };
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("NORDSTERN_") {
                command.env_remove(name);
            }
        }
        command
            .env("NORDSTERN_USAGE__PSEUDONYM_KEY", PSEUDONYM_KEY)
            // Tests run side by side: the gateway's JSON listener takes a free port too.
            .env("NORDSTERN_GATEWAY__HTTP_LISTEN_ADDR", "127.0.0.1:0")
            .env("NORDSTERN_TELEMETRY__LOG_JSON", "true")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run nordstern: {error}"));
        let mut server = Server {
            child,
            url: String::new(),
            log: Arc::default(),
        };
        let stderr = server
            .child
            .stderr
            .take()
            .unwrap_or_else(|| panic!("no stderr pipe"));
        let (address_sender, address) = oneshot::channel();
        let log = server.log.clone();
        // Drains stderr until the process ends, so logging never blocks the server.
        std::thread::spawn(move || {
            let mut address_sender = Some(address_sender);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains(r#""message":"serving""#)
                    && let Some(address) = json_string_field(&line, "addr")
                    && let Some(sender) = address_sender.take()
                {
                    let _ = sender.send(address.to_owned());
                }
                let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
                if log.len() == LOG_TAIL {
                    log.pop_front();
                }
                log.push_back(line);
            }
        });
        match tokio::time::timeout(START_TIMEOUT, address).await {
            Ok(Ok(address)) => server.url = format!("http://{address}"),
            Ok(Err(_)) => panic!("nordstern exited before serving:\n{}", server.log_tail()),
            Err(_) => panic!(
                "nordstern did not log `serving` within {START_TIMEOUT:?}:\n{}",
                server.log_tail()
            ),
        }
        wait_until_serving(&server.url, USAGE_SERVICE, START_TIMEOUT)
            .await
            .unwrap_or_else(|error| panic!("{error}\n{}", server.log_tail()));
        server
    }

    /// SIGKILL, then reap: no shutdown hook, no drain, no flush.
    pub fn kill(&mut self) {
        self.child
            .kill()
            .unwrap_or_else(|error| panic!("kill -9 nordstern: {error}"));
        self.child
            .wait()
            .unwrap_or_else(|error| panic!("reaping nordstern: {error}"));
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM: the graceful shutdown an orchestrator asks for.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap_or_else(|error| panic!("kill -TERM: {error}"));
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits up to `timeout` for the process to exit; whether it did, successfully.
    pub async fn exited_within(&mut self, timeout: Duration) -> Option<bool> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status.success()),
                Ok(None) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                _ => return None,
            }
        }
    }

    pub fn log_tail(&self) -> String {
        let log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        log.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Already dead after `kill`; then both calls just report that.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of `"field":"…"` in a JSON log line (no escapes in the values we read).
pub fn json_string_field<'a>(line: &'a str, field: &str) -> Option<&'a str> {
    let key = format!("\"{field}\":\"");
    let start = line.find(&key)? + key.len();
    let length = line[start..].find('"')?;
    Some(&line[start..start + length])
}
