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

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use swarm_protocol::{
    Address, Amount, ArtifactType, BountySettled, Event, Guid, Payout, PayoutRole, PostBounty,
    PrivateKey,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::{ClientError, CommunityParameters, NodeClient};
use crate::events::NodeEvent;
use crate::runtime::spawn_events;

/// The EICAR test file: exactly these 68 bytes.
pub const EICAR: &[u8; 68] =
    b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// Most artifacts in one bounty (the protocol's limit).
const MAX_ARTIFACTS: usize = 256;

/// One bounty to post.
#[derive(Clone, Debug, Default)]
pub struct BountyRequest {
    /// `(file name, content)` of each artifact, in order.
    pub files: Vec<(String, Bytes)>,
    /// Reward; `None`: the ambassador's amount, or the community minimum
    /// (`bounty_amount_minimum` × number of files).
    pub amount: Option<Amount>,
    /// Assertion round in blocks; `None`: the ambassador's duration.
    pub duration: Option<u64>,
    /// The verdict expected for each file (`Some(true)`: malicious), when
    /// known; compared with the consensus in the report.
    pub expected: Vec<Option<bool>>,
}

/// Where an ambassador's bounties come from.
///
/// Implementors write `async fn next(&mut self) -> Option<BountyRequest>`.
pub trait BountySource: Send + 'static {
    /// The next bounty to post; `None` when there are no more.
    fn next(&mut self) -> impl Future<Output = Option<BountyRequest>> + Send;
}

/// A random mix of EICAR test files and benign files: `count` bounties of
/// 1..=`max_artifacts` artifacts each, every artifact EICAR with
/// probability `malicious_ratio` (one half by default). The expected
/// verdicts are known, so the report checks the marketplace's consensus.
///
/// Benign files are short random text, different every time, so the
/// artifact store does not deduplicate them. With [`EicarSource::seed`]
/// the sequence of bounties is reproducible.
#[derive(Debug)]
pub struct EicarSource {
    remaining: usize,
    max_artifacts: usize,
    malicious_ratio: f64,
    rng: StdRng,
    made: u64,
}

impl EicarSource {
    /// `count` bounties of one artifact each, seeded from the OS.
    pub fn new(count: usize) -> Self {
        EicarSource {
            remaining: count,
            max_artifacts: 1,
            malicious_ratio: 0.5,
            rng: StdRng::from_entropy(),
            made: 0,
        }
    }

    /// Up to `max` artifacts per bounty (the count is drawn uniformly from
    /// 1..=max; clamped into 1..=256).
    pub fn max_artifacts(mut self, max: usize) -> Self {
        self.max_artifacts = max.clamp(1, MAX_ARTIFACTS);
        self
    }

    /// The probability of each artifact being EICAR (clamped into 0..=1;
    /// NaN means one half).
    pub fn malicious_ratio(mut self, ratio: f64) -> Self {
        self.malicious_ratio = if ratio.is_nan() {
            0.5
        } else {
            ratio.clamp(0.0, 1.0)
        };
        self
    }

    /// Draws from a generator seeded with `seed`: the same seed gives the
    /// same bounties.
    pub fn seed(mut self, seed: u64) -> Self {
        self.rng = StdRng::seed_from_u64(seed);
        self
    }

    /// Bounties still to come.
    pub fn remaining(&self) -> usize {
        self.remaining
    }

    /// Draws one bounty.
    fn draw(&mut self) -> BountyRequest {
        let n = self.rng.gen_range(1..=self.max_artifacts);
        let mut files = Vec::with_capacity(n);
        let mut expected = Vec::with_capacity(n);
        for _ in 0..n {
            self.made += 1;
            let malicious = self.rng.gen_bool(self.malicious_ratio);
            if malicious {
                files.push((
                    format!("eicar-{}.com", self.made),
                    Bytes::from_static(EICAR),
                ));
            } else {
                let noise: [u8; 16] = self.rng.gen();
                let text = format!(
                    "benign test file {}\nnothing to see here: {}\n",
                    self.made,
                    hex::encode(noise)
                );
                files.push((format!("benign-{}.txt", self.made), Bytes::from(text)));
            }
            expected.push(Some(malicious));
        }
        BountyRequest {
            files,
            amount: None,
            duration: None,
            expected,
        }
    }
}

impl BountySource for EicarSource {
    async fn next(&mut self) -> Option<BountyRequest> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        Some(self.draw())
    }
}

/// The regular files of one directory (not its subdirectories; names
/// starting with `.` skipped), in name order: one bounty per file, or
/// `per_bounty` files per bounty. Expected verdicts are unknown.
///
/// A file that cannot be read when its turn comes is skipped with a
/// warning.
#[derive(Debug)]
pub struct DirectorySource {
    files: VecDeque<PathBuf>,
    per_bounty: usize,
}

impl DirectorySource {
    /// The files of `dir`, one per bounty.
    pub fn new(dir: impl AsRef<Path>) -> std::io::Result<Self> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir.as_ref())? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            // Follows symbolic links, like reading the file will.
            if std::fs::metadata(entry.path())?.is_file() {
                files.push(entry.path());
            }
        }
        files.sort();
        Ok(DirectorySource {
            files: files.into(),
            per_bounty: 1,
        })
    }

    /// `n` files per bounty (clamped into 1..=256); the last bounty takes
    /// what is left.
    pub fn per_bounty(mut self, n: usize) -> Self {
        self.per_bounty = n.clamp(1, MAX_ARTIFACTS);
        self
    }

    /// Files not yet posted.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether every file was posted.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

impl BountySource for DirectorySource {
    async fn next(&mut self) -> Option<BountyRequest> {
        while !self.files.is_empty() {
            let mut files = Vec::new();
            while files.len() < self.per_bounty {
                let Some(path) = self.files.pop_front() else {
                    break;
                };
                match tokio::fs::read(&path).await {
                    Ok(content) => {
                        let name = path
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_else(|| path.display().to_string());
                        files.push((name, Bytes::from(content)));
                    }
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "cannot read; skipped");
                    }
                }
            }
            if !files.is_empty() {
                let expected = vec![None; files.len()];
                return Some(BountyRequest {
                    files,
                    amount: None,
                    duration: None,
                    expected,
                });
            }
        }
        None
    }
}

/// What the ambassador does when its balance cannot pay the next bounty.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LowBalance {
    /// Stop with [`AmbassadorError::InsufficientBalance`].
    #[default]
    Fail,
    /// Log a warning and check again every `interval` (at least once a
    /// second) until the account is topped up.
    Wait,
}

/// Why the ambassador stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AmbassadorError {
    /// The builder is missing something or holds a bad value.
    #[error("ambassador misconfigured: {0}")]
    Config(String),
    /// A call to the node failed.
    #[error("{context}: {error}")]
    Node {
        /// What the ambassador was doing.
        context: String,
        /// The failure.
        error: ClientError,
    },
    /// The account cannot pay the next bounty.
    #[error(
        "{address} holds {balance}, but the next bounty needs {needed} \
         (amount plus bounty fee); fund the account or lower --amount"
    )]
    InsufficientBalance {
        /// The ambassador's account.
        address: Address,
        /// Its balance.
        balance: Amount,
        /// Amount plus fee.
        needed: Amount,
    },
    /// The source produced a bounty the community cannot take.
    #[error("bad bounty request: {0}")]
    Request(String),
}

fn node_error(context: impl Into<String>) -> impl FnOnce(ClientError) -> AmbassadorError {
    let context = context.into();
    move |error| AmbassadorError::Node { context, error }
}

/// What became of one posted bounty.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BountyOutcome {
    /// The bounty.
    pub guid: Guid,
    /// File names of its artifacts, in order.
    pub artifacts: Vec<String>,
    /// The expected verdict per artifact (`Some(true)`: malicious).
    pub expected: Vec<Option<bool>>,
    /// The arbiters' consensus per artifact, as the settlement reports it
    /// (whenever any arbiter voted).
    pub consensus: Option<Vec<bool>>,
    /// Assertions made on it.
    pub assertions: usize,
    /// Every credit of the settlement.
    pub payouts: Vec<Payout>,
    /// Block of settlement; `None` while unsettled.
    pub settled_block: Option<u64>,
    /// Block of posting.
    pub posted_block: u64,
    /// The reward.
    pub amount: Amount,
    /// The bounty fee paid.
    pub fee: Amount,
    /// Whether the watchdog gave up on it.
    pub timed_out: bool,
}

impl BountyOutcome {
    /// Indices of artifacts whose consensus differs from the expected
    /// verdict (empty without a consensus).
    pub fn mismatches(&self) -> Vec<usize> {
        let Some(consensus) = &self.consensus else {
            return Vec::new();
        };
        self.expected
            .iter()
            .zip(consensus)
            .enumerate()
            .filter_map(|(i, (e, c))| match e {
                Some(e) if e != c => Some(i),
                _ => None,
            })
            .collect()
    }

    /// `Some(true)` when a consensus exists and agrees with every expected
    /// verdict; `Some(false)` when it disagrees with one; `None` without a
    /// consensus or without expectations.
    pub fn matches(&self) -> Option<bool> {
        self.consensus.as_ref()?;
        if self.expected.iter().all(Option::is_none) {
            return None;
        }
        Some(self.mismatches().is_empty())
    }

    /// What the ambassador got back from the settlement.
    pub fn refund(&self) -> Amount {
        self.payouts
            .iter()
            .filter(|p| p.role == PayoutRole::Ambassador)
            .map(|p| p.amount)
            .sum()
    }
}

/// Everything an ambassador run did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AmbassadorReport {
    /// The ambassador's account.
    pub address: Address,
    /// One outcome per posted bounty, in posting order.
    pub outcomes: Vec<BountyOutcome>,
}

impl AmbassadorReport {
    /// Bounties settled.
    pub fn settled(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.settled_block.is_some())
            .count()
    }

    /// Bounties the watchdog gave up on (and that did not settle after all).
    pub fn timed_out(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.timed_out && o.settled_block.is_none())
            .count()
    }

    /// Artifacts whose consensus equals the expected verdict.
    pub fn correct(&self) -> usize {
        self.outcomes
            .iter()
            .filter_map(|o| {
                let c = o.consensus.as_ref()?;
                Some(
                    o.expected
                        .iter()
                        .zip(c)
                        .filter(|(e, c)| **e == Some(**c))
                        .count(),
                )
            })
            .sum()
    }

    /// Artifacts whose consensus differs from the expected verdict.
    pub fn incorrect(&self) -> usize {
        self.outcomes.iter().map(|o| o.mismatches().len()).sum()
    }

    /// Whether every bounty settled with a consensus that agrees with every
    /// expected verdict.
    pub fn all_match(&self) -> bool {
        self.outcomes.iter().all(|o| {
            o.settled_block.is_some() && o.consensus.is_some() && o.mismatches().is_empty()
        })
    }

    /// Rewards and fees put into bounties.
    pub fn spent(&self) -> Amount {
        self.outcomes
            .iter()
            .map(|o| o.amount.checked_add(o.fee).unwrap_or(o.amount))
            .sum()
    }

    /// What settlements paid back to the ambassador.
    pub fn refunded(&self) -> Amount {
        self.outcomes.iter().map(BountyOutcome::refund).sum()
    }
}

/// Configures an [`Ambassador`].
#[must_use]
pub struct AmbassadorBuilder<S> {
    source: S,
    client: Option<NodeClient>,
    key: Option<PrivateKey>,
    amount: Option<Amount>,
    duration: Option<u64>,
    interval: Duration,
    max_in_flight: usize,
    watchdog: Option<Duration>,
    low_balance: LowBalance,
    shutdown: CancellationToken,
}

impl<S: BountySource> AmbassadorBuilder<S> {
    /// The node at `url` (such as `http://127.0.0.1:31337`).
    pub fn node(mut self, url: impl Into<String>) -> Self {
        self.client = Some(NodeClient::new(url));
        self
    }

    /// A configured client instead of [`AmbassadorBuilder::node`].
    pub fn client(mut self, client: NodeClient) -> Self {
        self.client = Some(client);
        self
    }

    /// The ambassador's key: it pays the bounties.
    pub fn key(mut self, key: PrivateKey) -> Self {
        self.key = Some(key);
        self
    }

    /// The reward of every bounty whose request names none. Default: the
    /// community minimum, `bounty_amount_minimum` × number of artifacts.
    pub fn amount(mut self, amount: Amount) -> Self {
        self.amount = Some(amount);
        self
    }

    /// The assertion round, in blocks, of every bounty whose request names
    /// none. Default: the community's `max_duration`, at most 20.
    pub fn duration(mut self, blocks: u64) -> Self {
        self.duration = Some(blocks);
        self
    }

    /// Least time between two posts. Default: none.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Most bounties posted and not yet settled. Default: 8.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n;
        self
    }

    /// How long after posting a bounty that has not settled is reported
    /// and given up on. Default: twice the time its rounds take at the
    /// community's block time, plus 10 seconds.
    pub fn watchdog(mut self, timeout: Duration) -> Self {
        self.watchdog = Some(timeout);
        self
    }

    /// What to do when the balance cannot pay the next bounty. Default:
    /// [`LowBalance::Fail`].
    pub fn on_low_balance(mut self, policy: LowBalance) -> Self {
        self.low_balance = policy;
        self
    }

    /// Stops the run when cancelled: no more posts; the report holds what
    /// was seen so far.
    pub fn shutdown(mut self, token: CancellationToken) -> Self {
        self.shutdown = token;
        self
    }

    /// Checks the configuration.
    pub fn build(self) -> Result<Ambassador<S>, AmbassadorError> {
        let (client, key) = crate::client::checked_connection(self.client, self.key)
            .map_err(AmbassadorError::Config)?;
        if self.max_in_flight == 0 {
            return Err(AmbassadorError::Config(
                "max_in_flight must be at least 1".into(),
            ));
        }
        if self.duration == Some(0) {
            return Err(AmbassadorError::Config(
                "duration must be at least 1 block".into(),
            ));
        }
        Ok(Ambassador {
            source: self.source,
            client,
            key,
            amount: self.amount,
            duration: self.duration,
            interval: self.interval,
            max_in_flight: self.max_in_flight,
            watchdog: self.watchdog,
            low_balance: self.low_balance,
            shutdown: self.shutdown,
        })
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn eicar_source_counts_and_mixes() {
        let mut source = EicarSource::new(50).max_artifacts(4).seed(7);
        let mut bounties = 0;
        let (mut mal, mut ben) = (0, 0);
        while let Some(r) = source.next().await {
            bounties += 1;
            assert!((1..=4).contains(&r.files.len()));
            assert_eq!(r.expected.len(), r.files.len());
            for ((name, content), e) in r.files.iter().zip(&r.expected) {
                match e {
                    Some(true) => {
                        mal += 1;
                        assert_eq!(content.as_ref(), EICAR.as_slice());
                        assert!(name.starts_with("eicar-"));
                    }
                    Some(false) => {
                        ben += 1;
                        assert_ne!(content.as_ref(), EICAR.as_slice());
                        assert!(name.starts_with("benign-"));
                    }
                    None => panic!("the EICAR source knows every verdict"),
                }
            }
        }
        assert_eq!(bounties, 50);
        assert!(mal > 10 && ben > 10, "{mal} malicious, {ben} benign");
        assert!(source.next().await.is_none());
    }

    #[tokio::test]
    async fn eicar_source_seed_is_reproducible() {
        let draw = |seed| async move {
            let mut s = EicarSource::new(5).max_artifacts(3).seed(seed);
            let mut all = Vec::new();
            while let Some(r) = s.next().await {
                all.push(r.files);
            }
            all
        };
        assert_eq!(draw(1).await, draw(1).await);
        assert_ne!(draw(1).await, draw(2).await);
    }

    #[tokio::test]
    async fn eicar_source_ratio_extremes() {
        let mut all_bad = EicarSource::new(5).max_artifacts(3).malicious_ratio(1.0);
        while let Some(r) = all_bad.next().await {
            assert!(r.expected.iter().all(|e| *e == Some(true)));
        }
        let mut all_good = EicarSource::new(5).malicious_ratio(f64::NEG_INFINITY);
        while let Some(r) = all_good.next().await {
            assert!(r.expected.iter().all(|e| *e == Some(false)));
        }
        // Benign files differ from each other, so none is deduplicated.
        let mut s = EicarSource::new(20).malicious_ratio(0.0).seed(3);
        let mut seen = std::collections::HashSet::new();
        while let Some(r) = s.next().await {
            assert!(seen.insert(r.files[0].1.clone()));
        }
        assert_eq!(EicarSource::new(1).max_artifacts(0).max_artifacts, 1);
        assert_eq!(EicarSource::new(1).max_artifacts(999).max_artifacts, 256);
    }

    #[tokio::test]
    async fn directory_source_groups_files_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["c.bin", "a.txt", "b.exe", "d", "e", ".hidden"] {
            std::fs::write(dir.path().join(name), name.as_bytes()).unwrap();
        }
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/x"), b"x").unwrap();

        let mut one = DirectorySource::new(dir.path()).unwrap();
        assert_eq!(one.len(), 5);
        let mut names = Vec::new();
        while let Some(r) = one.next().await {
            assert_eq!(r.files.len(), 1);
            assert_eq!(r.expected, vec![None]);
            let (name, content) = &r.files[0];
            assert_eq!(content.as_ref(), name.as_bytes());
            names.push(name.clone());
        }
        assert_eq!(names, ["a.txt", "b.exe", "c.bin", "d", "e"]);
        assert!(one.is_empty());

        let mut two = DirectorySource::new(dir.path()).unwrap().per_bounty(2);
        let mut sizes = Vec::new();
        while let Some(r) = two.next().await {
            sizes.push(r.files.len());
        }
        assert_eq!(sizes, [2, 2, 1]);
    }

    #[tokio::test]
    async fn directory_source_skips_unreadable_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), b"a").unwrap();
        std::fs::write(dir.path().join("b"), b"b").unwrap();
        let mut s = DirectorySource::new(dir.path()).unwrap();
        std::fs::remove_file(dir.path().join("a")).unwrap();
        let r = s.next().await.unwrap();
        assert_eq!(r.files[0].0, "b");
        assert!(s.next().await.is_none());
        assert!(DirectorySource::new(dir.path().join("missing")).is_err());
    }

    #[test]
    fn outcome_matching() {
        let mut o = BountyOutcome {
            guid: Guid::nil(),
            artifacts: vec!["a".into(), "b".into(), "c".into()],
            expected: vec![Some(true), Some(false), None],
            consensus: None,
            assertions: 0,
            payouts: Vec::new(),
            settled_block: None,
            posted_block: 1,
            amount: Amount::from_nct(1),
            fee: Amount::ZERO,
            timed_out: false,
        };
        assert_eq!(o.matches(), None);
        o.consensus = Some(vec![true, false, true]);
        o.settled_block = Some(9);
        assert_eq!(o.matches(), Some(true));
        let mut report = AmbassadorReport {
            address: Address::ZERO,
            outcomes: vec![o.clone()],
        };
        assert!(report.all_match());
        assert_eq!((report.correct(), report.incorrect()), (2, 0));
        o.consensus = Some(vec![false, false, false]);
        assert_eq!(o.matches(), Some(false));
        assert_eq!(o.mismatches(), vec![0]);
        report.outcomes.push(o);
        assert!(!report.all_match());
        assert_eq!((report.correct(), report.incorrect()), (3, 1));
        assert_eq!(report.settled(), 2);
    }
}
