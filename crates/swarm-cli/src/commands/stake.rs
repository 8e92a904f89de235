//! `swarm stake deposit|withdraw|show`: an arbiter's stake (SPEC §3.8,
//! §3.10).
//!
//! A deposit is locked for `stake_duration` blocks (less once a deprecation
//! without rollover releases every stake); withdrawals take matured
//! deposits, oldest first. The node refuses a withdrawal larger than what
//! has matured, and this command then says, from the node's list of
//! deposits, how much is withdrawable now and from which block the amount
//! asked for will be.

use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use swarm_protocol::{Address, Amount, StakeDeposit, StakeWithdraw};
use swarm_sdk::{NodeClient, StakeDepositView};

use crate::commands::community::parse_positive_nct;
use crate::connection::Connection;
use crate::signing::{self, Confirm, Plan};

/// `swarm stake` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum StakeCommand {
    /// Stake NCT as a whitelisted arbiter (default: up to the minimum stake).
    Deposit(DepositArgs),
    /// Take back matured stake (older than the community's stake duration).
    Withdraw(WithdrawArgs),
    /// Show an account's stake: total, withdrawable now, each deposit and when it matures.
    Show(ShowArgs),
}

/// `swarm stake deposit` flags.
#[derive(Args, Debug)]
pub(crate) struct DepositArgs {
    /// NCT to stake (default: what is missing to the community's minimum stake).
    #[arg(long, value_name = "NCT", value_parser = parse_positive_nct)]
    amount: Option<Amount>,
    #[command(flatten)]
    connection: Connection,
    #[command(flatten)]
    confirm: Confirm,
}

/// `swarm stake withdraw` flags.
#[derive(Args, Debug)]
pub(crate) struct WithdrawArgs {
    /// NCT to withdraw.
    #[arg(long, value_name = "NCT", value_parser = parse_positive_nct,
          required_unless_present = "all", conflicts_with = "all")]
    amount: Option<Amount>,
    /// Withdraw everything withdrawable now.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    connection: Connection,
    #[command(flatten)]
    confirm: Confirm,
}

/// `swarm stake show` flags.
#[derive(Args, Debug)]
pub(crate) struct ShowArgs {
    /// The account (default: the key's address).
    #[arg(long)]
    address: Option<Address>,
    #[command(flatten)]
    connection: Connection,
}

pub(crate) async fn run(command: StakeCommand) -> anyhow::Result<()> {
    match command {
        StakeCommand::Deposit(args) => deposit(args).await,
        StakeCommand::Withdraw(args) => withdraw(args).await,
        StakeCommand::Show(args) => {
            let address = match args.address {
                Some(a) => a,
                None => args.connection.key()?.address(),
            };
            let client = NodeClient::new(args.connection.node.clone());
            show(&client, &address).await
        }
    }
}

async fn deposit(args: DepositArgs) -> anyhow::Result<()> {
    let key = args.connection.key()?;
    let node = &args.connection.node;
    let client = NodeClient::new(node.clone());
    let params = client
        .parameters()
        .await
        .with_context(|| format!("cannot read the community's parameters from {node}"))?;
    let staked = client.stake_total(&key.address()).await?;
    let minimum = params.parameters.minimum_stake;
    let amount = match args.amount {
        Some(a) => a,
        None => {
            let missing = minimum.saturating_sub(staked);
            if missing.is_zero() {
                bail!(
                    "{} has staked {staked}, at least the minimum {minimum}; \
                     give --amount to stake more",
                    key.address()
                );
            }
            missing
        }
    };
    let after = staked.checked_add(amount).context("stake overflows")?;
    let whitelisted = params.arbiters.contains(&key.address());
    let plan = Plan::new(StakeDeposit { amount })
        .field("amount", amount)
        .field(
            "stake after",
            format!("{after} (minimum to vote {minimum})"),
        )
        .field(
            "locked for",
            format!("{} blocks", params.parameters.stake_duration),
        )
        .warn_if(
            !whitelisted,
            "the signer is not a whitelisted arbiter: the node will refuse it",
        );
    let sent =
        signing::sign_and_send(&client, &key, &params.community, plan, &args.confirm).await?;
    println!(
        "staked {amount} in block {} ({}); {} now holds {after}",
        sent.block_number,
        sent.hash,
        key.address()
    );
    Ok(())
}

async fn withdraw(args: WithdrawArgs) -> anyhow::Result<()> {
    let key = args.connection.key()?;
    let address = key.address();
    let node = &args.connection.node;
    let client = NodeClient::new(node.clone());
    let params = client
        .parameters()
        .await
        .with_context(|| format!("cannot read the community's parameters from {node}"))?;
    let withdrawable = client.stake_withdrawable(&address).await?;
    let amount = match args.amount {
        Some(a) => a,
        None if withdrawable.is_zero() => {
            let deposits = client.stake_deposits(&address).await?;
            let block = client.status().await?.block;
            bail!(
                "nothing to withdraw: {address} can withdraw 0 NCT now{}",
                schedule(&deposits, None, block, params.parameters.block_time_ms)
            );
        }
        None => withdrawable,
    };
    let plan = Plan::new(StakeWithdraw { amount })
        .field("amount", amount)
        .field("withdrawable now", withdrawable)
        .warn_if(
            amount > withdrawable,
            "more than is withdrawable now: the node will refuse it",
        );
    let kind = plan.kind();
    let sent =
        match signing::sign_and_send(&client, &key, &params.community, plan, &args.confirm).await {
            Ok(sent) => sent,
            Err(e) => {
                // Say when the amount asked for matures, from the node's own
                // list of deposits, after the node's refusal.
                if signing::refused_code(&e) != Some("stake_locked") {
                    return Err(e);
                }
                let deposits = client.stake_deposits(&address).await.unwrap_or_default();
                let now = client
                    .stake_withdrawable(&address)
                    .await
                    .unwrap_or(withdrawable);
                let block = client.status().await.map(|s| s.block).unwrap_or_default();
                bail!(
                    "{e:#}\n{address} can withdraw {now} now{}",
                    schedule(
                        &deposits,
                        Some(amount),
                        block,
                        params.parameters.block_time_ms
                    )
                );
            }
        };
    let left = client.stake_total(&address).await?;
    println!(
        "{kind}: withdrew {amount} in block {} ({}); {address} still stakes {left}",
        sent.block_number, sent.hash
    );
    Ok(())
}

/// When locked stake matures, as text starting with `; ` (or empty when
/// nothing is locked): the block from which `wanted` is withdrawable, or
/// else when the next deposit matures.
fn schedule(
    deposits: &[StakeDepositView],
    wanted: Option<Amount>,
    block: u64,
    block_time_ms: u64,
) -> String {
    let mut by_block: Vec<&StakeDepositView> = deposits.iter().collect();
    by_block.sort_by_key(|d| d.withdrawable_at);
    let total: Amount = deposits.iter().map(|d| d.amount).sum();
    let eta = |at: u64| {
        let blocks = at.saturating_sub(block);
        let secs = Duration::from_millis(blocks.saturating_mul(block_time_ms)).as_secs_f64();
        format!("block {at} (the node is at block {block}: {blocks} blocks, about {secs:.1} s)")
    };
    let Some(next) = by_block.iter().find(|d| !d.withdrawable) else {
        return match wanted {
            Some(w) if w > total => format!("; only {total} is staked in all, less than {w}"),
            _ => String::new(),
        };
    };
    match wanted {
        Some(w) if w > total => format!("; only {total} is staked in all, less than {w}"),
        Some(w) => {
            let mut cumulative = Amount::ZERO;
            for d in &by_block {
                cumulative = cumulative.checked_add(d.amount).unwrap_or(cumulative);
                if cumulative >= w {
                    return format!("; {w} will be withdrawable from {}", eta(d.withdrawable_at));
                }
            }
            String::new()
        }
        None => format!(
            "; {} more becomes withdrawable at {}",
            next.amount,
            eta(next.withdrawable_at)
        ),
    }
}

async fn show(client: &NodeClient, address: &Address) -> anyhow::Result<()> {
    let node = client.base_url();
    let params = client
        .parameters()
        .await
        .with_context(|| format!("cannot read the community's parameters from {node}"))?;
    let total = client.stake_total(address).await?;
    let withdrawable = client.stake_withdrawable(address).await?;
    let deposits = client.stake_deposits(address).await?;
    let block = client.status().await?.block;
    let p = &params.parameters;
    println!("{address}");
    println!("  staked        {total}");
    println!("  withdrawable  {withdrawable}");
    println!(
        "  arbiter       {}",
        if params.arbiters.contains(address) {
            "whitelisted"
        } else {
            "not whitelisted"
        }
    );
    println!(
        "  can vote      {}",
        if params.arbiters.contains(address) && total >= p.minimum_stake {
            "yes".to_owned()
        } else {
            format!("no (needs whitelisting and {} staked)", p.minimum_stake)
        }
    );
    println!("  block         {block}");
    for d in &deposits {
        let when = if d.withdrawable {
            "withdrawable".to_owned()
        } else {
            format!("withdrawable from block {}", d.withdrawable_at)
        };
        println!("  deposit       {} at block {}, {when}", d.amount, d.block);
    }
    Ok(())
}
