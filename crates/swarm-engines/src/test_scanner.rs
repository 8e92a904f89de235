//! A tiny scanner in C, built with MinGW-w64 into a Windows console program
//! and with gcc into the same program for Linux, for the wine engine's
//! tests, `swarm bench wine` and the yara tests' `pe` rules.
//!
//! A Windows scanner is what the wine engine exists for, and the only
//! honest test of it is a real PE run by a real Wine; shipping a binary in
//! the repository would hide what it does. So the source is here
//! ([`SOURCE`], `test_scanner.c`) and is compiled where it is needed, in a
//! second or two. The native build is the reference the bench compares
//! Wine's overhead with: the same code, as a command engine.
//!
//! What it answers for `scanner FILE` is in [`SOURCE`]'s header: the EICAR
//! string → a JSON verdict line (`malicious`, family `EICAR`);
//! `MALICIOUS-BY-EXIT` → exit 1; `HANG` → sleeps forever; else exit 0.
//!
//! A test that builds it fails, never skips, when the compiler is missing
//! (`scripts/test` installs `gcc-mingw-w64-x86-64`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The scanner's C source.
pub const SOURCE: &str = include_str!("test_scanner.c");

/// The family the scanner reports for EICAR.
pub const FAMILY: &str = "EICAR";

/// Bytes that make the scanner sleep forever.
pub const HANG: &[u8] = b"HANG";

/// Bytes that make the scanner exit 1 without a JSON line.
pub const MALICIOUS_BY_EXIT: &[u8] = b"MALICIOUS-BY-EXIT";

/// Which compiler builds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Toolchain {
    /// `x86_64-w64-mingw32-gcc`: a Windows x86-64 console program (PE32+).
    MingwW64,
    /// `gcc`: the same program for this machine.
    Native,
}

impl Toolchain {
    /// The compiler's command.
    pub fn compiler(self) -> &'static str {
        match self {
            Toolchain::MingwW64 => "x86_64-w64-mingw32-gcc",
            Toolchain::Native => "gcc",
        }
    }

    /// The program's file name.
    pub fn file_name(self) -> &'static str {
        match self {
            Toolchain::MingwW64 => "swarm-test-scanner.exe",
            Toolchain::Native => "swarm-test-scanner",
        }
    }
}

/// Why the scanner could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The compiler could not be started (not installed?).
    #[error("cannot run {compiler} (install {package}): {source}")]
    CompilerMissing {
        /// The compiler's command.
        compiler: &'static str,
        /// The Debian package that has it.
        package: &'static str,
        /// Why it did not start.
        source: std::io::Error,
    },
    /// The compiler failed.
    #[error("{compiler} failed ({status}): {stderr}")]
    Failed {
        /// The compiler's command.
        compiler: &'static str,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it printed.
        stderr: String,
    },
    /// The source could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl BuildError {
    /// A stable code for logs and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            BuildError::CompilerMissing { .. } => "test_scanner_compiler_missing",
            BuildError::Failed { .. } => "test_scanner_build_failed",
            BuildError::Write { .. } => "test_scanner_write",
        }
    }
}

/// Compiles [`SOURCE`] with `toolchain` into `out_dir` (optimised, static
/// where the toolchain allows); the program's path.
pub fn build(toolchain: Toolchain, out_dir: &Path) -> Result<PathBuf, BuildError> {
    let source = out_dir.join("swarm-test-scanner.c");
    std::fs::write(&source, SOURCE).map_err(|e| BuildError::Write {
        path: source.clone(),
        source: e,
    })?;
    let program = out_dir.join(toolchain.file_name());
    let compiler = toolchain.compiler();
    let mut command = Command::new(compiler);
    command.arg("-O2").arg("-o").arg(&program).arg(&source);
    if toolchain == Toolchain::MingwW64 {
        // No libgcc/libwinpthread DLLs to find at run time.
        command.arg("-static");
    }
    let out = command.output().map_err(|e| BuildError::CompilerMissing {
        compiler,
        package: match toolchain {
            Toolchain::MingwW64 => "gcc-mingw-w64-x86-64",
            Toolchain::Native => "gcc",
        },
        source: e,
    })?;
    if !out.status.success() {
        return Err(BuildError::Failed {
            compiler,
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(program)
}

/// Builds the scanner with `toolchain` into `dir` (`dir/`[`Toolchain::file_name`]):
/// compiled in a directory of its own, then
/// renamed into place, so that test binaries running at once never see a
/// half-written program. For tests sharing one build across runs (under
/// the target directory).
pub fn build_into(toolchain: Toolchain, dir: &Path) -> Result<PathBuf, BuildError> {
    let program = dir.join(toolchain.file_name());
    let write_err = |path: &Path| {
        let path = path.to_owned();
        move |source| BuildError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(write_err(dir))?;
    let scratch = tempfile::Builder::new()
        .prefix(".swarm-test-scanner-")
        .tempdir_in(dir)
        .map_err(write_err(dir))?;
    let built = build(toolchain, scratch.path())?;
    std::fs::rename(&built, &program).map_err(write_err(&program))?;
    Ok(program)
}
