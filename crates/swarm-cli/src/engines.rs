//! The engines a command can run by name (`--engine`), and the flags that
//! configure them, shared by `swarm scan`, `swarm engine run`, `swarm
//! arbiter run --truth`, `swarm worker` and `swarm dev --engine`.
//!
//! A comma-separated list of built-in names (`clamav,yara`) is one
//! composite engine. A command may itself contain commas, so the text is
//! split only when every part is a built-in name ([`builtin_list`]);
//! anything else stays one command (docs/DECISIONS.md).

use std::path::PathBuf;
use std::time::Duration;

#[cfg(feature = "yara")]
use anyhow::Context;
use clap::Args;
use swarm_engines::{
    Clamav, ClamavConfig, ClamdAddress, CommandScanner, Composite, Eicar, EicarVariant, Engine,
    Webhook, WebhookConfig, Wine, WineConfig,
};

/// The built-in engine names; any other `--engine` value is a command,
/// unless it is a comma-separated list of these ([`builtin_list`]).
pub(crate) const BUILTIN_ENGINES: [&str; 6] =
    ["eicar", "eicar-sha256", "clamav", "yara", "wine", "webhook"];

/// The names of a composite engine: `Some` when `spec` has a comma and
/// every comma-separated part (trimmed) is a built-in name; `None` for one
/// name or a command (which may contain commas of its own).
pub(crate) fn builtin_list(spec: &str) -> Option<Vec<&str>> {
    if !spec.contains(',') {
        return None;
    }
    let parts: Vec<&str> = spec.split(',').map(str::trim).collect();
    parts
        .iter()
        .all(|p| BUILTIN_ENGINES.contains(p))
        .then_some(parts)
}

/// Whether `spec` names built-in engines only: one name, or a list.
pub(crate) fn is_builtin(spec: &str) -> bool {
    BUILTIN_ENGINES.contains(&spec.trim()) || builtin_list(spec).is_some()
}

/// What a build without the YARA engine says when asked for it.
#[cfg_attr(feature = "yara", allow(dead_code))]
pub(crate) const WITHOUT_YARA: &str = "this swarm was built without the yara engine (its rule \
     compiler is a long build the tutorial does not need); build it with \
     `cargo build --release -p swarm-cli --features yara` (or `--features full` for every engine)";

/// Settings of the engines, each with an environment variable.
#[derive(Args, Clone, Debug)]
pub(crate) struct EngineOptions {
    /// clamav: clamd's host name or address.
    #[arg(long, env = "CLAMD_HOST", default_value = "127.0.0.1")]
    clamd_host: String,
    /// clamav: clamd's TCP port.
    #[arg(long, env = "CLAMD_PORT", default_value_t = 3310)]
    clamd_port: u16,
    /// clamav: clamd's Unix socket; when given, used instead of host and port.
    #[arg(long, env = "CLAMD_SOCKET")]
    clamd_socket: Option<PathBuf>,
    /// clamav: deadline of one exchange with clamd, in seconds.
    #[arg(
        long,
        env = "CLAMD_TIMEOUT",
        default_value_t = 60,
        value_name = "SECONDS"
    )]
    clamd_timeout: u64,
    /// clamav: most scans talking to clamd at once.
    #[arg(long, env = "CLAMD_MAX_CONNECTIONS", default_value_t = 4)]
    clamd_max_connections: usize,
    /// clamav: bytes per INSTREAM chunk.
    #[arg(long, env = "CLAMD_CHUNK_SIZE", default_value_t = 64 * 1024)]
    clamd_chunk_size: usize,
    /// yara: directory of .yar/.yara rule files (searched recursively).
    #[arg(long, env = "YARA_RULES_DIR")]
    #[cfg_attr(not(feature = "yara"), allow(dead_code))]
    yara_rules_dir: Option<PathBuf>,
    /// yara: deadline of one scan, in seconds.
    #[arg(
        long,
        env = "YARA_TIMEOUT",
        default_value_t = 60,
        value_name = "SECONDS"
    )]
    #[cfg_attr(not(feature = "yara"), allow(dead_code))]
    yara_timeout: u64,
    /// Command engines: deadline of one run of the command, in seconds.
    #[arg(
        long,
        env = "SWARM_COMMAND_TIMEOUT",
        default_value_t = 60,
        value_name = "SECONDS"
    )]
    command_timeout: u64,
    /// webhook: the URL of a PolySwarm webhook engine (a `polyswarm-engine`
    /// web service), e.g. `http://engine:8000/eicar`.
    #[arg(long, env = "SWARM_WEBHOOK_URL", value_name = "URL")]
    webhook_url: Option<String>,
    /// webhook: the secret shared with the engine (its
    /// PSENGINE_WEBHOOK_SECRET) that signs every delivery.
    #[arg(long, env = "SWARM_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: Option<String>,
    /// webhook: where to listen for the engine's downloads and analyses
    /// (port 0: any free port).
    #[arg(
        long,
        env = "SWARM_WEBHOOK_LISTEN",
        default_value = "127.0.0.1:0",
        value_name = "ADDR"
    )]
    webhook_listen: std::net::SocketAddr,
    /// webhook: the base URL the engine reaches that listener at (default
    /// http://ADDR of --webhook-listen); needed when the engine runs on
    /// another host or in a container.
    #[arg(long, env = "SWARM_WEBHOOK_PUBLIC_URL", value_name = "URL")]
    webhook_public_url: Option<String>,
    #[command(flatten)]
    wine: WineOptions,
}

/// Settings of the wine engine; `swarm dev` takes them too and hands them
/// to its engine processes ([`WineOptions::env`]).
#[derive(Args, Clone, Debug)]
pub(crate) struct WineOptions {
    /// wine: the Windows command-line scanner (.exe) to run under Wine on
    /// each file.
    #[arg(long, env = "SWARM_WINE_EXE", value_name = "PATH")]
    wine_exe: Option<PathBuf>,
    /// wine: arguments before the file's Windows path (shell text, as a
    /// command engine's).
    #[arg(long, env = "SWARM_WINE_ARGS", value_name = "ARGS")]
    wine_args: Option<String>,
    /// wine: the WINEPREFIX, made and initialised on first use
    /// (default: swarm/wine-prefix under $XDG_DATA_HOME or ~/.local/share).
    #[arg(long, env = "SWARM_WINE_PREFIX", value_name = "DIR")]
    wine_prefix: Option<PathBuf>,
    /// wine: deadline of one scan, in seconds; past it the Windows process
    /// is killed.
    #[arg(
        long,
        env = "SWARM_WINE_TIMEOUT",
        default_value_t = 60,
        value_name = "SECONDS"
    )]
    wine_timeout: u64,
}

impl WineOptions {
    /// The wine engine's configuration.
    pub(crate) fn config(&self) -> anyhow::Result<WineConfig> {
        let exe = self.wine_exe.as_ref().ok_or_else(|| {
            anyhow::anyhow!("the wine engine needs --wine-exe (or SWARM_WINE_EXE)")
        })?;
        let prefix = self
            .wine_prefix
            .clone()
            .unwrap_or_else(WineConfig::default_prefix);
        let mut config = WineConfig::new(exe, prefix);
        config.args = self.wine_args.clone().unwrap_or_default();
        config.timeout = Duration::from_secs(self.wine_timeout.max(1));
        Ok(config)
    }

    /// These settings as the environment variables that give them, for a
    /// child process (`swarm dev`'s engines).
    pub(crate) fn env(&self) -> Vec<(&'static str, std::ffi::OsString)> {
        let mut env = vec![("SWARM_WINE_TIMEOUT", self.wine_timeout.to_string().into())];
        if let Some(exe) = &self.wine_exe {
            // Absolute, should the child run elsewhere.
            let exe = std::path::absolute(exe).unwrap_or_else(|_| exe.clone());
            env.push(("SWARM_WINE_EXE", exe.into_os_string()));
        }
        if let Some(args) = &self.wine_args {
            env.push(("SWARM_WINE_ARGS", args.into()));
        }
        if let Some(prefix) = &self.wine_prefix {
            let prefix = std::path::absolute(prefix).unwrap_or_else(|_| prefix.clone());
            env.push(("SWARM_WINE_PREFIX", prefix.into_os_string()));
        }
        env
    }
}

impl EngineOptions {
    /// The clamav engine's configuration.
    pub(crate) fn clamav_config(&self) -> ClamavConfig {
        let address = match &self.clamd_socket {
            Some(path) => ClamdAddress::Unix(path.clone()),
            None => ClamdAddress::Tcp {
                host: self.clamd_host.clone(),
                port: self.clamd_port,
            },
        };
        ClamavConfig {
            address,
            timeout: Duration::from_secs(self.clamd_timeout.max(1)),
            max_connections: self.clamd_max_connections.max(1),
            chunk_size: self.clamd_chunk_size.max(1),
            // FILDES on a Unix socket, INSTREAM otherwise or when refused.
            fd_passing: true,
        }
    }

    /// The yara engine, its rules compiled.
    #[cfg(feature = "yara")]
    pub(crate) fn yara(&self) -> anyhow::Result<swarm_engines::Yara> {
        let dir = self.yara_rules_dir.as_ref().ok_or_else(|| {
            anyhow::anyhow!("the yara engine needs --yara-rules-dir (or YARA_RULES_DIR)")
        })?;
        let rules = swarm_engines::YaraRules::load_dir(dir)
            .with_context(|| format!("cannot load the YARA rules of {}", dir.display()))?;
        tracing::info!(dir = %dir.display(), files = rules.files().len(), rules = rules.len(), "YARA rules compiled");
        Ok(swarm_engines::Yara::new(
            rules,
            Duration::from_secs(self.yara_timeout.max(1)),
        ))
    }

    /// The settings as environment variables, for a child process that
    /// runs `swarm engine run` (`swarm dev --engine`).
    pub(crate) fn env(&self) -> Vec<(&'static str, std::ffi::OsString)> {
        let mut vars = vec![
            ("CLAMD_HOST", self.clamd_host.clone()),
            ("CLAMD_PORT", self.clamd_port.to_string()),
            ("CLAMD_TIMEOUT", self.clamd_timeout.to_string()),
            (
                "CLAMD_MAX_CONNECTIONS",
                self.clamd_max_connections.to_string(),
            ),
            ("CLAMD_CHUNK_SIZE", self.clamd_chunk_size.to_string()),
            ("YARA_TIMEOUT", self.yara_timeout.to_string()),
            ("SWARM_COMMAND_TIMEOUT", self.command_timeout.to_string()),
            ("SWARM_WEBHOOK_LISTEN", self.webhook_listen.to_string()),
        ];
        let optional = [
            (
                "CLAMD_SOCKET",
                self.clamd_socket.as_ref().map(|p| p.display().to_string()),
            ),
            (
                "YARA_RULES_DIR",
                self.yara_rules_dir
                    .as_ref()
                    .map(|p| p.display().to_string()),
            ),
            ("SWARM_WEBHOOK_URL", self.webhook_url.clone()),
            ("SWARM_WEBHOOK_SECRET", self.webhook_secret.clone()),
            ("SWARM_WEBHOOK_PUBLIC_URL", self.webhook_public_url.clone()),
        ];
        vars.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
        let mut vars: Vec<(&'static str, std::ffi::OsString)> =
            vars.into_iter().map(|(k, v)| (k, v.into())).collect();
        vars.extend(self.wine.env());
        vars
    }

    /// The webhook engine, reading the community's bid limits from `node`.
    pub(crate) fn webhook(&self, node: Option<&str>) -> anyhow::Result<Webhook> {
        let url = self.webhook_url.clone().ok_or_else(|| {
            anyhow::anyhow!("the webhook engine needs --webhook-url (or SWARM_WEBHOOK_URL)")
        })?;
        let secret = match &self.webhook_secret {
            Some(s) if !s.is_empty() => s.clone(),
            _ => anyhow::bail!(
                "the webhook engine needs --webhook-secret (or SWARM_WEBHOOK_SECRET): \
                 the engine's PSENGINE_WEBHOOK_SECRET"
            ),
        };
        let mut config = WebhookConfig::new(url, secret);
        config.listen = self.webhook_listen;
        config.public_url = self.webhook_public_url.clone();
        config.node = node.map(str::to_owned);
        Webhook::new(config).map_err(|e| anyhow::anyhow!("{e} ({})", e.code()))
    }

    /// The engine called `name`: a built-in one ([`BUILTIN_ENGINES`]), a
    /// composite of a comma-separated list of them ([`builtin_list`]), or
    /// else a command run through `sh -c` with the file path appended.
    /// `node`, when there is one, is the marketplace the engine serves.
    pub(crate) fn engine(&self, name: &str, node: Option<&str>) -> anyhow::Result<Engine> {
        if let Some(names) = builtin_list(name) {
            let mut scanners = Vec::with_capacity(names.len());
            for n in names {
                scanners.push((n.to_owned(), self.engine(n, node)?));
            }
            let composite = Composite::new(scanners)
                .map_err(|e| anyhow::anyhow!("--engine {name:?}: {e} ({})", e.code()))?;
            return Ok(Engine::Composite(composite));
        }
        Ok(match name {
            "eicar" => Engine::Eicar(Eicar::new(EicarVariant::Exact)),
            "eicar-sha256" => Engine::Eicar(Eicar::new(EicarVariant::Sha256)),
            "clamav" => Engine::Clamav(Clamav::new(self.clamav_config())),
            #[cfg(feature = "yara")]
            "yara" => Engine::Yara(self.yara()?),
            #[cfg(not(feature = "yara"))]
            "yara" => anyhow::bail!("{WITHOUT_YARA}"),
            "webhook" => Engine::Webhook(self.webhook(node)?),
            "wine" => Engine::Wine(Wine::new(self.wine.config()?)),
            command if command.trim().is_empty() => {
                anyhow::bail!(
                    "an empty engine name: use one of {}, or a command",
                    BUILTIN_ENGINES.join(", ")
                )
            }
            command => Engine::Command(CommandScanner::new(
                command,
                Duration::from_secs(self.command_timeout.max(1)),
            )),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lists_of_built_in_names_are_split() {
        assert_eq!(builtin_list("clamav,yara"), Some(vec!["clamav", "yara"]));
        assert_eq!(
            builtin_list(" eicar , eicar-sha256,clamav "),
            Some(vec!["eicar", "eicar-sha256", "clamav"])
        );
        // One name is not a list; a command with commas stays a command.
        assert_eq!(builtin_list("clamav"), None);
        assert_eq!(builtin_list("./scan --formats=pe,elf"), None);
        assert_eq!(builtin_list("clamav,./my-scanner"), None);
        assert_eq!(builtin_list("clamav,"), None);
        assert!(is_builtin("yara") && is_builtin("clamav,yara"));
        assert_eq!(builtin_list("clamav,wine"), Some(vec!["clamav", "wine"]));
        assert!(!is_builtin("./scan a,b"));
    }

    #[test]
    fn wine_settings_reach_engine_processes_with_absolute_paths() {
        use clap::Parser;
        #[derive(Parser)]
        struct Flags {
            #[command(flatten)]
            wine: WineOptions,
        }
        let flags = Flags::try_parse_from([
            "swarm",
            "--wine-exe",
            "scanners/scan.exe",
            "--wine-args",
            "/quiet /json",
            "--wine-prefix",
            "/var/lib/swarm/wine",
            "--wine-timeout",
            "5",
        ])
        .unwrap();
        let env: std::collections::BTreeMap<&str, std::ffi::OsString> =
            flags.wine.env().into_iter().collect();
        let exe = std::env::current_dir().unwrap().join("scanners/scan.exe");
        assert_eq!(env["SWARM_WINE_EXE"], exe.into_os_string());
        assert_eq!(env["SWARM_WINE_ARGS"], "/quiet /json");
        assert_eq!(env["SWARM_WINE_PREFIX"], "/var/lib/swarm/wine");
        assert_eq!(env["SWARM_WINE_TIMEOUT"], "5");
        let config = flags.wine.config().unwrap();
        assert_eq!(config.args, "/quiet /json");
        assert_eq!(config.timeout, Duration::from_secs(5));
        // No scanner, no engine: the error names the flag.
        let none = Flags::try_parse_from(["swarm"]).unwrap();
        let e = none.wine.config().unwrap_err().to_string();
        assert!(e.contains("--wine-exe"), "{e}");
    }
}
