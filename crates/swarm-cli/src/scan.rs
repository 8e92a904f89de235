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
use swarm_engines::{Eicar, EicarVariant};
use swarm_protocol::{ArtifactMetadata, Guid};
use swarm_sdk::{Artifact, ArtifactKind, Scanner, Verdict};

/// `swarm scan` flags.
#[derive(Args, Debug)]
pub(crate) struct ScanArgs {
    /// The engine: `eicar` (exact match) or `eicar-sha256`.
    #[arg(long, default_value = "eicar")]
    engine: String,
    /// Files to scan.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

pub(crate) async fn run(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let engine = match args.engine.as_str() {
        "eicar" => Eicar::new(EicarVariant::Exact),
        "eicar-sha256" => Eicar::new(EicarVariant::Sha256),
        other => anyhow::bail!("unknown engine {other:?}: use eicar or eicar-sha256"),
    };
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
                    metadata: ArtifactMetadata {
                        filename: path.file_name().map(|n| n.to_string_lossy().into_owned()),
                        ..Default::default()
                    },
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
