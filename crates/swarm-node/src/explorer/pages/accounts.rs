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
