//! Several scanners as one engine (`--engine clamav,yara`), as
//! polyswarm-client's multi-scanner engine was: one stake, one assertion per
//! artifact, and the opinions of every scanner behind it.
//!
//! An operator with a clamd and a YARA rule set wants them to bet together,
//! not as two engines with two keys bidding against each other. A
//! [`Composite`] runs its scanners concurrently on each artifact (each on
//! its own tokio task, so a panicking scanner is one failed scanner, not a
//! failed scan) and [`combine`]s their answers:
//!
//! - **malicious** if any scanner says malicious; the confidence and the
//!   top-level metadata (family, product, scanner) are those of the
//!   malicious verdict with the highest confidence, the first in the list on
//!   a tie;
//! - **benign** only if every scanner that answered says benign; the
//!   confidence and metadata are those of the most confident of them;
//! - otherwise (a suspicious or unknown answer and no malicious one) no
//!   assertion: suspicious if any says suspicious, else unknown;
//! - **a scan error** (no assertion) if every scanner failed; a scanner
//!   that failed while another answered is left out of the verdict.
//!
//! Every scanner's own answer — verdict, confidence and metadata, or the
//! error's text — is kept under the metadata's `scanners`, by name:
//! `{"scanners": {"clamav": {"verdict": ..., "confidence": ..., "metadata":
//! {...}}, "yara": {"error": "..."}}}`.
//!
//! `setup` succeeds when at least one scanner's does (the others are logged
//! and retried by their own scans, as clamav reconnects on every scan), so a
//! clamd that is down when the engine starts does not keep YARA from
//! asserting.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use swarm_sdk::{Artifact, ScanError, ScanMetadata, ScanResult, Scanner, Verdict};
use tokio::task::JoinSet;

use crate::Engine;

/// Why a [`Composite`] cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompositeError {
    /// No scanners at all.
    #[error("a composite engine needs at least one scanner")]
    Empty,
    /// Two scanners with the same name: their answers would share a key
    /// of the metadata's `scanners`.
    #[error("scanner {0:?} is listed twice")]
    Duplicate(String),
}

impl CompositeError {
    /// A stable code for logs and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            CompositeError::Empty => "composite_empty",
            CompositeError::Duplicate(_) => "composite_duplicate",
        }
    }
}

/// Several named engines scanning as one.
#[derive(Debug)]
pub struct Composite {
    scanners: Vec<(String, Arc<Engine>)>,
}

impl Composite {
    /// The scanners, each with the name its answer is kept under (`clamav`,
    /// `yara`, ...), in the order that breaks confidence ties.
    pub fn new(
        scanners: impl IntoIterator<Item = (String, Engine)>,
    ) -> Result<Self, CompositeError> {
        let scanners: Vec<(String, Arc<Engine>)> = scanners
            .into_iter()
            .map(|(name, engine)| (name, Arc::new(engine)))
            .collect();
        if scanners.is_empty() {
            return Err(CompositeError::Empty);
        }
        let mut seen = BTreeSet::new();
        for (name, _) in &scanners {
            if !seen.insert(name.as_str()) {
                return Err(CompositeError::Duplicate(name.clone()));
            }
        }
        Ok(Composite { scanners })
    }

    /// The scanners' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.scanners.iter().map(|(name, _)| name.as_str())
    }

    /// Runs `op` on every scanner at once; each scanner's outcome by name,
    /// in the scanners' order. A panic is that scanner's error.
    async fn each<T, F, Fut>(&self, op: F) -> Vec<(String, Result<T, ScanError>)>
    where
        T: Send + 'static,
        F: Fn(Arc<Engine>) -> Fut,
        Fut: Future<Output = Result<T, ScanError>> + Send + 'static,
    {
        let mut tasks = JoinSet::new();
        for (i, (_, engine)) in self.scanners.iter().enumerate() {
            let run = op(Arc::clone(engine));
            tasks.spawn(async move { (i, run.await) });
        }
        let mut outcomes: Vec<Option<Result<T, ScanError>>> =
            self.scanners.iter().map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            // A task that panicked has no index: it is the one left None.
            if let Ok((i, outcome)) = joined {
                if let Some(slot) = outcomes.get_mut(i) {
                    *slot = Some(outcome);
                }
            }
        }
        self.scanners
            .iter()
            .zip(outcomes)
            .map(|((name, _), outcome)| {
                let outcome = outcome
                    .unwrap_or_else(|| Err(ScanError::Other(format!("scanner {name} panicked"))));
                (name.clone(), outcome)
            })
            .collect()
    }
}

/// A boxed future of a composite's work, for [`Engine`]'s match: a
/// composite holds engines, so its futures hold theirs, and a box with a
/// `dyn Future + Send` type is where the compiler stops following that loop.
pub(crate) type Boxed<'a, T> = Pin<Box<dyn Future<Output = Result<T, ScanError>> + Send + 'a>>;

impl Composite {
    /// [`Scanner::setup`], boxed.
    pub(crate) fn boxed_setup(&self) -> Boxed<'_, ()> {
        Box::pin(self.setup_all())
    }

    /// [`Scanner::scan`], boxed.
    pub(crate) fn boxed_scan<'a>(&'a self, artifact: &'a Artifact) -> Boxed<'a, ScanResult> {
        Box::pin(self.scan_all(artifact))
    }

    /// [`Scanner::teardown`], boxed.
    pub(crate) fn boxed_teardown(&self) -> Boxed<'_, ()> {
        Box::pin(self.teardown_all())
    }

    async fn setup_all(&self) -> Result<(), ScanError> {
        let outcomes = self
            .each(|engine| async move { engine.setup().await })
            .await;
        let mut answered = false;
        for (name, outcome) in &outcomes {
            match outcome {
                Ok(()) => answered = true,
                Err(e) => {
                    tracing::warn!(scanner = %name, error = %e, "scanner setup failed; its scans will retry")
                }
            }
        }
        if answered {
            Ok(())
        } else {
            Err(all_failed(
                outcomes
                    .into_iter()
                    .filter_map(|(n, o)| o.err().map(|e| (n, e))),
            ))
        }
    }

    async fn scan_all(&self, artifact: &Artifact) -> Result<ScanResult, ScanError> {
        let outcomes = self
            .each(|engine| {
                let artifact = artifact.clone();
                async move { engine.scan(&artifact).await }
            })
            .await;
        combine(outcomes)
    }

    async fn teardown_all(&self) -> Result<(), ScanError> {
        let outcomes = self
            .each(|engine| async move { engine.teardown().await })
            .await;
        let failures: Vec<(String, ScanError)> = outcomes
            .into_iter()
            .filter_map(|(n, o)| o.err().map(|e| (n, e)))
            .collect();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(ScanError::Other(describe(&failures)))
        }
    }
}

impl Scanner for Composite {
    async fn setup(&self) -> Result<(), ScanError> {
        self.setup_all().await
    }

    async fn scan(&self, artifact: &Artifact) -> Result<ScanResult, ScanError> {
        self.scan_all(artifact).await
    }

    fn wants_memory_file(&self) -> bool {
        self.scanners.iter().any(|(_, e)| e.wants_memory_file())
    }

    async fn teardown(&self) -> Result<(), ScanError> {
        self.teardown_all().await
    }
}

/// One verdict from the scanners' outcomes, by the rules of this module's
/// header; `outcomes` are by scanner name, in the order that breaks ties.
pub fn combine(
    outcomes: Vec<(String, Result<ScanResult, ScanError>)>,
) -> Result<ScanResult, ScanError> {
    let mut scanners = serde_json::Map::new();
    for (name, outcome) in &outcomes {
        let entry = match outcome {
            Ok(r) => serde_json::json!({
                "verdict": r.verdict,
                "confidence": r.clamped_confidence(),
                "metadata": r.metadata,
            }),
            Err(e) => serde_json::json!({"error": e.to_string()}),
        };
        scanners.insert(name.clone(), entry);
    }
    let answers: Vec<&ScanResult> = outcomes
        .iter()
        .filter_map(|(_, o)| o.as_ref().ok())
        .collect();
    if answers.is_empty() {
        return Err(all_failed(
            outcomes
                .into_iter()
                .filter_map(|(n, o)| o.err().map(|e| (n, e))),
        ));
    }
    let most_confident = |verdict: Verdict| {
        answers
            .iter()
            .filter(|r| r.verdict == verdict)
            // `max_by` keeps the last of equals: fold to keep the first.
            .fold(None::<&&ScanResult>, |best, r| match best {
                Some(b) if b.clamped_confidence() >= r.clamped_confidence() => Some(b),
                _ => Some(r),
            })
            .map(|r| (*r).clone())
    };
    let decided = if let Some(malicious) = most_confident(Verdict::Malicious) {
        malicious
    } else if answers.iter().all(|r| r.verdict == Verdict::Benign) {
        // At least one answered, and every answer is benign.
        most_confident(Verdict::Benign).unwrap_or_else(|| ScanResult::benign(0.0))
    } else {
        let verdict = if answers.iter().any(|r| r.verdict == Verdict::Suspicious) {
            Verdict::Suspicious
        } else {
            Verdict::Unknown
        };
        ScanResult {
            verdict,
            confidence: 0.0,
            metadata: ScanMetadata::default(),
            bid: None,
        }
    };
    let mut metadata = decided.metadata;
    metadata
        .extra
        .insert("scanners".into(), serde_json::Value::Object(scanners));
    Ok(ScanResult {
        verdict: decided.verdict,
        confidence: decided.confidence,
        metadata,
        bid: None,
    })
}

/// The error of a composite whose every scanner failed: a timeout if all
/// timed out, unavailable if all were unavailable, else `Other`; the text
/// names each scanner's error.
fn all_failed(failures: impl IntoIterator<Item = (String, ScanError)>) -> ScanError {
    let failures: Vec<(String, ScanError)> = failures.into_iter().collect();
    let text = format!("every scanner failed: {}", describe(&failures));
    let timeouts: Option<Vec<Duration>> = failures
        .iter()
        .map(|(_, e)| match e {
            ScanError::Timeout(d) => Some(*d),
            _ => None,
        })
        .collect();
    match timeouts {
        Some(ds) if !ds.is_empty() => ScanError::Timeout(ds.into_iter().max().unwrap_or_default()),
        _ if failures
            .iter()
            .all(|(_, e)| matches!(e, ScanError::Unavailable(_))) =>
        {
            ScanError::Unavailable(text)
        }
        _ => ScanError::Other(text),
    }
}

/// `name: error; name: error`.
fn describe(failures: &[(String, ScanError)]) -> String {
    failures
        .iter()
        .map(|(name, e)| format!("{name}: {e}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::{CommandScanner, Eicar, EicarVariant, EICAR};

    fn ok(name: &str, r: ScanResult) -> (String, Result<ScanResult, ScanError>) {
        (name.to_owned(), Ok(r))
    }

    fn err(name: &str, e: ScanError) -> (String, Result<ScanResult, ScanError>) {
        (name.to_owned(), Err(e))
    }

    fn with_verdict(verdict: Verdict, confidence: f64) -> ScanResult {
        ScanResult {
            verdict,
            confidence,
            metadata: ScanMetadata::default(),
            bid: None,
        }
    }

    #[test]
    fn malicious_if_any_says_so_with_the_most_confident_family() {
        let r = combine(vec![
            ok("a", ScanResult::malicious(0.6, "Weak.Family")),
            ok("b", ScanResult::benign(0.9)),
            ok("c", ScanResult::malicious(0.95, "Strong.Family")),
            ok("d", ScanResult::malicious(0.7, "Other.Family")),
        ])
        .unwrap();
        assert_eq!(r.verdict, Verdict::Malicious);
        assert_eq!(r.confidence, 0.95);
        assert_eq!(r.metadata.malware_family, "Strong.Family");
    }

    #[test]
    fn a_confidence_tie_goes_to_the_first_listed() {
        let r = combine(vec![
            ok("clamav", ScanResult::malicious(1.0, "Clam.Family")),
            ok("yara", ScanResult::malicious(1.0, "Yara.Family")),
        ])
        .unwrap();
        assert_eq!(r.metadata.malware_family, "Clam.Family");
        let r = combine(vec![
            ok("yara", ScanResult::malicious(1.0, "Yara.Family")),
            ok("clamav", ScanResult::malicious(1.0, "Clam.Family")),
        ])
        .unwrap();
        assert_eq!(r.metadata.malware_family, "Yara.Family");
    }

    #[test]
    fn benign_only_if_every_answer_is_benign() {
        let r = combine(vec![
            ok("a", ScanResult::benign(0.5)),
            ok("b", ScanResult::benign(0.8)),
        ])
        .unwrap();
        assert_eq!(r.verdict, Verdict::Benign);
        assert_eq!(r.confidence, 0.8, "the most confident benign answer");

        let r = combine(vec![
            ok("a", ScanResult::benign(0.5)),
            ok("b", ScanResult::unknown()),
        ])
        .unwrap();
        assert_eq!(r.verdict, Verdict::Unknown);
        assert!(!r.verdict.asserts());

        let r = combine(vec![
            ok("a", ScanResult::benign(0.5)),
            ok("b", with_verdict(Verdict::Suspicious, 0.4)),
            ok("c", ScanResult::unknown()),
        ])
        .unwrap();
        assert_eq!(r.verdict, Verdict::Suspicious);
        assert!(!r.verdict.asserts());
    }

    #[test]
    fn malicious_wins_over_suspicious_and_unknown() {
        let r = combine(vec![
            ok("a", with_verdict(Verdict::Suspicious, 0.9)),
            ok("b", ScanResult::unknown()),
            ok("c", ScanResult::malicious(0.3, "X")),
        ])
        .unwrap();
        assert_eq!(r.verdict, Verdict::Malicious);
        assert_eq!(r.metadata.malware_family, "X");
    }

    #[test]
    fn a_failed_scanner_is_left_out_and_its_error_kept() {
        let r = combine(vec![
            err(
                "clamav",
                ScanError::Unavailable("connection refused".into()),
            ),
            ok("yara", ScanResult::benign(0.5)),
        ])
        .unwrap();
        assert_eq!(r.verdict, Verdict::Benign, "benign: every answer is benign");
        let scanners = &r.metadata.extra["scanners"];
        let error = scanners["clamav"]["error"].as_str().unwrap();
        assert!(error.contains("connection refused"), "{error}");
        assert_eq!(scanners["yara"]["verdict"], "benign");
        assert_eq!(scanners["yara"]["confidence"], 0.5);
    }

    #[test]
    fn every_scanners_own_answer_is_kept() {
        let mut clam = ScanResult::malicious(1.0, "Clam.Family");
        clam.metadata.product = Some("ClamAV".into());
        let r = combine(vec![
            ok("clamav", clam),
            ok("yara", ScanResult::benign(0.5)),
        ])
        .unwrap();
        // The top level is the deciding verdict's metadata.
        assert_eq!(r.metadata.product.as_deref(), Some("ClamAV"));
        let v = serde_json::to_value(&r.metadata).unwrap();
        assert_eq!(
            v["scanners"],
            serde_json::json!({
                "clamav": {
                    "verdict": "malicious",
                    "confidence": 1.0,
                    "metadata": {"malware_family": "Clam.Family", "product": "ClamAV"},
                },
                "yara": {
                    "verdict": "benign",
                    "confidence": 0.5,
                    "metadata": {"malware_family": ""},
                },
            })
        );
    }

    #[test]
    fn every_scanner_failing_is_a_scan_error() {
        let e = combine(vec![
            err("clamav", ScanError::Unavailable("clamd down".into())),
            err("yara", ScanError::Unavailable("no rules".into())),
        ])
        .unwrap_err();
        let ScanError::Unavailable(text) = e else {
            panic!("all unavailable is unavailable: {e}");
        };
        assert!(
            text.contains("clamav: scanner backend unavailable: clamd down"),
            "{text}"
        );
        assert!(
            text.contains("yara: scanner backend unavailable: no rules"),
            "{text}"
        );

        let e = combine(vec![
            err("a", ScanError::Timeout(Duration::from_secs(5))),
            err("b", ScanError::Timeout(Duration::from_secs(9))),
        ])
        .unwrap_err();
        assert!(
            matches!(e, ScanError::Timeout(d) if d == Duration::from_secs(9)),
            "{e}"
        );

        let e = combine(vec![
            err("a", ScanError::Timeout(Duration::from_secs(5))),
            err("b", ScanError::Artifact("too big".into())),
        ])
        .unwrap_err();
        assert!(
            matches!(&e, ScanError::Other(t) if t.contains("too big")),
            "{e}"
        );
    }

    #[test]
    fn no_scanners_or_a_name_twice_is_refused() {
        let e = Composite::new(Vec::new()).unwrap_err();
        assert_eq!(e.code(), "composite_empty");
        let eicar = || Engine::Eicar(Eicar::new(EicarVariant::Exact));
        let e = Composite::new([("eicar".to_owned(), eicar()), ("eicar".to_owned(), eicar())])
            .unwrap_err();
        assert_eq!(e.code(), "composite_duplicate");
        assert!(e.to_string().contains("\"eicar\""), "{e}");
    }

    #[tokio::test]
    async fn scans_run_on_every_engine_and_a_failing_command_is_left_out() {
        let composite = Composite::new([
            (
                "eicar".to_owned(),
                Engine::Eicar(Eicar::new(EicarVariant::Exact)),
            ),
            (
                "broken".to_owned(),
                Engine::Command(CommandScanner::new("exit 3", Duration::from_secs(10))),
            ),
        ])
        .unwrap();
        assert_eq!(composite.names().collect::<Vec<_>>(), ["eicar", "broken"]);
        // Inside an `Engine`, as the CLI holds it, and nested once more.
        let engine = Engine::Composite(
            Composite::new([("inner".to_owned(), Engine::Composite(composite))]).unwrap(),
        );
        engine.setup().await.unwrap();
        let r = engine
            .scan(&Artifact::file(EICAR.as_slice()))
            .await
            .unwrap();
        assert_eq!(r.verdict, Verdict::Malicious);
        let inner = &r.metadata.extra["scanners"]["inner"]["metadata"]["scanners"];
        assert_eq!(inner["eicar"]["verdict"], "malicious");
        assert!(
            inner["broken"]["error"].as_str().unwrap().contains("exit"),
            "{inner}"
        );

        let only_broken = Composite::new([(
            "broken".to_owned(),
            Engine::Command(CommandScanner::new("exit 3", Duration::from_secs(10))),
        )])
        .unwrap();
        assert!(only_broken
            .scan(&Artifact::file(EICAR.as_slice()))
            .await
            .is_err());
    }
}
