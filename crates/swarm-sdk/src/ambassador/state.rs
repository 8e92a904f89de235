//! What the ambassador keeps track of, as pure code: [`State`] holds the
//! report and the bounties in flight, and turns node events, posts and
//! watchdog ticks into outcomes without any I/O.
//!
//! No event of the ambassador leads to I/O (posting is paced by the run
//! loop's clock, not by the node's events), so the handlers return nothing:
//! the run loop asks [`State::can_post`] and [`State::done`] instead.

use std::collections::HashMap;

use swarm_protocol::{Address, BountySettled, Event, Guid};
use tokio::time::Instant;

use crate::events::NodeEvent;

use super::tasks::Posted;
use super::AmbassadorReport;

/// A posted, unsettled bounty.
struct InFlight {
    index: usize,
    num_artifacts: usize,
    deadline: Instant,
}

/// The ambassador's state: its report and the bounties in flight.
pub(super) struct State {
    report: AmbassadorReport,
    in_flight: HashMap<Guid, InFlight>,
    max_in_flight: usize,
    exhausted: bool,
}

impl State {
    /// A state for the ambassador `address`, posting at most
    /// `max_in_flight` unsettled bounties.
    pub(super) fn new(address: Address, max_in_flight: usize) -> Self {
        State {
            report: AmbassadorReport {
                address,
                outcomes: Vec::new(),
            },
            in_flight: HashMap::new(),
            max_in_flight,
            exhausted: false,
        }
    }

    /// Bounties posted and not yet settled or given up on.
    pub(super) fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Whether the next bounty may be posted: the source has more, and
    /// fewer than `max_in_flight` are in flight.
    pub(super) fn can_post(&self) -> bool {
        !self.exhausted && self.in_flight.len() < self.max_in_flight
    }

    /// Whether the run is over: the source is exhausted and nothing is in
    /// flight.
    pub(super) fn done(&self) -> bool {
        self.exhausted && self.in_flight.is_empty()
    }

    /// The report so far.
    pub(super) fn report(&self) -> &AmbassadorReport {
        &self.report
    }

    /// The report, at the end of the run.
    pub(super) fn into_report(self) -> AmbassadorReport {
        self.report
    }

    /// The source has no more bounties.
    pub(super) fn on_exhausted(&mut self) {
        self.exhausted = true;
    }

    /// A bounty the node took.
    pub(super) fn on_posted(&mut self, posted: Posted) {
        let Posted { outcome, deadline } = posted;
        let index = self.report.outcomes.len();
        let guid = outcome.guid;
        let num_artifacts = outcome.artifacts.len();
        self.report.outcomes.push(outcome);
        self.in_flight.insert(
            guid,
            InFlight {
                index,
                num_artifacts,
                deadline,
            },
        );
    }

    /// A node event: an assertion on, or the settlement of, a bounty in
    /// flight.
    pub(super) fn on_event(&mut self, event: NodeEvent) {
        let report = &mut self.report;
        match event.event {
            Event::Assertion(a) => {
                if let Some(flight) = self.in_flight.get(&a.bounty_guid) {
                    if let Some(o) = report.outcomes.get_mut(flight.index) {
                        o.assertions += 1;
                    }
                }
            }
            Event::SettledBounty(BountySettled {
                bounty_guid,
                consensus,
                payouts,
                ..
            }) => {
                let Some(flight) = self.in_flight.remove(&bounty_guid) else {
                    return;
                };
                let Some(o) = report.outcomes.get_mut(flight.index) else {
                    return;
                };
                o.consensus = consensus.map(|c| c.to_bools(flight.num_artifacts));
                o.payouts = payouts;
                o.settled_block = Some(event.block_number);
                tracing::info!(
                    guid = %bounty_guid,
                    block = event.block_number,
                    assertions = o.assertions,
                    matches = ?o.matches(),
                    "bounty settled"
                );
            }
            _ => {}
        }
    }

    /// The watchdog's tick at `now`: gives up on the bounties past their
    /// deadline.
    pub(super) fn on_watchdog(&mut self, now: Instant) {
        let report = &mut self.report;
        self.in_flight.retain(|guid, flight| {
            if flight.deadline > now {
                return true;
            }
            tracing::warn!(%guid, "watchdog: bounty not settled in time; giving up on it");
            if let Some(o) = report.outcomes.get_mut(flight.index) {
                o.timed_out = true;
            }
            false
        });
    }
}

#[cfg(test)]
mod tests;
