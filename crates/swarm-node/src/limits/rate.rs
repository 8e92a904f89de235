//! Rate limits (SPEC §4): token buckets per client IP on requests, per IP
//! and per account on transactions and uploads, and a per-account upload
//! quota. Over a limit the API answers 429 with `Retry-After`, which the SDK
//! honours.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use swarm_protocol::Address;

use super::Limits;
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

/// Enforces the rates and the quota of [`Limits`].
#[derive(Debug)]
pub(crate) struct Limiter {
    requests_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    invalid_ip: Option<Budget>,
    tx_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    tx_account: Option<DefaultKeyedRateLimiter<Address>>,
    upload_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    upload_quota: Option<u64>,
    uploaded: Mutex<HashMap<Address, (Instant, u64)>>,
}

const QUOTA_WINDOW: Duration = Duration::from_secs(3600);

fn over_quota(account: &Address, used: u64, quota: u64, bytes: u64, wait: Duration) -> ApiError {
    too_many(
        format!(
            "{account} has used {used} of its {quota} bytes of uploads this hour; this upload needs {bytes} more"
        ),
        wait,
    )
}

fn too_many(what: String, wait: Duration) -> ApiError {
    ApiError::TooManyRequests {
        message: what,
        retry_after: wait,
    }
}

impl Limiter {
    pub(crate) fn new(limits: &Limits) -> Self {
        let keyed = |rate: Option<Rate>| rate.map(|r| RateLimiter::keyed(r.quota()));
        Limiter {
            requests_ip: keyed(limits.requests_per_ip),
            invalid_ip: limits.invalid_transactions_per_ip.map(Budget::new),
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

    /// One request from `ip`.
    pub(crate) fn request_from_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        Self::take(&self.requests_ip, &ip, 1, || {
            format!("too many requests from {ip}; slow down")
        })
    }

    /// Whether `ip` may still submit transactions that fail to verify:
    /// checked before any signature is recovered, spending nothing.
    pub(crate) fn check_invalid_from_ip(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        let (Some(ip), Some(budget)) = (ip, &self.invalid_ip) else {
            return Ok(());
        };
        budget.check(ip).map_err(|wait| {
            too_many(
                format!(
                    "too many transactions from {ip} failed to decode or verify; fix them before sending more"
                ),
                wait,
            )
        })
    }

    /// `n` transactions from `ip` failed to decode or verify.
    pub(crate) fn invalid_from_ip(&self, ip: Option<IpAddr>, n: usize) {
        if let (Some(ip), Some(budget)) = (ip, &self.invalid_ip) {
            budget.spend(ip, n);
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

    /// Checks that `account` has `bytes` left of its hourly upload quota,
    /// charging nothing.
    pub(crate) fn check_upload_quota(&self, account: &Address, bytes: u64) -> Result<(), ApiError> {
        let Some(quota) = self.upload_quota else {
            return Ok(());
        };
        let uploaded = self.uploaded.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let (start, used) = match uploaded.get(account) {
            Some(&(start, used)) if now.duration_since(start) < QUOTA_WINDOW => (start, used),
            _ => {
                return if bytes > quota {
                    Err(over_quota(account, 0, quota, bytes, QUOTA_WINDOW))
                } else {
                    Ok(())
                }
            }
        };
        if used.saturating_add(bytes) > quota {
            let wait = QUOTA_WINDOW.saturating_sub(now.duration_since(start));
            return Err(over_quota(account, used, quota, bytes, wait));
        }
        Ok(())
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
            return Err(over_quota(account, entry.1, quota, bytes, wait));
        }
        entry.1 += bytes;
        Ok(())
    }

    /// Forgets idle keys so the buckets do not grow without bound.
    pub(crate) fn prune(&self) {
        if let Some(b) = &self.invalid_ip {
            b.prune();
        }
        for l in [&self.requests_ip, &self.tx_ip].into_iter().flatten() {
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

/// A token bucket that is checked first and charged afterwards, for what
/// is only known to be chargeable once it was done (a transaction that
/// turns out not to verify). A charge may run the bucket into debt, which
/// the refill pays off before the next check passes.
#[derive(Debug)]
struct Budget {
    rate: Rate,
    tokens: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl Budget {
    fn new(rate: Rate) -> Self {
        Budget {
            rate,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// Tokens of `ip` now, after the refill since its last change.
    fn refill(&self, entry: &mut (f64, Instant), now: Instant) {
        let per_second = f64::from(self.rate.per_second.get());
        let elapsed = now.saturating_duration_since(entry.1).as_secs_f64();
        entry.0 = (entry.0 + elapsed * per_second).min(f64::from(self.rate.burst.get()));
        entry.1 = now;
    }

    fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = tokens.get_mut(&ip) else {
            return Ok(());
        };
        self.refill(entry, Instant::now());
        if entry.0 >= 1.0 {
            return Ok(());
        }
        let missing = 1.0 - entry.0;
        Err(Duration::from_secs_f64(
            missing / f64::from(self.rate.per_second.get()),
        ))
    }

    fn spend(&self, ip: IpAddr, n: usize) {
        let now = Instant::now();
        let burst = f64::from(self.rate.burst.get());
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let entry = tokens.entry(ip).or_insert((burst, now));
        self.refill(entry, now);
        // At most one burst of debt: a client that stops is forgiven in time.
        entry.0 = (entry.0 - n as f64).max(-burst);
    }

    /// Forgets IPs whose bucket is full again.
    fn prune(&self) {
        let now = Instant::now();
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.retain(|_, entry| {
            self.refill(entry, now);
            entry.0 < f64::from(self.rate.burst.get())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refuses_with_a_wait() {
        let limiter = Limiter::new(&Limits {
            transactions_per_account: Rate::new(1, 3),
            ..Limits::unlimited()
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
    fn invalid_transactions_are_charged_after_the_fact() {
        let limiter = Limiter::new(&Limits {
            invalid_transactions_per_ip: Rate::new(1, 5),
            ..Limits::unlimited()
        });
        let ip = Some(IpAddr::from([10, 0, 0, 1]));
        // Checking spends nothing.
        for _ in 0..100 {
            limiter.check_invalid_from_ip(ip).unwrap();
        }
        limiter.invalid_from_ip(ip, 5);
        match limiter.check_invalid_from_ip(ip) {
            Err(ApiError::TooManyRequests { retry_after, .. }) => {
                assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(1))
            }
            other => panic!("{other:?}"),
        }
        // Another IP is not affected.
        limiter
            .check_invalid_from_ip(Some(IpAddr::from([10, 0, 0, 2])))
            .unwrap();
    }

    #[test]
    fn upload_quota_per_account() {
        let limiter = Limiter::new(&Limits {
            upload_bytes_per_account_hour: Some(100),
            ..Limits::unlimited()
        });
        let a = Address([1; 20]);
        limiter.charge_upload(&a, 60).unwrap();
        let err = limiter.charge_upload(&a, 41).unwrap_err().to_string();
        assert!(err.contains("has used 60 of its 100 bytes"), "{err}");
        limiter.charge_upload(&a, 40).unwrap();
    }
}
