//! The wire format of a job and of an answer: one stream entry each, with
//! a version field `v` and one JSON field (`job` or `answer`).
//!
//! JSON in one field rather than a field per value because the metadata
//! and the scan result are nested documents already (serde types of the
//! protocol and the SDK), and because a worker written in another language
//! then needs a JSON parser and nothing of swarm. The deadline travels as
//! wall-clock milliseconds since the Unix epoch: an `Instant` means nothing
//! on another machine. Entries of another version are malformed to this
//! one (the worker acknowledges and drops them, so they do not come back).
//! docs/DECISIONS.md shows both messages.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::Value;
use serde::{Deserialize, Serialize};
use swarm_protocol::{Address, ArtifactMetadata, Guid};

use crate::dispatch::{ScanFailure, ScanOutcome};
use crate::scanner::{ArtifactKind, ScanResult};

/// The version of both messages.
pub(crate) const VERSION: &str = "1";

/// A scan job, as published by the coordinator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct JobMessage {
    /// Unique per job: the coordinator's id and a sequence number.
    pub(crate) id: String,
    pub(crate) bounty_guid: Guid,
    /// The artifact bundle, downloaded as `GET /artifacts/{uri}/{index}`.
    pub(crate) uri: String,
    pub(crate) index: usize,
    pub(crate) kind: ArtifactKind,
    pub(crate) metadata: ArtifactMetadata,
    /// Wall-clock milliseconds since the Unix epoch after which no answer
    /// is of any use.
    pub(crate) deadline_ms: u64,
    /// The engine's account.
    pub(crate) engine: Address,
    /// The scanner the coordinator was started with (informative).
    pub(crate) scanner: String,
    /// The stream the answer goes to.
    pub(crate) reply_to: String,
}

/// A worker's answer to a job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct AnswerMessage {
    /// The job's id.
    pub(crate) id: String,
    /// The worker's consumer name.
    pub(crate) worker: String,
    pub(crate) outcome: WireOutcome,
    /// Whether the worker downloaded the artifact.
    pub(crate) downloaded: bool,
}

/// A verdict, or a failure by its [`ScanFailure::code`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WireOutcome {
    Scanned(Box<ScanResult>),
    Failed { code: String, detail: String },
}

impl AnswerMessage {
    /// The answer to job `id` carrying `outcome`.
    pub(crate) fn new(id: String, worker: String, outcome: ScanOutcome) -> Self {
        let wire = match outcome.result {
            Ok(result) => WireOutcome::Scanned(Box::new(result)),
            Err((failure, detail)) => WireOutcome::Failed {
                code: failure.code().to_owned(),
                detail,
            },
        };
        AnswerMessage {
            id,
            worker,
            outcome: wire,
            downloaded: outcome.downloaded,
        }
    }

    /// What the answer means to the microengine. A failure code this
    /// version does not know is a scan error: still no assertion.
    pub(crate) fn into_outcome(self) -> ScanOutcome {
        let worker = self.worker;
        ScanOutcome {
            result: match self.outcome {
                WireOutcome::Scanned(result) => Ok(*result),
                WireOutcome::Failed { code, detail } => Err((
                    ScanFailure::from_code(&code).unwrap_or(ScanFailure::Error),
                    format!("worker {worker}: {code}: {detail}"),
                )),
            },
            downloaded: self.downloaded,
        }
    }
}

/// The fields of a stream entry holding `message` under `name`.
pub(crate) fn encode<T: Serialize>(
    name: &'static str,
    message: &T,
) -> Result<[(&'static str, String); 2], serde_json::Error> {
    Ok([
        ("v", VERSION.to_owned()),
        (name, serde_json::to_string(message)?),
    ])
}

/// The message under `name` in a stream entry's fields.
pub(crate) fn decode<T: for<'de> Deserialize<'de>>(
    name: &str,
    fields: &std::collections::HashMap<String, Value>,
) -> Result<T, String> {
    let text = |field: &str| -> Result<String, String> {
        match fields.get(field) {
            Some(Value::BulkString(bytes)) => {
                String::from_utf8(bytes.clone()).map_err(|_| format!("field {field} is not UTF-8"))
            }
            Some(Value::SimpleString(s)) => Ok(s.clone()),
            Some(other) => Err(format!("field {field} is not a string: {other:?}")),
            None => Err(format!("no field {field}")),
        }
    };
    let version = text("v")?;
    if version != VERSION {
        return Err(format!("version {version}, this side speaks {VERSION}"));
    }
    serde_json::from_str(&text(name)?).map_err(|e| format!("field {name}: {e}"))
}

/// Milliseconds since the Unix epoch now.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as u64
}

/// The wall-clock deadline of a job due `left` from now.
pub(crate) fn deadline_ms(left: Duration) -> u64 {
    now_ms().saturating_add(left.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::HashMap;

    use super::*;

    fn fields(entries: [(&str, String); 2]) -> HashMap<String, Value> {
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::BulkString(v.into_bytes())))
            .collect()
    }

    fn job() -> JobMessage {
        JobMessage {
            id: "c0ffee-1".into(),
            bounty_guid: Guid::from_u128(7),
            uri: "ab".repeat(32),
            index: 3,
            kind: ArtifactKind::File,
            metadata: ArtifactMetadata {
                filename: Some("a.exe".into()),
                ..Default::default()
            },
            deadline_ms: 1_700_000_000_000,
            engine: Address([9; 20]),
            scanner: "clamav".into(),
            reply_to: "jobs:answers:c0ffee".into(),
        }
    }

    #[test]
    fn jobs_and_answers_round_trip_through_stream_fields() {
        let j = job();
        let back: JobMessage = decode("job", &fields(encode("job", &j).unwrap())).unwrap();
        assert_eq!(back, j);
        let answer = AnswerMessage::new(
            j.id.clone(),
            "w1".into(),
            ScanOutcome {
                result: Ok(ScanResult::malicious(1.0, "EICAR-Test-File")),
                downloaded: true,
            },
        );
        let back: AnswerMessage =
            decode("answer", &fields(encode("answer", &answer).unwrap())).unwrap();
        assert_eq!(back, answer);
        let outcome = back.into_outcome();
        assert!(outcome.downloaded);
        assert_eq!(outcome.result.unwrap().verdict, crate::Verdict::Malicious);
    }

    #[test]
    fn failures_keep_their_code_and_unknown_codes_are_errors() {
        let failed = |code: &str| AnswerMessage {
            id: "x".into(),
            worker: "w".into(),
            outcome: WireOutcome::Failed {
                code: code.into(),
                detail: "d".into(),
            },
            downloaded: false,
        };
        for f in ScanFailure::ALL {
            let (kind, _) = failed(f.code()).into_outcome().result.unwrap_err();
            assert_eq!(kind, f);
        }
        let (kind, detail) = failed("from_the_future").into_outcome().result.unwrap_err();
        assert_eq!(kind, ScanFailure::Error);
        assert!(detail.contains("from_the_future"), "{detail}");
    }

    #[test]
    fn other_versions_and_garbage_are_malformed() {
        let mut f = fields(encode("job", &job()).unwrap());
        f.insert("v".into(), Value::BulkString(b"2".to_vec()));
        assert!(decode::<JobMessage>("job", &f)
            .unwrap_err()
            .contains("version 2"));
        let mut f = fields(encode("job", &job()).unwrap());
        f.insert("job".into(), Value::BulkString(b"{".to_vec()));
        assert!(decode::<JobMessage>("job", &f).is_err());
        assert!(decode::<JobMessage>("job", &HashMap::new()).is_err());
    }
}
