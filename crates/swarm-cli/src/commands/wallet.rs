//! `swarm wallet new|show|balance|faucet`: keystore v3 files, what they
//! hold, and NCT from a development community's faucet.
//!
//! The password comes from `SWARM_PASSWORD` or, in a terminal, a prompt.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use swarm_protocol::{Address, Amount, KdfStrength, Keystore, Mint, PrivateKey};
use swarm_sdk::NodeClient;

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
    }
    Ok(())
}
