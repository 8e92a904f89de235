//! The explorer's pages: handlers that gather data and maud markup that
//! shows it. Every value from outside the node (filenames, mimetypes, scan
//! metadata, family names) is interpolated with `( )`, which HTML-escapes;
//! nothing here builds markup from strings.

use std::collections::HashMap;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use swarm_protocol::{
    Address, Amount, ArtifactMetadata, Bits256, Bounty, Guid, PayoutRole, Registry, Round,
};

use super::data::{self, EngineStats};
use super::{chart, ExplorerError, Fragment, Page};
use crate::api::AppState;
use crate::artifacts::ArtifactEntry;

/// Bounties per page of the bounties list.
const PAGE_SIZE: usize = 25;

/// Assertions on an engine's page, transactions and payouts on an account's.
const RECENT: usize = 25;

type QueryParams = Result<Query<HashMap<String, String>>, QueryRejection>;
type PathParam = Result<Path<String>, PathRejection>;

fn query(q: QueryParams) -> Result<HashMap<String, String>, ExplorerError> {
    q.map(|Query(q)| q)
        .map_err(|e| ExplorerError::BadRequest(format!("bad query string: {}", e.body_text())))
}

fn path(p: PathParam) -> Result<String, ExplorerError> {
    p.map(|Path(p)| p)
        .map_err(|e| ExplorerError::BadRequest(format!("bad path: {}", e.body_text())))
}

fn short(text: &str) -> String {
    let mut s: String = text.chars().take(80).collect();
    if text.chars().count() > 80 {
        s.push('…');
    }
    s
}

fn parse_guid(text: &str) -> Result<Guid, ExplorerError> {
    Guid::parse_str(text).map_err(|_| {
        ExplorerError::BadRequest(format!(
            "{:?} is not a bounty guid (a UUID such as 0b1e5a52-6bf3-4c3e-9d2f-3a1c5e7d9f00)",
            short(text)
        ))
    })
}

fn parse_address(text: &str) -> Result<Address, ExplorerError> {
    text.parse::<Address>().map_err(|e| {
        ExplorerError::BadRequest(format!("{:?} is not an account address: {e}", short(text)))
    })
}

// ---- formatting ---------------------------------------------------------------

fn nct(a: Amount) -> String {
    format!("{} NCT", a.to_nct_string())
}

/// An amount to four decimals (truncated), the exact figure on hover: for
/// tables where 18 decimals would drown the column.
fn nct_approx(a: Amount) -> Markup {
    let exact = a.to_nct_string();
    let shown = match exact.split_once('.') {
        Some((whole, frac)) if frac.len() > 4 => format!("{whole}.{}", &frac[..4]),
        _ => exact.clone(),
    };
    html! { span title={ (exact) " NCT" } { (shown) " NCT" } }
}

/// `2026-11-28 01:45:07 UTC` from Unix milliseconds.
pub(crate) fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn round_name(round: Round) -> &'static str {
    match round {
        Round::Assertion => "assertion",
        Round::Reveal => "reveal",
        Round::Vote => "vote",
        Round::Quorum => "quorum",
        Round::Finished => "finished",
    }
}

fn verdict(malicious: bool) -> &'static str {
    if malicious {
        "malicious"
    } else {
        "benign"
    }
}

fn role_name(role: PayoutRole) -> &'static str {
    match role {
        PayoutRole::Ambassador => "ambassador",
        PayoutRole::Expert => "engine",
        PayoutRole::Arbiter => "arbiter",
    }
}

fn percent(ratio: Option<f64>) -> String {
    ratio
        .map(|r| format!("{:.1}%", r * 100.0))
        .unwrap_or_else(|| "–".to_owned())
}

fn address_link(base: &str, a: &Address) -> Markup {
    let full = a.to_string();
    let shown = format!("{}…{}", &full[..8], &full[full.len() - 6..]);
    html! {
        a.addr href={ (base) (full) } title=(full) data-address=(full) { (shown) }
    }
}

fn account_link(a: &Address) -> Markup {
    address_link("/explorer/accounts/", a)
}

fn engine_link(a: &Address) -> Markup {
    address_link("/explorer/engines/", a)
}

fn bounty_link(guid: &Guid) -> Markup {
    html! { a.guid href={ "/explorer/bounties/" (guid) } { code { (guid) } } }
}

/// The family of a revealed assertion's ScanMetadata for artifact `i`:
/// metadata is a list indexed by artifact, or one object for all of them.
fn family(metadata: &serde_json::Value, i: usize) -> Option<String> {
    let item = match metadata {
        serde_json::Value::Array(items) => items.get(i)?,
        other => other,
    };
    match item.get("malware_family")? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::String(_) | serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

// ---- shared tables ------------------------------------------------------------------

/// One line of a bounty list.
struct BountyRow {
    guid: Guid,
    author: Address,
    amount: Amount,
    artifacts: u32,
    round: Round,
    posted_block: u64,
    assertions: usize,
    votes: usize,
    consensus: Option<Bits256>,
}

impl BountyRow {
    fn of(b: &Bounty, block: u64) -> Self {
        BountyRow {
            guid: b.guid,
            author: b.author,
            amount: b.amount,
            artifacts: b.num_artifacts,
            round: b.round(block),
            posted_block: b.posted_block,
            assertions: b.assertions.len(),
            votes: b.votes.len(),
            consensus: b.settlement.as_ref().and_then(|s| s.outcome.consensus),
        }
    }
}

fn consensus_summary(consensus: Option<Bits256>, n: u32, settled: bool) -> Markup {
    html! {
        @match consensus {
            Some(c) => {
                @let malicious = (0..n as usize).filter(|&i| c.get(i)).count();
                span class={ "verdict " (if malicious > 0 { "malicious" } else { "benign" }) } {
                    (malicious) " of " (n) " malicious"
                }
            }
            None if settled => span.muted { "no vote" },
            None => span.muted { "–" },
        }
    }
}

fn bounty_table(rows: &[BountyRow]) -> Markup {
    html! {
        @if rows.is_empty() {
            p.muted { "No bounties yet." }
        } @else {
            table.bounties {
                thead { tr {
                    th { "Bounty" } th { "Round" } th.num { "Reward" } th.num { "Artifacts" }
                    th.num { "Assertions" } th.num { "Votes" } th { "Consensus" }
                    th { "Ambassador" } th.num { "Posted" }
                } }
                tbody {
                    @for r in rows {
                        tr data-guid=(r.guid) data-round=(round_name(r.round)) {
                            td { (bounty_link(&r.guid)) }
                            td { span class={ "round " (round_name(r.round)) } { (round_name(r.round)) } }
                            td.num { (nct(r.amount)) }
                            td.num { (r.artifacts) }
                            td.num { (r.assertions) }
                            td.num { (r.votes) }
                            td { (consensus_summary(r.consensus, r.artifacts, r.round == Round::Finished)) }
                            td { (account_link(&r.author)) }
                            td.num { "block " (r.posted_block) }
                        }
                    }
                }
            }
        }
    }
}

fn engine_table(engines: &[EngineStats]) -> Markup {
    html! {
        @if engines.is_empty() {
            p.muted { "No engine has asserted yet." }
        } @else {
            table.engines {
                thead { tr {
                    th { "#" } th { "Engine" } th.num { "Bounties" } th.num { "Artifacts asserted" }
                    th.num { "Accuracy" } th.num { "Right / wrong" } th.num { "NCT won" }
                    th.num { "NCT lost" } th.num { "Last seen" }
                } }
                tbody {
                    @for (rank, e) in engines.iter().enumerate() {
                        tr data-engine=(e.address) {
                            td { (rank + 1) }
                            td { (engine_link(&e.address)) }
                            td.num { (e.bounties) }
                            td.num { (e.artifacts) }
                            td.num { (percent(e.accuracy())) }
                            td.num { (e.right) " / " (e.wrong) }
                            td.num.gain { (nct_approx(e.won)) }
                            td.num.loss { (nct_approx(e.lost)) }
                            td.num { "block " (e.last_seen) }
                        }
                    }
                }
            }
        }
    }
}

// ---- overview -----------------------------------------------------------------------

pub(crate) async fn overview(State(s): State<AppState>) -> Result<Page, ExplorerError> {
    Ok(Page {
        title: "Overview".to_owned(),
        live: Some("/explorer/live/overview".to_owned()),
        main: overview_main(&s).await?,
    })
}

pub(crate) async fn overview_live(State(s): State<AppState>) -> Result<Fragment, ExplorerError> {
    Ok(Fragment(overview_main(&s).await?))
}

async fn overview_main(s: &AppState) -> Result<Markup, ExplorerError> {
    let facts = s.view.read(data::registry_facts);
    let tip = s.view.tip().map(|t| (t.number, t.timestamp_ms));
    let o = data::overview(&s.community, s.store.as_ref(), facts, tip, data::now_ms()).await?;
    let (recent, engines) = s.view.read(|r: &Registry| {
        let block = r.block();
        let recent: Vec<BountyRow> = r
            .bounties_newest_first()
            .take(10)
            .map(|b| BountyRow::of(b, block))
            .collect();
        let mut engines = data::engine_stats(r);
        engines.truncate(5);
        (recent, engines)
    });
    let open: usize = o.open_by_round.iter().map(|r| r.1).sum();
    let chart_points: Vec<(String, u64)> = o
        .settled_per_minute
        .iter()
        .map(|&(at, n)| (utc(at)[11..16].to_owned(), n))
        .collect();
    Ok(html! {
        h1 { "Community " code { (o.community) } }
        section.cards {
            div.card {
                span.label { "Block height" }
                span.value #block-height { (o.block) }
                span.sub { @if let Some(t) = o.block_time_ms { (utc(t)) } @else { "no block yet" } }
            }
            div.card {
                span.label { "Transactions / s" }
                span.value #tx-rate { (format!("{:.1}", o.tx_per_sec)) }
                span.sub { "over the last 10 s" }
            }
            div.card {
                span.label { "Open bounties" }
                span.value #open-bounties { (open) }
                span.sub {
                    @for (i, (round, n)) in o.open_by_round.iter().enumerate() {
                        @if i > 0 { " · " }
                        (round_name(*round)) " " (n)
                    }
                }
            }
            div.card {
                span.label { "Settled today" }
                span.value #settled-today { (o.settled_today) }
                span.sub { (o.bounties) " bounties in all" }
            }
            div.card {
                span.label { "NCT in escrow" }
                span.value #escrow { (o.escrow.to_nct_string()) }
                span.sub { "held by unsettled bounties" }
            }
            div.card {
                span.label { "NCT staked" }
                span.value #staked { (o.staked.to_nct_string()) }
                span.sub { (o.arbiters) " arbiter(s)" }
            }
        }
        section {
            h2 { "Bounties settled per minute" }
            (chart::bars("Bounties settled per minute, last 30 minutes", &chart_points))
        }
        section #recent-bounties {
            h2 { "Newest bounties" }
            (bounty_table(&recent))
            p { a href="/explorer/bounties" { "All bounties →" } }
        }
        section {
            h2 { "Top engines" }
            (engine_table(&engines))
            p { a href="/explorer/engines" { "Leaderboard →" } }
        }
    })
}

// ---- bounties -----------------------------------------------------------------------

const STATES: [(&str, Option<Round>); 6] = [
    ("all", None),
    ("assertion", Some(Round::Assertion)),
    ("reveal", Some(Round::Reveal)),
    ("vote", Some(Round::Vote)),
    ("quorum", Some(Round::Quorum)),
    ("finished", Some(Round::Finished)),
];

struct ListQuery {
    page: usize,
    state: &'static str,
    round: Option<Round>,
}

fn list_query(q: QueryParams) -> Result<ListQuery, ExplorerError> {
    let q = query(q)?;
    let page = match q.get("page").map(String::as_str) {
        None | Some("") => 1,
        Some(p) => match p.parse::<usize>() {
            Ok(0) => {
                return Err(ExplorerError::BadRequest(
                    "page numbers start at 1".to_owned(),
                ))
            }
            Ok(n) => n,
            Err(_) => {
                return Err(ExplorerError::BadRequest(format!(
                    "page {:?} is not a page number (1, 2, 3, ...)",
                    short(p)
                )))
            }
        },
    };
    let wanted = q.get("state").map(String::as_str).unwrap_or("all");
    let wanted = if wanted.is_empty() { "all" } else { wanted };
    let Some(&(state, round)) = STATES.iter().find(|(name, _)| *name == wanted) else {
        return Err(ExplorerError::BadRequest(format!(
            "state {:?} is not one of all, assertion, reveal, vote, quorum, finished",
            short(wanted)
        )));
    };
    Ok(ListQuery { page, state, round })
}

fn list_url(base: &str, state: &str, page: usize) -> String {
    match (state, page) {
        ("all", 1) => base.to_owned(),
        ("all", p) => format!("{base}?page={p}"),
        (s, 1) => format!("{base}?state={s}"),
        (s, p) => format!("{base}?state={s}&page={p}"),
    }
}

pub(crate) async fn bounties(
    State(s): State<AppState>,
    q: QueryParams,
) -> Result<Page, ExplorerError> {
    let q = list_query(q)?;
    Ok(Page {
        title: "Bounties".to_owned(),
        live: Some(list_url("/explorer/live/bounties", q.state, q.page)),
        main: bounties_main(&s, &q)?,
    })
}

pub(crate) async fn bounties_live(
    State(s): State<AppState>,
    q: QueryParams,
) -> Result<Fragment, ExplorerError> {
    let q = list_query(q)?;
    Ok(Fragment(bounties_main(&s, &q)?))
}

fn bounties_main(s: &AppState, q: &ListQuery) -> Result<Markup, ExplorerError> {
    let (rows, total) = s.view.read(|r| {
        let block = r.block();
        let matching = r
            .bounties_newest_first()
            .filter(|b| q.round.is_none_or(|w| b.round(block) == w));
        let mut total = 0usize;
        let mut rows = Vec::new();
        let skip = (q.page - 1).saturating_mul(PAGE_SIZE);
        for b in matching {
            if total >= skip && rows.len() < PAGE_SIZE {
                rows.push(BountyRow::of(b, block));
            }
            total += 1;
        }
        (rows, total)
    });
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    if q.page > pages {
        return Err(ExplorerError::NotFound(format!(
            "there is no page {} of {} bounties: {total} bounties make {pages} page(s)",
            q.page, q.state
        )));
    }
    Ok(html! {
        h1 { "Bounties" }
        nav.tabs {
            @for (name, _) in STATES {
                a class=[(name == q.state).then_some("active")]
                    href=(list_url("/explorer/bounties", name, 1)) { (name) }
            }
        }
        p.muted { (total) " bounties · page " (q.page) " of " (pages) " · newest first" }
        (bounty_table(&rows))
        nav.pager {
            @if q.page > 1 {
                a rel="prev" href=(list_url("/explorer/bounties", q.state, q.page - 1)) { "← Newer" }
            }
            @if q.page < pages {
                a rel="next" href=(list_url("/explorer/bounties", q.state, q.page + 1)) { "Older →" }
            }
        }
    })
}

/// One artifact as the bounty page shows it.
struct ArtifactRow {
    name: String,
    size: Option<u64>,
    sha256: Option<String>,
    mimetype: Option<String>,
}

async fn artifact_rows(s: &AppState, b: &Bounty) -> Vec<ArtifactRow> {
    // The node's manifest is authoritative for size, hash and type; the
    // ambassador's metadata names the file (and is all there is for URLs).
    let manifest: Vec<ArtifactEntry> = s
        .artifacts
        .manifest(&b.uri)
        .await
        .map(|m| m.artifacts)
        .unwrap_or_default();
    let metadata: &[ArtifactMetadata] = b.metadata.as_deref().unwrap_or(&[]);
    (0..b.num_artifacts as usize)
        .map(|i| {
            let entry = manifest.get(i);
            let meta = metadata.get(i);
            let name = meta
                .and_then(|m| m.filename.clone().or_else(|| m.uri.clone()))
                .or_else(|| entry.map(|e| e.filename.clone()))
                .unwrap_or_default();
            ArtifactRow {
                name,
                size: entry
                    .map(|e| e.size)
                    .or_else(|| meta.and_then(|m| m.filesize)),
                sha256: entry
                    .map(|e| e.sha256.clone())
                    .or_else(|| meta.and_then(|m| m.sha256.clone())),
                mimetype: entry
                    .map(|e| e.mimetype.clone())
                    .or_else(|| meta.and_then(|m| m.mimetype.clone())),
            }
        })
        .collect()
}

pub(crate) async fn bounty(
    State(s): State<AppState>,
    guid: PathParam,
) -> Result<Page, ExplorerError> {
    let guid = parse_guid(&path(guid)?)?;
    Ok(Page {
        title: format!("Bounty {guid}"),
        live: Some(format!("/explorer/live/bounties/{guid}")),
        main: bounty_main(&s, guid).await?,
    })
}

pub(crate) async fn bounty_live(
    State(s): State<AppState>,
    guid: PathParam,
) -> Result<Fragment, ExplorerError> {
    let guid = parse_guid(&path(guid)?)?;
    Ok(Fragment(bounty_main(&s, guid).await?))
}

async fn bounty_main(s: &AppState, guid: Guid) -> Result<Markup, ExplorerError> {
    let Some((b, block)) = s
        .view
        .read(|r| r.bounty(&guid).map(|b| (b.clone(), r.block())))
    else {
        return Err(ExplorerError::NotFound(format!("no bounty {guid}")));
    };
    let artifacts = artifact_rows(s, &b).await;
    let round = b.round(block);
    let settlement = b.settlement.as_ref();
    let consensus = settlement.and_then(|st| st.outcome.consensus);
    let n = b.num_artifacts as usize;
    let votes_for = |i: usize| b.votes.iter().filter(|v| v.votes.get(i)).count();
    Ok(html! {
        h1 { "Bounty " code { (b.guid) } }
        dl.facts {
            dt { "Round" } dd { span class={ "round " (round_name(round)) } #bounty-round { (round_name(round)) } }
            dt { "Ambassador" } dd { (account_link(&b.author)) }
            dt { "Reward" } dd { (nct(b.amount)) }
            dt { "Bounty fee" } dd { (nct(b.fee)) }
            dt { "Artifacts" } dd { (b.num_artifacts) " " (format!("{:?}", b.artifact_type).to_lowercase()) "(s)" }
            dt { "Posted" } dd { "block " (b.posted_block) }
            dt { "Assertions until" } dd { "block " (b.expiration) }
            dt { "Reveals until" } dd { "block " (b.reveal_deadline()) }
            dt { "Votes until" } dd { "block " (b.vote_deadline()) }
            @if let Some(q) = b.quorum_block { dt { "Quorum" } dd { "block " (q) } }
            @if let Some(st) = settlement {
                dt { "Settled" } dd { "block " (st.block) }
                dt { "To the treasury" } dd { (nct(st.outcome.treasury)) }
            }
            dt { "Bundle" } dd { code.hash { (b.uri) } }
        }

        h2 { "Artifacts" }
        table #artifacts {
            thead { tr {
                th { "#" } th { "Name" } th.num { "Size" } th { "SHA-256" } th { "Type" }
                th { "Arbiters" } th { "Consensus" } th { "Download" }
            } }
            tbody {
                @for (i, a) in artifacts.iter().enumerate() {
                    tr data-index=(i) {
                        td { (i) }
                        td.name { (a.name) }
                        td.num { @if let Some(size) = a.size { (size) " B" } }
                        td { @if let Some(h) = &a.sha256 { code.hash { (h) } } }
                        td { @if let Some(m) = &a.mimetype { (m) } }
                        td { @if !b.votes.is_empty() {
                            (votes_for(i)) " malicious / " (b.votes.len() - votes_for(i)) " benign"
                        } }
                        td.consensus {
                            @match consensus {
                                Some(c) => span class={ "verdict " (verdict(c.get(i))) } { (verdict(c.get(i))) },
                                None if settlement.is_some() => span.muted { "none (no vote)" },
                                None => span.muted { "pending" },
                            }
                        }
                        td { a download href={ "/artifacts/" (b.uri) "/" (i) } { "download" } }
                    }
                }
            }
        }

        h2 { "Assertions" }
        @if b.assertions.is_empty() {
            p.muted { "No engine has asserted." }
        } @else {
            table #assertions {
                thead { tr {
                    th { "#" } th { "Engine" } th.num { "Block" } th { "Per artifact: bid, verdict, family" }
                    th.num { "Fee" } th.num { "Paid out" }
                } }
                tbody {
                    @for (index, a) in b.assertions.iter().enumerate() {
                        tr data-index=(index) data-engine=(a.author) data-mask=(a.mask)
                            data-bids=(a.bids.iter().map(|x| x.wei().to_string()).collect::<Vec<_>>().join(",")) {
                            td { (index) }
                            td { (engine_link(&a.author)) }
                            td.num { (a.block) }
                            td {
                                ul.per-artifact {
                                    @for i in a.mask.iter().filter(|&i| i < n.max(1)) {
                                        li data-artifact=(i) {
                                            "#" (i) " · bid " (nct(a.bid_on(i).unwrap_or(Amount::ZERO))) " · "
                                            @match &a.revealed {
                                                Some(r) => {
                                                    span class={ "verdict " (verdict(r.verdicts.get(i))) } { (verdict(r.verdicts.get(i))) }
                                                    @if let Some(f) = family(&r.metadata, i) {
                                                        " · " span.family { (f) }
                                                    }
                                                }
                                                None if round == Round::Assertion => span.muted { "hidden until the reveal" },
                                                None => span.muted { "never revealed" },
                                            }
                                            @if let Some(c) = consensus {
                                                @if data::judged_right(a, i, &c) {
                                                    " " span.right { "✓ right" }
                                                } @else {
                                                    " " span.wrong { "✗ wrong" }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                            td.num { (nct(a.fee)) }
                            td.num { @if let Some(p) = data::expert_payout(&b, index) { (nct(p)) } @else { "–" } }
                        }
                    }
                }
            }
        }

        h2 { "Votes" }
        @if b.votes.is_empty() {
            p.muted { "No arbiter has voted." }
        } @else {
            table #votes {
                thead { tr { th { "Arbiter" } th { "Votes" } th.num { "Stake" } th.num { "Block" } } }
                tbody {
                    @for v in &b.votes {
                        tr data-voter=(v.voter) {
                            td { (account_link(&v.voter)) }
                            td { @for i in 0..n {
                                span class={ "verdict " (verdict(v.votes.get(i))) } { "#" (i) " " (verdict(v.votes.get(i))) } " "
                            } }
                            td.num { (nct(v.stake)) }
                            td.num { (v.block) }
                        }
                    }
                }
            }
        }

        h2 { "Payouts" }
        @match settlement {
            None => p.muted { "Paid at settlement, in block " (b.vote_deadline()) " at the latest." },
            Some(st) => {
                table #payouts {
                    thead { tr { th { "Account" } th { "Role" } th.num { "Amount" } } }
                    tbody {
                        @for p in &st.outcome.payouts {
                            tr data-account=(p.account) data-role=(role_name(p.role)) data-amount=(p.amount.wei()) {
                                td { (account_link(&p.account)) }
                                td { (role_name(p.role)) }
                                td.num { (nct(p.amount)) }
                            }
                        }
                        tr.treasury { td { "community treasury" } td { "dust" } td.num { (nct(st.outcome.treasury)) } }
                    }
                }
            }
        }
    })
}

// ---- engines ------------------------------------------------------------------------

pub(crate) async fn engines(State(s): State<AppState>) -> Result<Page, ExplorerError> {
    Ok(Page {
        title: "Engines".to_owned(),
        live: Some("/explorer/live/engines".to_owned()),
        main: engines_main(&s),
    })
}

pub(crate) async fn engines_live(State(s): State<AppState>) -> Result<Fragment, ExplorerError> {
    Ok(Fragment(engines_main(&s)))
}

fn engines_main(s: &AppState) -> Markup {
    let engines = s.view.read(data::engine_stats);
    html! {
        h1 { "Engines" }
        p.muted {
            "Every account that asserted, best net earnings first. Accuracy counts settled "
            "artifacts against the arbiters' consensus; an unrevealed assertion counts as wrong."
        }
        (engine_table(&engines))
    }
}

pub(crate) async fn engine(
    State(s): State<AppState>,
    address: PathParam,
) -> Result<Page, ExplorerError> {
    let address = parse_address(&path(address)?)?;
    Ok(Page {
        title: format!("Engine {address}"),
        live: Some(format!("/explorer/live/engines/{address}")),
        main: engine_main(&s, address)?,
    })
}

pub(crate) async fn engine_live(
    State(s): State<AppState>,
    address: PathParam,
) -> Result<Fragment, ExplorerError> {
    let address = parse_address(&path(address)?)?;
    Ok(Fragment(engine_main(&s, address)?))
}

/// One assertion on an engine's page.
struct AssertionRow {
    guid: Guid,
    block: u64,
    artifacts: Vec<(usize, Amount, Option<bool>, Option<bool>)>,
    paid: Option<Amount>,
    cost: Amount,
}

fn engine_main(s: &AppState, address: Address) -> Result<Markup, ExplorerError> {
    let (stats, recent) = s.view.read(|r| {
        let stats = data::engine_stats(r)
            .into_iter()
            .find(|e| e.address == address);
        let mut recent = Vec::new();
        for b in r.bounties_newest_first() {
            if let Some((index, a)) = b.assertion_of(&address) {
                let consensus = b.settlement.as_ref().and_then(|st| st.outcome.consensus);
                recent.push(AssertionRow {
                    guid: b.guid,
                    block: a.block,
                    artifacts: a
                        .mask
                        .iter()
                        .map(|i| {
                            (
                                i,
                                a.bid_on(i).unwrap_or(Amount::ZERO),
                                a.revealed.as_ref().map(|rv| rv.verdicts.get(i)),
                                consensus.map(|c| data::judged_right(a, i, &c)),
                            )
                        })
                        .collect(),
                    paid: data::expert_payout(b, index),
                    cost: a.escrowed(),
                });
                if recent.len() >= RECENT {
                    break;
                }
            }
        }
        (stats, recent)
    });
    let Some(e) = stats else {
        return Err(ExplorerError::NotFound(format!(
            "{address} has never asserted on a bounty; see its account page at /explorer/accounts/{address}"
        )));
    };
    let curve = data::accuracy_curve(&e.history, 200);
    Ok(html! {
        h1 { "Engine " code { (address) } }
        section.cards {
            div.card { span.label { "Accuracy" } span.value #accuracy { (percent(e.accuracy())) }
                span.sub { (e.right) " right · " (e.wrong) " wrong" } }
            div.card { span.label { "Artifacts asserted" } span.value { (e.artifacts) }
                span.sub { "on " (e.bounties) " bounties" } }
            div.card { span.label { "NCT won" } span.value.gain { (nct_approx(e.won)) } span.sub { "net, bounties it gained on" } }
            div.card { span.label { "NCT lost" } span.value.loss { (nct_approx(e.lost)) } span.sub { "net, bounties it lost on" } }
            div.card { span.label { "Last seen" } span.value { (e.last_seen) } span.sub { "block" } }
        }
        p { a href={ "/explorer/accounts/" (address) } { "Account: balance and transactions →" } }
        section {
            h2 { "Accuracy over time" }
            @if curve.is_empty() {
                p.muted { "No settled bounty with a consensus yet." }
            } @else {
                (chart::ratio_line("Cumulative accuracy against consensus, by settlement block", &curve))
            }
        }
        section {
            h2 { "Recent assertions" }
            table #engine-assertions {
                thead { tr { th { "Bounty" } th.num { "Block" } th { "Artifacts" } th.num { "Staked" } th.num { "Paid out" } } }
                tbody {
                    @for row in &recent {
                        tr data-guid=(row.guid) {
                            td { (bounty_link(&row.guid)) }
                            td.num { (row.block) }
                            td { ul.per-artifact { @for (i, bid, said, right) in &row.artifacts {
                                li { "#" (i) " · bid " (nct(*bid)) " · "
                                    @match said {
                                        Some(m) => span class={ "verdict " (verdict(*m)) } { (verdict(*m)) },
                                        None => span.muted { "not revealed" },
                                    }
                                    @match right {
                                        Some(true) => { " " span.right { "✓ right" } }
                                        Some(false) => { " " span.wrong { "✗ wrong" } }
                                        None => "",
                                    }
                                }
                            } } }
                            td.num { (nct(row.cost)) }
                            td.num { @if let Some(p) = row.paid { (nct(p)) } @else { "–" } }
                        }
                    }
                }
            }
        }
    })
}

// ---- accounts -----------------------------------------------------------------------

pub(crate) async fn account(
    State(s): State<AppState>,
    address: PathParam,
) -> Result<Page, ExplorerError> {
    let address = parse_address(&path(address)?)?;
    Ok(Page {
        title: format!("Account {address}"),
        live: Some(format!("/explorer/live/accounts/{address}")),
        main: account_main(&s, address).await?,
    })
}

pub(crate) async fn account_live(
    State(s): State<AppState>,
    address: PathParam,
) -> Result<Fragment, ExplorerError> {
    let address = parse_address(&path(address)?)?;
    Ok(Fragment(account_main(&s, address).await?))
}

async fn account_main(s: &AppState, address: Address) -> Result<Markup, ExplorerError> {
    let txs = s.store.transactions_from(&address, RECENT as u32).await?;
    let (balance, stake, withdrawable, arbiter, engine, posted, payouts) = s.view.read(|r| {
        let block = r.block();
        (
            r.balance(&address),
            r.stake_total(&address),
            r.stake_withdrawable(&address),
            r.arbiters().contains(&address),
            r.bounties_newest_first()
                .any(|b| b.assertion_of(&address).is_some()),
            r.bounties_newest_first()
                .filter(|b| b.author == address)
                .take(10)
                .map(|b| BountyRow::of(b, block))
                .collect::<Vec<_>>(),
            data::payouts_to(r, &address, RECENT),
        )
    });
    Ok(html! {
        h1 { "Account " code { (address) } }
        section.cards {
            div.card { span.label { "Balance" } span.value #balance { (balance.to_nct_string()) } span.sub { "NCT" } }
            div.card { span.label { "Stake" } span.value #stake { (stake.to_nct_string()) }
                span.sub { (withdrawable.to_nct_string()) " NCT withdrawable" } }
            div.card { span.label { "Roles" } span.value.small {
                @if arbiter { "arbiter " }
                @if engine { a href={ "/explorer/engines/" (address) } { "engine" } " " }
                @if !posted.is_empty() { "ambassador" }
                @if !arbiter && !engine && posted.is_empty() { "–" }
            } span.sub { "from its activity" } }
        }
        section {
            h2 { "Recent transactions" }
            @if txs.is_empty() {
                p.muted { "No transaction sent from this account." }
            } @else {
                table #transactions {
                    thead { tr { th { "Transaction" } th { "Kind" } th.num { "Block" } } }
                    tbody { @for t in &txs {
                        tr data-hash=(t.hash) {
                            td { a href={ "/transactions/" (t.hash) } { code.hash { (t.hash) } } }
                            td { (t.name) }
                            td.num { (t.block_number) }
                        }
                    } }
                }
            }
        }
        section {
            h2 { "Payouts received" }
            @if payouts.is_empty() {
                p.muted { "No settlement has paid this account." }
            } @else {
                table #account-payouts {
                    thead { tr { th { "Bounty" } th.num { "Settled" } th { "Role" } th.num { "Amount" } } }
                    tbody { @for (guid, block, role, amount) in &payouts {
                        tr {
                            td { (bounty_link(guid)) }
                            td.num { (block) }
                            td { (role_name(*role)) }
                            td.num { (nct(*amount)) }
                        }
                    } }
                }
            }
        }
        @if !posted.is_empty() {
            section {
                h2 { "Bounties posted" }
                (bounty_table(&posted))
            }
        }
    })
}

// ---- search -------------------------------------------------------------------------

pub(crate) async fn search(
    State(s): State<AppState>,
    q: QueryParams,
) -> Result<Response, ExplorerError> {
    let q = query(q)?;
    let text = q.get("q").map(|t| t.trim()).unwrap_or("");
    if text.is_empty() {
        return Err(ExplorerError::BadRequest(
            "nothing to search for: type a bounty guid, an address (0x…) or an artifact's sha256"
                .to_owned(),
        ));
    }
    if let Ok(guid) = Guid::parse_str(text) {
        if s.view.read(|r| r.bounty(&guid).is_some()) {
            return Ok(Redirect::to(&format!("/explorer/bounties/{guid}")).into_response());
        }
        return Err(ExplorerError::NotFound(format!("no bounty {guid}")));
    }
    let hexish = text.strip_prefix("0x").unwrap_or(text);
    if hexish.len() == 40 && hexish.chars().all(|c| c.is_ascii_hexdigit()) {
        let address = parse_address(text)?;
        return Ok(Redirect::to(&format!("/explorer/accounts/{address}")).into_response());
    }
    if hexish.len() == 64 && hexish.chars().all(|c| c.is_ascii_hexdigit()) {
        let sha256 = hexish.to_ascii_lowercase();
        let found = s.view.read(|r| {
            let block = r.block();
            data::bounties_with_sha256(r, &sha256)
                .iter()
                .map(|b| BountyRow::of(b, block))
                .collect::<Vec<_>>()
        });
        if found.is_empty() {
            return Err(ExplorerError::NotFound(format!(
                "no bounty has an artifact with sha256 {sha256}"
            )));
        }
        let main = html! {
            h1 { "Artifact " code.hash { (sha256) } }
            p.muted { (found.len()) " bounty(ies) with this artifact, newest first" }
            (bounty_table(&found))
        };
        return Ok(Page {
            title: format!("Artifact {sha256}"),
            live: None,
            main,
        }
        .into_response());
    }
    Err(ExplorerError::BadRequest(format!(
        "{:?} is neither a bounty guid, an address (0x and 40 hex digits) nor a sha256 (64 hex digits)",
        short(text)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_795_829_107_000), "2026-11-28 01:25:07 UTC");
    }

    #[test]
    fn approximate_amounts_keep_the_exact_one_on_hover() {
        let a = Amount::from_wei(16_518_749_999_999_999_994);
        assert_eq!(
            nct_approx(a).into_string(),
            "<span title=\"16.518749999999999994 NCT\">16.5187 NCT</span>"
        );
        assert_eq!(
            nct_approx(Amount::from_nct(2)).into_string(),
            "<span title=\"2 NCT\">2 NCT</span>"
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
}
