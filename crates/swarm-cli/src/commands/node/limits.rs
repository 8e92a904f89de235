//! `swarm node`'s flags for what one client may take (docs/SECURITY.md
//! lists each with what the node does at the limit). A flag left out keeps
//! the default of `swarm_node::Limits` or `ArtifactLimits`, so the defaults
//! live in one place.

use std::str::FromStr;
use std::time::Duration;

use clap::Args;
use swarm_node::{ArtifactLimits, Limits, Rate};

/// A rate flag: `PER_SECOND[:BURST]` (burst defaults to twice the rate), or `off`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RateArg(Option<Rate>);

impl FromStr for RateArg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text == "off" {
            return Ok(RateArg(None));
        }
        let (rate, burst) = match text.split_once(':') {
            Some((rate, burst)) => (rate, Some(burst)),
            None => (text, None),
        };
        let number = |s: &str| {
            s.parse::<u32>().map_err(|_| {
                format!("{s:?} is not a whole number; write PER_SECOND[:BURST] or off")
            })
        };
        let rate = number(rate)?;
        let burst = match burst {
            Some(b) => number(b)?,
            None => rate.saturating_mul(2),
        };
        Rate::new(rate, burst)
            .map(|r| RateArg(Some(r)))
            .ok_or_else(|| format!("{text:?}: a rate and its burst must be above 0 (or write off)"))
    }
}

/// Seconds, fractions allowed, above zero.
fn seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{text:?} is not a number of seconds above 0"))
}

#[derive(Args, Debug, Default)]
#[command(next_help_heading = "Limits per client (docs/SECURITY.md)")]
pub(crate) struct LimitArgs {
    /// Requests of any kind per client IP [default: 20000:40000].
    #[arg(long, env = "SWARM_REQUESTS_PER_IP", value_name = "RATE[:BURST]|off")]
    requests_per_ip: Option<RateArg>,
    /// Signed transactions per client IP [default: 20000:40000].
    #[arg(
        long,
        env = "SWARM_TRANSACTIONS_PER_IP",
        value_name = "RATE[:BURST]|off"
    )]
    transactions_per_ip: Option<RateArg>,
    /// Signed transactions per sending account [default: 5000:10000].
    #[arg(
        long,
        env = "SWARM_TRANSACTIONS_PER_ACCOUNT",
        value_name = "RATE[:BURST]|off"
    )]
    transactions_per_account: Option<RateArg>,
    /// Transactions failing to decode or verify per client IP, after which
    /// it is refused before any signature check [default: 1000:2000].
    #[arg(
        long,
        env = "SWARM_INVALID_TRANSACTIONS_PER_IP",
        value_name = "RATE[:BURST]|off"
    )]
    invalid_transactions_per_ip: Option<RateArg>,
    /// Upload requests per client IP [default: 200:400].
    #[arg(long, env = "SWARM_UPLOADS_PER_IP", value_name = "RATE[:BURST]|off")]
    uploads_per_ip: Option<RateArg>,
    /// Bytes one account may upload per hour, or 0 for no quota [default: 8 GiB].
    #[arg(long, env = "SWARM_UPLOAD_QUOTA_BYTES", value_name = "BYTES")]
    upload_quota_bytes: Option<u64>,
    /// Bytes all uploads in progress may stage at once [default: 2 GiB].
    #[arg(long, env = "SWARM_MAX_STAGED_BYTES", value_name = "BYTES")]
    max_staged_bytes: Option<u64>,
    /// Open TCP connections in all, lowered to fit the file-descriptor limit
    /// [default: 16384].
    #[arg(long, env = "SWARM_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Open TCP connections per client IP [default: 1024].
    #[arg(long, env = "SWARM_MAX_CONNECTIONS_PER_IP")]
    max_connections_per_ip: Option<usize>,
    /// Open event streams in all [default: 4096].
    #[arg(long, env = "SWARM_MAX_SUBSCRIPTIONS")]
    max_subscriptions: Option<usize>,
    /// Open event streams per client IP [default: 256].
    #[arg(long, env = "SWARM_MAX_SUBSCRIPTIONS_PER_IP")]
    max_subscriptions_per_ip: Option<usize>,
    /// Seconds a client has to send a request's headers; also how long an
    /// idle keep-alive connection stays open [default: 10].
    #[arg(long, env = "SWARM_HEADER_READ_TIMEOUT", value_name = "SECONDS", value_parser = seconds)]
    header_read_timeout: Option<Duration>,
    /// Longest pause, in seconds, between two pieces of a request body [default: 30].
    #[arg(long, env = "SWARM_BODY_READ_TIMEOUT", value_name = "SECONDS", value_parser = seconds)]
    body_read_timeout: Option<Duration>,
    /// Seconds an event stream waits for its client to take one message
    /// before disconnecting it [default: 30].
    #[arg(long, env = "SWARM_EVENT_SEND_TIMEOUT", value_name = "SECONDS", value_parser = seconds)]
    event_send_timeout: Option<Duration>,
    /// Refuse new bounties (503 overloaded, with Retry-After) while the
    /// transactions waiting to be applied, with the reveals and votes
    /// posted bounties owe in the coming blocks, would take longer than
    /// this many block times (or, with the last block's overrun, one
    /// more); 0 never refuses them [default: 1].
    #[arg(long, env = "SWARM_NEW_BOUNTY_WAIT_BLOCKS", value_name = "BLOCKS")]
    new_bounty_wait_blocks: Option<u32>,
    /// Refuse every submission (503 overloaded) while this many transactions
    /// wait to be applied [default: 50000].
    #[arg(long, env = "SWARM_MAX_WAITING_TRANSACTIONS", value_name = "COUNT",
          value_parser = clap::value_parser!(u64).range(1..))]
    max_waiting_transactions: Option<u64>,
}

impl LimitArgs {
    /// Applies the flags given over the defaults.
    pub(crate) fn apply(&self, limits: &mut Limits, artifacts: &mut ArtifactLimits) {
        let rates = [
            (self.requests_per_ip, &mut limits.requests_per_ip),
            (self.transactions_per_ip, &mut limits.transactions_per_ip),
            (
                self.transactions_per_account,
                &mut limits.transactions_per_account,
            ),
            (
                self.invalid_transactions_per_ip,
                &mut limits.invalid_transactions_per_ip,
            ),
            (self.uploads_per_ip, &mut limits.uploads_per_ip),
        ];
        for (flag, rate) in rates {
            if let Some(RateArg(value)) = flag {
                *rate = value;
            }
        }
        if let Some(bytes) = self.upload_quota_bytes {
            limits.upload_bytes_per_account_hour = (bytes > 0).then_some(bytes);
        }
        if let Some(bytes) = self.max_staged_bytes {
            artifacts.max_staged = bytes;
        }
        let counts = [
            (self.max_connections, &mut limits.max_connections),
            (
                self.max_connections_per_ip,
                &mut limits.max_connections_per_ip,
            ),
            (self.max_subscriptions, &mut limits.max_subscriptions),
            (
                self.max_subscriptions_per_ip,
                &mut limits.max_subscriptions_per_ip,
            ),
        ];
        for (flag, count) in counts {
            if let Some(n) = flag {
                *count = n;
            }
        }
        let timeouts = [
            (self.header_read_timeout, &mut limits.header_read_timeout),
            (self.body_read_timeout, &mut limits.body_read_timeout),
            (self.event_send_timeout, &mut limits.event_send_timeout),
        ];
        for (flag, timeout) in timeouts {
            if let Some(t) = flag {
                *timeout = t;
            }
        }
        if let Some(blocks) = self.new_bounty_wait_blocks {
            limits.admission.new_bounty_wait_blocks = (blocks > 0).then_some(blocks);
        }
        if let Some(count) = self.max_waiting_transactions {
            limits.admission.max_waiting_transactions =
                usize::try_from(count).unwrap_or(usize::MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_and_without_burst() {
        let rate = |s: &str| s.parse::<RateArg>().map(|r| r.0);
        assert_eq!(rate("10").unwrap(), Rate::new(10, 20));
        assert_eq!(rate("10:15").unwrap(), Rate::new(10, 15));
        assert_eq!(rate("off").unwrap(), None);
        assert!(rate("0").unwrap_err().contains("above 0"));
        assert!(rate("ten").unwrap_err().contains("not a whole number"));
        assert!(seconds("0").is_err());
        assert_eq!(seconds("1.5").unwrap(), Duration::from_millis(1500));
    }

    #[test]
    fn admission_flags_set_the_wait_and_the_cap_and_zero_turns_the_wait_off() {
        let mut limits = Limits::default();
        let mut artifacts = ArtifactLimits::default();
        LimitArgs::default().apply(&mut limits, &mut artifacts);
        assert_eq!(limits.admission.new_bounty_wait_blocks, Some(1));
        let args = LimitArgs {
            new_bounty_wait_blocks: Some(0),
            max_waiting_transactions: Some(10),
            ..LimitArgs::default()
        };
        args.apply(&mut limits, &mut artifacts);
        assert_eq!(limits.admission.new_bounty_wait_blocks, None);
        assert_eq!(limits.admission.max_waiting_transactions, 10);
    }
}
