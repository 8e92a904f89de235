//! Tables more than one page shows: bounty lists and engine standings.

use super::*;

/// One line of a bounty list.
pub(super) struct BountyRow {
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
    pub(super) fn of(b: &Bounty, block: u64) -> Self {
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

pub(super) fn consensus_summary(consensus: Option<Bits256>, n: u32, settled: bool) -> Markup {
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

pub(super) fn bounty_table(rows: &[BountyRow]) -> Markup {
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

pub(super) fn engine_table(engines: &[EngineStats]) -> Markup {
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
