//! The managed WINEPREFIX: made and initialised once, shared by every scan
//! and every engine that names it, with a persistent wineserver.
//!
//! - **Once, under a lock.** Setup ([`super::Wine::prepare`]) takes an
//!   exclusive `flock` on `PREFIX.lock` (beside the prefix) for its whole
//!   run, so two engines —
//!   or two tests — starting on a fresh prefix do not both run `wineboot`
//!   into it: the second waits and then finds it ready. A prefix is ready
//!   when it holds [`READY_MARKER`], written only after `wineboot --init`
//!   and the path checks succeeded; a prefix whose initialisation was cut
//!   short is initialised again (`wineboot --init` is idempotent).
//! - **A persistent wineserver.** `wineserver -p` runs before `wineboot`,
//!   so every later Wine process of the prefix finds its server (and the
//!   Windows services it keeps) running: a scan then costs a process start,
//!   not Wine's start-up (docs/BENCHMARKS.md). It exits with status 2 when a
//!   server already runs for the prefix, which is not an error. The server
//!   is left running at teardown (docs/DECISIONS.md).
//! - **Paths.** A scanned file is a temporary Linux file; the Windows
//!   program gets its name on Wine's `Z:` drive, which a default prefix
//!   maps to `/`. Setup checks that `dosdevices/z:` is a symlink to `/`
//!   and that `winepath -w` names a real directory as [`windows_path`]
//!   does, and fails with a clear error otherwise.
//! - **No display, no noise.** Every Wine program runs with `WINEDEBUG=-all`,
//!   without `DISPLAY`/`WAYLAND_DISPLAY`, and with Wine's Mono and Gecko
//!   installers and its menu builder disabled (a console scanner needs
//!   none of them, and `wineboot` would otherwise look for them).
//! - **Output to files, never pipes.** Wine's services started by one of
//!   these programs inherit its stdout; with a persistent server they live
//!   on, and a pipe would never reach its end.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::process::Command;

use super::WineError;
use crate::command::kill_group;

/// The file that says a prefix was initialised and checked.
pub const READY_MARKER: &str = ".swarm-ready";

/// Longest `wineboot --init` may take (a fresh prefix on a slow machine).
const INIT_TIMEOUT: Duration = Duration::from_secs(300);

/// Longest the other Wine tools (`wineserver -p`, `winepath`) may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(120);

/// DLLs Wine is told not to load: its .NET (Mono) and HTML (Gecko)
/// installers, and the menu builder that writes desktop entries.
const DLL_OVERRIDES: &str = "mscoree,mshtml=;winemenubuilder.exe=d";

/// Most bytes of a tool's output kept for an error message.
const MAX_TOOL_OUTPUT: u64 = 64 << 10;

/// A Wine program (`wine`, `wineboot`, ...) set up for `prefix`.
pub(crate) fn wine_command(program: &str, prefix: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .env("WINEPREFIX", prefix)
        .env("WINEDEBUG", "-all")
        .env("WINEDLLOVERRIDES", DLL_OVERRIDES)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY");
    command
}

/// The name of the Linux path `path` on Wine's `Z:` drive (`/` mapped to
/// `Z:\`): `/tmp/a b` is `Z:\tmp\a b`.
pub fn windows_path(path: &Path) -> Result<String, WineError> {
    let text = path
        .to_str()
        .filter(|t| path.is_absolute() && !t.contains('\\'))
        .ok_or_else(|| WineError::Untranslatable(path.to_owned()))?;
    Ok(format!("Z:{}", text.replace('/', "\\")))
}

/// The lock file of `prefix`: `PREFIX.lock`, beside it.
fn lock_path(prefix: &Path) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Makes `prefix` ready for scans (see the module's header): creates and
/// initialises it if needed, starts its persistent wineserver and checks
/// the `Z:` drive. Returns whether `wineboot --init` ran.
pub(crate) async fn prepare(prefix: &Path) -> Result<bool, WineError> {
    let prefix_err = |path: &Path| {
        let path = path.to_owned();
        move |source| WineError::Prefix { path, source }
    };
    tokio::fs::create_dir_all(prefix)
        .await
        .map_err(prefix_err(prefix))?;
    let lock = lock_path(prefix);
    let file = tokio::task::spawn_blocking({
        let lock = lock.clone();
        move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock)?;
            file.lock()?;
            Ok::<_, std::io::Error>(file)
        }
    })
    .await
    .map_err(|e| WineError::Prefix {
        path: lock.clone(),
        source: std::io::Error::other(e.to_string()),
    })?
    .map_err(prefix_err(&lock))?;

    start_server(prefix).await?;
    let marker = prefix.join(READY_MARKER);
    let needs_init = !tokio::fs::try_exists(&marker).await.unwrap_or(false);
    if needs_init {
        tracing::info!(prefix = %prefix.display(), "initialising the Wine prefix (wineboot --init)");
        let mut command = wine_command("wineboot", prefix);
        command.arg("--init");
        let (status, output) = run_tool("wineboot", command, prefix, INIT_TIMEOUT).await?;
        if !status.success() {
            return Err(WineError::Init {
                prefix: prefix.to_owned(),
                status: status.to_string(),
                output,
            });
        }
    }
    check_z_drive(prefix).await?;
    check_winepath(prefix).await?;
    if needs_init {
        tokio::fs::write(&marker, b"initialised by swarm's wine engine\n")
            .await
            .map_err(prefix_err(&marker))?;
    }
    drop(file);
    Ok(needs_init)
}

/// Starts `wineserver -p` (persistent) for `prefix`, unless one runs.
async fn start_server(prefix: &Path) -> Result<(), WineError> {
    let mut command = wine_command("wineserver", prefix);
    command.arg("-p");
    let (status, output) = run_tool("wineserver", command, prefix, TOOL_TIMEOUT).await?;
    match status.code() {
        Some(0) => {
            tracing::debug!(prefix = %prefix.display(), "started a persistent wineserver");
            Ok(())
        }
        // wineserver's status when another server holds the prefix's lock.
        Some(2) => {
            tracing::debug!(prefix = %prefix.display(), "a wineserver already runs");
            Ok(())
        }
        _ => Err(WineError::Server {
            prefix: prefix.to_owned(),
            status: status.to_string(),
            output,
        }),
    }
}

/// Checks that `dosdevices/z:` is a symlink to `/`.
async fn check_z_drive(prefix: &Path) -> Result<(), WineError> {
    let link = prefix.join("dosdevices").join("z:");
    match tokio::fs::read_link(&link).await {
        Ok(target) if target == Path::new("/") => Ok(()),
        Ok(target) => Err(WineError::NoZDrive {
            prefix: prefix.to_owned(),
            found: format!("dosdevices/z: points to {}", target.display()),
        }),
        Err(e) => Err(WineError::NoZDrive {
            prefix: prefix.to_owned(),
            found: format!("dosdevices/z: cannot be read: {e}"),
        }),
    }
}

/// Checks that `winepath -w` names the temporary directory (where
/// artifacts are written) as [`windows_path`] does. This also starts the
/// prefix's Windows services, which the first scan would otherwise wait for.
async fn check_winepath(prefix: &Path) -> Result<(), WineError> {
    let dir = std::env::temp_dir();
    let dir = tokio::fs::canonicalize(&dir).await.unwrap_or(dir);
    let ours = windows_path(&dir)?;
    let mut command = wine_command("winepath", prefix);
    command.arg("-w").arg(&dir);
    let (status, output) = run_tool("winepath", command, prefix, TOOL_TIMEOUT).await?;
    let said = output.lines().last().unwrap_or("").trim().to_owned();
    if !status.success() || !said.eq_ignore_ascii_case(&ours) {
        return Err(WineError::PathMismatch {
            unix: dir,
            winepath: if status.success() {
                said
            } else {
                format!("{status}: {output}")
            },
            ours,
        });
    }
    Ok(())
}

/// Runs a Wine tool in a process group of its own with its output in a
/// file; past `timeout` the group is killed. (status, output).
async fn run_tool(
    program: &'static str,
    mut command: Command,
    prefix: &Path,
    timeout: Duration,
) -> Result<(ExitStatus, String), WineError> {
    let file = tempfile::tempfile().map_err(|e| WineError::Prefix {
        path: std::env::temp_dir(),
        source: e,
    })?;
    let (out, err) = match (file.try_clone(), file.try_clone()) {
        (Ok(out), Ok(err)) => (out, err),
        (Err(e), _) | (_, Err(e)) => {
            return Err(WineError::Prefix {
                path: std::env::temp_dir(),
                source: e,
            })
        }
    };
    let mut child = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| WineError::WineMissing { program, source })?;
    let status = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => status,
        Ok(Err(source)) => return Err(WineError::WineMissing { program, source }),
        Err(_) => {
            kill_group(&mut child).await;
            return Err(WineError::Timeout {
                program,
                prefix: prefix.to_owned(),
                timeout,
            });
        }
    };
    let mut file = tokio::fs::File::from_std(file);
    let mut bytes = Vec::new();
    if file.seek(std::io::SeekFrom::Start(0)).await.is_ok() {
        let _ = (&mut file)
            .take(MAX_TOOL_OUTPUT)
            .read_to_end(&mut bytes)
            .await;
    }
    let text = String::from_utf8_lossy(&bytes);
    let tail: Vec<&str> = text.lines().rev().take(5).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Ok((status, tail.join("\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_paths_are_named_on_the_z_drive() {
        let name = windows_path(Path::new("/tmp/swarm-artifact-x y")).ok();
        assert_eq!(name.as_deref(), Some("Z:\\tmp\\swarm-artifact-x y"));
        assert!(windows_path(Path::new("relative/file")).is_err());
        assert!(windows_path(Path::new("/tmp/back\\slash")).is_err());
        assert_eq!(
            lock_path(Path::new("/data/wine-prefix")),
            Path::new("/data/wine-prefix.lock")
        );
    }
}
