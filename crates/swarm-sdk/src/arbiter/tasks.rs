//! The arbiter's spawned work: deciding a bounty with the ground truth,
//! sending a vote, and the state file's resume point.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use swarm_protocol::{ArtifactType, Bits256, BountyPosted, Guid, PrivateKey, Vote};
use tokio::sync::{mpsc, Semaphore};

use crate::client::{ClientError, NodeClient, Submitted};
use crate::scanner::{Artifact, ArtifactKind};

use super::{ArbiterError, GroundTruth};

/// What a decision task reports.
pub(super) struct Decided {
    pub(super) guid: Guid,
    pub(super) votes: Result<Vec<bool>, String>,
}

/// What a vote task reports.
pub(super) struct VoteSent {
    pub(super) guid: Guid,
    pub(super) result: Result<Submitted, ClientError>,
}

/// Decides `bounty` in a task, at most as many at once as `permits` allows,
/// and reports on `decided_tx`.
pub(super) fn spawn_decision<T: GroundTruth>(
    truth: &Arc<T>,
    client: &NodeClient,
    bounty: BountyPosted,
    max_size: u64,
    permits: &Arc<Semaphore>,
    decided_tx: &mpsc::Sender<Decided>,
) {
    let truth = Arc::clone(truth);
    let client = client.clone();
    let permits = Arc::clone(permits);
    let tx = decided_tx.clone();
    tokio::spawn(async move {
        let guid = bounty.guid;
        let votes = match permits.acquire_owned().await {
            Ok(_permit) => decide_bounty(truth.as_ref(), &client, &bounty, max_size).await,
            Err(_) => Err("shutting down".to_owned()),
        };
        let _ = tx.send(Decided { guid, votes }).await;
    });
}

/// Sends `bounty:Vote` in a task and reports on `voted_tx`.
pub(super) fn spawn_vote(
    client: &NodeClient,
    key: &PrivateKey,
    community: &str,
    guid: Guid,
    votes: &[bool],
    voted_tx: &mpsc::Sender<VoteSent>,
) {
    let vote = Vote {
        bounty_guid: guid,
        votes: Bits256::from_bools(votes),
    };
    let client = client.clone();
    let key = key.clone();
    let community = community.to_owned();
    let tx = voted_tx.clone();
    tracing::debug!(%guid, ?votes, "voting");
    tokio::spawn(async move {
        let result = client.send(&key, &community, vote, true).await;
        let _ = tx.send(VoteSent { guid, result }).await;
    });
}

/// Attempts at deciding a bounty before abstaining.
const DECIDE_ATTEMPTS: u32 = 3;

/// The resume point kept in the state file.
#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    resume_from: u64,
}

pub(super) fn read_state(path: &Path) -> Result<Option<u64>, ArbiterError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ArbiterError::State {
                path: path.to_path_buf(),
                message: e.to_string(),
            })
        }
    };
    let state: StateFile = serde_json::from_str(&text).map_err(|e| ArbiterError::State {
        path: path.to_path_buf(),
        message: format!("not an arbiter state file: {e}"),
    })?;
    Ok(Some(state.resume_from))
}

/// Writes the state atomically (temporary file, then rename).
pub(super) fn write_state(path: &Path, resume_from: u64) -> std::io::Result<()> {
    let text = serde_json::to_string(&StateFile { resume_from }).map_err(std::io::Error::other)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// Decides every artifact of `bounty`, retrying failures; undecided
/// artifacts vote benign.
async fn decide_bounty<T: GroundTruth>(
    truth: &T,
    client: &NodeClient,
    bounty: &BountyPosted,
    max_size: u64,
) -> Result<Vec<bool>, String> {
    let mut backoff = Duration::from_millis(250);
    let mut attempt = 1;
    loop {
        match decide_once(truth, client, bounty, max_size).await {
            Ok(decisions) => {
                let undecided = decisions.iter().filter(|d| d.is_none()).count();
                if undecided > 0 {
                    tracing::info!(guid = %bounty.guid, undecided, "undecided artifacts vote benign");
                }
                return Ok(decisions.into_iter().map(|d| d.unwrap_or(false)).collect());
            }
            Err(e) if attempt >= DECIDE_ATTEMPTS => return Err(e),
            Err(e) => {
                tracing::debug!(guid = %bounty.guid, error = %e, attempt, "deciding failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                attempt += 1;
            }
        }
    }
}

async fn decide_once<T: GroundTruth>(
    truth: &T,
    client: &NodeClient,
    bounty: &BountyPosted,
    max_size: u64,
) -> Result<Vec<Option<bool>>, String> {
    let n = bounty.num_artifacts as usize;
    let kind = match bounty.artifact_type {
        ArtifactType::File => ArtifactKind::File,
        ArtifactType::Url => ArtifactKind::Url,
    };
    let mut artifacts = Vec::with_capacity(n);
    if truth.needs_content() {
        for index in 0..n {
            let content = client
                .download(&bounty.uri, index, max_size)
                .await
                .map_err(|e| format!("cannot download artifact {index}: {e}"))?;
            let metadata = bounty
                .metadata
                .as_ref()
                .and_then(|m| m.get(index))
                .cloned()
                .unwrap_or_default();
            artifacts.push((content, metadata));
        }
    } else {
        let manifest = client
            .manifest(&bounty.uri)
            .await
            .map_err(|e| format!("cannot read the manifest: {e}"))?;
        if manifest.len() != n {
            return Err(format!(
                "the manifest lists {} artifacts, the bounty {n}",
                manifest.len()
            ));
        }
        for info in manifest {
            artifacts.push((Bytes::new(), info.to_metadata()));
        }
    }
    let mut decisions = Vec::with_capacity(n);
    for (index, (content, metadata)) in artifacts.into_iter().enumerate() {
        let artifact = Artifact {
            bounty_guid: bounty.guid,
            index,
            kind,
            content,
            file: None,
            metadata,
            deadline: None,
        };
        let decision = truth
            .decide(&artifact)
            .await
            .map_err(|e| format!("artifact {index}: {e}"))?;
        decisions.push(decision);
    }
    Ok(decisions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arbiter.json");
        assert_eq!(read_state(&path).unwrap(), None);
        write_state(&path, 42).unwrap();
        assert_eq!(read_state(&path).unwrap(), Some(42));
        std::fs::write(&path, "garbage").unwrap();
        assert!(read_state(&path).is_err());
    }
}
