//! What the tests of this binary share: the test scanner built once per
//! run, and one Wine prefix for every wine test (and every run) under the
//! target directory, so that only the first test of a fresh checkout pays
//! `wineboot --init`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use swarm_engines::test_scanner::{self, Toolchain};

/// Where the shared test files live: cargo's scratch directory for
/// integration tests (`target/tmp`), the same for every test binary.
fn scratch() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}

/// The test scanner built with `toolchain` (once per test binary); fails,
/// never skips, without the compiler.
pub(crate) fn scanner(toolchain: Toolchain) -> PathBuf {
    static WINDOWS: OnceLock<PathBuf> = OnceLock::new();
    static NATIVE: OnceLock<PathBuf> = OnceLock::new();
    let cell = match toolchain {
        Toolchain::MingwW64 => &WINDOWS,
        Toolchain::Native => &NATIVE,
    };
    cell.get_or_init(|| {
        test_scanner::build_into(toolchain, &scratch().join("swarm-test-scanner"))
            .unwrap_or_else(|e| panic!("cannot build the test scanner ({}): {e}", e.code()))
    })
    .clone()
}

/// The Wine prefix every wine test shares.
pub(crate) fn wine_prefix() -> PathBuf {
    scratch().join("swarm-wine-prefix")
}
