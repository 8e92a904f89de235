//! The bounty list (by round, paged) and one bounty with its artifacts,
//! the families engines named on each, assertions, votes and settlement.

use swarm_protocol::ArtifactType;

use super::*;

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
        main: bounties_main(&s, &q).await?,
    })
}

pub(crate) async fn bounties_live(
    State(s): State<AppState>,
    q: QueryParams,
) -> Result<Fragment, ExplorerError> {
    let q = list_query(q)?;
    Ok(Fragment(bounties_main(&s, &q).await?))
}

async fn bounties_main(s: &AppState, q: &ListQuery) -> Result<Markup, ExplorerError> {
    let skip = (q.page - 1).saturating_mul(PAGE_SIZE);
    let found = crate::bounties::page(&s.view, s.store.as_ref(), q.round, skip, PAGE_SIZE).await?;
    let rows: Vec<BountyRow> = found
        .bounties
        .iter()
        .map(|b| BountyRow::of(b, found.block))
        .collect();
    let total = found.total;
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
    /// A URL artifact's `{uri, protocol}`.
    url: Option<(String, Option<String>)>,
    size: Option<u64>,
    sha256: Option<String>,
    mimetype: Option<String>,
}

/// A URL as text nobody clicks or copies into a browser by mistake: the
/// scheme `http` becomes `hxxp` and every dot of the host `[.]`
/// (`hxxps://example[.]com/page.html`). Pure text work, so a URL that does
/// not parse — the node stores whatever metadata an ambassador sends — is
/// defanged as far as it goes and escaped all the same when rendered.
fn defang(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (host, tail) = rest.split_at(host_end);
    let mut out = String::with_capacity(url.len() + 8);
    if let Some(scheme) = scheme {
        if scheme.eq_ignore_ascii_case("http") {
            out.push_str("hxxp");
        } else if scheme.eq_ignore_ascii_case("https") {
            out.push_str("hxxps");
        } else {
            out.push_str(scheme);
        }
        out.push_str("://");
    }
    out.push_str(&host.replace('.', "[.]"));
    out.push_str(tail);
    out
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
            let url = match b.artifact_type {
                ArtifactType::Url => meta
                    .and_then(|m| m.uri.clone())
                    .map(|u| (u, meta.and_then(|m| m.protocol.clone()))),
                ArtifactType::File => None,
            };
            ArtifactRow {
                name,
                url,
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
    let Some((b, block)) = crate::bounties::find(&s.view, s.store.as_ref(), &guid).await? else {
        return Err(ExplorerError::NotFound(format!("no bounty {guid}")));
    };
    let artifacts = artifact_rows(s, &b).await;
    let round = b.round(block);
    let settlement = b.settlement.as_ref();
    let consensus = settlement.and_then(|st| st.outcome.consensus);
    let n = b.num_artifacts as usize;
    let votes_for = |i: usize| b.votes.iter().filter(|v| v.votes.get(i)).count();
    // Per artifact, the revealed answers grouped by the family they name.
    let families: Vec<(usize, data::FamilyGroup)> = (0..n)
        .flat_map(|i| data::family_groups(&b, i).into_iter().map(move |g| (i, g)))
        .collect();
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
                        td.name {
                            // A URL is text, never a link: defanged, in <code>.
                            @if let Some((uri, protocol)) = &a.url {
                                code.url title="defanged: hxxp means http, [.] means ." { (defang(uri)) }
                                " " span.muted.protocol { (protocol.as_deref().unwrap_or("?")) }
                            } @else {
                                (a.name)
                            }
                        }
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

        h2 { "Families" }
        @if families.is_empty() {
            p.muted { "Engines' families show here once they reveal." }
        } @else {
            table #families {
                thead { tr {
                    th { "#" } th { "Family" } th.num { "Engines" } th.num { "Malicious" }
                } }
                tbody {
                    @for (i, g) in &families {
                        tr data-artifact=(i) data-family=(g.family.as_deref().unwrap_or(""))
                            data-engines=(g.engines) data-malicious=(g.malicious) {
                            td { (i) }
                            td {
                                @match &g.family {
                                    Some(f) => span.family-name { (f) },
                                    None => span.muted { "no family named" },
                                }
                            }
                            td.num { (g.engines) }
                            td.num { (g.malicious) }
                        }
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
                                                    @if let Some(f) = data::family(&r.metadata, i) {
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

#[cfg(test)]
mod tests {
    use super::defang;

    #[test]
    fn defanged_urls_keep_their_path_and_lose_their_scheme_and_dots() {
        let cases = [
            (
                "http://malware.example/eicar.com",
                "hxxp://malware[.]example/eicar.com",
            ),
            ("HTTPS://example.com", "hxxps://example[.]com"),
            ("https://a.b.example?q=x.y", "hxxps://a[.]b[.]example?q=x.y"),
            ("ftp://x.example/", "ftp://x[.]example/"),
            ("not a url", "not a url"),
            ("", ""),
        ];
        for (url, shown) in cases {
            assert_eq!(defang(url), shown, "{url}");
        }
    }
}
