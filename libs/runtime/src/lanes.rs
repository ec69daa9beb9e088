//! Two lanes of threads in a server process. The listener's lane reads HTTP/2, checks
//! tokens and sheds the excess; the work lane runs the admitted handlers, at a lower CPU
//! priority. Without the split, a refused caller's request waits behind every admitted
//! handler for a turn on the same threads before it is even decoded, so under overload
//! refusals arrive as late as answers do; with it, the OS runs the listener's few cycles
//! first and the shedding answers at once.

use std::{
    future::Future,
    pin::Pin,
    sync::OnceLock,
    task::{Context, Poll},
};

use tonic::body::Body;
use tower::{BoxError, Layer, Service};
use tracing::Instrument;

use crate::guard::{current_caller, with_caller};

/// How much less CPU priority the work lane's threads have than the listener's (nice
/// steps: at +5 the listener's threads get about three times the share of a busy core).
const WORK_NICENESS: i32 = 5;

/// The process's work lane: one worker per core, started on first use and kept for the
/// life of the process (in-process tests share it, as their servers come and go).
pub fn work_lane() -> &'static tokio::runtime::Runtime {
    static LANE: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    LANE.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("nordstern-work")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()
            .unwrap_or_else(|error| panic!("cannot start the work lane's threads: {error}"))
    })
}

/// Linux keeps a nice value per thread: this lowers only the calling thread's. Where the
/// OS refuses, the lane runs at the listener's priority, which is correct, only slower to
/// shed under overload.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        if let Ok(current) = getpriority_process(None) {
            let _ = setpriority_process(None, (current + WORK_NICENESS).min(19));
        }
    }
}

/// Runs each admitted request's handler on the work lane. The caller's identity and the
/// request's span go with it; when the listener drops the request (deadline, cancelled
/// stream), the handler is aborted, so a stalled backend sees the cancellation.
#[derive(Clone, Copy, Default)]
pub struct WorkLaneLayer;

impl<S> Layer<S> for WorkLaneLayer {
    type Service = OnWorkLane<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OnWorkLane { inner }
    }
}

#[derive(Clone)]
pub struct OnWorkLane<S> {
    inner: S,
}

type Answer = Result<http::Response<Body>, BoxError>;

impl<S, B> Service<http::Request<B>> for OnWorkLane<S>
where
    S: Service<http::Request<B>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Answer> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let handler = self.inner.call(request);
        Box::pin(async move {
            // Read at the first poll, in the request's task: tonic enters the request span
            // around polls, and the token check sets the caller around them too.
            let (caller, span) = (current_caller(), tracing::Span::current());
            let handler = with_caller(caller, handler).instrument(span);
            let task = AbortOnDrop(work_lane().spawn(handler));
            match task.await {
                Ok(answer) => answer.map_err(Into::into),
                Err(error) => {
                    tracing::error!(%error, "a handler panicked");
                    Ok(tonic::Status::internal("the handler failed").into_http())
                }
            }
        })
    }
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
