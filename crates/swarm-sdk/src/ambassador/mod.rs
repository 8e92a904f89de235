//! The Ambassador runtime (SPEC §5.4): post bounties from a source and
//! report what the marketplace made of them.
//!
//! A [`BountySource`] yields [`BountyRequest`]s — files, and optionally the
//! verdict the ambassador expects for each. Two sources come with the SDK:
//! [`EicarSource`] (a random mix of EICAR test files and benign files, what
//! the tutorial's local marketplace posts) and [`DirectorySource`] (the
//! files of a directory).
//!
//! The [`Ambassador`] posts them against a node:
//!
//! - **paced**: at most one post per `interval`;
//! - **bounded**: at most `max_in_flight` bounties posted and not yet
//!   settled;
//! - **balance-checked**: before each post, the account must hold the
//!   bounty amount plus the bounty fee. What happens when it does not is
//!   [`LowBalance`]: stop with [`AmbassadorError::InsufficientBalance`]
//!   (the default — an unattended ambassador should not sit silently), or
//!   wait until the balance is topped up;
//! - **watched**: a bounty not settled within the `watchdog` timeout is
//!   reported (a warning, and [`BountyOutcome::timed_out`]) and no longer
//!   counted in flight;
//! - **reported**: every bounty's [`BountyOutcome`] (consensus, assertions,
//!   payouts) is collected from the node's `settled_bounty` event, and the
//!   [`AmbassadorReport`] compares consensus with what was expected.
//!
//! ```no_run
//! use std::time::Duration;
//! use swarm_protocol::PrivateKey;
//! use swarm_sdk::{Ambassador, EicarSource};
//!
//! # async fn run(key: PrivateKey) -> Result<(), Box<dyn std::error::Error>> {
//! let report = Ambassador::builder(EicarSource::new(10).max_artifacts(4))
//!     .node("http://127.0.0.1:31337")
//!     .key(key)
//!     .interval(Duration::from_millis(500))
//!     .max_in_flight(4)
//!     .build()?
//!     .run()
//!     .await?;
//! println!("{} of {} settled, all as expected: {}",
//!     report.settled(), report.outcomes.len(), report.all_match());
//! # Ok(())
//! # }
//! ```

mod builder;
mod error;
mod report;
mod source;

pub use builder::{AmbassadorBuilder, LowBalance};
pub use error::AmbassadorError;
pub use report::{AmbassadorReport, BountyOutcome};
pub use source::{BountyRequest, BountySource, DirectorySource, EicarSource, EICAR};

use std::collections::HashMap;
use std::time::Duration;

use swarm_protocol::{Amount, ArtifactType, BountySettled, Event, Guid, PostBounty, PrivateKey};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::{CommunityParameters, NodeClient};
use crate::events::NodeEvent;
use crate::runtime::spawn_events;

use error::node_error;

/// Posts bounties from a [`BountySource`] and reports their outcomes.
pub struct Ambassador<S> {
    source: S,
    client: NodeClient,
    key: PrivateKey,
    amount: Option<Amount>,
    duration: Option<u64>,
    interval: Duration,
    max_in_flight: usize,
    watchdog: Option<Duration>,
    low_balance: LowBalance,
    shutdown: CancellationToken,
}

impl<S> std::fmt::Debug for Ambassador<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ambassador")
            .field("node", &self.client.base_url())
            .field("address", &self.key.address())
            .field("max_in_flight", &self.max_in_flight)
            .finish_non_exhaustive()
    }
}

/// A posted, unsettled bounty.
struct InFlight {
    index: usize,
    num_artifacts: usize,
    deadline: Instant,
}

impl<S: BountySource> Ambassador<S> {
    /// Starts configuring an ambassador posting from `source`.
    pub fn builder(source: S) -> AmbassadorBuilder<S> {
        AmbassadorBuilder {
            source,
            client: None,
            key: None,
            amount: None,
            duration: None,
            interval: Duration::ZERO,
            max_in_flight: 8,
            watchdog: None,
            low_balance: LowBalance::Fail,
            shutdown: CancellationToken::new(),
        }
    }

    /// Posts every bounty of the source and waits for each to settle (or
    /// time out). Returns early with an error when a post fails or the
    /// balance runs out (under [`LowBalance::Fail`]).
    pub async fn run(mut self) -> Result<AmbassadorReport, AmbassadorError> {
        let address = self.key.address();
        let params = self
            .client
            .parameters()
            .await
            .map_err(node_error("cannot read the community parameters"))?;
        let tip = self
            .client
            .status()
            .await
            .map_err(node_error("cannot read the node status"))?
            .block;
        // Subscribed before the first post: no settlement can be missed.
        let (mut events, _events_task) = spawn_events(&self.client, tip);

        let mut report = AmbassadorReport {
            address,
            outcomes: Vec::new(),
        };
        let mut in_flight: HashMap<Guid, InFlight> = HashMap::new();
        let mut exhausted = false;
        let mut next_post = Instant::now();
        let mut watchdog_tick = tokio::time::interval(Duration::from_millis(250));
        watchdog_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tracing::info!(%address, community = %params.community, "ambassador started");

        loop {
            if exhausted && in_flight.is_empty() {
                break;
            }
            let can_post = !exhausted && in_flight.len() < self.max_in_flight;
            tokio::select! {
                _ = self.shutdown.cancelled() => {
                    tracing::info!(in_flight = in_flight.len(), "ambassador: shutting down");
                    break;
                }
                _ = tokio::time::sleep_until(next_post), if can_post => {
                    match self.source.next().await {
                        None => exhausted = true,
                        Some(request) => {
                            let posted = self.post(&params, request, &mut report).await?;
                            if let Some((guid, flight)) = posted {
                                in_flight.insert(guid, flight);
                            }
                            next_post = Instant::now() + self.interval;
                        }
                    }
                }
                event = events.recv() => {
                    let Some(event) = event else {
                        // The stream task ended: it never does on its own.
                        return Err(AmbassadorError::Config("event stream ended".into()));
                    };
                    Self::on_event(event, &mut in_flight, &mut report);
                }
                _ = watchdog_tick.tick() => {
                    let now = Instant::now();
                    in_flight.retain(|guid, flight| {
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
        }
        tracing::info!(
            posted = report.outcomes.len(),
            settled = report.settled(),
            correct = report.correct(),
            incorrect = report.incorrect(),
            "ambassador finished"
        );
        Ok(report)
    }

    fn on_event(
        event: NodeEvent,
        in_flight: &mut HashMap<Guid, InFlight>,
        report: &mut AmbassadorReport,
    ) {
        match event.event {
            Event::Assertion(a) => {
                if let Some(flight) = in_flight.get(&a.bounty_guid) {
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
                let Some(flight) = in_flight.remove(&bounty_guid) else {
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

    /// Checks, uploads and posts one bounty; `None` when the request was
    /// empty and skipped.
    async fn post(
        &mut self,
        params: &CommunityParameters,
        request: BountyRequest,
        report: &mut AmbassadorReport,
    ) -> Result<Option<(Guid, InFlight)>, AmbassadorError> {
        let p = &params.parameters;
        let n = request.files.len();
        if n == 0 {
            tracing::warn!("bounty request without files; skipped");
            return Ok(None);
        }
        if n > p.max_artifacts as usize {
            return Err(AmbassadorError::Request(format!(
                "{n} artifacts, the community takes at most {}",
                p.max_artifacts
            )));
        }
        if let Some((name, content)) = request
            .files
            .iter()
            .find(|(_, c)| c.len() as u64 > p.max_artifact_size)
        {
            return Err(AmbassadorError::Request(format!(
                "{name} has {} bytes, the community takes at most {}",
                content.len(),
                p.max_artifact_size
            )));
        }
        let minimum = p
            .bounty_amount_minimum
            .checked_mul(n as u128)
            .ok_or_else(|| AmbassadorError::Request("bounty amount overflows".into()))?;
        let amount = request.amount.or(self.amount).unwrap_or(minimum);
        let duration = request
            .duration
            .or(self.duration)
            .unwrap_or(p.max_duration.min(20))
            .max(1);
        let needed = amount
            .checked_add(p.bounty_fee)
            .ok_or_else(|| AmbassadorError::Request("bounty amount overflows".into()))?;
        self.ensure_balance(needed).await?;

        let community = params.community.as_str();
        let uploaded = self
            .client
            .upload(&self.key, community, &request.files)
            .await
            .map_err(node_error("cannot upload the artifacts"))?;
        let guid = Guid::new_v4();
        let post = PostBounty {
            guid,
            artifact_type: ArtifactType::File,
            amount,
            uri: uploaded.uri.clone(),
            num_artifacts: n as u32,
            duration,
            metadata: Some(uploaded.artifacts.iter().map(|a| a.to_metadata()).collect()),
        };
        let posted_block = match self.client.send(&self.key, community, post, true).await {
            Ok(submitted) => submitted.block_number,
            // The answer to an accepted post was lost and the client's retry
            // was refused as a replay: the bounty is there all the same.
            Err(e) if e.code() == Some("replayed") => self
                .client
                .bounty(&guid)
                .await
                .map_err(node_error(format!("cannot read bounty {guid}")))?
                .filter(|b| b.author == self.key.address())
                .map(|b| b.posted_block)
                .ok_or_else(|| node_error(format!("cannot post bounty {guid}"))(e))?,
            Err(e) => return Err(node_error(format!("cannot post bounty {guid}"))(e)),
        };
        let mut expected = request.expected;
        expected.resize(n, None);
        let index = report.outcomes.len();
        report.outcomes.push(BountyOutcome {
            guid,
            artifacts: request.files.into_iter().map(|(name, _)| name).collect(),
            expected,
            consensus: None,
            assertions: 0,
            payouts: Vec::new(),
            settled_block: None,
            posted_block,
            amount,
            fee: p.bounty_fee,
            timed_out: false,
        });
        let timeout = self.watchdog.unwrap_or_else(|| {
            let blocks = duration
                .saturating_add(p.assertion_reveal_window)
                .saturating_add(p.arbiter_vote_window)
                .saturating_add(2);
            let rounds = Duration::from_millis(p.block_time_ms.saturating_mul(blocks));
            rounds.saturating_mul(2) + Duration::from_secs(10)
        });
        tracing::info!(%guid, artifacts = n, amount = %amount, duration, block = posted_block, "bounty posted");
        Ok(Some((
            guid,
            InFlight {
                index,
                num_artifacts: n,
                deadline: Instant::now() + timeout,
            },
        )))
    }

    /// Returns once the balance covers `needed`, or fails, per the policy.
    async fn ensure_balance(&self, needed: Amount) -> Result<(), AmbassadorError> {
        let address = self.key.address();
        let mut warned = false;
        loop {
            let balance = self
                .client
                .balance(&address)
                .await
                .map_err(node_error("cannot read the balance"))?;
            if balance >= needed {
                return Ok(());
            }
            if self.low_balance == LowBalance::Fail {
                return Err(AmbassadorError::InsufficientBalance {
                    address,
                    balance,
                    needed,
                });
            }
            if !warned {
                tracing::warn!(%address, %balance, %needed, "balance too low for the next bounty; waiting for funds");
                warned = true;
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return Err(AmbassadorError::InsufficientBalance {
                    address,
                    balance,
                    needed,
                }),
                _ = tokio::time::sleep(self.interval.max(Duration::from_secs(1))) => {}
            }
        }
    }
}
