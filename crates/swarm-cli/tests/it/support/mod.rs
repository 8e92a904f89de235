//! Helpers shared by the tests of this binary.

pub(crate) mod webdriver;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::OnceLock;

use swarm_engines::test_scanner::{self, Toolchain};

/// cargo's scratch directory for integration tests (`target/tmp`), shared
/// with the other crates' test binaries.
fn scratch() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}

/// The Windows test scanner (`swarm_engines::test_scanner`, built with
/// MinGW-w64 once per test binary); panics, never skips, without MinGW.
pub(crate) fn windows_scanner() -> PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        test_scanner::build_into(Toolchain::MingwW64, &scratch().join("swarm-test-scanner"))
            .unwrap_or_else(|e| panic!("cannot build the test scanner ({}): {e}", e.code()))
    })
    .clone()
}

/// The Wine prefix the wine tests share (with swarm-engines' too): only
/// the first test of a fresh target directory runs `wineboot --init`.
pub(crate) fn wine_prefix() -> PathBuf {
    scratch().join("swarm-wine-prefix")
}

/// A free TCP port on 127.0.0.1 (free when asked; the caller binds it soon).
#[allow(clippy::unwrap_used)]
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed and reaped when the test ends, passing or not.
pub(crate) struct KillOnDrop(pub(crate) Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
