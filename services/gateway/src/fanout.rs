//! Calling several backends under one caller's deadline: every call gets what is left of
//! it (so the backend stops when the caller would no longer wait), and a call that fails
//! or runs out of time leaves its section empty and named instead of failing the view.

use std::{future::Future, time::Duration};

use nordstern_proto::gateway::v1::Section;
use nordstern_runtime::{
    client::outgoing,
    server::{Arrival, caller_timeout},
};
use tokio::time::Instant;
use tonic::{Request, Status};

/// Most of a budget kept back for assembling and sending the answer.
const MAX_RESERVE: Duration = Duration::from_millis(150);

/// The time the backends of one view may take.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    deadline: Instant,
}

impl Budget {
    /// The caller's `grpc-timeout`, capped at `ceiling` (the configured fan-out timeout,
    /// which also applies when the caller sent none), less a reserve of a fifth (at most
    /// 150 ms) for building and sending the answer in time. The time counts from when
    /// the request reached the server ([`Arrival`], set by the server's outermost layer),
    /// so a request that waited for a busy CPU before its handler ran does not get its
    /// whole deadline again; without it (in-process calls), from now.
    pub fn for_request<T>(request: &Request<T>, ceiling: Duration) -> Budget {
        let (arrived, asked) = match request.extensions().get::<Arrival>() {
            Some(arrival) => (
                arrival.at,
                arrival.deadline.saturating_duration_since(arrival.at),
            ),
            None => (
                Instant::now(),
                caller_timeout(request.metadata()).unwrap_or(ceiling),
            ),
        };
        let asked = asked.min(ceiling);
        let reserve = (asked / 5).min(MAX_RESERVE);
        Budget {
            deadline: arrived + (asked - reserve),
        }
    }

    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// A backend request carrying the remaining time as its deadline.
    pub fn request<T>(&self, message: T) -> Request<T> {
        outgoing(message, Some(self.remaining()))
    }

    /// Runs `call` until the deadline; past it the call is dropped (which cancels the
    /// backend request) and DEADLINE_EXCEEDED is returned.
    pub async fn run<T>(&self, call: impl Future<Output = Result<T, Status>>) -> Result<T, Status> {
        tokio::time::timeout_at(self.deadline, call)
            .await
            .unwrap_or_else(|_| {
                Err(Status::deadline_exceeded(
                    "the backend missed the view's deadline",
                ))
            })
    }
}

/// The sections a view could not fill, in the order they were found missing.
#[derive(Debug, Default)]
pub struct Missing(Vec<Section>);

impl Missing {
    /// The value of a section's call, or `None` with the section recorded as missing.
    pub fn take<T>(&mut self, section: Section, result: Result<T, Status>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(status) => {
                tracing::warn!(
                    section = section.as_str_name(),
                    code = ?status.code(),
                    message = status.message(),
                    "section left out of the view"
                );
                self.mark(section);
                None
            }
        }
    }

    pub fn mark(&mut self, section: Section) {
        if !self.0.contains(&section) {
            self.0.push(section);
        }
    }

    /// Wire values, sorted, for the response.
    pub fn into_wire(mut self) -> Vec<i32> {
        self.0.sort_by_key(|section| *section as i32);
        self.0.into_iter().map(|section| section as i32).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asking(timeout: &str) -> Request<()> {
        let mut request = Request::new(());
        request.metadata_mut().insert(
            "grpc-timeout",
            timeout.parse().unwrap_or_else(|_| unreachable!()),
        );
        request
    }

    #[tokio::test]
    async fn the_budget_is_the_shorter_of_caller_and_ceiling_less_a_reserve() {
        let budget = Budget::for_request(&asking("200m"), Duration::from_secs(2));
        let left = budget.remaining();
        assert!(
            left <= Duration::from_millis(160) && left > Duration::from_millis(130),
            "{left:?}"
        );

        let budget = Budget::for_request(&Request::new(()), Duration::from_secs(2));
        let left = budget.remaining();
        assert!(
            left <= Duration::from_millis(1850) && left > Duration::from_millis(1800),
            "{left:?}"
        );
    }

    #[tokio::test]
    async fn time_queued_before_the_handler_counts_against_the_budget() {
        let mut request = asking("500m");
        let arrived = Instant::now() - Duration::from_millis(300);
        request.extensions_mut().insert(Arrival {
            at: arrived,
            deadline: arrived + Duration::from_millis(500),
        });
        let left = Budget::for_request(&request, Duration::from_secs(2)).remaining();
        // 500 ms from arrival, less 100 ms of reserve, less the 300 ms already gone.
        assert!(
            left <= Duration::from_millis(100) && left > Duration::from_millis(70),
            "{left:?}"
        );
    }

    #[tokio::test]
    async fn a_call_past_the_deadline_is_dropped_and_named_missing() {
        let budget = Budget::for_request(&asking("30m"), Duration::from_secs(2));
        let started = Instant::now();
        let result: Result<(), Status> = budget
            .run(async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(())
            })
            .await;
        assert!(started.elapsed() < Duration::from_millis(500));
        let mut missing = Missing::default();
        assert_eq!(missing.take(Section::Health, result), None);
        missing.take(Section::Account, Ok::<_, Status>(()));
        missing.mark(Section::Alerts);
        missing.mark(Section::Health);
        assert_eq!(
            missing.into_wire(),
            vec![Section::Health as i32, Section::Alerts as i32]
        );
    }
}
