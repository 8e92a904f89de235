//! `swarm bounty post|show`: submit files or URLs and read the verdict.
//!
//! A URL bounty (`--url`) uploads each URL's text as its artifact, so its
//! bundle has one entry per URL as the node requires, and its metadata is
//! `{uri, protocol}` per URL (SPEC §3.5); the SDK's `check_url` decides
//! which URLs are taken, before anything is uploaded.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{Args, Subcommand};
use swarm_protocol::{Amount, ArtifactType, Bounty, Event, Guid, PostBounty};
use swarm_sdk::{url_metadata, NodeClient};

use crate::connection::Connection;

/// `swarm bounty` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum BountyCommand {
    /// Upload files (or URLs, with `--url`) and post a bounty on them.
    Post(PostArgs),
    /// Show a bounty: assertions, votes, consensus and payouts.
    Show(ShowArgs),
}

/// `swarm bounty post` flags.
#[derive(Args, Debug)]
pub(crate) struct PostArgs {
    #[command(flatten)]
    connection: Connection,
    /// Reward in NCT (default: the community minimum for the files).
    #[arg(long, value_parser = parse_nct)]
    amount: Option<Amount>,
    /// Assertion round, in blocks (default: 10, or the community maximum if lower).
    #[arg(long)]
    duration: Option<u64>,
    /// Wait for the settlement and print it.
    #[arg(long)]
    wait: bool,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
    /// Post a URL bounty on these URLs instead of files (repeatable, or
    /// several after one `--url`; http and https only; at most 256).
    #[arg(long = "url", value_name = "URL", num_args = 1.., conflicts_with = "files")]
    urls: Vec<String>,
    /// The files (at most 256).
    #[arg(required_unless_present = "urls")]
    files: Vec<PathBuf>,
}

/// `swarm bounty show` flags.
#[derive(Args, Debug)]
pub(crate) struct ShowArgs {
    /// The node.
    #[arg(long, env = "SWARM_NODE", default_value = "http://127.0.0.1:31337")]
    node: String,
    /// The bounty's guid.
    guid: Guid,
}

fn parse_nct(s: &str) -> Result<Amount, String> {
    Amount::parse_nct(s).map_err(|e| e.to_string())
}

pub(crate) async fn run(command: BountyCommand) -> anyhow::Result<()> {
    match command {
        BountyCommand::Post(args) => post(args).await,
        BountyCommand::Show(args) => {
            let client = NodeClient::new(args.node.clone());
            let bounty = client
                .bounty(&args.guid)
                .await?
                .with_context(|| format!("no bounty {} on {}", args.guid, args.node))?;
            print_bounty(&bounty);
            Ok(())
        }
    }
}

async fn post(args: PostArgs) -> anyhow::Result<()> {
    let key = args.connection.key()?;
    let client = NodeClient::new(args.connection.node.clone());
    let params = client.parameters().await.context("cannot reach the node")?;
    // URLs are checked before anything is uploaded.
    let url_meta = args
        .urls
        .iter()
        .map(|u| url_metadata(u.as_str()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut files = Vec::with_capacity(args.files.len() + args.urls.len());
    for url in &args.urls {
        files.push((url.clone(), Bytes::from(url.clone())));
    }
    for path in &args.files {
        let bytes = tokio::fs::read(path)
            .await
            .with_context(|| format!("cannot read {}", path.display()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        files.push((name, Bytes::from(bytes)));
    }
    let n = files.len() as u32;
    let uploaded = client.upload(&key, &params.community, &files).await?;
    let amount = match args.amount {
        Some(a) => a,
        None => params
            .parameters
            .bounty_amount_minimum
            .checked_mul(u128::from(n))
            .context("bounty amount overflows")?,
    };
    let duration = args
        .duration
        .unwrap_or(10)
        .min(params.parameters.max_duration);
    let guid = Guid::new_v4();
    let (artifact_type, metadata) = if args.urls.is_empty() {
        let files = uploaded.artifacts.iter().map(|a| a.to_metadata()).collect();
        (ArtifactType::File, files)
    } else {
        (ArtifactType::Url, url_meta)
    };
    let post = PostBounty {
        guid,
        artifact_type,
        amount,
        uri: uploaded.uri.clone(),
        num_artifacts: n,
        duration,
        metadata: Some(metadata),
    };
    // Subscribe before posting so the settlement cannot slip by.
    let mut events = args.wait.then(|| client.events(None));
    let submitted = client.send(&key, &params.community, post, true).await?;
    println!("{guid}");
    eprintln!(
        "posted in block {} with {} {}(s), {amount}, {duration} blocks",
        submitted.block_number,
        n,
        kind_name(artifact_type)
    );
    let Some(events) = events.as_mut() else {
        return Ok(());
    };
    let settled = tokio::time::timeout(Duration::from_secs(args.timeout_secs), async {
        loop {
            if let Event::SettledBounty(s) = events.next().await.event {
                if s.bounty_guid == guid {
                    return;
                }
            }
        }
    })
    .await;
    if settled.is_err() {
        bail!(
            "bounty {guid} did not settle within {} s",
            args.timeout_secs
        );
    }
    let bounty = client
        .bounty(&guid)
        .await?
        .with_context(|| format!("bounty {guid} vanished"))?;
    print_bounty(&bounty);
    Ok(())
}

fn verdict(bit: bool) -> &'static str {
    if bit {
        "malicious"
    } else {
        "benign"
    }
}

/// `text` from a bounty's metadata (anyone's) fit for a terminal: control
/// characters, escape sequences included, are shown escaped, not sent.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn kind_name(t: ArtifactType) -> &'static str {
    match t {
        ArtifactType::File => "file",
        ArtifactType::Url => "URL",
    }
}

fn print_bounty(b: &Bounty) {
    println!("bounty {}  by {}", b.guid, b.author);
    println!(
        "  {} {}(s), {}, posted at block {}, assertions until {}, reveals until {}, votes until {}",
        b.num_artifacts,
        kind_name(b.artifact_type),
        b.amount,
        b.posted_block,
        b.expiration,
        b.reveal_deadline(),
        b.vote_deadline()
    );
    for (i, meta) in b.metadata.iter().flatten().enumerate() {
        if b.artifact_type == ArtifactType::Url {
            println!(
                "  artifact {i}: URL {} ({})",
                printable(meta.uri.as_deref().unwrap_or("?")),
                printable(meta.protocol.as_deref().unwrap_or("?"))
            );
            continue;
        }
        println!(
            "  artifact {i}: {} ({} bytes, {})",
            printable(meta.filename.as_deref().unwrap_or("?")),
            meta.filesize.unwrap_or(0),
            meta.sha256.as_deref().unwrap_or("?")
        );
    }
    for a in &b.assertions {
        let verdicts: Vec<String> = a
            .mask
            .iter()
            .map(|i| match &a.revealed {
                Some(r) => format!("{i}:{}", verdict(r.verdicts.get(i))),
                None => format!("{i}:unrevealed"),
            })
            .collect();
        let bids: Vec<String> = a.bids.iter().map(|b| b.to_nct_string()).collect();
        println!(
            "  assertion by {}: {}  bids {}",
            a.author,
            verdicts.join(" "),
            bids.join(", ")
        );
    }
    for v in &b.votes {
        let votes: Vec<&str> = (0..b.num_artifacts as usize)
            .map(|i| verdict(v.votes.get(i)))
            .collect();
        println!("  vote by {}: {}", v.voter, votes.join(", "));
    }
    match &b.settlement {
        None => println!("  not settled yet"),
        Some(s) => {
            if let Some(c) = &s.outcome.consensus {
                let verdicts: Vec<&str> = (0..b.num_artifacts as usize)
                    .map(|i| verdict(c.get(i)))
                    .collect();
                println!("  consensus: {}", verdicts.join(", "));
            }
            println!("  settled at block {}:", s.block);
            for p in &s.outcome.payouts {
                println!("    {:?} {} gets {}", p.role, p.account, p.amount);
            }
            if !s.outcome.treasury.is_zero() {
                println!("    treasury gets {}", s.outcome.treasury);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn metadata_reaches_the_terminal_without_escape_sequences() {
        assert_eq!(
            printable("http://x.example/\u{1b}[2J\n"),
            "http://x.example/\\u{1b}[2J\\n"
        );
        assert_eq!(printable("résumé.pdf"), "résumé.pdf");
    }
}
