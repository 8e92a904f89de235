//! What `swarm bench chain` measures on a running node, and the checks that
//! make the figures trustworthy: read latencies for random settled bounties
//! and the explorer's pages, and a full `/events?since=0` replay checked
//! event by event.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use futures_util::StreamExt;
use rand::seq::SliceRandom;
use rand::Rng;
use serde::Deserialize;
use tokio_tungstenite::tungstenite::Message;

use crate::commands::bench::stats::{ms, weighted_quantile};

/// Latencies as (p50, p99) in milliseconds.
pub(super) type Quantiles = (f64, f64);

/// Everything measured on one node.
pub(super) struct Probed {
    /// `GET /bounties?state=finished&page=N` of random pages.
    pub(super) listing: Quantiles,
    /// `GET /bounties/{guid}` of random settled bounties.
    pub(super) bounty: Quantiles,
    /// The explorer's overview page.
    pub(super) overview: Quantiles,
    /// The explorer's page of a random settled bounty.
    pub(super) bounty_page: Quantiles,
    /// The first overview after the start: it folds every settled bounty
    /// into the explorer's running totals, in milliseconds.
    pub(super) first_overview_ms: f64,
    /// Events replayed by `/events?since=0` up to the tip.
    pub(super) replay_events: u64,
    /// Their rate, events per second.
    pub(super) replay_rate: f64,
    /// The node's resident memory after each phase of the reads, in order.
    pub(super) rss_after: Vec<(&'static str, Option<u64>)>,
}

/// Settled guids sampled for the latency figures.
const SAMPLE: usize = 200;

/// Bounties per page of `GET /bounties`.
const PAGE: usize = 50;

/// Measures the node at `url`, whose chain holds `settled` settled bounties,
/// reading its resident memory with `rss` after each phase.
pub(super) async fn probe(
    url: &str,
    settled: usize,
    requests: usize,
    block_time: Duration,
    rss: impl Fn() -> Option<u64>,
) -> anyhow::Result<Probed> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(4)
        .build()
        .context("cannot build the HTTP client")?;
    let mut rss_after = Vec::new();
    let (guids, listing) = sample_settled(&http, url, settled).await?;
    let listing = quantiles(listing);
    rss_after.push(("listing pages", rss()));
    let bounty = quantiles(
        timed(&http, requests, |rng| {
            let guid = guids.choose(rng).cloned().unwrap_or_default();
            format!("{url}/bounties/{guid}")
        })
        .await?,
    );
    rss_after.push(("GET bounty", rss()));
    let pages = (requests / 5).max(1);
    // The first overview catches the explorer's totals up with every
    // settled bounty: timed and measured apart, and counted in the
    // percentiles with the rest.
    let mut overviews = timed(&http, 1, |_| format!("{url}/explorer")).await?;
    let first_overview_ms = ms(overviews[0].0);
    rss_after.push(("first overview", rss()));
    overviews.extend(timed(&http, pages - 1, |_| format!("{url}/explorer")).await?);
    let overview = quantiles(overviews);
    rss_after.push(("overviews", rss()));
    let bounty_page = quantiles(
        timed(&http, pages, |rng| {
            let guid = guids.choose(rng).cloned().unwrap_or_default();
            format!("{url}/explorer/bounties/{guid}")
        })
        .await?,
    );
    rss_after.push(("bounty pages", rss()));
    let (replay_events, replay_rate) = replay(&http, url, settled, block_time).await?;
    rss_after.push(("replay", rss()));
    Ok(Probed {
        listing,
        bounty,
        overview,
        bounty_page,
        first_overview_ms,
        replay_events,
        replay_rate,
        rss_after,
    })
}

/// The p50 and p99 of `samples`.
fn quantiles(mut samples: Vec<(Duration, usize)>) -> Quantiles {
    (
        ms(weighted_quantile(&mut samples, 0.50)),
        ms(weighted_quantile(&mut samples, 0.99)),
    )
}

/// GETs `url(rng)` `n` times, one at a time; every answer must be 200.
/// Returns each request's latency (with weight 1).
async fn timed(
    http: &reqwest::Client,
    n: usize,
    mut url: impl FnMut(&mut rand::rngs::ThreadRng) -> String,
) -> anyhow::Result<Vec<(Duration, usize)>> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let target = url(&mut rand::thread_rng());
        let started = Instant::now();
        let response = http
            .get(&target)
            .send()
            .await
            .with_context(|| format!("GET {target}"))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .with_context(|| format!("reading GET {target}"))?;
        samples.push((started.elapsed(), 1));
        if !status.is_success() {
            bail!(
                "GET {target} answered {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            );
        }
    }
    Ok(samples)
}

/// Random settled guids, from random pages of `GET /bounties?state=finished`,
/// and each page's latency; checks the listing counts every settled bounty.
async fn sample_settled(
    http: &reqwest::Client,
    url: &str,
    settled: usize,
) -> anyhow::Result<(Vec<String>, Vec<(Duration, usize)>)> {
    #[derive(Deserialize)]
    /// A listed bounty.
    struct Listed {
        /// Its guid.
        guid: String,
        /// 4 once finished.
        round_number: u8,
    }
    #[derive(Deserialize)]
    /// The envelope.
    struct Answer {
        /// One page.
        result: Vec<Listed>,
    }
    let pages = settled.div_ceil(PAGE).max(1);
    let mut guids = Vec::new();
    let mut latencies = Vec::new();
    let mut tries = 0;
    while guids.len() < SAMPLE.min(settled) && tries < SAMPLE * 4 {
        tries += 1;
        let page = rand::thread_rng().gen_range(0..pages);
        let target = format!("{url}/bounties?state=finished&page={page}");
        let started = Instant::now();
        let answer: Answer = http
            .get(&target)
            .send()
            .await
            .with_context(|| format!("GET {target}"))?
            .json()
            .await
            .with_context(|| format!("decoding GET {target}"))?;
        latencies.push((started.elapsed(), 1));
        if answer.result.iter().any(|b| b.round_number != 4) {
            bail!("GET {target} lists a bounty that is not finished");
        }
        let expected = if page + 1 == pages {
            settled - page * PAGE
        } else {
            PAGE
        };
        if answer.result.len() != expected {
            bail!(
                "GET {target} lists {} bounties; {settled} settled make {expected} on that page",
                answer.result.len()
            );
        }
        if let Some(b) = answer.result.choose(&mut rand::thread_rng()) {
            guids.push(b.guid.clone());
        }
    }
    if guids.is_empty() {
        bail!("no settled bounty listed");
    }
    Ok((guids, latencies))
}

/// One event as the stream sends it: only what the checks read.
#[derive(Deserialize)]
struct Streamed {
    /// Its kind.
    event: String,
    /// The block that produced it (absent on the `connected` greeting).
    #[serde(default)]
    block_number: Option<u64>,
    /// Its position in that block.
    #[serde(default)]
    seq: Option<u32>,
}

/// Replays `/events?since=0` up to the tip it had when it started and
/// checks it: events strictly in (block, seq) order with no gap — every
/// block from 1 to the tip, each starting at seq 0 with its `block` event —
/// and one `bounty` and one `settled_bounty` event per settled bounty.
/// Returns the events counted and their rate per second.
async fn replay(
    http: &reqwest::Client,
    url: &str,
    settled: usize,
    block_time: Duration,
) -> anyhow::Result<(u64, f64)> {
    let status: serde_json::Value = http
        .get(format!("{url}/status"))
        .send()
        .await
        .context("GET /status")?
        .json()
        .await
        .context("decoding GET /status")?;
    let tip = status["result"]["block"]
        .as_u64()
        .ok_or_else(|| anyhow!("GET /status has no block"))?;
    let ws = format!("{}/events?since=0", url.replacen("http", "ws", 1));
    let (mut stream, _) = tokio_tungstenite::connect_async(&ws)
        .await
        .with_context(|| format!("cannot open {ws}"))?;
    let started = Instant::now();
    let (mut count, mut posted, mut settled_events) = (0u64, 0usize, 0usize);
    let mut last: Option<(u64, u32)> = None;
    let idle = block_time * 50 + Duration::from_secs(30);
    loop {
        let message = tokio::time::timeout(idle, stream.next())
            .await
            .map_err(|_| anyhow!("the event stream went quiet before block {tip}"))?
            .ok_or_else(|| anyhow!("the event stream ended before block {tip}"))?
            .context("reading the event stream")?;
        let text = match message {
            Message::Text(t) => t,
            Message::Close(frame) => bail!("the event stream closed: {frame:?}"),
            _ => continue,
        };
        let e: Streamed = serde_json::from_str(text.as_str()).context("decoding an event")?;
        let (Some(block), Some(seq)) = (e.block_number, e.seq) else {
            continue; // the greeting
        };
        if block > tip {
            break;
        }
        let in_order = match last {
            None => block == 1 && seq == 0,
            Some((b, s)) if b == block => seq == s + 1,
            Some((b, _)) => block == b + 1 && seq == 0,
        };
        if !in_order {
            bail!(
                "event ({block}, {seq}) after {last:?}: replayed out of order, twice or with a gap"
            );
        }
        if seq == 0 && e.event != "block" {
            bail!("block {block} starts with a {} event", e.event);
        }
        match e.event.as_str() {
            "bounty" => posted += 1,
            "settled_bounty" => settled_events += 1,
            _ => {}
        }
        last = Some((block, seq));
        count += 1;
    }
    let elapsed = started.elapsed();
    if last.map(|l| l.0) != Some(tip) {
        bail!("the replay ended at {last:?}, not at block {tip}");
    }
    if posted != settled || settled_events != settled {
        bail!(
            "the replay has {posted} bounty and {settled_events} settled_bounty events for {settled} settled bounties"
        );
    }
    Ok((
        count,
        count as f64 / elapsed.as_secs_f64().max(f64::MIN_POSITIVE),
    ))
}

/// The PostgreSQL database's size in bytes, from `psql`.
pub(super) async fn postgres_bytes(url: &str) -> anyhow::Result<u64> {
    let out = tokio::process::Command::new("psql")
        .arg(url)
        .arg("-tAc")
        .arg("SELECT pg_database_size(current_database())")
        .output()
        .await
        .context("cannot run psql")?;
    if !out.status.success() {
        bail!("psql failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("psql answered no size")
}
