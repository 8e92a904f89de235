//! Where an ambassador's bounties come from: the [`BountySource`] trait and
//! the two sources the SDK ships, [`EicarSource`] and [`DirectorySource`].

use std::collections::VecDeque;
use std::future::Future;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use swarm_protocol::{Amount, ArtifactType};

/// The EICAR test file: exactly these 68 bytes.
pub const EICAR: &[u8; 68] =
    b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// Most artifacts in one bounty (the protocol's limit).
const MAX_ARTIFACTS: usize = 256;

/// One bounty to post.
#[derive(Clone, Debug, Default)]
pub struct BountyRequest {
    /// `(file name, content)` of each artifact, in order; for a URL
    /// bounty, `(URL, URL text)` (see [`BountyRequest::urls`]).
    pub files: Vec<(String, Bytes)>,
    /// Files (the default) or URLs.
    pub artifact_type: ArtifactType,
    /// Reward; `None`: the ambassador's amount, or the community minimum
    /// (`bounty_amount_minimum` × number of files).
    pub amount: Option<Amount>,
    /// Assertion round in blocks; `None`: the ambassador's duration.
    pub duration: Option<u64>,
    /// The verdict expected for each file (`Some(true)`: malicious), when
    /// known; compared with the consensus in the report.
    pub expected: Vec<Option<bool>>,
}

/// Where an ambassador's bounties come from.
///
/// Implementors write `async fn next(&mut self) -> Option<BountyRequest>`.
pub trait BountySource: Send + 'static {
    /// The next bounty to post; `None` when there are no more.
    fn next(&mut self) -> impl Future<Output = Option<BountyRequest>> + Send;
}

/// A random mix of EICAR test files and benign files: `count` bounties of
/// 1..=`max_artifacts` artifacts each, every artifact EICAR with
/// probability `malicious_ratio` (one half by default). The expected
/// verdicts are known, so the report checks the marketplace's consensus.
///
/// Benign files are short random text, different every time, so the
/// artifact store does not deduplicate them. With [`EicarSource::seed`]
/// the sequence of bounties is reproducible.
///
/// With [`EicarSource::urls`], every second bounty is a URL bounty instead:
/// a known-bad URL names an EICAR download
/// (`http://malware.example/eicar-N.com`), a known-good one a page of
/// `https://example.com/`. The truth is in the URL's text — it holds
/// "eicar" exactly when it is malicious — which is what the EICAR engine's
/// URL rule checks.
#[derive(Debug)]
pub struct EicarSource {
    remaining: usize,
    max_artifacts: usize,
    malicious_ratio: f64,
    rng: StdRng,
    made: u64,
    urls: bool,
    drawn: u64,
}

impl EicarSource {
    /// `count` bounties of one artifact each, seeded from the OS.
    pub fn new(count: usize) -> Self {
        EicarSource {
            remaining: count,
            max_artifacts: 1,
            malicious_ratio: 0.5,
            rng: StdRng::from_entropy(),
            made: 0,
            urls: false,
            drawn: 0,
        }
    }

    /// Makes every second bounty (the second, fourth, …) a URL bounty of
    /// known-bad and known-good URLs.
    pub fn urls(mut self, urls: bool) -> Self {
        self.urls = urls;
        self
    }

    /// Up to `max` artifacts per bounty (the count is drawn uniformly from
    /// 1..=max; clamped into 1..=256).
    pub fn max_artifacts(mut self, max: usize) -> Self {
        self.max_artifacts = max.clamp(1, MAX_ARTIFACTS);
        self
    }

    /// The probability of each artifact being EICAR (clamped into 0..=1;
    /// NaN means one half).
    pub fn malicious_ratio(mut self, ratio: f64) -> Self {
        self.malicious_ratio = if ratio.is_nan() {
            0.5
        } else {
            ratio.clamp(0.0, 1.0)
        };
        self
    }

    /// Draws from a generator seeded with `seed`: the same seed gives the
    /// same bounties.
    pub fn seed(mut self, seed: u64) -> Self {
        self.rng = StdRng::seed_from_u64(seed);
        self
    }

    /// Bounties still to come.
    pub fn remaining(&self) -> usize {
        self.remaining
    }

    /// Draws one bounty.
    fn draw(&mut self) -> BountyRequest {
        let n = self.rng.gen_range(1..=self.max_artifacts);
        self.drawn += 1;
        if self.urls && self.drawn.is_multiple_of(2) {
            return self.draw_urls(n);
        }
        let mut files = Vec::with_capacity(n);
        let mut expected = Vec::with_capacity(n);
        for _ in 0..n {
            self.made += 1;
            let malicious = self.rng.gen_bool(self.malicious_ratio);
            if malicious {
                files.push((
                    format!("eicar-{}.com", self.made),
                    Bytes::from_static(EICAR),
                ));
            } else {
                let noise: [u8; 16] = self.rng.gen();
                let text = format!(
                    "benign test file {}\nnothing to see here: {}\n",
                    self.made,
                    hex::encode(noise)
                );
                files.push((format!("benign-{}.txt", self.made), Bytes::from(text)));
            }
            expected.push(Some(malicious));
        }
        BountyRequest {
            files,
            expected,
            ..BountyRequest::default()
        }
    }
}

impl EicarSource {
    /// Draws one URL bounty of `n` URLs.
    fn draw_urls(&mut self, n: usize) -> BountyRequest {
        let mut urls = Vec::with_capacity(n);
        let mut expected = Vec::with_capacity(n);
        for _ in 0..n {
            self.made += 1;
            let malicious = self.rng.gen_bool(self.malicious_ratio);
            urls.push(if malicious {
                format!("http://malware.example/eicar-{}.com", self.made)
            } else {
                format!("https://example.com/benign-{}.html", self.made)
            });
            expected.push(Some(malicious));
        }
        BountyRequest::urls(urls, expected)
    }
}

impl BountySource for EicarSource {
    async fn next(&mut self) -> Option<BountyRequest> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        Some(self.draw())
    }
}

/// The regular files of one directory (not its subdirectories; names
/// starting with `.` skipped), in name order: one bounty per file, or
/// `per_bounty` files per bounty. Expected verdicts are unknown.
///
/// A file that cannot be read when its turn comes is skipped with a
/// warning.
#[derive(Debug)]
pub struct DirectorySource {
    files: VecDeque<PathBuf>,
    per_bounty: usize,
}

impl DirectorySource {
    /// The files of `dir`, one per bounty.
    pub fn new(dir: impl AsRef<Path>) -> std::io::Result<Self> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir.as_ref())? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            // Follows symbolic links, like reading the file will.
            if std::fs::metadata(entry.path())?.is_file() {
                files.push(entry.path());
            }
        }
        files.sort();
        Ok(DirectorySource {
            files: files.into(),
            per_bounty: 1,
        })
    }

    /// `n` files per bounty (clamped into 1..=256); the last bounty takes
    /// what is left.
    pub fn per_bounty(mut self, n: usize) -> Self {
        self.per_bounty = n.clamp(1, MAX_ARTIFACTS);
        self
    }

    /// Files not yet posted.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether every file was posted.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

impl BountySource for DirectorySource {
    async fn next(&mut self) -> Option<BountyRequest> {
        while !self.files.is_empty() {
            let mut files = Vec::new();
            while files.len() < self.per_bounty {
                let Some(path) = self.files.pop_front() else {
                    break;
                };
                match tokio::fs::read(&path).await {
                    Ok(content) => {
                        let name = path
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_else(|| path.display().to_string());
                        files.push((name, Bytes::from(content)));
                    }
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "cannot read; skipped");
                    }
                }
            }
            if !files.is_empty() {
                let expected = vec![None; files.len()];
                return Some(BountyRequest {
                    files,
                    expected,
                    ..BountyRequest::default()
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn eicar_source_counts_and_mixes() {
        let mut source = EicarSource::new(50).max_artifacts(4).seed(7);
        let mut bounties = 0;
        let (mut mal, mut ben) = (0, 0);
        while let Some(r) = source.next().await {
            bounties += 1;
            assert!((1..=4).contains(&r.files.len()));
            assert_eq!(r.expected.len(), r.files.len());
            for ((name, content), e) in r.files.iter().zip(&r.expected) {
                match e {
                    Some(true) => {
                        mal += 1;
                        assert_eq!(content.as_ref(), EICAR.as_slice());
                        assert!(name.starts_with("eicar-"));
                    }
                    Some(false) => {
                        ben += 1;
                        assert_ne!(content.as_ref(), EICAR.as_slice());
                        assert!(name.starts_with("benign-"));
                    }
                    None => panic!("the EICAR source knows every verdict"),
                }
            }
        }
        assert_eq!(bounties, 50);
        assert!(mal > 10 && ben > 10, "{mal} malicious, {ben} benign");
        assert!(source.next().await.is_none());
    }

    #[tokio::test]
    async fn eicar_source_with_urls_makes_every_second_bounty_a_url_bounty() {
        let mut source = EicarSource::new(6).max_artifacts(3).urls(true).seed(9);
        let mut kinds = Vec::new();
        while let Some(r) = source.next().await {
            kinds.push(r.artifact_type);
            for ((name, content), e) in r.files.iter().zip(&r.expected) {
                if r.artifact_type == ArtifactType::Url {
                    assert_eq!(name.as_bytes(), content.as_ref());
                    crate::ambassador::check_url(name).unwrap();
                    assert_eq!(name.contains("eicar"), *e == Some(true), "{name}");
                }
            }
        }
        use ArtifactType::{File, Url};
        assert_eq!(kinds, [File, Url, File, Url, File, Url]);
    }

    #[tokio::test]
    async fn eicar_source_seed_is_reproducible() {
        let draw = |seed| async move {
            let mut s = EicarSource::new(5).max_artifacts(3).seed(seed);
            let mut all = Vec::new();
            while let Some(r) = s.next().await {
                all.push(r.files);
            }
            all
        };
        assert_eq!(draw(1).await, draw(1).await);
        assert_ne!(draw(1).await, draw(2).await);
    }

    #[tokio::test]
    async fn eicar_source_ratio_extremes() {
        let mut all_bad = EicarSource::new(5).max_artifacts(3).malicious_ratio(1.0);
        while let Some(r) = all_bad.next().await {
            assert!(r.expected.iter().all(|e| *e == Some(true)));
        }
        let mut all_good = EicarSource::new(5).malicious_ratio(f64::NEG_INFINITY);
        while let Some(r) = all_good.next().await {
            assert!(r.expected.iter().all(|e| *e == Some(false)));
        }
        // Benign files differ from each other, so none is deduplicated.
        let mut s = EicarSource::new(20).malicious_ratio(0.0).seed(3);
        let mut seen = std::collections::HashSet::new();
        while let Some(r) = s.next().await {
            assert!(seen.insert(r.files[0].1.clone()));
        }
        assert_eq!(EicarSource::new(1).max_artifacts(0).max_artifacts, 1);
        assert_eq!(EicarSource::new(1).max_artifacts(999).max_artifacts, 256);
    }

    #[tokio::test]
    async fn directory_source_groups_files_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["c.bin", "a.txt", "b.exe", "d", "e", ".hidden"] {
            std::fs::write(dir.path().join(name), name.as_bytes()).unwrap();
        }
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/x"), b"x").unwrap();

        let mut one = DirectorySource::new(dir.path()).unwrap();
        assert_eq!(one.len(), 5);
        let mut names = Vec::new();
        while let Some(r) = one.next().await {
            assert_eq!(r.files.len(), 1);
            assert_eq!(r.expected, vec![None]);
            let (name, content) = &r.files[0];
            assert_eq!(content.as_ref(), name.as_bytes());
            names.push(name.clone());
        }
        assert_eq!(names, ["a.txt", "b.exe", "c.bin", "d", "e"]);
        assert!(one.is_empty());

        let mut two = DirectorySource::new(dir.path()).unwrap().per_bounty(2);
        let mut sizes = Vec::new();
        while let Some(r) = two.next().await {
            sizes.push(r.files.len());
        }
        assert_eq!(sizes, [2, 2, 1]);
    }

    #[tokio::test]
    async fn directory_source_skips_unreadable_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), b"a").unwrap();
        std::fs::write(dir.path().join("b"), b"b").unwrap();
        let mut s = DirectorySource::new(dir.path()).unwrap();
        std::fs::remove_file(dir.path().join("a")).unwrap();
        let r = s.next().await.unwrap();
        assert_eq!(r.files[0].0, "b");
        assert!(s.next().await.is_none());
        assert!(DirectorySource::new(dir.path().join("missing")).is_err());
    }
}
