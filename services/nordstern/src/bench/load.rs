//! A closed-loop load generator: `concurrency` tasks spread over `connections` HTTP/2
//! connections, each sending its next request as soon as the last one answered.

use std::{future::Future, time::Duration};

use hdrhistogram::Histogram;
use tokio::time::Instant;
use tonic::{Status, transport::Channel};

#[derive(clap::Args, Clone, Debug)]
pub struct LoadArgs {
    /// HTTP/2 connections the requests are spread over.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Requests in flight at any time.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Seconds each measurement runs (after one second of warm-up).
    #[arg(long, default_value_t = 5)]
    pub duration_secs: u64,
}

#[derive(Debug, Clone)]
pub struct LoadReport {
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub histogram: Histogram<u64>,
}

impl LoadReport {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    pub fn p50_micros(&self) -> u64 {
        self.histogram.value_at_quantile(0.50)
    }

    pub fn p99_micros(&self) -> u64 {
        self.histogram.value_at_quantile(0.99)
    }

    pub fn line(&self, name: &str) -> String {
        format!(
            "{name:<28} {:>10.0} rps   p50 {:>6} µs   p99 {:>6} µs   errors {}",
            self.rps(),
            self.p50_micros(),
            self.p99_micros(),
            self.errors
        )
    }
}

/// The id request `n` asks for: a stride of 7919 (a prime) through `ids`, so consecutive
/// requests hit different rows and cache entries, and every id comes up before any
/// repeats unless the count is a multiple of 7919.
pub fn account_for(ids: &[String], n: u64) -> String {
    ids[(n as usize).wrapping_mul(7919) % ids.len()].clone()
}

pub async fn connect_channels(url: &str, connections: usize) -> anyhow::Result<Vec<Channel>> {
    let mut channels = Vec::with_capacity(connections);
    for _ in 0..connections.max(1) {
        let channel = tonic::transport::Endpoint::from_shared(url.to_owned())?
            .tcp_nodelay(true)
            .connect()
            .await?;
        channels.push(channel);
    }
    Ok(channels)
}

/// Runs `call` in a closed loop for `duration` (after a warm-up of one second that is not
/// recorded). `call` gets a channel and a running request number.
pub async fn run_load<C, F, Fut>(
    channels: &[C],
    concurrency: usize,
    duration: Duration,
    call: F,
) -> anyhow::Result<LoadReport>
where
    C: Clone + Send + 'static,
    F: Fn(C, u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), Status>> + Send,
{
    let warmup_end = Instant::now() + Duration::from_secs(1);
    let end = warmup_end + duration;
    let mut tasks = Vec::with_capacity(concurrency);
    for task in 0..concurrency.max(1) {
        let channel = channels[task % channels.len()].clone();
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let (mut requests, mut errors) = (0u64, 0u64);
            let mut n = task as u64;
            loop {
                let started = Instant::now();
                if started >= end {
                    break;
                }
                let result = call(channel.clone(), n).await;
                n += concurrency as u64;
                if started < warmup_end {
                    continue;
                }
                match result {
                    Ok(()) => {
                        requests += 1;
                        histogram.saturating_record(started.elapsed().as_micros() as u64);
                    }
                    Err(_) => errors += 1,
                }
            }
            anyhow::Ok((histogram, requests, errors))
        }));
    }
    let mut report = LoadReport {
        requests: 0,
        errors: 0,
        elapsed: duration,
        histogram: Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?,
    };
    for task in tasks {
        let (histogram, requests, errors) = task.await??;
        report.histogram.add(histogram)?;
        report.requests += requests;
        report.errors += errors;
    }
    Ok(report)
}
