//! URL bounties: which URLs a bounty takes ([`check_url`]), what their
//! artifacts look like ([`url_metadata`]), and [`UrlSource`], the
//! ambassador source that posts the URLs of a list file.
//!
//! A URL bounty's bundle holds each URL's text as the artifact content, so
//! the node's check that the manifest lists exactly `num_artifacts` entries
//! holds for URL bounties as for files, and every engine — in process, over
//! Redis or a webhook — downloads the URL's text the way it downloads a
//! file. The per-artifact metadata is SPEC §3.5's `{uri, protocol}`.
//!
//! Only `http` and `https` URLs with a host are taken: a URL engine may
//! fetch what it is given, and a `file:`, `javascript:` or `data:` URL
//! would make it read its own disk or run nothing a web scanner can judge.

use std::collections::VecDeque;
use std::path::Path;

use bytes::Bytes;
use swarm_protocol::{ArtifactMetadata, ArtifactType};

use super::source::{BountyRequest, BountySource};

/// The longest URL a bounty takes, in bytes (what browsers and servers
/// commonly accept).
pub const MAX_URL_LEN: usize = 2048;

/// Most URLs in one bounty (the protocol's limit).
const MAX_ARTIFACTS: usize = 256;

/// A URL a bounty does not take, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{url:?} is not a URL a bounty takes: {reason}")]
pub struct BadUrl {
    /// The URL as given.
    pub url: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Checks `url` for a URL bounty and returns its protocol (`http` or
/// `https`). The URL is posted as given; it must parse, name a host, use
/// http or https, hold no whitespace and have at most [`MAX_URL_LEN`]
/// bytes.
pub fn check_url(url: &str) -> Result<String, BadUrl> {
    let bad = |reason: String| BadUrl {
        url: url.to_owned(),
        reason,
    };
    if url.is_empty() {
        return Err(bad("it is empty".into()));
    }
    if url.len() > MAX_URL_LEN {
        return Err(bad(format!(
            "it has {} bytes, at most {MAX_URL_LEN} are taken",
            url.len()
        )));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it holds whitespace or a control character".into()));
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(e.to_string()))?;
    let protocol = parsed.scheme();
    if protocol != "http" && protocol != "https" {
        return Err(bad(format!(
            "the protocol is {protocol:?}; only http and https are taken"
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("it names no host".into()));
    }
    Ok(protocol.to_owned())
}

/// The metadata of a URL artifact: `{uri, protocol}`.
pub fn url_metadata(url: &str) -> Result<ArtifactMetadata, BadUrl> {
    let protocol = check_url(url)?;
    Ok(ArtifactMetadata {
        uri: Some(url.to_owned()),
        protocol: Some(protocol),
        ..ArtifactMetadata::default()
    })
}

impl BountyRequest {
    /// A URL bounty on `urls`: each URL's text is its artifact's content.
    /// `expected` as for files (empty: unknown).
    pub fn urls(urls: impl IntoIterator<Item = String>, expected: Vec<Option<bool>>) -> Self {
        BountyRequest {
            files: urls
                .into_iter()
                .map(|u| {
                    let content = Bytes::from(u.clone());
                    (u, content)
                })
                .collect(),
            artifact_type: ArtifactType::Url,
            expected,
            ..BountyRequest::default()
        }
    }
}

/// The URLs of a list file — one per line; blank lines and lines starting
/// with `#` skipped, as is anything after ` #` on a line — posted one per
/// bounty, or `per_bounty` per bounty. Expected verdicts are unknown. Every
/// URL is checked when the file is read, so a bad one stops the ambassador
/// before it posts anything.
#[derive(Debug)]
pub struct UrlSource {
    urls: VecDeque<String>,
    per_bounty: usize,
}

/// Why a URL list does not load.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UrlListError {
    /// The file cannot be read.
    #[error("cannot read {path}: {error}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        error: std::io::Error,
    },
    /// A line holds a URL a bounty does not take (lines count from 1).
    #[error("line {line}: {error}")]
    Url {
        /// The line.
        line: usize,
        /// What is wrong.
        error: BadUrl,
    },
}

impl UrlSource {
    /// The URLs listed in the file at `path`, one per bounty.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, UrlListError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| UrlListError::Io {
            path: path.to_owned(),
            error,
        })?;
        Self::parse(&text)
    }

    /// The URLs listed in `text`, one per bounty.
    pub fn parse(text: &str) -> Result<Self, UrlListError> {
        let mut urls = VecDeque::new();
        for (i, line) in text.lines().enumerate() {
            let line = match line.find(" #") {
                Some(at) => &line[..at],
                None => line,
            }
            .trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            check_url(line).map_err(|error| UrlListError::Url { line: i + 1, error })?;
            urls.push_back(line.to_owned());
        }
        Ok(UrlSource {
            urls,
            per_bounty: 1,
        })
    }

    /// `n` URLs per bounty (clamped into 1..=256); the last bounty takes
    /// what is left.
    pub fn per_bounty(mut self, n: usize) -> Self {
        self.per_bounty = n.clamp(1, MAX_ARTIFACTS);
        self
    }

    /// URLs not yet posted.
    pub fn len(&self) -> usize {
        self.urls.len()
    }

    /// Whether every URL was posted.
    pub fn is_empty(&self) -> bool {
        self.urls.is_empty()
    }
}

impl BountySource for UrlSource {
    async fn next(&mut self) -> Option<BountyRequest> {
        let n = self.per_bounty.min(self.urls.len());
        if n == 0 {
            return None;
        }
        let urls: Vec<String> = self.urls.drain(..n).collect();
        Some(BountyRequest::urls(urls, Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_and_https_urls_with_a_host_are_taken() {
        assert_eq!(
            check_url("http://malware.example/eicar.com").unwrap(),
            "http"
        );
        assert_eq!(check_url("https://example.com/").unwrap(), "https");
        assert_eq!(
            check_url("https://example.com/a?q=\"x\"&b=<y>").unwrap(),
            "https"
        );
    }

    #[test]
    fn other_urls_are_refused_naming_the_url_and_the_reason() {
        let cases = [
            ("", "empty"),
            ("example.com", "relative URL"),
            ("ftp://example.com/x", "only http and https"),
            ("file:///etc/passwd", "only http and https"),
            ("javascript:alert(1)", "only http and https"),
            ("http://exa mple.com/", "whitespace"),
            ("http://example.com/\n", "whitespace"),
        ];
        for (url, reason) in cases {
            let e = check_url(url).unwrap_err();
            assert_eq!(e.url, url);
            let text = e.to_string();
            assert!(text.contains(reason), "{url:?}: {text}");
            assert!(text.contains(&format!("{url:?}")), "{text}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(check_url(&long).unwrap_err().reason.contains("at most"));
    }

    #[test]
    fn url_metadata_is_uri_and_protocol_only() {
        let m = url_metadata("https://example.com/").unwrap();
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"uri": "https://example.com/", "protocol": "https"})
        );
    }

    #[tokio::test]
    async fn a_url_list_skips_comments_and_groups_urls() {
        let text = "# known bad\nhttp://malware.example/eicar.com  # EICAR\n\n  https://example.com/\nhttps://example.org/x\n";
        let mut one = UrlSource::parse(text).unwrap();
        assert_eq!(one.len(), 3);
        let first = one.next().await.unwrap();
        assert_eq!(first.artifact_type, ArtifactType::Url);
        assert_eq!(first.files[0].0, "http://malware.example/eicar.com");
        assert_eq!(
            first.files[0].1.as_ref(),
            b"http://malware.example/eicar.com"
        );
        let mut two = UrlSource::parse(text).unwrap().per_bounty(2);
        let sizes = [
            two.next().await.unwrap().files.len(),
            two.next().await.unwrap().files.len(),
        ];
        assert_eq!(sizes, [2, 1]);
        assert!(two.next().await.is_none());
    }

    #[test]
    fn a_bad_url_in_a_list_names_its_line() {
        let e = UrlSource::parse("https://example.com/\n# fine\nftp://x.example/\n").unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("line 3: \"ftp://x.example/\""), "{text}");
    }
}
