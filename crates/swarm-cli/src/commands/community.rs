//! `swarm community show|set-fees|set-windows|add-arbiter|remove-arbiter|
//! deprecate|undeprecate|mint`: the community owner's side of a
//! marketplace (SPEC §3.2, §3.10).
//!
//! `show` reads the rules anyone may read; the others sign the owner's
//! transactions. Each shows what it will sign and asks first (or takes
//! `--yes`); the node decides who the owner is, so a command signed with
//! another key is sent anyway and its refusal (`not_owner`) is shown as the
//! node gives it. Fees and windows apply to bounties posted afterwards:
//! bounties in flight keep the ones they were posted under.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use swarm_protocol::{
    AddArbiter, Address, Amount, Deprecate, Mint, RemoveArbiter, SetFees, SetWindows, Undeprecate,
};
use swarm_sdk::{CommunityParameters, NodeClient, Submitted};

use crate::connection::Connection;
use crate::signing::{self, Confirm, Plan};

/// `swarm community` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum CommunityCommand {
    /// Show the community: owner, fees, windows, bounds, stakes, arbiters, deprecation.
    Show(ShowArgs),
    /// Owner: change the bounty and assertion fees (for bounties posted afterwards).
    SetFees(SetFeesArgs),
    /// Owner: change the reveal and vote windows (for bounties posted afterwards).
    SetWindows(SetWindowsArgs),
    /// Owner: whitelist an arbiter (it must still stake the minimum to vote).
    AddArbiter(ArbiterArgs),
    /// Owner: remove an arbiter from the whitelist.
    RemoveArbiter(ArbiterArgs),
    /// Owner: refuse new bounties; bounties in flight finish and settle.
    Deprecate(DeprecateArgs),
    /// Owner: accept new bounties again.
    Undeprecate(OwnerArgs),
    /// Owner: create NCT (anyone, up to its limit, on a community with a dev faucet).
    Mint(MintArgs),
}

/// `swarm community show` flags.
#[derive(Args, Debug)]
pub(crate) struct ShowArgs {
    /// The node.
    #[arg(long, env = "SWARM_NODE", default_value = swarm_sdk::DEFAULT_NODE)]
    node: String,
    /// Print the node's answer as JSON (amounts in wei) instead of text.
    #[arg(long)]
    json: bool,
}

/// The flags of every owner's transaction: node, key, `--yes`.
#[derive(Args, Debug)]
pub(crate) struct OwnerArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(flatten)]
    confirm: Confirm,
}

/// `swarm community set-fees` flags.
#[derive(Args, Debug)]
pub(crate) struct SetFeesArgs {
    /// New bounty fee in NCT (default: unchanged).
    #[arg(long, value_name = "NCT", value_parser = parse_nct)]
    bounty_fee: Option<Amount>,
    /// New assertion fee in NCT (default: unchanged).
    #[arg(long, value_name = "NCT", value_parser = parse_nct)]
    assertion_fee: Option<Amount>,
    #[command(flatten)]
    owner: OwnerArgs,
}

/// `swarm community set-windows` flags.
#[derive(Args, Debug)]
pub(crate) struct SetWindowsArgs {
    /// New reveal window R in blocks, at least 1 (default: unchanged).
    #[arg(long, value_name = "BLOCKS", alias = "assertion-reveal-window",
          value_parser = clap::value_parser!(u64).range(1..))]
    reveal_window: Option<u64>,
    /// New vote window V in blocks, at least 1 (default: unchanged).
    #[arg(long, value_name = "BLOCKS", alias = "arbiter-vote-window",
          value_parser = clap::value_parser!(u64).range(1..))]
    vote_window: Option<u64>,
    #[command(flatten)]
    owner: OwnerArgs,
}

/// `swarm community add-arbiter|remove-arbiter` flags.
#[derive(Args, Debug)]
pub(crate) struct ArbiterArgs {
    /// The arbiter's address (0x and 40 hex digits).
    arbiter: Address,
    #[command(flatten)]
    owner: OwnerArgs,
}

/// `swarm community deprecate` flags.
#[derive(Args, Debug)]
pub(crate) struct DeprecateArgs {
    /// Keep stakes under their usual lock (arbiters move to a successor
    /// community) instead of releasing them once bounties in flight are done.
    #[arg(long)]
    rollover: bool,
    #[command(flatten)]
    owner: OwnerArgs,
}

/// `swarm community mint` flags.
#[derive(Args, Debug)]
pub(crate) struct MintArgs {
    /// Who receives the new NCT (default: the signer).
    #[arg(long)]
    to: Option<Address>,
    /// NCT to create (up to 18 decimals).
    #[arg(long, value_name = "NCT", value_parser = parse_nct)]
    amount: Amount,
    #[command(flatten)]
    owner: OwnerArgs,
}

/// Parses a positive amount of NCT (`12`, `0.0625`).
pub(crate) fn parse_nct(s: &str) -> Result<Amount, String> {
    Amount::parse_nct(s).map_err(|e| e.to_string())
}

/// Parses an amount of NCT that must be more than zero.
pub(crate) fn parse_positive_nct(s: &str) -> Result<Amount, String> {
    let amount = parse_nct(s)?;
    if amount.is_zero() {
        return Err(format!("amount {s:?} must be more than zero"));
    }
    Ok(amount)
}

pub(crate) async fn run(command: CommunityCommand) -> anyhow::Result<()> {
    match command {
        CommunityCommand::Show(args) => show(args).await,
        CommunityCommand::SetFees(args) => {
            if args.bounty_fee.is_none() && args.assertion_fee.is_none() {
                bail!("give --bounty-fee, --assertion-fee or both");
            }
            let owner = Owner::connect(&args.owner).await?;
            let p = &owner.params.parameters;
            let fees = SetFees {
                bounty_fee: args.bounty_fee.unwrap_or(p.bounty_fee),
                assertion_fee: args.assertion_fee.unwrap_or(p.assertion_fee),
            };
            let plan = Plan::new(fees.clone())
                .field("bounty_fee", change(p.bounty_fee, fees.bounty_fee))
                .field("assertion_fee", change(p.assertion_fee, fees.assertion_fee))
                .field(
                    "applies to",
                    "bounties and assertions on bounties posted afterwards",
                );
            owner.send(plan).await
        }
        CommunityCommand::SetWindows(args) => {
            if args.reveal_window.is_none() && args.vote_window.is_none() {
                bail!("give --reveal-window, --vote-window or both");
            }
            let owner = Owner::connect(&args.owner).await?;
            let p = &owner.params.parameters;
            let windows = SetWindows {
                assertion_reveal_window: args.reveal_window.unwrap_or(p.assertion_reveal_window),
                arbiter_vote_window: args.vote_window.unwrap_or(p.arbiter_vote_window),
            };
            let blocks = |old: u64, new: u64| format!("{new} blocks (now {old})");
            let plan = Plan::new(windows.clone())
                .field(
                    "assertion_reveal_window",
                    blocks(p.assertion_reveal_window, windows.assertion_reveal_window),
                )
                .field(
                    "arbiter_vote_window",
                    blocks(p.arbiter_vote_window, windows.arbiter_vote_window),
                )
                .field("applies to", "bounties posted afterwards");
            owner.send(plan).await
        }
        CommunityCommand::AddArbiter(args) => {
            let owner = Owner::connect(&args.owner).await?;
            let listed = owner.params.arbiters.contains(&args.arbiter);
            let plan = Plan::new(AddArbiter {
                arbiter: args.arbiter,
            })
            .field("arbiter", args.arbiter)
            .field(
                "then",
                format!(
                    "it votes once it has staked {} (`swarm stake deposit`)",
                    owner.params.parameters.minimum_stake
                ),
            )
            .warn_if(listed, format!("{} is already an arbiter", args.arbiter));
            owner.send(plan).await
        }
        CommunityCommand::RemoveArbiter(args) => {
            let owner = Owner::connect(&args.owner).await?;
            let listed = owner.params.arbiters.contains(&args.arbiter);
            let plan = Plan::new(RemoveArbiter {
                arbiter: args.arbiter,
            })
            .field("arbiter", args.arbiter)
            .field(
                "then",
                "its votes are refused; its stake stays withdrawable as before",
            )
            .warn_if(!listed, format!("{} is not an arbiter", args.arbiter));
            owner.send(plan).await
        }
        CommunityCommand::Deprecate(args) => {
            let owner = Owner::connect(&args.owner).await?;
            let p = &owner.params.parameters;
            let stakes = if args.rollover {
                "keep their usual lock (rollover)".to_owned()
            } else {
                format!(
                    "are released {} blocks from now (max_duration + R + V)",
                    p.max_duration
                        .saturating_add(p.assertion_reveal_window)
                        .saturating_add(p.arbiter_vote_window)
                )
            };
            let plan = Plan::new(Deprecate {
                rollover: args.rollover,
            })
            .field("rollover", args.rollover)
            .field(
                "then",
                "new bounties are refused; bounties in flight finish and settle",
            )
            .field("stakes", stakes)
            .warn_if(
                owner.params.deprecated,
                "the community is already deprecated",
            );
            owner.send(plan).await
        }
        CommunityCommand::Undeprecate(args) => {
            let owner = Owner::connect(&args).await?;
            let deprecated = owner.params.deprecated;
            let plan = Plan::new(Undeprecate {})
                .field("then", "new bounties are accepted again")
                .warn_if(!deprecated, "the community is not deprecated");
            owner.send(plan).await
        }
        CommunityCommand::Mint(args) => {
            let owner = Owner::connect(&args.owner).await?;
            let to = args.to.unwrap_or(owner.key.address());
            let plan = Plan::new(Mint {
                to,
                amount: args.amount,
            })
            .field("to", to)
            .field("amount", args.amount);
            owner.send(plan).await
        }
    }
}

/// `new (now old)` for a changed amount.
fn change(old: Amount, new: Amount) -> String {
    format!("{new} (now {old})")
}

/// An owner's command once connected: its key, client and the community.
struct Owner<'a> {
    args: &'a OwnerArgs,
    key: swarm_protocol::PrivateKey,
    client: NodeClient,
    params: CommunityParameters,
}

impl<'a> Owner<'a> {
    async fn connect(args: &'a OwnerArgs) -> anyhow::Result<Owner<'a>> {
        let key = args.connection.key()?;
        let node = &args.connection.node;
        let client = NodeClient::new(node.clone());
        let params = client
            .parameters()
            .await
            .with_context(|| format!("cannot read the community's parameters from {node}"))?;
        Ok(Owner {
            args,
            key,
            client,
            params,
        })
    }

    /// Shows, confirms, signs and sends `plan`; prints where it landed.
    async fn send(&self, plan: Plan) -> anyhow::Result<()> {
        let kind = plan.kind();
        // The node checks; this only warns before asking. A mint may be
        // open to anyone under a dev faucet, which the API does not show.
        let not_owner = self.key.address() != self.params.owner && kind != "nct:Mint";
        let plan = plan.warn_if(
            not_owner,
            format!(
                "the signer is not the community owner {}: the node will refuse it",
                self.params.owner
            ),
        );
        let sent: Submitted = signing::sign_and_send(
            &self.client,
            &self.key,
            &self.params.community,
            plan,
            &self.args.confirm,
        )
        .await?;
        println!(
            "{kind} included in block {} ({})",
            sent.block_number, sent.hash
        );
        Ok(())
    }
}

async fn show(args: ShowArgs) -> anyhow::Result<()> {
    let client = NodeClient::new(args.node.clone());
    let c = client
        .parameters()
        .await
        .with_context(|| format!("cannot read the community's parameters from {}", args.node))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&c)?);
        return Ok(());
    }
    let p = &c.parameters;
    println!("community   {}", c.community);
    println!("owner       {}", c.owner);
    println!(
        "status      {}",
        if c.deprecated {
            "deprecated: new bounties are refused"
        } else {
            "open"
        }
    );
    println!(
        "fees        bounty {}, assertion {}",
        p.bounty_fee, p.assertion_fee
    );
    println!(
        "windows     assertion 1 to {} blocks, reveal {} blocks, vote {} blocks",
        p.max_duration, p.assertion_reveal_window, p.arbiter_vote_window
    );
    println!(
        "bounties    at least {} per artifact, at most {} artifacts of {} bytes",
        p.bounty_amount_minimum, p.max_artifacts, p.max_artifact_size
    );
    println!(
        "bids        {} to {} per artifact",
        p.assertion_bid_minimum, p.assertion_bid_maximum
    );
    println!(
        "stakes      {} to {}, withdrawable {} blocks after deposit",
        p.minimum_stake, p.maximum_stake, p.stake_duration
    );
    println!("block time  {} ms", p.block_time_ms);
    println!("arbiters    {}", c.arbiters.len());
    for arbiter in &c.arbiters {
        let staked = client
            .stake_total(arbiter)
            .await
            .with_context(|| format!("cannot read the stake of {arbiter}"))?;
        let votes = if staked >= p.minimum_stake {
            "may vote"
        } else {
            "below the minimum stake: may not vote"
        };
        println!("  {arbiter}  staked {staked}, {votes}");
    }
    Ok(())
}
