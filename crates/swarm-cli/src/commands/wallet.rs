//! `swarm wallet new|show|balance|faucet|transfer|maintain`: keystore v3
//! files, what they hold, NCT from a development community's faucet, moving
//! NCT, and keeping an account topped up.
//!
//! The password comes from `SWARM_PASSWORD` or, in a terminal, a prompt.
//!
//! `maintain` is PolySwarm's balance manager: it watches an account (an
//! engine's, an ambassador's) and, whenever its balance is below a floor,
//! transfers a fixed refill to it from a funding key. It checks, sends at
//! most one transfer, waits until that transfer is in a block and reads the
//! balance again before it decides anything else, so one dip is refilled
//! once, never twice by a check that raced the transfer.

use std::path::PathBuf;

use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use swarm_protocol::{
    Address, Amount, KdfStrength, Keystore, Mint, PrivateKey, SignedTx, Transfer,
};
use swarm_sdk::{NodeClient, TxStatus};

use crate::commands::community::parse_positive_nct;
use crate::signing::{self, Confirm, Plan};

/// `swarm wallet` subcommands.
#[derive(Subcommand)]
pub(crate) enum WalletCommand {
    /// Create a key and write it as an encrypted keystore v3 file.
    New(NewArgs),
    /// Show the address of a keystore file (and check its password).
    Show(ShowArgs),
    /// Show an account's NCT balance and stake.
    Balance(BalanceArgs),
    /// Mint NCT to the key from the community's faucet (development
    /// communities only).
    Faucet(FaucetArgs),
    /// Send NCT to another account (nct:Transfer; no fee).
    Transfer(TransferArgs),
    /// Keep an account topped up: transfer --refill from --from whenever its
    /// balance is below --min.
    Maintain(MaintainArgs),
}

/// `swarm wallet transfer` flags.
#[derive(Args)]
pub(crate) struct TransferArgs {
    /// The recipient's address (0x and 40 hex digits).
    #[arg(long)]
    to: Address,
    /// NCT to send (up to 18 decimals).
    #[arg(long, value_name = "NCT", value_parser = parse_positive_nct)]
    amount: Amount,
    #[command(flatten)]
    connection: crate::connection::Connection,
    #[command(flatten)]
    confirm: Confirm,
}

/// `swarm wallet maintain` flags.
#[derive(Args)]
pub(crate) struct MaintainArgs {
    /// The node.
    #[arg(long, env = "SWARM_NODE", default_value = swarm_sdk::DEFAULT_NODE)]
    node: String,
    /// The account to keep topped up.
    #[arg(long)]
    address: Address,
    /// The floor, in NCT: below it, the account is refilled.
    #[arg(long, value_name = "NCT", value_parser = parse_nct)]
    min: Amount,
    /// NCT transferred at each refill (added to the balance, not a target).
    #[arg(long, value_name = "NCT", value_parser = parse_positive_nct)]
    refill: Amount,
    /// Keystore v3 file of the account the refills come from.
    #[arg(long, value_name = "KEYFILE", env = "SWARM_MAINTAIN_FROM")]
    from: PathBuf,
    /// Password of the --from keystore.
    #[arg(long, env = "SWARM_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Check once, refill if needed, and exit (for cron and tests).
    #[arg(long)]
    once: bool,
    /// Time between checks, in milliseconds, when watching.
    #[arg(long, value_name = "MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    interval_ms: u64,
    #[command(flatten)]
    confirm: Confirm,
}

/// `swarm wallet faucet` flags.
#[derive(Args)]
pub(crate) struct FaucetArgs {
    /// NCT to mint (at most the faucet's max_per_mint).
    #[arg(long, value_name = "NCT", default_value = "1000", value_parser = parse_nct)]
    amount: Amount,
    #[command(flatten)]
    connection: crate::connection::Connection,
}

fn parse_nct(s: &str) -> Result<Amount, String> {
    Amount::parse_nct(s).map_err(|e| e.to_string())
}

/// `swarm wallet new` flags.
#[derive(Args, Debug)]
pub(crate) struct NewArgs {
    /// Where to write the keystore.
    #[arg(long, env = "SWARM_KEYFILE", default_value = "swarm-key.json")]
    keyfile: PathBuf,
    /// Password (otherwise prompted).
    #[arg(long, env = "SWARM_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Cheaper scrypt parameters, for throwaway development keys.
    #[arg(long)]
    light: bool,
    /// Overwrite an existing file.
    #[arg(long)]
    force: bool,
}

/// `swarm wallet show` flags.
#[derive(Args, Debug)]
pub(crate) struct ShowArgs {
    /// The keystore file.
    #[arg(long, env = "SWARM_KEYFILE")]
    keyfile: PathBuf,
    /// Check this password against the file.
    #[arg(long, env = "SWARM_PASSWORD", hide_env_values = true)]
    password: Option<String>,
}

/// `swarm wallet balance` flags.
#[derive(Args, Debug)]
pub(crate) struct BalanceArgs {
    /// The node.
    #[arg(long, env = "SWARM_NODE", default_value = "http://127.0.0.1:31337")]
    node: String,
    /// An address; or give --keyfile.
    #[arg(long)]
    address: Option<Address>,
    /// A keystore file whose address to look up.
    #[arg(long, env = "SWARM_KEYFILE")]
    keyfile: Option<PathBuf>,
}

fn password(given: Option<String>, confirm: bool) -> anyhow::Result<String> {
    if let Some(p) = given {
        return Ok(p);
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        bail!("no password: set SWARM_PASSWORD or pass --password (no terminal to prompt in)");
    }
    let mut prompt = dialoguer::Password::new().with_prompt("Keystore password");
    if confirm {
        prompt = prompt.with_confirmation("Repeat the password", "the passwords differ");
    }
    prompt.interact().context("cannot read the password")
}

fn read_keystore(path: &PathBuf) -> anyhow::Result<Keystore> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the keyfile {}", path.display()))?;
    Keystore::from_json(&text)
        .with_context(|| format!("{} is not a keystore v3 file", path.display()))
}

pub(crate) async fn run(command: WalletCommand) -> anyhow::Result<()> {
    match command {
        WalletCommand::New(args) => {
            if args.keyfile.exists() && !args.force {
                bail!(
                    "{} exists; use --force to overwrite it",
                    args.keyfile.display()
                );
            }
            let password = password(args.password, true)?;
            let key = PrivateKey::random();
            let strength = if args.light {
                KdfStrength::Light
            } else {
                KdfStrength::Standard
            };
            let keystore = Keystore::encrypt(&key, &password, strength)?;
            std::fs::write(&args.keyfile, keystore.to_json_pretty()?)
                .with_context(|| format!("cannot write {}", args.keyfile.display()))?;
            println!("{}", key.address());
            eprintln!("keystore written to {}", args.keyfile.display());
        }
        WalletCommand::Show(args) => {
            let keystore = read_keystore(&args.keyfile)?;
            let address = match args.password {
                Some(p) => {
                    let key = keystore
                        .decrypt(&p)
                        .with_context(|| format!("cannot decrypt {}", args.keyfile.display()))?;
                    key.address()
                }
                None => keystore.address()?.with_context(|| {
                    format!(
                        "{} does not record its address; give the password to decrypt it",
                        args.keyfile.display()
                    )
                })?,
            };
            println!("{address}");
        }
        WalletCommand::Balance(args) => {
            let address = match (args.address, &args.keyfile) {
                (Some(a), _) => a,
                (None, Some(path)) => read_keystore(path)?
                    .address()?
                    .with_context(|| format!("{} does not record its address", path.display()))?,
                (None, None) => bail!("give --address or --keyfile (SWARM_KEYFILE)"),
            };
            let client = NodeClient::new(args.node.clone());
            let balance = client
                .balance(&address)
                .await
                .with_context(|| format!("cannot read the balance from {}", args.node))?;
            let staked = client.stake_total(&address).await?;
            println!("{address}");
            println!("  balance  {balance}");
            println!("  staked   {staked}");
        }
        WalletCommand::Faucet(args) => {
            let key = args.connection.key()?;
            let node = &args.connection.node;
            let client = NodeClient::new(node.clone());
            let community = client
                .parameters()
                .await
                .with_context(|| format!("cannot reach the node {node}"))?
                .community;
            let mint = Mint {
                to: key.address(),
                amount: args.amount,
            };
            let signed = client.sign(&key, &community, mint).await?;
            for result in client.submit(&[signed], true).await? {
                result.with_context(|| {
                    format!("the faucet of community {community:?} refused the mint")
                })?;
            }
            let balance = client.balance(&key.address()).await?;
            println!("{}", key.address());
            println!("  balance  {}", balance.to_nct_string());
        }
        WalletCommand::Transfer(args) => transfer(args).await?,
        WalletCommand::Maintain(args) => maintain(args).await?,
    }
    Ok(())
}

async fn transfer(args: TransferArgs) -> anyhow::Result<()> {
    let key = args.connection.key()?;
    let from = key.address();
    let node = &args.connection.node;
    let client = NodeClient::new(node.clone());
    let community = client
        .parameters()
        .await
        .with_context(|| format!("cannot reach the node {node}"))?
        .community;
    let balance = client.balance(&from).await?;
    let plan = Plan::new(Transfer {
        to: args.to,
        amount: args.amount,
    })
    .field("to", args.to)
    .field("amount", args.amount)
    .field("fee", "none (transfers pay no fee)")
    .warn_if(
        args.amount > balance,
        format!("the signer holds only {balance}: the node will refuse it"),
    )
    .warn_if(args.to == from, "the recipient is the signer");
    let sent = signing::sign_and_send(&client, &key, &community, plan, &args.confirm).await?;
    println!(
        "sent {} to {} in block {} ({})",
        args.amount, args.to, sent.block_number, sent.hash
    );
    println!("  {from}  {}", client.balance(&from).await?);
    println!("  {}  {}", args.to, client.balance(&args.to).await?);
    Ok(())
}

/// What one check of `maintain` did.
#[derive(Debug, PartialEq, Eq)]
enum Check {
    /// The balance was at or above the floor.
    Enough(Amount),
    /// A refill landed: the balance before and after.
    Refilled { before: Amount, after: Amount },
}

async fn maintain(args: MaintainArgs) -> anyhow::Result<()> {
    if args.min.is_zero() {
        bail!("--min 0 would never refill: give the floor in NCT");
    }
    let keystore = read_keystore(&args.from)?;
    let password = password(args.password.clone(), false)?;
    let key = keystore
        .decrypt(&password)
        .with_context(|| format!("cannot decrypt {}", args.from.display()))?;
    if key.address() == args.address {
        bail!(
            "--from {} is the key of {} itself: a refill must come from another account",
            args.from.display(),
            args.address
        );
    }
    let client = NodeClient::new(args.node.clone());
    let community = client
        .parameters()
        .await
        .with_context(|| format!("cannot reach the node {}", args.node))?
        .community;
    // One confirmation for the whole run: each refill is the same transfer.
    let plan = Plan::new(Transfer {
        to: args.address,
        amount: args.refill,
    })
    .field("to", args.address)
    .field("amount", args.refill)
    .field(
        "when",
        format!(
            "each time the balance of {} is below {}{}",
            args.address,
            args.min,
            if args.once { " (checked once)" } else { "" }
        ),
    );
    plan.show(&key, &community);
    signing::confirm(&args.confirm, plan.kind())?;
    let mut pending: Option<SignedTx> = None;
    loop {
        match check(&client, &key, &community, &args, &mut pending).await {
            Ok(Check::Enough(balance)) => println!(
                "{} holds {balance}, not below the floor {}: nothing sent",
                args.address, args.min
            ),
            Ok(Check::Refilled { before, after }) => {
                println!(
                    "{} held {before}, below the floor {}: sent {} from {}; it now holds {after}",
                    args.address,
                    args.min,
                    args.refill,
                    key.address()
                );
                if after < args.min {
                    eprintln!(
                        "warning: {} is still below the floor {} after a refill of {};                          {}",
                        args.address,
                        args.min,
                        args.refill,
                        if args.once {
                            "the next run sends another"
                        } else {
                            "the next check sends another"
                        }
                    );
                }
            }
            Err(e) if args.once => return Err(e),
            Err(e) => eprintln!("error: {e:#} (retrying in {} ms)", args.interval_ms),
        }
        if args.once {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(args.interval_ms)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// One check: reads the balance and, below the floor, sends one refill and
/// waits for its block. A refill whose fate is unknown (the connection
/// failed after it was sent) stays in `pending` and is sent again as the
/// same signed transaction, which the node applies at most once (a copy
/// is refused as a replay), before anything else is decided.
async fn check(
    client: &NodeClient,
    key: &PrivateKey,
    community: &str,
    args: &MaintainArgs,
    pending: &mut Option<SignedTx>,
) -> anyhow::Result<Check> {
    if let Some(tx) = pending.clone() {
        settle_pending(client, &tx, pending).await?;
    }
    let before = client
        .balance(&args.address)
        .await
        .with_context(|| format!("cannot read the balance of {}", args.address))?;
    if before >= args.min {
        return Ok(Check::Enough(before));
    }
    let transfer = Transfer {
        to: args.address,
        amount: args.refill,
    };
    let tx = client
        .sign(key, community, transfer)
        .await
        .context("cannot read the node's block to sign the refill")?;
    *pending = Some(tx.clone());
    settle_pending(client, &tx, pending).await?;
    let after = client
        .balance(&args.address)
        .await
        .with_context(|| format!("cannot read the balance of {}", args.address))?;
    Ok(Check::Refilled { before, after })
}

/// Sends `tx` and waits until it is in a block, then clears `pending`. Ok
/// when it is (a replay refusal means an earlier copy is); an error when
/// the node refuses it for any other reason (it will never be applied, so
/// `pending` is cleared too) or cannot be reached (it may still be applied,
/// so it stays pending).
async fn settle_pending(
    client: &NodeClient,
    tx: &SignedTx,
    pending: &mut Option<SignedTx>,
) -> anyhow::Result<()> {
    const KIND: &str = "nct:Transfer";
    let mut results = client
        .submit(std::slice::from_ref(tx), true)
        .await
        .with_context(|| format!("cannot send {KIND}: it will be sent again"))?;
    match results.pop() {
        Some(Ok(s)) if s.status == TxStatus::Included => {
            *pending = None;
            Ok(())
        }
        Some(Ok(s)) => bail!(
            "{KIND} {} is not in a block yet: it will be sent again",
            s.hash
        ),
        Some(Err(e)) if e.code() == Some("replayed") => {
            *pending = None;
            Ok(())
        }
        Some(Err(e)) if e.code().is_some() => {
            *pending = None;
            Err(signing::refusal(KIND, e))
        }
        Some(Err(e)) => {
            Err(anyhow::Error::new(e).context(format!("cannot send {KIND}: it will be sent again")))
        }
        None => bail!("the node gave no answer for {KIND}: it will be sent again"),
    }
}
