//! Caps on what stays open: TCP connections and event streams, in all and
//! per client IP.
//!
//! Each open thing holds a [`Slot`]; dropping it gives the place back, so a
//! connection that ends in any way (closed, reset, timed out, the task
//! cancelled) frees its slot. Without the caps, 20,000 idle connections
//! exhausted the node's file descriptors and every other client timed out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Why a slot was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The client's IP holds its share.
    PerIp {
        /// The per-IP cap.
        max: usize,
    },
    /// The node holds all it may.
    Total {
        /// The total cap.
        max: usize,
    },
}

/// Counts open things in all and per IP, up to two caps.
#[derive(Debug)]
pub(crate) struct Budget {
    max_total: usize,
    max_per_ip: usize,
    open: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

impl Budget {
    pub(crate) fn new(max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(Budget {
            max_total,
            max_per_ip,
            open: Mutex::new(Counts::default()),
        })
    }

    /// Takes a place for `ip`, or says which cap is reached.
    pub(crate) fn acquire(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refused> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.total >= self.max_total {
            return Err(Refused::Total {
                max: self.max_total,
            });
        }
        let mine = open.per_ip.entry(ip).or_insert(0);
        if *mine >= self.max_per_ip {
            return Err(Refused::PerIp {
                max: self.max_per_ip,
            });
        }
        *mine += 1;
        open.total += 1;
        Ok(Slot {
            budget: self.clone(),
            ip,
        })
    }

    /// Places taken in all.
    pub(crate) fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).total
    }

    fn release(&self, ip: IpAddr) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(mine) = open.per_ip.get_mut(&ip) {
            *mine = mine.saturating_sub(1);
            if *mine == 0 {
                open.per_ip.remove(&ip);
            }
        }
    }
}

/// One place in a [`Budget`], given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    budget: Arc<Budget>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.budget.release(self.ip);
    }
}

/// The highest number of open files this process may have, raised to the
/// hard limit first when the soft one is lower (as servers commonly do).
pub(crate) fn raise_fd_limit() -> usize {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            limit = raised;
        }
    }
    // No soft limit means "unlimited": the caps alone bound connections.
    limit
        .current
        .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_ip_and_in_all_and_frees_on_drop() {
        let budget = Budget::new(3, 2);
        let a = IpAddr::from([10, 0, 0, 1]);
        let b = IpAddr::from([10, 0, 0, 2]);
        let a1 = budget.acquire(a).unwrap();
        let _a2 = budget.acquire(a).unwrap();
        assert_eq!(budget.acquire(a).unwrap_err(), Refused::PerIp { max: 2 });
        let _b1 = budget.acquire(b).unwrap();
        assert_eq!(budget.acquire(b).unwrap_err(), Refused::Total { max: 3 });
        drop(a1);
        assert_eq!(budget.open(), 2);
        let _b2 = budget.acquire(b).unwrap();
        assert_eq!(budget.open(), 3);
    }
}
