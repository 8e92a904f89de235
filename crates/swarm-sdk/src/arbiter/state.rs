//! What the arbiter decides, as pure code: [`State`] turns node events and
//! task outcomes into [`Action`]s, and does no I/O of its own.
//!
//! The state follows the bounties the arbiter decides and votes on, counts
//! what it handled, and knows the resume point last written to the state
//! file. The run loop performs the actions: it spawns the decisions and the
//! votes, and writes the resume point, telling the state with
//! [`State::on_saved`] once it is on disk.

use std::collections::HashMap;

use swarm_protocol::{Address, Amount, BountyPosted, BountySettled, Event, Guid, PayoutRole};

use crate::client::{ClientError, Submitted};
use crate::events::NodeEvent;

use super::ArbiterReport;

/// The runtime's fixed choices.
pub(super) struct Settings {
    /// The arbiter's account, whose `arbiter` payouts are its fees.
    pub(super) address: Address,
    /// Stop accepting bounties after this many were handled.
    pub(super) testing: Option<usize>,
    /// The node's tip at the start: bounties whose vote window closed by
    /// then are history.
    pub(super) tip: u64,
    /// Whether a state file keeps the resume point.
    pub(super) saves_state: bool,
}

/// Where a bounty the arbiter follows stands.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Stage {
    /// The ground truth is being decided.
    Deciding,
    /// Decided; waiting for the vote round.
    Decided(Vec<bool>),
    /// The vote is being sent.
    Voting,
    /// Voted; waiting for the settlement.
    Voted,
}

/// A bounty the arbiter follows.
pub(super) struct Followed {
    pub(super) posted_block: u64,
    pub(super) reveal_deadline: u64,
    pub(super) vote_deadline: u64,
    pub(super) stage: Stage,
}

/// What the run loop is to do.
#[derive(Debug, PartialEq)]
pub(super) enum Action {
    /// Decide the ground truth of this bounty (answer with
    /// [`State::on_decided`]).
    Decide {
        /// The bounty.
        bounty: BountyPosted,
    },
    /// Send this vote (answer with [`State::on_vote_sent`]).
    Vote {
        /// The bounty.
        guid: Guid,
        /// One bit per artifact, `true`: malicious.
        votes: Vec<bool>,
    },
    /// Write this resume point to the state file (answer with
    /// [`State::on_saved`] once it is written).
    SaveResume {
        /// The block to resume the event stream from.
        resume_from: u64,
    },
}

/// The arbiter's state: the bounties it follows and its report.
pub(super) struct State {
    settings: Settings,
    followed: HashMap<Guid, Followed>,
    current: u64,
    handled: usize,
    written_resume: Option<u64>,
    report: ArbiterReport,
}

impl State {
    /// A state streaming events from block `since`, whose state file holds
    /// `saved` (if any).
    pub(super) fn new(
        settings: Settings,
        report: ArbiterReport,
        since: u64,
        saved: Option<u64>,
    ) -> Self {
        State {
            settings,
            followed: HashMap::new(),
            current: since.saturating_sub(1),
            handled: 0,
            written_resume: saved,
            report,
        }
    }

    /// The report so far.
    pub(super) fn report(&self) -> &ArbiterReport {
        &self.report
    }

    /// The report, at the end of the run.
    pub(super) fn into_report(self) -> ArbiterReport {
        self.report
    }

    /// Whether the arbiter still takes on bounties (always, unless testing
    /// and enough were handled).
    fn accepting(&self) -> bool {
        self.settings.testing.is_none_or(|n| self.handled < n)
    }

    /// Whether a testing run is done: enough bounties handled, and the
    /// settlement of those voted on seen or given up on.
    pub(super) fn finished(&self) -> bool {
        let Some(n) = self.settings.testing else {
            return false;
        };
        if self.handled < n {
            return false;
        }
        let waiting = self
            .followed
            .values()
            .filter(|f| matches!(f.stage, Stage::Voting | Stage::Voted))
            .map(|f| f.vote_deadline)
            .max();
        match waiting {
            None => true,
            Some(deadline) => self.current > deadline.saturating_add(2),
        }
    }

    /// A node event. On a block, `save_due` says whether enough time passed
    /// since the last state file write to write the resume point again.
    pub(super) fn on_event(&mut self, event: NodeEvent, save_due: bool) -> Vec<Action> {
        let posted_block = event.block_number;
        match event.event {
            Event::Block { number } => self.on_block(number, save_due),
            Event::Bounty(bounty) => self.on_bounty(bounty, posted_block),
            Event::SettledBounty(settled) => {
                self.on_settled(&settled);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// On each block: vote what is due, give up on what is too late.
    fn on_block(&mut self, number: u64, save_due: bool) -> Vec<Action> {
        let accepting = self.accepting();
        self.current = self.current.max(number);
        self.report.last_block = self.current;
        let block = self.current;
        let report = &mut self.report;
        let handled = &mut self.handled;
        self.followed.retain(|guid, f| {
            let late = block >= f.vote_deadline;
            match f.stage {
                Stage::Deciding | Stage::Decided(_) if late => {
                    tracing::warn!(%guid, "vote window closed before this arbiter voted");
                    report.missed += 1;
                    *handled += 1;
                    false
                }
                // A settlement never came (it comes at the vote deadline at
                // the latest): stop waiting.
                Stage::Voted if block > f.vote_deadline.saturating_add(10) => false,
                _ => true,
            }
        });
        let mut actions = Vec::new();
        if accepting {
            for (guid, f) in self.followed.iter_mut() {
                actions.extend(maybe_vote(*guid, f, block));
            }
        }
        if save_due {
            actions.extend(self.save_resume());
        }
        actions
    }

    /// A bounty posted at block `posted_block`: decide it, unless it is
    /// history or the arbiter no longer takes bounties.
    fn on_bounty(&mut self, bounty: BountyPosted, posted_block: u64) -> Vec<Action> {
        if !self.accepting() || self.followed.contains_key(&bounty.guid) {
            return Vec::new();
        }
        if bounty.vote_deadline <= self.current.max(self.settings.tip) {
            // History: its vote window closed before we started.
            return Vec::new();
        }
        tracing::debug!(guid = %bounty.guid, block = posted_block, "deciding bounty");
        self.followed.insert(
            bounty.guid,
            Followed {
                posted_block,
                reveal_deadline: bounty.reveal_deadline,
                vote_deadline: bounty.vote_deadline,
                stage: Stage::Deciding,
            },
        );
        vec![Action::Decide { bounty }]
    }

    /// A settlement: the fee of a bounty voted on, or a bounty missed.
    fn on_settled(&mut self, settled: &BountySettled) {
        let Some(f) = self.followed.remove(&settled.bounty_guid) else {
            return;
        };
        let address = self.settings.address;
        let fee: Amount = settled
            .payouts
            .iter()
            .filter(|p| p.role == PayoutRole::Arbiter && p.account == address)
            .map(|p| p.amount)
            .sum();
        let report = &mut self.report;
        match f.stage {
            Stage::Voted => {
                report.settled += 1;
                report.fees_earned = report
                    .fees_earned
                    .checked_add(fee)
                    .unwrap_or(report.fees_earned);
                tracing::info!(guid = %settled.bounty_guid, fee = %fee, "bounty settled");
            }
            Stage::Voting => {
                // The vote task reports the vote itself.
                report.settled += 1;
                report.fees_earned = report
                    .fees_earned
                    .checked_add(fee)
                    .unwrap_or(report.fees_earned);
            }
            Stage::Deciding | Stage::Decided(_) => {
                tracing::warn!(guid = %settled.bounty_guid, "bounty settled before this arbiter voted");
                report.missed += 1;
                self.handled += 1;
            }
        }
    }

    /// A decision task's answer: the votes, or why the arbiter abstains.
    pub(super) fn on_decided(
        &mut self,
        guid: Guid,
        votes: Result<Vec<bool>, String>,
    ) -> Vec<Action> {
        let accepting = self.accepting();
        let current = self.current;
        let Some(f) = self.followed.get_mut(&guid) else {
            return Vec::new();
        };
        match votes {
            Ok(votes) => {
                f.stage = Stage::Decided(votes);
                if accepting {
                    return maybe_vote(guid, f, current).into_iter().collect();
                }
            }
            Err(e) => {
                tracing::warn!(%guid, error = %e, "cannot decide the bounty; abstaining");
                self.followed.remove(&guid);
                self.report.abstained += 1;
                self.handled += 1;
            }
        }
        Vec::new()
    }

    /// A vote task's answer.
    pub(super) fn on_vote_sent(&mut self, guid: Guid, result: Result<Submitted, ClientError>) {
        let outcome = match result {
            Ok(s) => {
                tracing::info!(%guid, block = s.block_number, "voted");
                true
            }
            Err(e) if e.code() == Some("duplicate_vote") => {
                tracing::info!(%guid, "already voted");
                true
            }
            Err(e) if e.code() == Some("replayed") => {
                // The client retried this very transaction after
                // its answer was lost: the vote is in.
                tracing::info!(%guid, "voted (the answer was lost)");
                true
            }
            Err(e) => {
                tracing::warn!(%guid, error = %e, "vote refused");
                false
            }
        };
        self.handled += 1;
        if outcome {
            self.report.voted += 1;
            if let Some(f) = self.followed.get_mut(&guid) {
                f.stage = Stage::Voted;
            }
        } else {
            self.report.missed += 1;
            self.followed.remove(&guid);
        }
    }

    /// The run ends: write the resume point, even if it did not move.
    pub(super) fn on_stop(&mut self) -> Vec<Action> {
        self.written_resume = None;
        self.save_resume().into_iter().collect()
    }

    /// The resume point `resume_from` is on disk.
    pub(super) fn on_saved(&mut self, resume_from: u64) {
        self.written_resume = Some(resume_from);
    }

    /// The resume point to write, when a state file is kept and the point
    /// moved: the post block of the oldest bounty not yet voted on, or the
    /// last block seen.
    fn save_resume(&self) -> Option<Action> {
        if !self.settings.saves_state {
            return None;
        }
        let resume = self
            .followed
            .values()
            .filter(|f| matches!(f.stage, Stage::Deciding | Stage::Decided(_)))
            .map(|f| f.posted_block)
            .min()
            .unwrap_or(self.current)
            .min(self.current);
        if self.written_resume == Some(resume) {
            return None;
        }
        Some(Action::SaveResume {
            resume_from: resume,
        })
    }
}

/// The vote of a decided bounty whose vote round is open (its stage becomes
/// [`Stage::Voting`]).
fn maybe_vote(guid: Guid, f: &mut Followed, block: u64) -> Option<Action> {
    if block < f.reveal_deadline || block >= f.vote_deadline {
        return None;
    }
    if !matches!(f.stage, Stage::Decided(_)) {
        return None;
    }
    let Stage::Decided(votes) = std::mem::replace(&mut f.stage, Stage::Voting) else {
        return None;
    };
    Some(Action::Vote { guid, votes })
}

#[cfg(test)]
mod tests;
