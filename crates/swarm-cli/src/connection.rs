//! Where a participant command connects and who it is: `--node` and the
//! account's key, each flag with its `SWARM_*` variable. The key is read by
//! the SDK's own code (`swarm_sdk::Connection`), the same that engine
//! crates made by `swarm new` use, so a key that works for one works for
//! the other.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use swarm_protocol::PrivateKey;

/// Where the participant connects and who it is.
#[derive(Args, Clone, Debug)]
pub(crate) struct Connection {
    /// The node's URL.
    #[arg(long, env = "SWARM_NODE", default_value = swarm_sdk::DEFAULT_NODE)]
    pub(crate) node: String,
    /// Keystore v3 JSON file of the account.
    #[arg(long, env = "SWARM_KEYFILE")]
    keyfile: Option<PathBuf>,
    /// Password of the keystore.
    #[arg(long, env = "SWARM_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Raw private key, 0x and 64 hex digits (development only).
    #[arg(long, env = "SWARM_PRIVATE_KEY", hide_env_values = true)]
    private_key: Option<String>,
}

impl Connection {
    /// The account's key, from the keystore (`--keyfile` with `--password`)
    /// or the raw key (`--private-key`).
    pub(crate) fn key(&self) -> anyhow::Result<PrivateKey> {
        let connection = swarm_sdk::Connection::from_lookup(|name| match name {
            "SWARM_NODE" => Some(self.node.clone()),
            "SWARM_KEYFILE" => self.keyfile.as_ref().map(|p| p.display().to_string()),
            "SWARM_PASSWORD" => self.password.clone(),
            "SWARM_PRIVATE_KEY" => self.private_key.clone(),
            _ => None,
        })
        .context(
            "the account is --keyfile with --password, or --private-key (or SWARM_KEYFILE, \
             SWARM_PASSWORD, SWARM_PRIVATE_KEY)",
        )?;
        Ok(connection.key)
    }
}
