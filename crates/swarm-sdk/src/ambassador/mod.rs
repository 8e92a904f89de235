//! The Ambassador runtime (SPEC §5.4): post bounties from a source and
//! report what the marketplace made of them.
//!
//! A [`BountySource`] yields [`BountyRequest`]s — files, and optionally the
//! verdict the ambassador expects for each. Two sources come with the SDK:
//! [`EicarSource`] (a random mix of EICAR test files and benign files, what
//! the tutorial's local marketplace posts), [`DirectorySource`] (the
//! files of a directory) and [`UrlSource`] (the URLs of a list file, posted
//! as URL bounties).
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
//!
//! Its folder has the shape of the other runtimes':
//!
//! * `state.rs`: what it tracks, as pure code. A `State` (the report, the
//!   bounties in flight) records posts, assertions, settlements and the
//!   watchdog's verdicts, and says whether to post and when the run is
//!   over. No node event leads to I/O here, so its handlers answer with
//!   nothing rather than actions.
//! * this file: the [`Ambassador`] and its run loop, paced by the
//!   `interval` and the watchdog's clock.
//! * `tasks.rs`: checking, uploading and posting a bounty, and waiting for
//!   the balance to cover it.
//! * `source.rs` ([`BountySource`], [`EicarSource`], [`DirectorySource`]),
//!   `urls.rs` ([`UrlSource`], [`check_url`]: what a URL bounty takes),
//!   `builder.rs` ([`AmbassadorBuilder`], [`LowBalance`]), `error.rs`
//!   ([`AmbassadorError`]), `report.rs` ([`AmbassadorReport`],
//!   [`BountyOutcome`]).

mod builder;
mod error;
mod report;
mod source;
mod state;
mod tasks;
mod urls;

pub use builder::{AmbassadorBuilder, LowBalance};
pub use error::AmbassadorError;
pub use report::{AmbassadorReport, BountyOutcome};
pub use source::{BountyRequest, BountySource, DirectorySource, EicarSource, EICAR};
pub use urls::{check_url, url_metadata, BadUrl, UrlListError, UrlSource, MAX_URL_LEN};

use std::time::Duration;

use swarm_protocol::{Amount, PrivateKey};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::NodeClient;
use crate::observe::{sync, ObserveConfig, Observer, Role};
use crate::runtime::spawn_events;

use error::node_error;
use state::State;

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
    observe: ObserveConfig,
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
            observe: ObserveConfig::default(),
        }
    }

    /// Posts every bounty of the source and waits for each to settle (or
    /// time out). Returns early with an error when a post fails or the
    /// balance runs out (under [`LowBalance::Fail`]).
    pub async fn run(mut self) -> Result<AmbassadorReport, AmbassadorError> {
        let address = self.key.address();
        let observer =
            Observer::start(self.observe, Role::Ambassador, &self.client, Some(address)).await?;
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

        let mut state = State::new(address, self.max_in_flight);
        let mut next_post = Instant::now();
        let mut watchdog_tick = tokio::time::interval(Duration::from_millis(250));
        watchdog_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tracing::info!(%address, community = %params.community, "ambassador started");
        observer.ready();

        loop {
            observe(&observer, state.report());
            if state.done() {
                break;
            }
            let can_post = state.can_post();
            tokio::select! {
                _ = self.shutdown.cancelled() => {
                    tracing::info!(in_flight = state.in_flight(), "ambassador: shutting down");
                    break;
                }
                _ = tokio::time::sleep_until(next_post), if can_post => {
                    match self.source.next().await {
                        None => state.on_exhausted(),
                        Some(request) => {
                            if let Some(posted) = self.post(&params, request).await? {
                                state.on_posted(posted);
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
                    observer.event(event.position().0);
                    state.on_event(event);
                }
                _ = watchdog_tick.tick() => {
                    state.on_watchdog(Instant::now());
                }
            }
        }
        observe(&observer, state.report());
        let report = state.into_report();
        tracing::info!(
            posted = report.outcomes.len(),
            settled = report.settled(),
            correct = report.correct(),
            incorrect = report.incorrect(),
            "ambassador finished"
        );
        Ok(report)
    }
}

/// Brings the metrics up to the report.
fn observe(observer: &Observer, report: &AmbassadorReport) {
    let m = observer.metrics();
    sync(&m.bounties_posted, report.outcomes.len() as u64);
    sync(&m.settled, report.settled() as u64);
    sync(&m.timed_out, report.timed_out() as u64);
}
