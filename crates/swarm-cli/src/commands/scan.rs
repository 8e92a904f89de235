//! `swarm scan`: run an engine on files, with no marketplace.
//!
//! One JSON line per file — `{"file", "verdict", "confidence", "metadata"}`,
//! or `{"file", "error"}` — so an engine author sees exactly what their
//! engine would assert. The exit status tells the result: 0 nothing
//! malicious, 1 something malicious, 2 a file could not be read or scanned.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bytes::Bytes;
use clap::Args;
use swarm_protocol::{ArtifactMetadata, Guid};
use swarm_sdk::{Artifact, ArtifactKind, Scanner, Verdict};

use crate::engines::EngineOptions;

/// `swarm scan` flags.
#[derive(Args, Debug)]
pub(crate) struct ScanArgs {
    /// The engine: `eicar` (exact match), `eicar-sha256`, `clamav`, `yara`, `wine`,
    /// a comma-separated list of those (`clamav,yara`: one engine scanning
    /// with each), or a command (shell text, run with each file's path appended; it
    /// prints a JSON verdict line, or exits 1 malicious, 0 benign).
    #[arg(long, default_value = "eicar")]
    engine: String,
    #[command(flatten)]
    options: EngineOptions,
    /// Files to scan.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

pub(crate) async fn run(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let engine = args.options.engine(&args.engine, None)?;
    engine.setup().await.context("the engine's setup failed")?;
    let (mut malicious, mut failed) = (false, false);
    for (index, path) in args.files.iter().enumerate() {
        let file = path.display().to_string();
        let line = match tokio::fs::read(path).await {
            Err(e) => {
                failed = true;
                serde_json::json!({"file": file, "error": format!("cannot read: {e}")})
            }
            Ok(content) => {
                let artifact = Artifact {
                    bounty_guid: Guid::nil(),
                    index,
                    kind: ArtifactKind::File,
                    content: Bytes::from(content),
                    file: None,
                    metadata: ArtifactMetadata {
                        filename: path.file_name().map(|n| n.to_string_lossy().into_owned()),
                        ..Default::default()
                    },
                    deadline: None,
                };
                match engine.scan(&artifact).await {
                    Ok(result) => {
                        malicious |= result.verdict == Verdict::Malicious;
                        serde_json::json!({
                            "file": file,
                            "verdict": result.verdict,
                            "confidence": result.clamped_confidence(),
                            "metadata": result.metadata,
                        })
                    }
                    Err(e) => {
                        failed = true;
                        serde_json::json!({"file": file, "error": e.to_string()})
                    }
                }
            }
        };
        println!("{line}");
    }
    let _ = engine.teardown().await;
    Ok(ExitCode::from(if failed {
        2
    } else if malicious {
        1
    } else {
        0
    }))
}
