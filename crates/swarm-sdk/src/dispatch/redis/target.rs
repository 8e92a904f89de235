//! Where scan jobs go: `redis://[:PASSWORD@]HOST[:PORT][/DB]/STREAM`.
//!
//! One address names both the server and the stream because an engine's
//! coordinator and its workers must agree on both, and one flag (or one
//! `SWARM_DISPATCH` variable) copied to every machine cannot disagree. The
//! last path segment is the stream; a numeric segment before it is the
//! database. Every other key the dispatch uses is derived from the stream
//! name, so two engines on one server only need two stream names.

use std::fmt;
use std::str::FromStr;

use reqwest::Url;

use super::error::RedisDispatchError;

/// The consumer group every worker of a stream joins: each job goes to one
/// of them.
pub(crate) const GROUP: &str = "swarm-workers";

/// A Redis server and a stream on it. Displays without its password.
#[derive(Clone)]
pub struct RedisTarget {
    /// `redis://[:PASSWORD@]HOST:PORT/DB`, for the client.
    server: String,
    /// The same without the password, for logs and errors.
    shown: String,
    stream: String,
}

impl RedisTarget {
    /// Parses `redis://[:PASSWORD@]HOST[:PORT][/DB]/STREAM`.
    pub fn parse(address: &str) -> Result<RedisTarget, RedisDispatchError> {
        let url = Url::parse(address).map_err(|e| invalid(address, e.to_string()))?;
        let shown_address = redact(&url);
        let fail = |reason: &str| invalid(&shown_address, reason.to_owned());
        match url.scheme() {
            "redis" => {}
            "rediss" => return Err(fail("TLS (rediss://) is not supported; use a TLS tunnel")),
            _ => return Err(fail("the scheme must be redis://")),
        }
        let host = match url.host_str() {
            Some(h) if !h.is_empty() => h,
            _ => return Err(fail("no host")),
        };
        let port = url.port().unwrap_or(6379);
        let segments: Vec<&str> = url
            .path_segments()
            .map(|s| s.filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        let (db, stream) = match segments.as_slice() {
            [stream] => (0, *stream),
            [db, stream] => match db.parse::<u32>() {
                Ok(db) => (db, *stream),
                Err(_) => return Err(fail("the path is /STREAM or /DB/STREAM, DB a number")),
            },
            [] => {
                return Err(fail(
                    "no stream: the path must name it, as in redis://host/jobs",
                ))
            }
            _ => return Err(fail("the path is /STREAM or /DB/STREAM")),
        };
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.:".contains(c);
        if stream.len() > 128 || !stream.chars().all(allowed) {
            return Err(fail(
                "the stream name is at most 128 letters, digits and - _ . :",
            ));
        }
        let auth = match (url.username(), url.password()) {
            ("", None) => String::new(),
            (user, None) => format!("{user}@"),
            (user, Some(password)) => format!("{user}:{password}@"),
        };
        // IPv6 literals keep their brackets in `host_str`.
        Ok(RedisTarget {
            server: format!("redis://{auth}{host}:{port}/{db}"),
            shown: format!("redis://{host}:{port}/{db}"),
            stream: stream.to_owned(),
        })
    }

    /// The stream jobs are published to.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// A client of the server (no connection is made yet).
    pub(crate) fn client(&self) -> Result<redis::Client, RedisDispatchError> {
        redis::Client::open(self.server.as_str()).map_err(|source| self.error(source))
    }

    /// A Redis failure, naming this target.
    pub(crate) fn error(&self, source: redis::RedisError) -> RedisDispatchError {
        RedisDispatchError::Redis {
            target: self.to_string(),
            source,
        }
    }

    /// The stream a coordinator reads its answers from.
    pub(crate) fn answers(&self, coordinator: &str) -> String {
        format!("{}:answers:{coordinator}", self.stream)
    }

    /// The counter of scans started in the wall-clock second `second`,
    /// shared by every worker of the stream.
    pub(crate) fn rate_window(&self, second: u64) -> String {
        format!("{}:rate:{second}", self.stream)
    }
}

impl FromStr for RedisTarget {
    type Err = RedisDispatchError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RedisTarget::parse(s)
    }
}

impl fmt::Display for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.shown, self.stream)
    }
}

impl fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisTarget({self})")
    }
}

fn invalid(address: &str, reason: String) -> RedisDispatchError {
    RedisDispatchError::Address {
        address: address.to_owned(),
        reason,
    }
}

/// `url` without its password.
fn redact(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        // Only fails for URLs that cannot have a password, which this has.
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_last_segment_is_the_stream_and_a_number_before_it_the_database() {
        let t = RedisTarget::parse("redis://127.0.0.1:6390/jobs").unwrap();
        assert_eq!(
            (t.stream(), t.server.as_str()),
            ("jobs", "redis://127.0.0.1:6390/0")
        );
        let t = RedisTarget::parse("redis://:s3cret@cache/2/engine:clamav").unwrap();
        assert_eq!(t.stream(), "engine:clamav");
        assert_eq!(t.server, "redis://:s3cret@cache:6379/2");
        assert_eq!(t.to_string(), "redis://cache:6379/2/engine:clamav");
        assert_eq!(t.answers("ab12"), "engine:clamav:answers:ab12");
        assert_eq!(t.rate_window(17), "engine:clamav:rate:17");
    }

    #[test]
    fn bad_addresses_are_refused_without_showing_the_password() {
        for bad in [
            "redis://host",
            "redis://host/",
            "http://host/jobs",
            "rediss://host/jobs",
            "redis://host/x/jobs",
            "redis://host/1/2/jobs",
            "redis://host/jo bs",
            "not a url",
        ] {
            let e = RedisTarget::parse(bad).unwrap_err();
            assert_eq!(e.code(), "dispatch_address", "{bad}");
        }
        let e = RedisTarget::parse("redis://:hunter2@host/").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
