//! `--metrics-listen` and `--health-threshold-secs`, shared by every
//! participant command (`swarm engine run`, `swarm arbiter run`, `swarm
//! ambassador run`, `swarm worker`): where the SDK's health and metrics
//! server listens, and how long the node (or a worker's Redis) may stay
//! silent before `/healthz` says so.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

/// The health and metrics server's flags.
#[derive(Args, Clone, Debug)]
pub(crate) struct Observe {
    /// Serve GET /healthz, /readyz and /metrics (Prometheus text) on this
    /// address while the participant runs.
    #[arg(long, env = "SWARM_METRICS_LISTEN", value_name = "ADDR")]
    pub(crate) metrics_listen: Option<SocketAddr>,
    /// Seconds without an answer from the node or an event (for a worker:
    /// an answer from Redis) before /healthz answers 503.
    #[arg(
        long,
        env = "SWARM_HEALTH_THRESHOLD_SECS",
        value_name = "SECS",
        default_value_t = 10
    )]
    pub(crate) health_threshold_secs: u64,
}

impl Observe {
    /// The health threshold.
    pub(crate) fn threshold(&self) -> Duration {
        Duration::from_secs(self.health_threshold_secs.max(1))
    }
}
