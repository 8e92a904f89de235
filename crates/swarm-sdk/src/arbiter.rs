//! The Arbiter runtime (SPEC §5.4): stake, decide the ground truth of every
//! bounty, vote, earn the fees.
//!
//! An arbiter is whitelisted by the community's owner and must hold at
//! least `minimum_stake` to vote (SPEC §3.8). On start the [`Arbiter`]
//! reads the community parameters and its stake, and deposits
//! (`staking:Deposit`) whatever is missing up to `minimum_stake`.
//!
//! Then, for every `bounty` event, it asks its [`GroundTruth`] about each
//! artifact, keeps the votes in memory, and once a block reaches the
//! bounty's reveal deadline (E + R, the first block of the vote round) it
//! sends `bounty:Vote`. Two ground-truth backends come with the SDK:
//!
//! - [`ScannerTruth`] wraps any [`Scanner`]: Malicious votes malicious,
//!   Benign votes benign, Suspicious and Unknown are undecided;
//! - [`Sha256Table`] is a verbatim sha256 → verdict table. It needs no
//!   download: the sha256s come from the bundle's manifest, which the node
//!   computed itself when the files were uploaded (and which the bounty's
//!   uri, the manifest's own sha256, pins). The per-artifact metadata of a
//!   bounty is *not* used: it is the ambassador's word, and an ambassador
//!   could name a benign file's hash beside a malicious file.
//!
//! **Undecided artifacts vote benign.** A vote has one bit per artifact and
//! no "abstain" bit, so an artifact the backend cannot decide (`Ok(None)`:
//! not in the table, or a scanner's Suspicious/Unknown) is voted benign, as
//! the original client did (its arbiter's `None` verdict counted as
//! false). A backend that *fails* (`Err`, after three attempts) is
//! different: the arbiter then abstains from the whole bounty rather than
//! vote a guess, and the report counts it.
//!
//! Settlement pays the voters the bounty fee (and, when engines asserted,
//! what remains of the reward and the losers' bids), pro rata to stake;
//! [`ArbiterReport::fees_earned`] sums the `arbiter` payouts to this
//! account seen in `settled_bounty` events, after which the bounty is
//! forgotten.
//!
//! **Restarts.** With [`ArbiterBuilder::state`], a tiny JSON file records the
//! block to resume the event stream from: the post block of the oldest
//! bounty not yet voted on, or the last block seen. Without it, the arbiter
//! starts `max_duration + R + V` blocks before the tip: the `bounty` event
//! of a bounty still open for votes happened at most that long ago (the
//! vote window alone would miss bounties posted before it). Bounties whose
//! vote window closed before the start are skipped without a download; a
//! vote the arbiter already cast before a restart is recognised by the
//! node's `duplicate_vote` answer.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use swarm_protocol::{
    Address, Amount, ArtifactType, Bits256, BountyPosted, Event, Guid, PayoutRole, PrivateKey,
    StakeDeposit, Vote,
};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::client::{ClientError, NodeClient, Submitted};
use crate::runtime::spawn_events;
use crate::scanner::{Artifact, ArtifactKind, ScanError, Scanner, Verdict};

/// How an arbiter decides the truth about an artifact.
///
/// `Ok(Some(true))`: malicious; `Ok(Some(false))`: benign; `Ok(None)`:
/// cannot tell (votes benign); `Err`: the backend failed (the arbiter
/// retries, then abstains from the bounty).
pub trait GroundTruth: Send + Sync + 'static {
    /// Whether [`GroundTruth::decide`] needs the artifact's content. When
    /// `false`, the runtime does not download anything: it passes each
    /// artifact with empty content and the metadata of the bundle's
    /// manifest (filename, size, mimetype and the node-computed hashes).
    fn needs_content(&self) -> bool {
        true
    }

    /// Prepares the backend; called once when the arbiter starts.
    fn setup(&self) -> impl Future<Output = Result<(), ScanError>> + Send {
        async { Ok(()) }
    }

    /// Decides one artifact.
    fn decide(
        &self,
        artifact: &Artifact,
    ) -> impl Future<Output = Result<Option<bool>, ScanError>> + Send;

    /// Releases the backend; called once when the arbiter stops.
    fn teardown(&self) -> impl Future<Output = Result<(), ScanError>> + Send {
        async { Ok(()) }
    }
}

/// A [`Scanner`] as ground truth: Malicious → `Some(true)`, Benign →
/// `Some(false)`, Suspicious and Unknown → `None`.
#[derive(Clone, Debug, Default)]
pub struct ScannerTruth<S> {
    scanner: S,
}

impl<S: Scanner> ScannerTruth<S> {
    /// Decides with `scanner`.
    pub fn new(scanner: S) -> Self {
        ScannerTruth { scanner }
    }

    /// The scanner.
    pub fn scanner(&self) -> &S {
        &self.scanner
    }
}

impl<S: Scanner> GroundTruth for ScannerTruth<S> {
    async fn setup(&self) -> Result<(), ScanError> {
        self.scanner.setup().await
    }

    async fn decide(&self, artifact: &Artifact) -> Result<Option<bool>, ScanError> {
        let result = self.scanner.scan(artifact).await?;
        Ok(match result.verdict {
            Verdict::Malicious => Some(true),
            Verdict::Benign => Some(false),
            Verdict::Suspicious | Verdict::Unknown => None,
        })
    }

    async fn teardown(&self) -> Result<(), ScanError> {
        self.scanner.teardown().await
    }
}

/// Why a ground-truth table does not load.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    /// The file cannot be read.
    #[error("cannot read {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        error: std::io::Error,
    },
    /// A CSV line is wrong (lines count from 1).
    #[error("line {line}: {message}")]
    Line {
        /// The line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The JSON is wrong.
    #[error("{0}")]
    Json(String),
}

/// A verbatim sha256 → verdict table (`true`: malicious).
///
/// Loads from CSV — one `sha256,malicious` or `sha256,benign` per line;
/// blank lines, `#` comments and a `sha256,...` header line are skipped;
/// `true`/`false` and `1`/`0` are accepted as well — or from JSON: either an
/// object `{"<sha256>": "malicious" | "benign" | true | false, ...}` or an
/// array of `{"sha256": "...", "malicious": bool}` (or `"verdict":
/// "malicious" | "benign"`). Hashes are 64 hex digits, any case. A hash
/// listed twice with different verdicts is an error.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sha256Table {
    table: HashMap<[u8; 32], bool>,
}

fn parse_sha256(text: &str) -> Result<[u8; 32], String> {
    let text = text.trim();
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return Err(format!("{text:?} is not a sha256 (64 hex digits)"));
    }
    hex::decode_to_slice(text, &mut out)
        .map_err(|_| format!("{text:?} is not a sha256 (64 hex digits)"))?;
    Ok(out)
}

fn parse_verdict(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "malicious" | "true" | "1" => Ok(true),
        "benign" | "false" | "0" => Ok(false),
        other => Err(format!("{other:?} is not malicious or benign")),
    }
}

impl Sha256Table {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `sha256` (64 hex digits) as malicious or benign.
    pub fn insert(&mut self, sha256: &str, malicious: bool) -> Result<(), String> {
        let key = parse_sha256(sha256)?;
        match self.table.insert(key, malicious) {
            Some(previous) if previous != malicious => Err(format!(
                "{} is listed both as malicious and as benign",
                sha256.trim()
            )),
            _ => Ok(()),
        }
    }

    /// The verdict for `sha256`, if listed (or if it is not a sha256).
    pub fn get(&self, sha256: &str) -> Option<bool> {
        let key = parse_sha256(sha256).ok()?;
        self.table.get(&key).copied()
    }

    /// The verdict for `content`, by its sha256.
    pub fn get_content(&self, content: &[u8]) -> Option<bool> {
        let key: [u8; 32] = sha2::Sha256::digest(content).into();
        self.table.get(&key).copied()
    }

    /// Hashes listed.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Parses the CSV form.
    pub fn from_csv(text: &str) -> Result<Self, TableError> {
        let mut table = Sha256Table::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |message: String| TableError::Line {
                line: line_no,
                message,
            };
            let Some((hash, verdict)) = line.split_once(',') else {
                return Err(err(format!("expected sha256,verdict, got {line:?}")));
            };
            if line_no == 1 && hash.trim().eq_ignore_ascii_case("sha256") {
                continue;
            }
            let verdict = verdict.trim().trim_end_matches(',');
            let malicious = parse_verdict(verdict).map_err(err)?;
            table.insert(hash, malicious).map_err(err)?;
        }
        Ok(table)
    }

    /// Parses the JSON form.
    pub fn from_json(text: &str) -> Result<Self, TableError> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Verdictish {
            Bool(bool),
            Text(String),
        }
        impl Verdictish {
            fn get(&self) -> Result<bool, String> {
                match self {
                    Verdictish::Bool(b) => Ok(*b),
                    Verdictish::Text(t) => parse_verdict(t),
                }
            }
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Entry {
            sha256: String,
            #[serde(default)]
            malicious: Option<bool>,
            #[serde(default)]
            verdict: Option<Verdictish>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Doc {
            Map(std::collections::BTreeMap<String, Verdictish>),
            List(Vec<Entry>),
        }
        let doc: Doc = serde_json::from_str(text).map_err(|e| {
            TableError::Json(format!(
                "not a sha256 table (an object of sha256 -> verdict, or a list of \
                 {{\"sha256\", \"malicious\"}}): {e}"
            ))
        })?;
        let mut table = Sha256Table::new();
        match doc {
            Doc::Map(map) => {
                for (hash, verdict) in map {
                    let malicious = verdict
                        .get()
                        .map_err(|e| TableError::Json(format!("{hash}: {e}")))?;
                    table.insert(&hash, malicious).map_err(TableError::Json)?;
                }
            }
            Doc::List(entries) => {
                for (i, entry) in entries.into_iter().enumerate() {
                    let malicious = match (entry.malicious, entry.verdict) {
                        (Some(m), None) => m,
                        (None, Some(v)) => v
                            .get()
                            .map_err(|e| TableError::Json(format!("entry {i}: {e}")))?,
                        _ => {
                            return Err(TableError::Json(format!(
                                "entry {i}: give exactly one of \"malicious\" and \"verdict\""
                            )))
                        }
                    };
                    table
                        .insert(&entry.sha256, malicious)
                        .map_err(|e| TableError::Json(format!("entry {i}: {e}")))?;
                }
            }
        }
        Ok(table)
    }

    /// Parses JSON when the text starts with `{` or `[`, CSV otherwise.
    pub fn parse(text: &str) -> Result<Self, TableError> {
        match text.trim_start().chars().next() {
            Some('{') | Some('[') => Self::from_json(text),
            _ => Self::from_csv(text),
        }
    }

    /// Loads a table file (JSON or CSV, told apart by content).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TableError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| TableError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        Self::parse(&text)
    }
}

impl GroundTruth for Sha256Table {
    fn needs_content(&self) -> bool {
        false
    }

    /// By the manifest's sha256 when the artifact has no content, by the
    /// content's own hash otherwise.
    async fn decide(&self, artifact: &Artifact) -> Result<Option<bool>, ScanError> {
        if artifact.content.is_empty() {
            if let Some(sha256) = &artifact.metadata.sha256 {
                return Ok(self.get(sha256));
            }
        }
        Ok(self.get_content(&artifact.content))
    }
}

/// Why the arbiter stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArbiterError {
    /// The builder is missing something or holds a bad value.
    #[error("arbiter misconfigured: {0}")]
    Config(String),
    /// A call to the node failed.
    #[error("{context}: {error}")]
    Node {
        /// What the arbiter was doing.
        context: String,
        /// The failure.
        error: ClientError,
    },
    /// The account is not on the community's arbiter whitelist.
    #[error("{0} is not a whitelisted arbiter of this community; the owner must add it (community:AddArbiter)")]
    NotWhitelisted(Address),
    /// The account cannot pay the stake it lacks.
    #[error("{address} holds {balance}, but staking up to the minimum needs {needed}")]
    InsufficientBalance {
        /// The arbiter.
        address: Address,
        /// Its balance.
        balance: Amount,
        /// The missing stake.
        needed: Amount,
    },
    /// The ground-truth backend failed to start.
    #[error("ground truth backend: {0}")]
    Truth(ScanError),
    /// The state file cannot be read or written.
    #[error("state file {path}: {message}")]
    State {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

fn node_error(context: impl Into<String>) -> impl FnOnce(ClientError) -> ArbiterError {
    let context = context.into();
    move |error| ArbiterError::Node { context, error }
}

/// What an arbiter run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ArbiterReport {
    /// The arbiter's account.
    pub address: Address,
    /// Its stake after the start-up deposit.
    pub stake: Amount,
    /// What this run deposited.
    pub deposited: Amount,
    /// Bounties voted on (including votes the node already had).
    pub voted: usize,
    /// Bounties not voted on because the ground truth failed.
    pub abstained: usize,
    /// Bounties whose vote window passed before a vote got in, or whose
    /// vote the node refused.
    pub missed: usize,
    /// Bounties voted on whose settlement this run saw.
    pub settled: usize,
    /// Sum of the `arbiter` payouts to this account in those settlements.
    pub fees_earned: Amount,
    /// The last block seen.
    pub last_block: u64,
}

/// The resume point kept in the state file.
#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    resume_from: u64,
}

fn read_state(path: &Path) -> Result<Option<u64>, ArbiterError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ArbiterError::State {
                path: path.to_path_buf(),
                message: e.to_string(),
            })
        }
    };
    let state: StateFile = serde_json::from_str(&text).map_err(|e| ArbiterError::State {
        path: path.to_path_buf(),
        message: format!("not an arbiter state file: {e}"),
    })?;
    Ok(Some(state.resume_from))
}

/// Writes the state atomically (temporary file, then rename).
fn write_state(path: &Path, resume_from: u64) -> std::io::Result<()> {
    let text = serde_json::to_string(&StateFile { resume_from }).map_err(std::io::Error::other)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// Configures an [`Arbiter`].
#[must_use]
pub struct ArbiterBuilder<T> {
    truth: T,
    client: Option<NodeClient>,
    key: Option<PrivateKey>,
    state: Option<PathBuf>,
    max_concurrency: usize,
    testing: Option<usize>,
    shutdown: CancellationToken,
}

impl<T: GroundTruth> ArbiterBuilder<T> {
    /// The node at `url` (such as `http://127.0.0.1:31337`).
    pub fn node(mut self, url: impl Into<String>) -> Self {
        self.client = Some(NodeClient::new(url));
        self
    }

    /// A configured client instead of [`ArbiterBuilder::node`].
    pub fn client(mut self, client: NodeClient) -> Self {
        self.client = Some(client);
        self
    }

    /// The arbiter's key: whitelisted by the community owner.
    pub fn key(mut self, key: PrivateKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Keeps the resume point in this file, so a restarted arbiter misses
    /// no bounty.
    pub fn state(mut self, path: impl Into<PathBuf>) -> Self {
        self.state = Some(path.into());
        self
    }

    /// Most bounties decided at once. Default: 4.
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n;
        self
    }

    /// Exits after `n` bounties were handled (voted on, abstained from or
    /// missed), once the bounties it voted on have settled.
    pub fn testing(mut self, n: usize) -> Self {
        self.testing = Some(n);
        self
    }

    /// Stops the run when cancelled.
    pub fn shutdown(mut self, token: CancellationToken) -> Self {
        self.shutdown = token;
        self
    }

    /// Checks the configuration.
    pub fn build(self) -> Result<Arbiter<T>, ArbiterError> {
        let (client, key) = crate::client::checked_connection(self.client, self.key)
            .map_err(ArbiterError::Config)?;
        if self.max_concurrency == 0 {
            return Err(ArbiterError::Config(
                "max_concurrency must be at least 1".into(),
            ));
        }
        Ok(Arbiter {
            truth: Arc::new(self.truth),
            client,
            key,
            state: self.state,
            max_concurrency: self.max_concurrency,
            testing: self.testing,
            shutdown: self.shutdown,
        })
    }
}

/// Decides the ground truth of bounties and votes on them.
pub struct Arbiter<T> {
    truth: Arc<T>,
    client: NodeClient,
    key: PrivateKey,
    state: Option<PathBuf>,
    max_concurrency: usize,
    testing: Option<usize>,
    shutdown: CancellationToken,
}

impl<T> std::fmt::Debug for Arbiter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arbiter")
            .field("node", &self.client.base_url())
            .field("address", &self.key.address())
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Where a bounty the arbiter follows stands.
enum Stage {
    /// The ground truth is being decided.
    Deciding,
    /// Decided; waiting for the vote round.
    Decided(Vec<bool>),
    /// The vote is being sent.
    Voting,
    /// Voted; waiting for the settlement.
    Voted,
}

struct Followed {
    posted_block: u64,
    reveal_deadline: u64,
    vote_deadline: u64,
    stage: Stage,
}

/// What a decision task reports.
struct Decided {
    guid: Guid,
    votes: Result<Vec<bool>, String>,
}

/// What a vote task reports.
struct VoteSent {
    guid: Guid,
    result: Result<Submitted, ClientError>,
}

/// Attempts at deciding a bounty before abstaining.
const DECIDE_ATTEMPTS: u32 = 3;

/// Least time between two state file writes.
const STATE_WRITE_EVERY: Duration = Duration::from_secs(1);

impl<T: GroundTruth> Arbiter<T> {
    /// Starts configuring an arbiter deciding with `truth`.
    pub fn builder(truth: T) -> ArbiterBuilder<T> {
        ArbiterBuilder {
            truth,
            client: None,
            key: None,
            state: None,
            max_concurrency: 4,
            testing: None,
            shutdown: CancellationToken::new(),
        }
    }

    /// Stakes, then votes on bounties until shut down (or, with
    /// [`ArbiterBuilder::testing`], until enough bounties were handled).
    pub async fn run(self) -> Result<ArbiterReport, ArbiterError> {
        self.truth.setup().await.map_err(ArbiterError::Truth)?;
        let result = self.run_inner().await;
        if let Err(e) = self.truth.teardown().await {
            tracing::warn!(error = %e, "ground truth teardown failed");
        }
        result
    }

    async fn run_inner(&self) -> Result<ArbiterReport, ArbiterError> {
        let address = self.key.address();
        let params = self
            .client
            .parameters()
            .await
            .map_err(node_error("cannot read the community parameters"))?;
        if !params.arbiters.contains(&address) {
            return Err(ArbiterError::NotWhitelisted(address));
        }
        let community = params.community.clone();
        let p = &params.parameters;
        let mut report = ArbiterReport {
            address,
            ..Default::default()
        };
        let (stake, deposited) = self.stake_up(&community, p.minimum_stake).await?;
        report.stake = stake;
        report.deposited = deposited;

        let tip = self
            .client
            .status()
            .await
            .map_err(node_error("cannot read the node status"))?
            .block;
        let lookback = p
            .max_duration
            .saturating_add(p.assertion_reveal_window)
            .saturating_add(p.arbiter_vote_window);
        let earliest = tip.saturating_sub(lookback);
        let saved = match &self.state {
            Some(path) => read_state(path)?,
            None => None,
        };
        let since = saved.map_or(earliest, |s| s.max(earliest));
        tracing::info!(%address, %stake, since, tip, "arbiter started");

        let (mut events, _events_task) = spawn_events(&self.client, since);
        let (decided_tx, mut decided_rx) = mpsc::channel::<Decided>(256);
        let (voted_tx, mut voted_rx) = mpsc::channel::<VoteSent>(256);
        let permits = Arc::new(Semaphore::new(self.max_concurrency));
        let max_size = p.max_artifact_size;

        let mut followed: HashMap<Guid, Followed> = HashMap::new();
        let mut current = since.saturating_sub(1);
        let mut handled = 0usize;
        let mut last_state_write = tokio::time::Instant::now();
        let mut written_resume = saved;

        loop {
            if let Some(n) = self.testing {
                if handled >= n {
                    let waiting = followed
                        .values()
                        .filter(|f| matches!(f.stage, Stage::Voting | Stage::Voted))
                        .map(|f| f.vote_deadline)
                        .max();
                    match waiting {
                        None => break,
                        Some(deadline) if current > deadline.saturating_add(2) => break,
                        Some(_) => {}
                    }
                }
            }
            let accepting = self.testing.is_none_or(|n| handled < n);
            tokio::select! {
                _ = self.shutdown.cancelled() => {
                    tracing::info!("arbiter: shutting down");
                    break;
                }
                event = events.recv() => {
                    let Some(event) = event else {
                        return Err(ArbiterError::Config("event stream ended".into()));
                    };
                    match event.event {
                        Event::Block { number } => {
                            current = current.max(number);
                            report.last_block = current;
                            self.on_block(
                                current,
                                accepting,
                                &community,
                                &mut followed,
                                &mut report,
                                &mut handled,
                                &voted_tx,
                            );
                            if last_state_write.elapsed() >= STATE_WRITE_EVERY {
                                self.save_state(&followed, current, &mut written_resume);
                                last_state_write = tokio::time::Instant::now();
                            }
                        }
                        Event::Bounty(bounty) => {
                            if !accepting || followed.contains_key(&bounty.guid) {
                                continue;
                            }
                            if bounty.vote_deadline <= current.max(tip) {
                                // History: its vote window closed before we started.
                                continue;
                            }
                            tracing::debug!(guid = %bounty.guid, block = event.block_number, "deciding bounty");
                            followed.insert(bounty.guid, Followed {
                                posted_block: event.block_number,
                                reveal_deadline: bounty.reveal_deadline,
                                vote_deadline: bounty.vote_deadline,
                                stage: Stage::Deciding,
                            });
                            self.spawn_decision(bounty, max_size, &permits, &decided_tx);
                        }
                        Event::SettledBounty(settled) => {
                            let Some(f) = followed.remove(&settled.bounty_guid) else {
                                continue;
                            };
                            let fee: Amount = settled
                                .payouts
                                .iter()
                                .filter(|p| p.role == PayoutRole::Arbiter && p.account == address)
                                .map(|p| p.amount)
                                .sum();
                            match f.stage {
                                Stage::Voted => {
                                    report.settled += 1;
                                    report.fees_earned = report.fees_earned.checked_add(fee).unwrap_or(report.fees_earned);
                                    tracing::info!(guid = %settled.bounty_guid, fee = %fee, "bounty settled");
                                }
                                Stage::Voting => {
                                    // The vote task reports the vote itself.
                                    report.settled += 1;
                                    report.fees_earned = report.fees_earned.checked_add(fee).unwrap_or(report.fees_earned);
                                }
                                Stage::Deciding | Stage::Decided(_) => {
                                    tracing::warn!(guid = %settled.bounty_guid, "bounty settled before this arbiter voted");
                                    report.missed += 1;
                                    handled += 1;
                                }
                            }
                        }
                        _ => {}
                    }
                }
                Some(decided) = decided_rx.recv() => {
                    let Some(f) = followed.get_mut(&decided.guid) else {
                        continue;
                    };
                    match decided.votes {
                        Ok(votes) => {
                            f.stage = Stage::Decided(votes);
                            if accepting {
                                self.maybe_vote(decided.guid, f, current, &community, &voted_tx);
                            }
                        }
                        Err(e) => {
                            tracing::warn!(guid = %decided.guid, error = %e, "cannot decide the bounty; abstaining");
                            followed.remove(&decided.guid);
                            report.abstained += 1;
                            handled += 1;
                        }
                    }
                }
                Some(sent) = voted_rx.recv() => {
                    let outcome = match sent.result {
                        Ok(s) => {
                            tracing::info!(guid = %sent.guid, block = s.block_number, "voted");
                            true
                        }
                        Err(e) if e.code() == Some("duplicate_vote") => {
                            tracing::info!(guid = %sent.guid, "already voted");
                            true
                        }
                        Err(e) if e.code() == Some("replayed") => {
                            // The client retried this very transaction after
                            // its answer was lost: the vote is in.
                            tracing::info!(guid = %sent.guid, "voted (the answer was lost)");
                            true
                        }
                        Err(e) => {
                            tracing::warn!(guid = %sent.guid, error = %e, "vote refused");
                            false
                        }
                    };
                    handled += 1;
                    if outcome {
                        report.voted += 1;
                        if let Some(f) = followed.get_mut(&sent.guid) {
                            f.stage = Stage::Voted;
                        }
                    } else {
                        report.missed += 1;
                        followed.remove(&sent.guid);
                    }
                }
            }
        }
        if self.state.is_some() {
            written_resume = None;
            self.save_state(&followed, current, &mut written_resume);
        }
        tracing::info!(
            voted = report.voted,
            abstained = report.abstained,
            missed = report.missed,
            fees = %report.fees_earned,
            "arbiter finished"
        );
        Ok(report)
    }

    /// Deposits whatever is missing up to `minimum`; returns the stake and
    /// the deposit.
    async fn stake_up(
        &self,
        community: &str,
        minimum: Amount,
    ) -> Result<(Amount, Amount), ArbiterError> {
        let address = self.key.address();
        let stake = self
            .client
            .stake_total(&address)
            .await
            .map_err(node_error("cannot read the stake"))?;
        let Some(missing) = minimum.checked_sub(stake).filter(|m| !m.is_zero()) else {
            return Ok((stake, Amount::ZERO));
        };
        let balance = self
            .client
            .balance(&address)
            .await
            .map_err(node_error("cannot read the balance"))?;
        if balance < missing {
            return Err(ArbiterError::InsufficientBalance {
                address,
                balance,
                needed: missing,
            });
        }
        self.client
            .send(&self.key, community, StakeDeposit { amount: missing }, true)
            .await
            .map_err(node_error(format!("cannot stake {missing}")))?;
        tracing::info!(%address, deposited = %missing, "staked up to the minimum");
        Ok((minimum, missing))
    }

    /// On each block: vote what is due, give up on what is too late.
    #[allow(clippy::too_many_arguments)]
    fn on_block(
        &self,
        block: u64,
        accepting: bool,
        community: &str,
        followed: &mut HashMap<Guid, Followed>,
        report: &mut ArbiterReport,
        handled: &mut usize,
        voted_tx: &mpsc::Sender<VoteSent>,
    ) {
        followed.retain(|guid, f| {
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
        if accepting {
            for (guid, f) in followed.iter_mut() {
                self.maybe_vote(*guid, f, block, community, voted_tx);
            }
        }
    }

    /// Sends the vote of a decided bounty whose vote round is open.
    fn maybe_vote(
        &self,
        guid: Guid,
        f: &mut Followed,
        block: u64,
        community: &str,
        voted_tx: &mpsc::Sender<VoteSent>,
    ) {
        if block < f.reveal_deadline || block >= f.vote_deadline {
            return;
        }
        if !matches!(f.stage, Stage::Decided(_)) {
            return;
        }
        let Stage::Decided(votes) = std::mem::replace(&mut f.stage, Stage::Voting) else {
            return;
        };
        let vote = Vote {
            bounty_guid: guid,
            votes: Bits256::from_bools(&votes),
        };
        let client = self.client.clone();
        let key = self.key.clone();
        let community = community.to_owned();
        let tx = voted_tx.clone();
        tracing::debug!(%guid, ?votes, "voting");
        tokio::spawn(async move {
            let result = client.send(&key, &community, vote, true).await;
            let _ = tx.send(VoteSent { guid, result }).await;
        });
    }

    fn spawn_decision(
        &self,
        bounty: BountyPosted,
        max_size: u64,
        permits: &Arc<Semaphore>,
        decided_tx: &mpsc::Sender<Decided>,
    ) {
        let truth = Arc::clone(&self.truth);
        let client = self.client.clone();
        let permits = Arc::clone(permits);
        let tx = decided_tx.clone();
        tokio::spawn(async move {
            let guid = bounty.guid;
            let votes = match permits.acquire_owned().await {
                Ok(_permit) => decide_bounty(truth.as_ref(), &client, &bounty, max_size).await,
                Err(_) => Err("shutting down".to_owned()),
            };
            let _ = tx.send(Decided { guid, votes }).await;
        });
    }

    /// Writes the resume point when it moved (and a state file is set).
    fn save_state(
        &self,
        followed: &HashMap<Guid, Followed>,
        current: u64,
        written: &mut Option<u64>,
    ) {
        let Some(path) = &self.state else {
            return;
        };
        let resume = followed
            .values()
            .filter(|f| matches!(f.stage, Stage::Deciding | Stage::Decided(_)))
            .map(|f| f.posted_block)
            .min()
            .unwrap_or(current)
            .min(current);
        if *written == Some(resume) {
            return;
        }
        match write_state(path, resume) {
            Ok(()) => *written = Some(resume),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot write the state file")
            }
        }
    }
}

/// Decides every artifact of `bounty`, retrying failures; undecided
/// artifacts vote benign.
async fn decide_bounty<T: GroundTruth>(
    truth: &T,
    client: &NodeClient,
    bounty: &BountyPosted,
    max_size: u64,
) -> Result<Vec<bool>, String> {
    let mut backoff = Duration::from_millis(250);
    let mut attempt = 1;
    loop {
        match decide_once(truth, client, bounty, max_size).await {
            Ok(decisions) => {
                let undecided = decisions.iter().filter(|d| d.is_none()).count();
                if undecided > 0 {
                    tracing::info!(guid = %bounty.guid, undecided, "undecided artifacts vote benign");
                }
                return Ok(decisions.into_iter().map(|d| d.unwrap_or(false)).collect());
            }
            Err(e) if attempt >= DECIDE_ATTEMPTS => return Err(e),
            Err(e) => {
                tracing::debug!(guid = %bounty.guid, error = %e, attempt, "deciding failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                attempt += 1;
            }
        }
    }
}

async fn decide_once<T: GroundTruth>(
    truth: &T,
    client: &NodeClient,
    bounty: &BountyPosted,
    max_size: u64,
) -> Result<Vec<Option<bool>>, String> {
    let n = bounty.num_artifacts as usize;
    let kind = match bounty.artifact_type {
        ArtifactType::File => ArtifactKind::File,
        ArtifactType::Url => ArtifactKind::Url,
    };
    let mut artifacts = Vec::with_capacity(n);
    if truth.needs_content() {
        for index in 0..n {
            let content = client
                .download(&bounty.uri, index, max_size)
                .await
                .map_err(|e| format!("cannot download artifact {index}: {e}"))?;
            let metadata = bounty
                .metadata
                .as_ref()
                .and_then(|m| m.get(index))
                .cloned()
                .unwrap_or_default();
            artifacts.push((content, metadata));
        }
    } else {
        let manifest = client
            .manifest(&bounty.uri)
            .await
            .map_err(|e| format!("cannot read the manifest: {e}"))?;
        if manifest.len() != n {
            return Err(format!(
                "the manifest lists {} artifacts, the bounty {n}",
                manifest.len()
            ));
        }
        for info in manifest {
            artifacts.push((Bytes::new(), info.to_metadata()));
        }
    }
    let mut decisions = Vec::with_capacity(n);
    for (index, (content, metadata)) in artifacts.into_iter().enumerate() {
        let artifact = Artifact {
            bounty_guid: bounty.guid,
            index,
            kind,
            content,
            metadata,
        };
        let decision = truth
            .decide(&artifact)
            .await
            .map_err(|e| format!("artifact {index}: {e}"))?;
        decisions.push(decision);
    }
    Ok(decisions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scanner::ScanResult;
    use swarm_protocol::ArtifactMetadata;

    const A: &str = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";
    const B: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn csv_table() {
        let text = format!(
            "sha256,verdict\n# a comment\n\n{A},malicious\n{}, Benign \n",
            B.to_uppercase()
        );
        let t = Sha256Table::from_csv(&text).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t.get(A), Some(true));
        assert_eq!(t.get(B), Some(false));
        assert_eq!(t.get(&B.to_uppercase()), Some(false));
        assert_eq!(t.get_content(b""), Some(false));
        assert_eq!(t.get(&"0".repeat(64)), None);
        assert_eq!(t.get("nonsense"), None);
        // true/false and 1/0 work too.
        let t = Sha256Table::from_csv(&format!("{A},1\n{B},false")).unwrap();
        assert_eq!((t.get(A), t.get(B)), (Some(true), Some(false)));
    }

    #[test]
    fn csv_errors_name_the_line() {
        let e = Sha256Table::from_csv(&format!("{A},malicious\n{B},maybe\n")).unwrap_err();
        assert!(e.to_string().starts_with("line 2:"), "{e}");
        let e = Sha256Table::from_csv("abc,malicious\n").unwrap_err();
        assert!(e.to_string().contains("not a sha256"), "{e}");
        let e = Sha256Table::from_csv(&format!("\n{A}\n")).unwrap_err();
        assert!(e.to_string().starts_with("line 2:"), "{e}");
        let e = Sha256Table::from_csv(&format!("{A},malicious\n{A},benign\n")).unwrap_err();
        assert!(e.to_string().contains("both"), "{e}");
        // The same verdict twice is fine.
        assert_eq!(
            Sha256Table::from_csv(&format!("{A},malicious\n{A},malicious\n"))
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn json_tables() {
        let object = format!(r#"{{"{A}": "malicious", "{B}": false}}"#);
        let t = Sha256Table::from_json(&object).unwrap();
        assert_eq!((t.get(A), t.get(B)), (Some(true), Some(false)));
        let list = format!(
            r#"[{{"sha256": "{A}", "malicious": true}}, {{"sha256": "{B}", "verdict": "benign"}}]"#
        );
        let t2 = Sha256Table::parse(&list).unwrap();
        assert_eq!(t, t2);
        assert!(Sha256Table::from_json(&format!(r#"{{"{A}": "meh"}}"#)).is_err());
        assert!(Sha256Table::from_json(&format!(r#"[{{"sha256": "{A}"}}]"#)).is_err());
        assert!(Sha256Table::from_json("[1, 2]").is_err());
        assert!(Sha256Table::from_json(r#"{"xyz": true}"#).is_err());
    }

    #[test]
    fn load_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("t.csv");
        std::fs::write(&csv, format!("{A},malicious\n")).unwrap();
        let json = dir.path().join("t.txt");
        std::fs::write(&json, format!("  {{\"{A}\": true}}")).unwrap();
        assert_eq!(
            Sha256Table::load(&csv).unwrap(),
            Sha256Table::load(&json).unwrap()
        );
        let e = Sha256Table::load(dir.path().join("missing")).unwrap_err();
        assert!(matches!(e, TableError::Io { .. }), "{e}");
    }

    fn artifact(content: &'static [u8], sha256: Option<&str>) -> Artifact {
        Artifact {
            bounty_guid: Guid::nil(),
            index: 0,
            kind: ArtifactKind::File,
            content: Bytes::from_static(content),
            metadata: ArtifactMetadata {
                sha256: sha256.map(str::to_owned),
                ..Default::default()
            },
        }
    }

    #[tokio::test]
    async fn table_decides_by_manifest_hash_or_content() {
        let mut t = Sha256Table::new();
        t.insert(A, true).unwrap();
        assert!(!t.needs_content());
        assert_eq!(t.decide(&artifact(b"", Some(A))).await.unwrap(), Some(true));
        assert_eq!(t.decide(&artifact(b"", Some(B))).await.unwrap(), None);
        // Content, when there is some, is hashed itself.
        let eicar = crate::ambassador::EICAR;
        let a = Artifact {
            content: Bytes::from_static(eicar),
            ..artifact(b"", Some(B))
        };
        assert_eq!(t.decide(&a).await.unwrap(), Some(true));
    }

    struct Fixed(Verdict);

    impl Scanner for Fixed {
        async fn scan(&self, _: &Artifact) -> Result<ScanResult, ScanError> {
            Ok(ScanResult {
                verdict: self.0,
                ..ScanResult::unknown()
            })
        }
    }

    #[tokio::test]
    async fn scanner_truth_maps_verdicts() {
        let a = artifact(b"x", None);
        let cases = [
            (Verdict::Malicious, Some(true)),
            (Verdict::Benign, Some(false)),
            (Verdict::Suspicious, None),
            (Verdict::Unknown, None),
        ];
        for (verdict, expected) in cases {
            let truth = ScannerTruth::new(Fixed(verdict));
            assert!(truth.needs_content());
            assert_eq!(truth.decide(&a).await.unwrap(), expected, "{verdict:?}");
        }
    }

    #[test]
    fn state_file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arbiter.json");
        assert_eq!(read_state(&path).unwrap(), None);
        write_state(&path, 42).unwrap();
        assert_eq!(read_state(&path).unwrap(), Some(42));
        std::fs::write(&path, "garbage").unwrap();
        assert!(read_state(&path).is_err());
    }
}
