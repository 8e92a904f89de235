//! One account: balance, stake, transactions and payouts.

use super::*;

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
    let (balance, stake, withdrawable, arbiter, block) = s.view.read(|r| {
        (
            r.balance(&address),
            r.stake_total(&address),
            r.stake_withdrawable(&address),
            r.arbiters().contains(&address),
            r.block(),
        )
    });
    let (engines, _) =
        data::engines_and_families(&s.view, s.store.as_ref(), &s.settled_totals, 0).await?;
    let engine = engines.iter().any(|e| e.address == address);
    // One pass over the bounties, open then settled newest first, that
    // stops once both lists are full.
    let (mut posted, mut payouts) = (Vec::new(), Vec::new());
    crate::bounties::for_each(&s.view, s.store.as_ref(), |b| {
        if b.author == address && posted.len() < 10 {
            posted.push(BountyRow::of(b, block));
        }
        if payouts.len() < RECENT {
            data::payouts_in(b, &address, &mut payouts);
        }
        !(posted.len() >= 10 && payouts.len() >= RECENT)
    })
    .await?;
    payouts.sort_by_key(|p| std::cmp::Reverse(p.1));
    payouts.truncate(RECENT);
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
