//! A webhook receiver on loopback, as a CRM or chat tool would run one: it checks every
//! delivery's Standard Webhooks signature (its own HMAC code, not the server's), keeps
//! what arrived, and can be told to fail for a while.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// One delivery as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub webhook_id: String,
    pub timestamp: i64,
    /// How many of the `webhook-signature` entries verified with a known secret.
    pub valid_signatures: usize,
    pub signatures: usize,
    pub body: serde_json::Value,
    /// Whether the receiver answered 2xx.
    pub accepted: bool,
}

#[derive(Default)]
struct Inner {
    secrets: Vec<String>,
    received: Vec<Received>,
    fail_until: Option<Instant>,
}

#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let inner: Arc<Mutex<Inner>> = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(inner.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { addr, inner }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A secret the signatures are checked against.
    pub fn trust(&self, secret: &str) {
        self.lock().secrets.push(secret.to_owned());
    }

    /// Answers 500 to everything for `period` from now.
    pub fn fail_for(&self, period: Duration) {
        self.lock().fail_until = Some(Instant::now() + period);
    }

    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// Waits until `done` holds for what arrived, at most `deadline`.
    pub async fn until(
        &self,
        deadline: Duration,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let end = Instant::now() + deadline;
        loop {
            let received = self.received();
            if done(&received) || Instant::now() > end {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

async fn receive(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (webhook_id, timestamp, signature) = (
        text("webhook-id"),
        text("webhook-timestamp"),
        text("webhook-signature"),
    );
    let mut inner = inner.lock().unwrap_or_else(PoisonError::into_inner);
    let expected: Vec<String> = inner
        .secrets
        .iter()
        .filter_map(|secret| {
            let key = STANDARD.decode(secret.strip_prefix("whsec_")?).ok()?;
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
            mac.update(format!("{webhook_id}.{timestamp}.").as_bytes());
            mac.update(&body);
            Some(STANDARD.encode(mac.finalize().into_bytes()))
        })
        .collect();
    let entries: Vec<&str> = signature.split(' ').filter(|s| !s.is_empty()).collect();
    let valid = entries
        .iter()
        .filter(|entry| {
            entry
                .strip_prefix("v1,")
                .is_some_and(|sig| expected.iter().any(|e| e == sig))
        })
        .count();
    let accepted = inner.fail_until.is_none_or(|until| Instant::now() >= until);
    inner.received.push(Received {
        webhook_id,
        timestamp: timestamp.parse().unwrap_or_default(),
        valid_signatures: valid,
        signatures: entries.len(),
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        accepted,
    });
    if accepted {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}
