//! A gRPC proxy in front of one service of a running suite that counts the attempts of
//! every method and can answer in the service's place with a chosen status, so a test
//! sees exactly how often our clients try, and after which answers they stop.

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use tonic::{
    Code, Status,
    body::Body,
    server::NamedService,
    transport::{Channel, Endpoint},
};
use tower::Service;

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

#[derive(Default)]
struct State {
    attempts: HashMap<String, u32>,
    /// Answer every call with this code instead of forwarding it, `remaining` more times
    /// (`None`: always).
    inject: Option<(Code, Option<u32>)>,
}

/// The accounts service behind the proxy.
#[derive(Clone)]
pub struct AccountsProxy {
    upstream: Channel,
    state: Arc<Mutex<State>>,
}

impl NamedService for AccountsProxy {
    const NAME: &'static str = "nordstern.accounts.v1.AccountsService";
}

impl AccountsProxy {
    /// Serves the proxy on a free loopback port in front of `upstream_url`; its URL.
    pub async fn start(upstream_url: &str) -> (AccountsProxy, String) {
        let upstream = Endpoint::from_shared(upstream_url.to_owned())
            .unwrap_or_else(|e| panic!("upstream {upstream_url}: {e}"))
            .connect_lazy();
        let proxy = AccountsProxy {
            upstream,
            state: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let url = format!(
            "http://{}",
            listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
        );
        let served = proxy.clone();
        tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(served)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await;
        });
        (proxy, url)
    }

    /// Answers the next `times` calls (every call with `None`) with `code` itself.
    pub fn inject(&self, code: Code, times: Option<u32>) {
        self.lock().inject = Some((code, times));
    }

    /// Forwards every call again.
    pub fn pass_through(&self) {
        self.lock().inject = None;
    }

    /// Attempts of `method` (e.g. `GetAccount`) since the last reset.
    pub fn attempts(&self, method: &str) -> u32 {
        self.lock().attempts.get(method).copied().unwrap_or(0)
    }

    pub fn reset(&self) {
        self.lock().attempts.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Service<http::Request<Body>> for AccountsProxy {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let method = request
            .uri()
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let injected = {
            let mut state = self.lock();
            *state.attempts.entry(method).or_default() += 1;
            match &mut state.inject {
                Some((code, None)) => Some(*code),
                Some((code, Some(remaining))) if *remaining > 0 => {
                    *remaining -= 1;
                    Some(*code)
                }
                _ => None,
            }
        };
        let mut upstream = self.upstream.clone();
        Box::pin(async move {
            if let Some(code) = injected {
                return Ok(Status::new(code, "injected by the test proxy").into_http());
            }
            let ready = tower::ServiceExt::ready(&mut upstream).await;
            match ready {
                Ok(upstream) => match upstream.call(request).await {
                    Ok(response) => Ok(response),
                    Err(error) => Ok(Status::unavailable(format!("proxy: {error}")).into_http()),
                },
                Err(error) => Ok(Status::unavailable(format!("proxy: {error}")).into_http()),
            }
        })
    }
}
