//! How a participant process finds its marketplace: the environment
//! variables every swarm participant reads, and a shutdown signal.
//!
//! `swarm dev --engine CMD` and `swarm engine run` hand an engine its node
//! and key through `SWARM_NODE`, `SWARM_KEYFILE` + `SWARM_PASSWORD` (an
//! Ethereum keystore v3 file) or `SWARM_PRIVATE_KEY`. An engine crate made
//! by `swarm new` calls [`Connection::from_env`] so that it runs the same
//! way under `swarm dev`, in a container, or by hand.

use std::path::PathBuf;

use swarm_protocol::{Keystore, KeystoreError, PrivateKey};
use tokio_util::sync::CancellationToken;

/// The node used when `SWARM_NODE` is not set.
pub const DEFAULT_NODE: &str = "http://127.0.0.1:31337";

/// A participant's node and key, read from the environment.
#[derive(Clone, Debug)]
pub struct Connection {
    /// The node's base URL (`SWARM_NODE`, default [`DEFAULT_NODE`]).
    pub node: String,
    /// The participant's key.
    pub key: PrivateKey,
    /// Where an engine keeps its journal (`SWARM_JOURNAL`), if set.
    pub journal: Option<PathBuf>,
}

/// Why [`Connection::from_env`] failed; each names the variable at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// Neither a keyfile nor a raw key was given.
    #[error(
        "no key: set SWARM_KEYFILE (a keystore v3 file) with SWARM_PASSWORD, or SWARM_PRIVATE_KEY"
    )]
    NoKey,
    /// Both a keyfile and a raw key were given.
    #[error("set SWARM_KEYFILE or SWARM_PRIVATE_KEY, not both")]
    TwoKeys,
    /// `SWARM_PRIVATE_KEY` is not a key.
    #[error("SWARM_PRIVATE_KEY is not a private key (0x and 64 hex digits)")]
    BadPrivateKey,
    /// The keyfile cannot be read.
    #[error("cannot read the keyfile {path} (SWARM_KEYFILE): {source}")]
    ReadKeyfile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The keyfile is encrypted and no password was given.
    #[error("the keyfile {0} is encrypted: set SWARM_PASSWORD")]
    NoPassword(PathBuf),
    /// The keyfile is malformed or the password is wrong.
    #[error("cannot use the keyfile {path} (SWARM_KEYFILE): {source}")]
    Keystore {
        /// The file.
        path: PathBuf,
        /// Why.
        source: KeystoreError,
    },
    /// `SWARM_NODE` is not an http(s) URL.
    #[error("SWARM_NODE must be an http:// or https:// URL, not {0:?}")]
    BadNode(String),
}

impl Connection {
    /// Reads `SWARM_NODE`, `SWARM_KEYFILE` + `SWARM_PASSWORD` or
    /// `SWARM_PRIVATE_KEY`, and `SWARM_JOURNAL`.
    pub fn from_env() -> Result<Connection, ConnectionError> {
        Connection::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// [`Connection::from_env`] over any source of variables.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Connection, ConnectionError> {
        let node = lookup("SWARM_NODE").unwrap_or_else(|| DEFAULT_NODE.to_owned());
        if !(node.starts_with("http://") || node.starts_with("https://")) {
            return Err(ConnectionError::BadNode(node));
        }
        let key = match (lookup("SWARM_KEYFILE"), lookup("SWARM_PRIVATE_KEY")) {
            (Some(_), Some(_)) => return Err(ConnectionError::TwoKeys),
            (None, None) => return Err(ConnectionError::NoKey),
            (None, Some(hex)) => hex
                .trim()
                .parse::<PrivateKey>()
                .map_err(|_| ConnectionError::BadPrivateKey)?,
            (Some(path), None) => {
                let path = PathBuf::from(path);
                let text = std::fs::read_to_string(&path).map_err(|source| {
                    ConnectionError::ReadKeyfile {
                        path: path.clone(),
                        source,
                    }
                })?;
                let keystore =
                    Keystore::from_json(&text).map_err(|source| ConnectionError::Keystore {
                        path: path.clone(),
                        source,
                    })?;
                let password = lookup("SWARM_PASSWORD")
                    .ok_or_else(|| ConnectionError::NoPassword(path.clone()))?;
                keystore
                    .decrypt(&password)
                    .map_err(|source| ConnectionError::Keystore { path, source })?
            }
        };
        Ok(Connection {
            node,
            key,
            journal: lookup("SWARM_JOURNAL").map(PathBuf::from),
        })
    }
}

/// A token cancelled on Ctrl-C or SIGTERM, for the runtimes' `shutdown`:
/// the engine finishes what it committed to (reveals) and stops cleanly
/// when `swarm dev` or a container runtime stops it.
///
/// The handlers are registered before this returns: a signal that comes
/// any time after (even before the spawned task first runs) cancels the
/// token, where it would otherwise kill the process unannounced.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    let signal = signal_received();
    tokio::spawn(async move {
        signal.await;
        tracing::info!("shutting down");
        cancel.cancel();
    });
    token
}

/// Registers for SIGTERM and SIGINT now; the future ends at the first.
fn signal_received() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        async move {
            match (term, interrupt) {
                (Ok(mut term), Ok(mut interrupt)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = interrupt.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use swarm_protocol::KdfStrength;

    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn raw_key_and_default_node() {
        let key = PrivateKey::random();
        let hex = format!("0x{}", hex::encode(key.to_bytes()));
        let c = Connection::from_lookup(lookup(&[("SWARM_PRIVATE_KEY", &hex)])).unwrap();
        assert_eq!(c.node, DEFAULT_NODE);
        assert_eq!(c.key.address(), key.address());
        assert!(c.journal.is_none());
    }

    #[test]
    fn keyfile_with_password() {
        let dir = tempfile::tempdir().unwrap();
        let key = PrivateKey::random();
        let path = dir.path().join("key.json");
        let ks = Keystore::encrypt(&key, "pw", KdfStrength::Light).unwrap();
        std::fs::write(&path, ks.to_json_pretty().unwrap()).unwrap();
        let file = path.to_str().unwrap();
        let c = Connection::from_lookup(lookup(&[
            ("SWARM_NODE", "http://10.0.0.1:9"),
            ("SWARM_KEYFILE", file),
            ("SWARM_PASSWORD", "pw"),
            ("SWARM_JOURNAL", "/tmp/j"),
        ]))
        .unwrap();
        assert_eq!(c.node, "http://10.0.0.1:9");
        assert_eq!(c.key.address(), key.address());
        assert_eq!(c.journal, Some(PathBuf::from("/tmp/j")));

        let wrong = Connection::from_lookup(lookup(&[
            ("SWARM_KEYFILE", file),
            ("SWARM_PASSWORD", "nope"),
        ]))
        .unwrap_err();
        assert!(matches!(wrong, ConnectionError::Keystore { .. }), "{wrong}");
        let none = Connection::from_lookup(lookup(&[("SWARM_KEYFILE", file)])).unwrap_err();
        assert!(none.to_string().contains("SWARM_PASSWORD"), "{none}");
    }

    #[test]
    fn bad_input_names_the_variable() {
        let e = Connection::from_lookup(lookup(&[])).unwrap_err();
        assert!(e.to_string().contains("SWARM_KEYFILE"), "{e}");
        let e = Connection::from_lookup(lookup(&[("SWARM_PRIVATE_KEY", "0x12")])).unwrap_err();
        assert!(e.to_string().contains("SWARM_PRIVATE_KEY"), "{e}");
        let e = Connection::from_lookup(lookup(&[
            ("SWARM_PRIVATE_KEY", "0x12"),
            ("SWARM_KEYFILE", "/x"),
        ]))
        .unwrap_err();
        assert!(matches!(e, ConnectionError::TwoKeys));
        let e = Connection::from_lookup(lookup(&[("SWARM_KEYFILE", "/no/such/file")])).unwrap_err();
        assert!(e.to_string().contains("/no/such/file"), "{e}");
        let e = Connection::from_lookup(lookup(&[("SWARM_NODE", "localhost:1")])).unwrap_err();
        assert!(e.to_string().contains("SWARM_NODE"), "{e}");
    }
}
