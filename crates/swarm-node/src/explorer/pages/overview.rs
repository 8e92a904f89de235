//! The overview: the marketplace at a glance, refreshed live.

use super::*;

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
    let latest = crate::bounties::page(&s.view, s.store.as_ref(), None, 0, 10).await?;
    let recent: Vec<BountyRow> = latest
        .bounties
        .iter()
        .map(|b| BountyRow::of(b, latest.block))
        .collect();
    let (mut engines, families) =
        data::engines_and_families(&s.view, s.store.as_ref(), &s.settled_totals, 10).await?;
    engines.truncate(5);
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
        section #top-families {
            h2 { "Families engines named" }
            @if families.is_empty() {
                p.muted { "No engine has revealed a family yet." }
            } @else {
                table.families {
                    thead { tr {
                        th { "Family" } th.num { "Answers" } th.num { "Artifacts" }
                    } }
                    tbody {
                        @for f in &families {
                            tr data-family=(f.family) data-answers=(f.answers) data-artifacts=(f.artifacts) {
                                td { span.family-name { (f.family) } }
                                td.num { (f.answers) }
                                td.num { (f.artifacts) }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Top engines" }
            (engine_table(&engines))
            p { a href="/explorer/engines" { "Leaderboard →" } }
        }
    })
}
