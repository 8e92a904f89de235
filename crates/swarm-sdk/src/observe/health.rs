//! The health decision, kept pure so that it is tested without clocks or
//! sockets: given when the participant started, when it last heard an
//! event and last reached the node, the time now and the threshold, it is
//! healthy or it names why not.
//!
//! The node streams a `block` event every block, so a participant that has
//! seen no event for longer than the threshold has a stuck stream, and one
//! whose last successful request is that old cannot reach its node. Either
//! way an orchestrator should restart it (or page someone): that is what
//! `GET /healthz` answering 503 asks for.

use std::time::{Duration, Instant};

/// The default threshold: longer than any sane block time, short enough
/// for a liveness probe.
pub(crate) const DEFAULT_THRESHOLD: Duration = Duration::from_secs(10);

/// Where a participant's steady stream of news comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Feed {
    /// The node's event stream (a `block` event every block).
    NodeEvents,
    /// A scan worker's reads of its Redis stream (each answers within a
    /// second, jobs or not).
    Redis,
}

/// What the health decision looks at.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seen {
    /// When the participant started.
    pub(crate) started: Instant,
    /// Where its news comes from.
    pub(crate) feed: Feed,
    /// When it last received news: an event, or a Redis read.
    pub(crate) last_event: Option<Instant>,
    /// When a request to the node last succeeded.
    pub(crate) last_contact: Option<Instant>,
}

/// Why a participant is unhealthy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unhealthy {
    /// No request to the node has succeeded for this long.
    NodeUnreachable(Duration),
    /// The feed has delivered nothing for this long.
    NoEvents(Feed, Duration),
}

impl std::fmt::Display for Unhealthy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unhealthy::NodeUnreachable(d) => {
                write!(
                    f,
                    "node_unreachable: no answer from the node for {} s",
                    d.as_secs()
                )
            }
            Unhealthy::NoEvents(Feed::NodeEvents, d) => {
                write!(
                    f,
                    "events_stuck: no event from the node for {} s",
                    d.as_secs()
                )
            }
            Unhealthy::NoEvents(Feed::Redis, d) => {
                write!(
                    f,
                    "redis_unreachable: no answer from redis for {} s",
                    d.as_secs()
                )
            }
        }
    }
}

/// Healthy, or why not. A participant that has not yet heard from the
/// node counts from its start, so one that never connects turns
/// unhealthy after `threshold` too.
pub(crate) fn judge(seen: &Seen, now: Instant, threshold: Duration) -> Result<(), Unhealthy> {
    let since = |t: Option<Instant>| now.saturating_duration_since(t.unwrap_or(seen.started));
    let contact = since(seen.last_contact);
    if contact > threshold {
        return Err(Unhealthy::NodeUnreachable(contact));
    }
    let event = since(seen.last_event);
    if event > threshold {
        return Err(Unhealthy::NoEvents(seen.feed, event));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(10);

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn fresh_contact_and_events_are_healthy() {
        let started = Instant::now();
        let seen = Seen {
            started,
            feed: Feed::NodeEvents,
            last_event: Some(started + secs(20)),
            last_contact: Some(started + secs(21)),
        };
        assert_eq!(judge(&seen, started + secs(25), T), Ok(()));
    }

    #[test]
    fn a_new_participant_is_healthy_until_the_threshold_passes() {
        let started = Instant::now();
        let seen = Seen {
            started,
            feed: Feed::NodeEvents,
            last_event: None,
            last_contact: None,
        };
        assert_eq!(judge(&seen, started + secs(3), T), Ok(()));
        assert_eq!(
            judge(&seen, started + secs(11), T),
            Err(Unhealthy::NodeUnreachable(secs(11)))
        );
    }

    #[test]
    fn exactly_the_threshold_is_still_healthy() {
        let started = Instant::now();
        let seen = Seen {
            started,
            feed: Feed::NodeEvents,
            last_event: Some(started),
            last_contact: Some(started),
        };
        assert_eq!(judge(&seen, started + T, T), Ok(()));
    }

    #[test]
    fn an_unreachable_node_is_named_before_a_stuck_stream() {
        let started = Instant::now();
        let seen = Seen {
            started,
            feed: Feed::NodeEvents,
            last_event: Some(started + secs(1)),
            last_contact: Some(started + secs(2)),
        };
        assert_eq!(
            judge(&seen, started + secs(15), T),
            Err(Unhealthy::NodeUnreachable(secs(13)))
        );
    }

    #[test]
    fn a_stream_without_events_is_stuck_even_when_the_node_answers() {
        let started = Instant::now();
        let seen = Seen {
            started,
            feed: Feed::NodeEvents,
            last_event: Some(started + secs(1)),
            last_contact: Some(started + secs(14)),
        };
        let verdict = judge(&seen, started + secs(15), T);
        assert_eq!(
            verdict,
            Err(Unhealthy::NoEvents(Feed::NodeEvents, secs(14)))
        );
        assert_eq!(
            verdict.unwrap_err().to_string(),
            "events_stuck: no event from the node for 14 s"
        );
    }

    #[test]
    fn a_worker_that_cannot_read_redis_says_so() {
        let started = Instant::now();
        let seen = Seen {
            started,
            feed: Feed::Redis,
            last_event: Some(started),
            last_contact: Some(started + secs(12)),
        };
        let verdict = judge(&seen, started + secs(12), T);
        assert_eq!(verdict, Err(Unhealthy::NoEvents(Feed::Redis, secs(12))));
        assert_eq!(
            verdict.unwrap_err().to_string(),
            "redis_unreachable: no answer from redis for 12 s"
        );
    }

    #[test]
    fn recovery_is_healthy_again() {
        let started = Instant::now();
        let mut seen = Seen {
            started,
            feed: Feed::NodeEvents,
            last_event: Some(started),
            last_contact: Some(started),
        };
        assert!(judge(&seen, started + secs(30), T).is_err());
        seen.last_contact = Some(started + secs(30));
        seen.last_event = Some(started + secs(30));
        assert_eq!(judge(&seen, started + secs(31), T), Ok(()));
    }
}
