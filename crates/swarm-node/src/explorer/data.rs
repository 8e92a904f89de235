//! What the explorer shows, computed from the committed registry and the
//! store: the overview's numbers, per-engine statistics, a bounty's
//! per-artifact outcome and the families engines named, an account's
//! activity.
//!
//! Engine statistics are derived, not stored: every settled bounty keeps its
//! assertions, revealed verdicts, consensus and payouts in its final record
//! (in the store once settled, [`crate::bounties`]), so an engine's record
//! is a fold over them. The settled part is kept as running totals
//! ([`SettledTotals`]) that fold in only what settled since the last page
//! (an indexed range of the store), and the open bounties are added on
//! each page: memory bounded by the engines and families, not the bounties,
//! and a page's cost by what is open and what settled since. The overview's
//! counters of settlements are indexed store queries (see
//! docs/DECISIONS.md).

use std::collections::BTreeMap;

use swarm_protocol::{Address, Amount, Assertion, Bounty, PayoutRole, Registry, Round};

use crate::bounties;
use crate::sequencer::ChainView;

use crate::store::{Store, StoreError};

/// Milliseconds in a minute and a day.
pub(crate) const MINUTE_MS: u64 = 60_000;
const DAY_MS: u64 = 86_400_000;

/// Minutes shown by the "settled per minute" chart.
pub(crate) const CHART_MINUTES: u64 = 30;

/// The window over which transactions per second are measured.
const TX_RATE_WINDOW_MS: u64 = 10_000;

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The overview page's numbers.
#[derive(Debug, Clone)]
pub(crate) struct Overview {
    /// Community name.
    pub(crate) community: String,
    /// Height of the last block.
    pub(crate) block: u64,
    /// Its timestamp, Unix milliseconds.
    pub(crate) block_time_ms: Option<u64>,
    /// Transactions per second over the last ten seconds.
    pub(crate) tx_per_sec: f64,
    /// Unsettled bounties per round, in round order.
    pub(crate) open_by_round: Vec<(Round, usize)>,
    /// Bounties settled since midnight UTC.
    pub(crate) settled_today: usize,
    /// Bounties ever posted.
    pub(crate) bounties: usize,
    /// NCT held by unsettled bounties.
    pub(crate) escrow: Amount,
    /// NCT staked by arbiters.
    pub(crate) staked: Amount,
    /// Whitelisted arbiters.
    pub(crate) arbiters: usize,
    /// Settlements per minute, oldest first: (minute start ms, count).
    pub(crate) settled_per_minute: Vec<(u64, u64)>,
}

/// Computes the overview at `now_ms`. Every store query here is an index
/// lookup or a scan of the last ten seconds, so the page stays cheap on a
/// long chain.
pub(crate) async fn overview(
    community: &str,
    store: &dyn Store,
    facts: RegistryFacts,
    tip: Option<(u64, u64)>,
    now_ms: u64,
) -> Result<Overview, StoreError> {
    let first_today = store.first_block_since(now_ms - now_ms % DAY_MS).await?;
    let recent = store
        .block_activity(now_ms.saturating_sub(TX_RATE_WINDOW_MS), 1000)
        .await?;
    let recent_txs: u64 = recent.iter().map(|b| b.transactions).sum();
    let chart_start = (now_ms / MINUTE_MS).saturating_sub(CHART_MINUTES - 1) * MINUTE_MS;
    let minutes: Vec<u64> = (0..CHART_MINUTES)
        .map(|i| chart_start + i * MINUTE_MS)
        .collect();
    let firsts =
        futures_util::future::try_join_all(minutes.iter().map(|&at| store.first_block_since(at)))
            .await?;

    // Settlements per block since the earliest block either figure needs:
    // bounded by the blocks of a day, however long the chain.
    let from = firsts
        .iter()
        .flatten()
        .chain(first_today.iter())
        .min()
        .copied();
    let settled = match from {
        Some(from) => store.settled_per_block(from).await?,
        None => Vec::new(),
    };
    let settled_today = match first_today {
        Some(first) => settled
            .iter()
            .filter(|(b, _)| *b >= first)
            .map(|(_, n)| *n as usize)
            .sum(),
        None => 0,
    };
    let starts: Vec<(u64, Option<u64>)> = minutes.into_iter().zip(firsts).collect();
    Ok(Overview {
        community: community.to_owned(),
        block: tip.map(|t| t.0).unwrap_or(0),
        block_time_ms: tip.map(|t| t.1),
        tx_per_sec: recent_txs as f64 / (TX_RATE_WINDOW_MS as f64 / 1000.0),
        open_by_round: facts.open_by_round,
        settled_today,
        bounties: facts.bounties,
        escrow: facts.escrow,
        staked: facts.staked,
        arbiters: facts.arbiters,
        settled_per_minute: per_bucket(&starts, &settled),
    })
}

/// Counts `events` — (block, count) sorted by block — per time bucket,
/// given each bucket's start and the first block sealed at or after it
/// (`None`: no block since). A bucket holds the blocks from its first
/// block up to the next bucket's first block.
pub(crate) fn per_bucket(starts: &[(u64, Option<u64>)], events: &[(u64, u64)]) -> Vec<(u64, u64)> {
    // Running totals: the events before each position.
    let mut before = Vec::with_capacity(events.len() + 1);
    before.push(0u64);
    for (_, n) in events {
        let last = before.last().copied().unwrap_or(0);
        before.push(last.saturating_add(*n));
    }
    starts
        .iter()
        .enumerate()
        .map(|(i, &(at, first))| {
            let count = match first {
                None => 0,
                Some(lo) => {
                    let hi = starts.get(i + 1).and_then(|s| s.1).unwrap_or(u64::MAX);
                    let from = events.partition_point(|&(e, _)| e < lo);
                    let to = events.partition_point(|&(e, _)| e < hi);
                    // Saturating: a clock stepped back could make hi < lo.
                    before[to].saturating_sub(before[from])
                }
            };
            (at, count)
        })
        .collect()
}

/// What the overview needs from the registry, read in one short lock.
#[derive(Debug, Clone, Default)]
pub(crate) struct RegistryFacts {
    open_by_round: Vec<(Round, usize)>,
    bounties: usize,
    escrow: Amount,
    staked: Amount,
    arbiters: usize,
}

/// Reads the overview's registry facts.
pub(crate) fn registry_facts(r: &Registry) -> RegistryFacts {
    let block = r.block();
    let mut open: BTreeMap<Round, usize> = [Round::Assertion, Round::Reveal, Round::Vote]
        .into_iter()
        .map(|round| (round, 0))
        .collect();
    // The registry holds the open bounties only (settled ones are handed
    // out with their block): this is bounded by what is open.
    for b in r.bounties_newest_first() {
        if b.settlement.is_none() {
            let round = b.round(block);
            if round != Round::Finished {
                *open.entry(round).or_insert(0) += 1;
            }
        }
    }
    RegistryFacts {
        open_by_round: open.into_iter().collect(),
        bounties: r.bounty_count(),
        escrow: r.escrow(),
        staked: r.stakes().values().flatten().map(|e| e.amount).sum(),
        arbiters: r.arbiters().len(),
    }
}

/// One engine's record over every bounty it asserted on.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct EngineStats {
    /// The engine's address.
    pub(crate) address: Address,
    /// Bounties asserted on.
    pub(crate) bounties: usize,
    /// Artifacts asserted on (mask bits), settled or not.
    pub(crate) artifacts: usize,
    /// Artifacts where the engine agreed with the arbiters' consensus.
    pub(crate) right: usize,
    /// Artifacts where it did not (or never revealed).
    pub(crate) wrong: usize,
    /// Net NCT gained over the settled bounties it came out ahead on.
    pub(crate) won: Amount,
    /// Net NCT lost over the settled bounties it came out behind on.
    pub(crate) lost: Amount,
    /// Last block in which it asserted or revealed.
    pub(crate) last_seen: u64,
    /// Per settled bounty with a consensus, by settlement block: (block,
    /// right, wrong) — the latest [`HISTORY_KEPT`] of them.
    pub(crate) history: Vec<(u64, usize, usize)>,
    /// (right, judged) summed over the history entries dropped before
    /// `history`, so a cumulative curve stays exact.
    pub(crate) history_before: (usize, usize),
}

/// History entries an engine's record keeps: more than the accuracy chart
/// draws.
pub(crate) const HISTORY_KEPT: usize = 256;

impl EngineStats {
    /// Drops the oldest history entries beyond [`HISTORY_KEPT`], carrying
    /// their sums.
    fn trim_history(&mut self) {
        let excess = self.history.len().saturating_sub(HISTORY_KEPT);
        for (_, r, w) in self.history.drain(..excess) {
            self.history_before.0 += r;
            self.history_before.1 += r + w;
        }
    }
}

impl EngineStats {
    /// Right / (right + wrong), when anything was judged.
    pub(crate) fn accuracy(&self) -> Option<f64> {
        let judged = self.right + self.wrong;
        (judged > 0).then(|| self.right as f64 / judged as f64)
    }

    /// Won minus lost, as a signed wei count for sorting.
    fn net(&self) -> i128 {
        i128::try_from(self.won.wei())
            .unwrap_or(i128::MAX)
            .saturating_sub(i128::try_from(self.lost.wei()).unwrap_or(i128::MAX))
    }
}

/// Whether assertion `a` was right on artifact `i`, judged against
/// `consensus` as settlement judges it: an unrevealed assertion is wrong.
pub(crate) fn judged_right(a: &Assertion, i: usize, consensus: &swarm_protocol::Bits256) -> bool {
    a.revealed
        .as_ref()
        .is_some_and(|r| r.verdicts.get(i) == consensus.get(i))
}

/// The family of a revealed assertion's ScanMetadata for artifact `i`:
/// metadata is a list indexed by artifact, or one object for all of them.
pub(crate) fn family(metadata: &serde_json::Value, i: usize) -> Option<String> {
    let item = match metadata {
        serde_json::Value::Array(items) => items.get(i)?,
        other => other,
    };
    match item.get("malware_family")? {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        serde_json::Value::String(_) | serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// The engines' revealed answers on one artifact that name one family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FamilyGroup {
    /// The family, trimmed and lower-cased; `None` for the answers that
    /// name none.
    pub(crate) family: Option<String>,
    /// Answers naming it.
    pub(crate) engines: usize,
    /// Of them, the malicious ones.
    pub(crate) malicious: usize,
}

/// Groups answers — (family named, malicious?) — by family: the most
/// named first (ties by name), the answers naming none last.
///
/// Engines built on the SDK already normalize `malware_family`
/// (`swarm_sdk::family`: every vendor's WannaCry is `wannacry`); the node
/// does not depend on the SDK and only folds case and surrounding space,
/// so that an engine that does not normalize still groups with one that
/// reports the same name in another case.
pub(crate) fn group_families(
    answers: impl IntoIterator<Item = (Option<String>, bool)>,
) -> Vec<FamilyGroup> {
    let mut groups: BTreeMap<Option<String>, (usize, usize)> = BTreeMap::new();
    for (family, malicious) in answers {
        let key = family.map(|f| f.trim().to_lowercase());
        let entry = groups.entry(key).or_default();
        entry.0 += 1;
        entry.1 += usize::from(malicious);
    }
    let mut out: Vec<FamilyGroup> = groups
        .into_iter()
        .map(|(family, (engines, malicious))| FamilyGroup {
            family,
            engines,
            malicious,
        })
        .collect();
    out.sort_by(|a, b| {
        a.family
            .is_none()
            .cmp(&b.family.is_none())
            .then(b.engines.cmp(&a.engines))
            .then_with(|| a.family.cmp(&b.family))
    });
    out
}

/// The revealed answers on artifact `i` of `bounty`, grouped by family
/// ([`group_families`]); empty until an engine that asserted on it reveals.
pub(crate) fn family_groups(bounty: &Bounty, i: usize) -> Vec<FamilyGroup> {
    group_families(bounty.assertions.iter().filter_map(|a| {
        let r = a.revealed.as_ref()?;
        a.mask
            .get(i)
            .then(|| (family(&r.metadata, i), r.verdicts.get(i)))
    }))
}

/// A family as engines named it over every bounty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FamilyCount {
    /// The family ([`group_families`]' form).
    pub(crate) family: String,
    /// Revealed answers naming it.
    pub(crate) answers: usize,
    /// Artifacts at least one answer named it on.
    pub(crate) artifacts: usize,
}

/// Families named in revealed answers, counted bounty by bounty: memory
/// bounded by the families, not the bounties.
#[derive(Debug, Default)]
pub(crate) struct FamilyFold {
    counts: BTreeMap<String, (usize, usize)>,
}

impl FamilyFold {
    /// Counts one bounty's answers.
    pub(crate) fn add(&mut self, bounty: &Bounty) {
        for i in 0..bounty.num_artifacts as usize {
            for group in family_groups(bounty, i) {
                if let Some(family) = group.family {
                    let entry = self.counts.entry(family).or_default();
                    entry.0 += group.engines;
                    entry.1 += 1;
                }
            }
        }
    }

    /// The `limit` families most named, most answers first (ties by name).
    pub(crate) fn top(self, limit: usize) -> Vec<FamilyCount> {
        top_of(self.counts, limit)
    }
}

fn top_of(counts: BTreeMap<String, (usize, usize)>, limit: usize) -> Vec<FamilyCount> {
    let mut out: Vec<FamilyCount> = counts
        .into_iter()
        .map(|(family, (answers, artifacts))| FamilyCount {
            family,
            answers,
            artifacts,
        })
        .collect();
    // Stable: equal counts stay in name order.
    out.sort_by_key(|f| std::cmp::Reverse(f.answers));
    out.truncate(limit);
    out
}

/// What assertion `index` of `bounty` was paid at settlement.
pub(crate) fn expert_payout(bounty: &Bounty, index: usize) -> Option<Amount> {
    let settlement = bounty.settlement.as_ref()?;
    let author = bounty.assertions.get(index)?.author;
    // Experts are listed by assertion index; one account asserts once.
    settlement
        .outcome
        .payouts
        .iter()
        .filter(|p| p.role == PayoutRole::Expert && p.account == author)
        .map(|p| p.amount)
        .next()
        .or(Some(Amount::ZERO))
}

/// Engine records and family counts over the settled bounties, kept
/// between pages: each page folds in only what settled since the last one
/// (in settlement order, so each engine's history stays in order).
#[derive(Debug, Default)]
pub(crate) struct SettledTotals {
    /// The last settled bounty folded in: (settlement block, number).
    cursor: Option<(u64, u64)>,
    engines: BTreeMap<Address, EngineStats>,
    families: FamilyFold,
    /// Settled bounties folded in since the totals were last recorded in
    /// the store.
    unsaved: u64,
}

/// The totals as recorded in the store ([`Store::set_explorer_checkpoint`]):
/// a node restarted on a long chain starts from them and folds only what
/// settled after `cursor`, instead of every settled bounty (30 s at 10⁶).
#[derive(serde::Serialize, serde::Deserialize)]
struct Checkpoint {
    /// [`CHECKPOINT_FORMAT`]; a checkpoint of another format is ignored.
    format: u32,
    cursor: Option<(u64, u64)>,
    engines: Vec<EngineStats>,
    families: BTreeMap<String, (usize, usize)>,
}

/// The checkpoint's format, raised whenever what it holds changes meaning.
const CHECKPOINT_FORMAT: u32 = 1;

/// Settled bounties folded in before the background fold records the
/// totals again.
const CHECKPOINT_EVERY: u64 = 10_000;

/// How often the totals fold in what settled meanwhile, in the background:
/// the checkpoint is never much further behind than this.
const FOLD_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Settled bounties read per store query while catching up.
const CATCH_UP_PAGE: u32 = 256;

impl SettledTotals {
    /// Folds in what settled up to `block`.
    async fn catch_up(&mut self, store: &dyn Store, block: u64) -> Result<(), StoreError> {
        while !self.catch_up_page(store, block).await? {}
        Ok(())
    }

    /// Folds in the next page of what settled up to `block`; `true` once
    /// there is nothing left.
    async fn catch_up_page(&mut self, store: &dyn Store, block: u64) -> Result<bool, StoreError> {
        let page = store
            .settled_after(self.cursor, block, CATCH_UP_PAGE)
            .await?;
        let Some(last) = page.last() else {
            return Ok(true);
        };
        self.cursor = Some((last.settled_block(), last.number));
        self.unsaved += page.len() as u64;
        for s in &page {
            add_bounty(&mut self.engines, &s.bounty);
            self.families.add(&s.bounty);
        }
        for e in self.engines.values_mut() {
            e.trim_history();
        }
        Ok(false)
    }
}

impl SettledTotals {
    /// The totals last recorded in `store`, if they are of this format and
    /// not past `tip` (the block the node starts at); else empty, to be
    /// folded from the first settled bounty. Never an error: the totals
    /// are a cache of what the store holds.
    pub(crate) async fn restore(store: &dyn Store, tip: u64) -> SettledTotals {
        let json = match store.explorer_checkpoint().await {
            Ok(Some(json)) => json,
            Ok(None) => return SettledTotals::default(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the explorer's checkpoint; folding from the start");
                return SettledTotals::default();
            }
        };
        match serde_json::from_str::<Checkpoint>(&json) {
            Ok(c) if c.format == CHECKPOINT_FORMAT && c.cursor.is_none_or(|(b, _)| b <= tip) => {
                SettledTotals {
                    cursor: c.cursor,
                    engines: c.engines.into_iter().map(|e| (e.address, e)).collect(),
                    families: FamilyFold { counts: c.families },
                    unsaved: 0,
                }
            }
            Ok(_) => SettledTotals::default(),
            Err(e) => {
                tracing::warn!(error = %e, "the explorer's checkpoint does not decode; folding from the start");
                SettledTotals::default()
            }
        }
    }

    /// The checkpoint of these totals.
    fn checkpoint(&self) -> Result<String, StoreError> {
        let c = Checkpoint {
            format: CHECKPOINT_FORMAT,
            cursor: self.cursor,
            engines: self.engines.values().cloned().collect(),
            families: self.families.counts.clone(),
        };
        serde_json::to_string(&c).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

/// Keeps `totals` folded: first every bounty settled since the checkpoint
/// they were restored from, then, every [`FOLD_EVERY`], what settled
/// meanwhile, recording a checkpoint each time [`CHECKPOINT_EVERY`]
/// bounties were folded in (and once the start's fold is done, and at
/// shutdown after a last fold). So neither the first explorer page after a start nor a
/// restart pays for the whole history.
pub(crate) async fn keep_folded(
    view: &ChainView,
    store: &dyn Store,
    totals: &tokio::sync::Mutex<SettledTotals>,
    shutdown: &tokio_util::sync::CancellationToken,
) -> Result<(), StoreError> {
    warm_up(view, store, totals).await?;
    save(store, totals, 1).await?;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                // At most one interval's settlements behind: quick.
                warm_up(view, store, totals).await?;
                return save(store, totals, 1).await;
            }
            _ = tokio::time::sleep(FOLD_EVERY) => {}
        }
        warm_up(view, store, totals).await?;
        save(store, totals, CHECKPOINT_EVERY).await?;
    }
}

/// Records `totals` in the store once at least `at_least` bounties were
/// folded in since they were last recorded.
async fn save(
    store: &dyn Store,
    totals: &tokio::sync::Mutex<SettledTotals>,
    at_least: u64,
) -> Result<(), StoreError> {
    let json = {
        let mut t = totals.lock().await;
        if t.unsaved < at_least {
            return Ok(());
        }
        t.unsaved = 0;
        t.checkpoint()?
    };
    store.set_explorer_checkpoint(&json).await
}

/// Folds every bounty settled up to the view's block into `totals`. One
/// page at a time, the lock released in between, so a request that comes
/// meanwhile finishes the fold itself rather than waiting for this task to.
pub(crate) async fn warm_up(
    view: &ChainView,
    store: &dyn Store,
    totals: &tokio::sync::Mutex<SettledTotals>,
) -> Result<(), StoreError> {
    let block = view.read(|r| r.block());
    loop {
        if totals.lock().await.catch_up_page(store, block).await? {
            return Ok(());
        }
        tokio::task::yield_now().await;
    }
}

/// Every engine's record and the `families` most named families, over
/// every bounty: the settled ones from `totals` (caught up to the view's
/// block first), the open ones from the registry.
pub(crate) async fn engines_and_families(
    view: &ChainView,
    store: &dyn Store,
    totals: &tokio::sync::Mutex<SettledTotals>,
    families: usize,
) -> Result<(Vec<EngineStats>, Vec<FamilyCount>), StoreError> {
    // One page at a time moves the totals, so they never pass the block of
    // the registry read here: a bounty is counted from the store once the
    // view no longer holds it, never from both.
    let mut totals = totals.lock().await;
    let (block, mut engines, mut fams) = view.read(|r| {
        let mut engines: BTreeMap<Address, EngineStats> = BTreeMap::new();
        let mut fams = FamilyFold::default();
        for b in r.bounties_newest_first() {
            add_bounty(&mut engines, b);
            fams.add(b);
        }
        (r.block(), engines, fams)
    });
    totals.catch_up(store, block).await?;
    for (address, settled) in &totals.engines {
        let e = engines.entry(*address).or_insert_with(|| EngineStats {
            address: *address,
            ..EngineStats::default()
        });
        merge_engine(e, settled);
    }
    for (family, (answers, artifacts)) in &totals.families.counts {
        let entry = fams.counts.entry(family.clone()).or_default();
        entry.0 += answers;
        entry.1 += artifacts;
    }
    drop(totals);
    Ok((finish_engines(engines), fams.top(families)))
}

/// Adds the settled record `settled` to `e` (open bounties' part).
fn merge_engine(e: &mut EngineStats, settled: &EngineStats) {
    e.bounties += settled.bounties;
    e.artifacts += settled.artifacts;
    e.right += settled.right;
    e.wrong += settled.wrong;
    e.won = e.won.checked_add(settled.won).unwrap_or(e.won);
    e.lost = e.lost.checked_add(settled.lost).unwrap_or(e.lost);
    e.last_seen = e.last_seen.max(settled.last_seen);
    let mut history = settled.history.clone();
    history.append(&mut e.history);
    e.history = history;
    e.history_before = settled.history_before;
}

fn finish_engines(engines: BTreeMap<Address, EngineStats>) -> Vec<EngineStats> {
    let mut all: Vec<EngineStats> = engines.into_values().collect();
    for e in &mut all {
        e.history.sort_by_key(|h| h.0);
    }
    all.sort_by(|a, b| {
        b.net()
            .cmp(&a.net())
            .then(b.artifacts.cmp(&a.artifacts))
            .then(a.address.cmp(&b.address))
    });
    all
}

fn add_bounty(engines: &mut BTreeMap<Address, EngineStats>, bounty: &Bounty) {
    let settlement = bounty.settlement.as_ref();
    let consensus = settlement.and_then(|s| s.outcome.consensus);
    for (index, a) in bounty.assertions.iter().enumerate() {
        let e = engines.entry(a.author).or_insert_with(|| EngineStats {
            address: a.author,
            ..EngineStats::default()
        });
        e.bounties += 1;
        e.artifacts += a.mask.count();
        let seen = a.revealed.as_ref().map(|r| r.block).unwrap_or(a.block);
        e.last_seen = e.last_seen.max(seen).max(a.block);
        if let Some(consensus) = &consensus {
            let right = a
                .mask
                .iter()
                .filter(|&i| judged_right(a, i, consensus))
                .count();
            let wrong = a.mask.count() - right;
            e.right += right;
            e.wrong += wrong;
            if let Some(s) = settlement {
                e.history.push((s.block, right, wrong));
            }
        }
        if let Some(paid) = expert_payout(bounty, index) {
            let cost = a.escrowed();
            match paid.checked_sub(cost) {
                Some(gain) => e.won = e.won.checked_add(gain).unwrap_or(e.won),
                None => {
                    let loss = cost.saturating_sub(paid);
                    e.lost = e.lost.checked_add(loss).unwrap_or(e.lost);
                }
            }
        }
    }
}

/// Cumulative accuracy after each settled bounty, at most `n` points, by
/// settlement block: (block, accuracy in 0..=1), counting `before` —
/// (right, judged) of the entries before `history` — first.
pub(crate) fn accuracy_curve(
    history: &[(u64, usize, usize)],
    before: (usize, usize),
    n: usize,
) -> Vec<(u64, f64)> {
    let (mut right, mut judged) = before;
    let mut points = Vec::with_capacity(history.len());
    for &(block, r, w) in history {
        right += r;
        judged += r + w;
        if judged > 0 {
            points.push((block, right as f64 / judged as f64));
        }
    }
    let skip = points.len().saturating_sub(n);
    points.split_off(skip)
}

/// Whether `b` names an artifact with this sha256 (lowercase hex) in its
/// metadata.
pub(crate) fn has_sha256(b: &Bounty, sha256: &str) -> bool {
    b.metadata.as_ref().is_some_and(|m| {
        m.iter()
            .any(|a| a.sha256.as_deref().map(str::to_ascii_lowercase).as_deref() == Some(sha256))
    })
}

/// Bounties that name an artifact with this sha256 (lowercase hex) in
/// their metadata, newest first, at most 100.
pub(crate) async fn bounties_with_sha256(
    view: &ChainView,
    store: &dyn Store,
    sha256: &str,
) -> Result<Vec<Bounty>, StoreError> {
    let mut out = Vec::new();
    bounties::for_each(view, store, |b| {
        if has_sha256(b, sha256) {
            out.push(b.clone());
        }
        out.len() < 100
    })
    .await?;
    Ok(out)
}

/// An account's payouts from settlements, newest first: (bounty, role, amount).
pub(crate) fn payouts_in(
    b: &Bounty,
    account: &Address,
    out: &mut Vec<(swarm_protocol::Guid, u64, PayoutRole, Amount)>,
) {
    let Some(s) = &b.settlement else { return };
    for p in &s.outcome.payouts {
        if p.account == *account {
            out.push((b.guid, s.block, p.role, p.amount));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settlements_fall_into_their_minutes() {
        // Minute 60 s holds blocks 1..=10, nothing was sealed in minute
        // 120 s, minute 180 s starts at block 11, and so does the last one
        // (its first block is the next bucket's first: nothing in between).
        let starts = [
            (60_000, Some(1)),
            (120_000, Some(11)),
            (180_000, Some(11)),
            (240_000, None),
        ];
        let events: Vec<(u64, u64)> = [0, 1, 10, 11, 12, 31].map(|b| (b, 1)).to_vec();
        let counts = per_bucket(&starts, &events);
        assert_eq!(
            counts,
            vec![(60_000, 2), (120_000, 0), (180_000, 3), (240_000, 0)]
        );
    }

    #[test]
    fn family_reads_lists_and_objects() {
        let list = serde_json::json!([{"malware_family": "EICAR"}, null, {"malware_family": ""}]);
        assert_eq!(family(&list, 0).as_deref(), Some("EICAR"));
        assert_eq!(family(&list, 1), None);
        assert_eq!(family(&list, 2), None);
        assert_eq!(family(&list, 9), None);
        let one = serde_json::json!({"malware_family": "Trojan"});
        assert_eq!(family(&one, 3).as_deref(), Some("Trojan"));
    }

    #[test]
    fn families_group_with_counts_most_named_first_none_last() {
        let named = |f: &str, m: bool| (Some(f.to_owned()), m);
        let groups = group_families([
            named("emotet", true),
            (None, false),
            named("wannacry", true),
            named(" WannaCry", true),
            named("wannacry", false),
            named("emotet", true),
            named("agenttesla", true),
            (None, true),
        ]);
        let group = |f: Option<&str>, engines, malicious| FamilyGroup {
            family: f.map(str::to_owned),
            engines,
            malicious,
        };
        assert_eq!(
            groups,
            vec![
                group(Some("wannacry"), 3, 2),
                group(Some("emotet"), 2, 2),
                group(Some("agenttesla"), 1, 1),
                group(None, 2, 1),
            ]
        );
        assert_eq!(group_families([]), Vec::new());
    }

    #[test]
    fn accuracy_curve_is_cumulative_and_keeps_the_latest() {
        let curve = accuracy_curve(&[(5, 1, 0), (9, 0, 1), (12, 2, 0)], (0, 0), 2);
        assert_eq!(curve, vec![(9, 0.5), (12, 0.75)]);
        assert_eq!(accuracy_curve(&[(5, 0, 0)], (0, 0), 10), Vec::new());
        // Entries dropped from the front still count.
        let tail = accuracy_curve(&[(12, 2, 0)], (1, 2), 10);
        assert_eq!(tail, vec![(12, 0.75)]);
    }
}
