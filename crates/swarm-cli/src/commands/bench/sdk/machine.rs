//! Where the bench ran: cores, CPU model, SHA extensions and load averages,
//! reported so that figures from different machines can be told apart.

use serde::Serialize;

/// Where the bench ran.
#[derive(Serialize)]
pub(super) struct Machine {
    /// Cores available to this process.
    pub(super) cores: usize,
    /// The CPU model, from `/proc/cpuinfo`.
    pub(super) cpu: Option<String>,
    /// Whether the CPU has the SHA extensions (`sha_ni`).
    pub(super) sha_extensions: bool,
    /// `/proc/loadavg` (1, 5, 15 minutes) when the bench started.
    pub(super) load_before: Option<[f64; 3]>,
}

impl Machine {
    /// The machine as it is now.
    pub(super) fn now() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map(|(_, name)| name.trim().to_owned());
        let sha_extensions = cpuinfo
            .lines()
            .filter(|l| l.starts_with("flags"))
            .any(|l| l.split_whitespace().any(|f| f == "sha_ni"));
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
            sha_extensions,
            load_before: read_loadavg(),
        }
    }
}

/// The 1, 5 and 15 minute load averages, on Linux.
pub(super) fn read_loadavg() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}
