//! Write limits (SPEC §4): token buckets per client IP and per account on
//! submissions and uploads, and a per-account upload quota. Over a limit the
//! API answers 429 with `Retry-After`, which the SDK honours.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use swarm_protocol::Address;

use crate::api::ApiError;

/// A token bucket: `per_second` tokens refill each second, up to `burst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Sustained rate.
    pub per_second: NonZeroU32,
    /// Largest burst.
    pub burst: NonZeroU32,
}

impl Rate {
    /// `per_second` sustained with bursts of `burst`; `None` if either is zero.
    pub fn new(per_second: u32, burst: u32) -> Option<Rate> {
        Some(Rate {
            per_second: NonZeroU32::new(per_second)?,
            burst: NonZeroU32::new(burst)?,
        })
    }

    fn quota(self) -> Quota {
        Quota::per_second(self.per_second).allow_burst(self.burst)
    }
}

/// The write limits of a node; `None` disables a limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteLimits {
    /// Transactions per client IP.
    pub transactions_per_ip: Option<Rate>,
    /// Transactions per sending account.
    pub transactions_per_account: Option<Rate>,
    /// Upload requests per client IP.
    pub uploads_per_ip: Option<Rate>,
    /// Bytes one account may upload per hour.
    pub upload_bytes_per_account_hour: Option<u64>,
}

impl Default for WriteLimits {
    /// Generous enough for a busy marketplace of honest engines (thousands
    /// of transactions a second), tight enough to stop one client from
    /// starving the rest.
    fn default() -> Self {
        WriteLimits {
            transactions_per_ip: Rate::new(20_000, 40_000),
            transactions_per_account: Rate::new(5_000, 10_000),
            uploads_per_ip: Rate::new(200, 400),
            upload_bytes_per_account_hour: Some(8 * 1024 * 1024 * 1024),
        }
    }
}

impl WriteLimits {
    /// No limit at all.
    pub fn unlimited() -> Self {
        WriteLimits {
            transactions_per_ip: None,
            transactions_per_account: None,
            uploads_per_ip: None,
            upload_bytes_per_account_hour: None,
        }
    }
}

/// Enforces [`WriteLimits`].
#[derive(Debug)]
pub(crate) struct Limiter {
    tx_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    tx_account: Option<DefaultKeyedRateLimiter<Address>>,
    upload_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    upload_quota: Option<u64>,
    uploaded: Mutex<HashMap<Address, (Instant, u64)>>,
}

const QUOTA_WINDOW: Duration = Duration::from_secs(3600);

fn too_many(what: String, wait: Duration) -> ApiError {
    ApiError::TooManyRequests {
        message: what,
        retry_after: wait,
    }
}

impl Limiter {
    pub(crate) fn new(limits: &WriteLimits) -> Self {
        Limiter {
            tx_ip: limits
                .transactions_per_ip
                .map(|r| RateLimiter::keyed(r.quota())),
            tx_account: limits
                .transactions_per_account
                .map(|r| RateLimiter::keyed(r.quota())),
            upload_ip: limits.uploads_per_ip.map(|r| RateLimiter::keyed(r.quota())),
            upload_quota: limits.upload_bytes_per_account_hour,
            uploaded: Mutex::new(HashMap::new()),
        }
    }

    fn take<K: std::hash::Hash + Eq + Clone>(
        limiter: &Option<DefaultKeyedRateLimiter<K>>,
        key: &K,
        n: u32,
        what: impl FnOnce() -> String,
    ) -> Result<(), ApiError> {
        let Some(limiter) = limiter else {
            return Ok(());
        };
        let Some(n) = NonZeroU32::new(n) else {
            return Ok(());
        };
        match limiter.check_key_n(key, n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(too_many(
                what(),
                not_until.wait_time_from(DefaultClock::default().now()),
            )),
            // More than the whole burst in one request.
            Err(_) => Err(too_many(what(), Duration::from_secs(1))),
        }
    }

    /// `n` transactions from `ip`.
    pub(crate) fn transactions_from_ip(
        &self,
        ip: Option<IpAddr>,
        n: usize,
    ) -> Result<(), ApiError> {
        let Some(ip) = ip else { return Ok(()) };
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        Self::take(&self.tx_ip, &ip, n, || {
            format!("too many transactions from {ip}; slow down")
        })
    }

    /// One transaction from `account`.
    pub(crate) fn transaction_from(&self, account: &Address) -> Result<(), ApiError> {
        Self::take(&self.tx_account, account, 1, || {
            format!("too many transactions from {account}; slow down")
        })
    }

    /// One upload request from `ip`.
    pub(crate) fn upload_from_ip(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        let Some(ip) = ip else { return Ok(()) };
        Self::take(&self.upload_ip, &ip, 1, || {
            format!("too many uploads from {ip}; slow down")
        })
    }

    /// Charges `bytes` to `account`'s hourly upload quota.
    pub(crate) fn charge_upload(&self, account: &Address, bytes: u64) -> Result<(), ApiError> {
        let Some(quota) = self.upload_quota else {
            return Ok(());
        };
        let mut uploaded = self.uploaded.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let entry = uploaded.entry(*account).or_insert((now, 0));
        if now.duration_since(entry.0) >= QUOTA_WINDOW {
            *entry = (now, 0);
        }
        if entry.1.saturating_add(bytes) > quota {
            let wait = QUOTA_WINDOW.saturating_sub(now.duration_since(entry.0));
            return Err(too_many(
                format!(
                    "{account} has used {} of its {quota} bytes of uploads this hour; this upload needs {bytes}",
                    entry.1
                ),
                wait,
            ));
        }
        entry.1 += bytes;
        Ok(())
    }

    /// Forgets idle keys so the buckets do not grow without bound.
    pub(crate) fn prune(&self) {
        if let Some(l) = &self.tx_ip {
            l.retain_recent();
        }
        if let Some(l) = &self.tx_account {
            l.retain_recent();
        }
        if let Some(l) = &self.upload_ip {
            l.retain_recent();
        }
        let now = Instant::now();
        self.uploaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, (start, _)| now.duration_since(*start) < QUOTA_WINDOW);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refuses_with_a_wait() {
        let limiter = Limiter::new(&WriteLimits {
            transactions_per_account: Rate::new(1, 3),
            ..WriteLimits::unlimited()
        });
        let a = Address([1; 20]);
        for _ in 0..3 {
            limiter.transaction_from(&a).unwrap();
        }
        match limiter.transaction_from(&a) {
            Err(ApiError::TooManyRequests { retry_after, .. }) => {
                assert!(retry_after <= Duration::from_secs(1))
            }
            other => panic!("{other:?}"),
        }
        // Another account has its own bucket.
        limiter.transaction_from(&Address([2; 20])).unwrap();
    }

    #[test]
    fn upload_quota_per_account() {
        let limiter = Limiter::new(&WriteLimits {
            upload_bytes_per_account_hour: Some(100),
            ..WriteLimits::unlimited()
        });
        let a = Address([1; 20]);
        limiter.charge_upload(&a, 60).unwrap();
        let err = limiter.charge_upload(&a, 41).unwrap_err().to_string();
        assert!(err.contains("has used 60 of its 100 bytes"), "{err}");
        limiter.charge_upload(&a, 40).unwrap();
    }
}
