//! Engine standings and one engine's record.

use super::*;

pub(crate) async fn engines(State(s): State<AppState>) -> Result<Page, ExplorerError> {
    Ok(Page {
        title: "Engines".to_owned(),
        live: Some("/explorer/live/engines".to_owned()),
        main: engines_main(&s).await?,
    })
}

pub(crate) async fn engines_live(State(s): State<AppState>) -> Result<Fragment, ExplorerError> {
    Ok(Fragment(engines_main(&s).await?))
}

async fn engines_main(s: &AppState) -> Result<Markup, ExplorerError> {
    let (engines, _) =
        data::engines_and_families(&s.view, s.store.as_ref(), &s.settled_totals, 0).await?;
    Ok(html! {
        h1 { "Engines" }
        p.muted {
            "Every account that asserted, best net earnings first. Accuracy counts settled "
            "artifacts against the arbiters' consensus; an unrevealed assertion counts as wrong."
        }
        (engine_table(&engines))
    })
}

pub(crate) async fn engine(
    State(s): State<AppState>,
    address: PathParam,
) -> Result<Page, ExplorerError> {
    let address = parse_address(&path(address)?)?;
    Ok(Page {
        title: format!("Engine {address}"),
        live: Some(format!("/explorer/live/engines/{address}")),
        main: engine_main(&s, address).await?,
    })
}

pub(crate) async fn engine_live(
    State(s): State<AppState>,
    address: PathParam,
) -> Result<Fragment, ExplorerError> {
    let address = parse_address(&path(address)?)?;
    Ok(Fragment(engine_main(&s, address).await?))
}

/// One assertion on an engine's page.
struct AssertionRow {
    guid: Guid,
    block: u64,
    artifacts: Vec<(usize, Amount, Option<bool>, Option<bool>)>,
    paid: Option<Amount>,
    cost: Amount,
}

async fn engine_main(s: &AppState, address: Address) -> Result<Markup, ExplorerError> {
    let (engines, _) =
        data::engines_and_families(&s.view, s.store.as_ref(), &s.settled_totals, 0).await?;
    let stats = engines.into_iter().find(|e| e.address == address);
    let mut recent = Vec::new();
    crate::bounties::for_each(&s.view, s.store.as_ref(), |b| {
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
        }
        recent.len() < RECENT
    })
    .await?;
    let Some(e) = stats else {
        return Err(ExplorerError::NotFound(format!(
            "{address} has never asserted on a bounty; see its account page at /explorer/accounts/{address}"
        )));
    };
    let curve = data::accuracy_curve(&e.history, e.history_before, 200);
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
