//! What every command that signs a transaction does around the signature:
//! show what will be signed (the transaction's kind and fields, the
//! community, the signer), ask for confirmation unless `--yes`, send it and
//! wait for its block, and turn a refusal from the node into a message that
//! carries the node's code and says what to do.
//!
//! Why ask: the operator's and the wallet's transactions (fees, windows,
//! arbiters, minting, moving NCT, stakes) cannot be undone, and a key or a
//! node picked up from the environment (`SWARM_PRIVATE_KEY`, `SWARM_NODE`)
//! would otherwise sign for the wrong account or community without a word.
//! Without a terminal there is nobody to ask, so the command refuses unless
//! `--yes` says the caller has checked.

use std::fmt::Display;
use std::io::IsTerminal;

use anyhow::{bail, Context};
use clap::Args;
use swarm_protocol::{PrivateKey, TxBody};
use swarm_sdk::{ClientError, NodeClient, Submitted};

/// `--yes`: sign without asking.
#[derive(Args, Clone, Debug)]
pub(crate) struct Confirm {
    /// Sign and send without asking (required without a terminal: scripts, cron).
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,
}

/// A transaction about to be signed, with the fields to show for it.
pub(crate) struct Plan {
    body: TxBody,
    fields: Vec<(&'static str, String)>,
    warnings: Vec<String>,
}

impl Plan {
    /// A plan to sign `body`.
    pub(crate) fn new(body: impl Into<TxBody>) -> Self {
        Plan {
            body: body.into(),
            fields: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Adds a field to show (`name  value`).
    pub(crate) fn field(mut self, name: &'static str, value: impl Display) -> Self {
        self.fields.push((name, value.to_string()));
        self
    }

    /// Adds a warning shown under the fields (such as "you are not the
    /// owner"); the node has the last word.
    pub(crate) fn warn_if(mut self, condition: bool, warning: impl Display) -> Self {
        if condition {
            self.warnings.push(warning.to_string());
        }
        self
    }

    /// The transaction's name, such as `community:SetFees`.
    pub(crate) fn kind(&self) -> &'static str {
        self.body.name()
    }

    /// Prints the plan to stderr.
    pub(crate) fn show(&self, signer: &PrivateKey, community: &str) {
        let head = [
            ("community", community.to_owned()),
            ("signer", signer.address().to_string()),
        ];
        let lines: Vec<(&str, &str)> = head
            .iter()
            .chain(&self.fields)
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        let width = lines.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        eprintln!("about to sign {}", self.kind());
        for (name, value) in lines {
            eprintln!("  {name:<width$}  {value}");
        }
        for warning in &self.warnings {
            eprintln!("  warning: {warning}");
        }
    }
}

/// Asks "sign and send `what`?" unless `--yes`; an error without a
/// terminal (naming `--yes`) or on "no".
pub(crate) fn confirm(confirm: &Confirm, what: &str) -> anyhow::Result<()> {
    if confirm.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        bail!(
            "not signing {what} without confirmation: there is no terminal to ask in; \
             check what is shown above and pass --yes to sign it"
        );
    }
    let yes = dialoguer::Confirm::new()
        .with_prompt(format!("Sign and send {what}?"))
        .default(false)
        .interact()
        .context("cannot read the confirmation")?;
    if !yes {
        bail!("not signed: {what} was not confirmed");
    }
    Ok(())
}

/// Shows `plan`, asks for confirmation, signs it as `key` for `community`
/// and sends it, returning once it is in a block.
pub(crate) async fn sign_and_send(
    client: &NodeClient,
    key: &PrivateKey,
    community: &str,
    plan: Plan,
    yes: &Confirm,
) -> anyhow::Result<Submitted> {
    plan.show(key, community);
    let kind = plan.kind();
    confirm(yes, kind)?;
    client
        .send(key, community, plan.body, true)
        .await
        .map_err(|e| refusal(kind, e))
}

/// The node refused a transaction: its code, status and message, and what
/// to do about it.
#[derive(Debug)]
pub(crate) struct Refused {
    /// The transaction's name.
    pub(crate) kind: &'static str,
    /// The node's stable code (`not_owner`, `stake_locked`, ...).
    pub(crate) code: String,
    status: u16,
    message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the node refused {} ({}, HTTP {}): {}{}",
            self.kind,
            self.code,
            self.status,
            self.message,
            hint(self.kind, &self.code)
        )
    }
}

impl std::error::Error for Refused {}

/// A failed submission of `kind` as an error that names the problem: a
/// [`Refused`] for a refusal, else the transport's error with context.
pub(crate) fn refusal(kind: &'static str, error: ClientError) -> anyhow::Error {
    match error {
        ClientError::Api {
            status,
            code,
            message,
        } => anyhow::Error::new(Refused {
            kind,
            code,
            status,
            message,
        }),
        other => anyhow::Error::new(other).context(format!("cannot send {kind}")),
    }
}

/// The node's code, when `error` is a refusal.
pub(crate) fn refused_code(error: &anyhow::Error) -> Option<&str> {
    error.downcast_ref::<Refused>().map(|r| r.code.as_str())
}

/// What to do about a refusal, where the node's message alone leaves it open.
fn hint(kind: &str, code: &str) -> String {
    match code {
        "not_owner" => format!(
            "; only the community owner may send {kind}: sign with the owner's key \
             (--keyfile or --private-key)"
        ),
        "not_arbiter" if kind == "staking:Deposit" => {
            "; only a whitelisted arbiter may stake: the owner adds it with \
             `swarm community add-arbiter ADDRESS`"
                .to_owned()
        }
        "insufficient_balance" => {
            "; fund the signer first (`swarm wallet transfer` from another account)".to_owned()
        }
        "faucet_limit" => "; ask for less, or have the owner mint it".to_owned(),
        "deprecated" => {
            "; the owner accepts bounties again with `swarm community undeprecate`".to_owned()
        }
        _ => String::new(),
    }
}
