//! The Redis dispatch's rules, one test each.

#![allow(clippy::unwrap_used)]

use super::*;

#[test]
fn an_answer_in_time_is_delivered_once_and_a_second_one_is_a_duplicate() {
    let now = Instant::now();
    let mut w = Waiting::default();
    w.insert("a", now + Duration::from_secs(1), 1);
    w.insert("b", now + Duration::from_secs(1), 2);
    assert_eq!(w.len(), 2);
    assert_eq!(w.on_answer(&"a", now), Answer::Deliver(1));
    assert_eq!(w.on_answer(&"a", now), Answer::Duplicate);
    assert_eq!(w.len(), 1);
}

#[test]
fn an_answer_after_the_deadline_is_never_delivered() {
    let now = Instant::now();
    let mut w = Waiting::default();
    // Arrives after the deadline, before the waiter noticed.
    w.insert("a", now, 1);
    assert_eq!(
        w.on_answer(&"a", now + Duration::from_millis(1)),
        Answer::Late
    );
    assert_eq!(w.on_answer(&"a", now), Answer::Late);
    // Arrives after the waiter gave up.
    w.insert("b", now + Duration::from_secs(9), 2);
    w.give_up(&"b");
    assert_eq!(w.on_answer(&"b", now), Answer::Late);
    assert_eq!(w.len(), 0);
}

#[test]
fn answers_to_jobs_never_asked_for_are_unknown() {
    let mut w: Waiting<&str, u8> = Waiting::default();
    assert_eq!(w.on_answer(&"zz", Instant::now()), Answer::Unknown);
    // Giving up on an unknown job changes nothing.
    w.give_up(&"zz");
    assert_eq!(w.on_answer(&"zz", Instant::now()), Answer::Unknown);
}

#[test]
fn finished_jobs_are_forgotten_past_a_bound() {
    let now = Instant::now();
    let mut w = Waiting::default();
    for i in 0..(REMEMBERED + 10) {
        w.insert(i, now + Duration::from_secs(1), ());
        assert_eq!(w.on_answer(&i, now), Answer::Deliver(()));
    }
    assert_eq!(w.on_answer(&0, now), Answer::Unknown);
    assert_eq!(w.on_answer(&(REMEMBERED + 9), now), Answer::Duplicate);
    assert!(w.order.len() <= REMEMBERED && w.answered.len() <= REMEMBERED);
}

#[test]
fn a_job_is_scanned_only_before_its_deadline() {
    assert_eq!(
        decide_job(10_000, 9_000),
        JobDecision::Scan {
            left: Duration::from_secs(1)
        }
    );
    assert_eq!(
        decide_job(10_000, 10_000),
        JobDecision::Expired {
            late_by: Duration::ZERO
        }
    );
    assert_eq!(
        decide_job(10_000, 12_500),
        JobDecision::Expired {
            late_by: Duration::from_millis(2_500)
        }
    );
}

#[test]
fn workers_reclaim_first_then_a_few_times_per_visibility_timeout() {
    let vt = Duration::from_secs(4);
    assert_eq!(next_fetch(3, None, vt), Fetch::Claim { count: 3 });
    assert_eq!(
        next_fetch(3, Some(Duration::from_millis(500)), vt),
        Fetch::Read { count: 3 }
    );
    assert_eq!(
        next_fetch(0, Some(Duration::from_secs(1)), vt),
        Fetch::Claim { count: 1 }
    );
    // Heartbeats come well within the timeout; reads block less than a
    // re-claim period.
    assert!(heartbeat_every(vt) * 2 < vt);
    assert!(read_block(vt) <= claim_every(vt));
    assert!(read_block(Duration::from_secs(600)) <= Duration::from_secs(1));
    assert!(heartbeat_every(Duration::ZERO) > Duration::ZERO);
}

#[test]
fn the_rate_limit_waits_for_the_next_second_once_the_window_is_full() {
    assert_eq!(rate_wait(1, 2, 5_300), None);
    assert_eq!(rate_wait(2, 2, 5_300), None);
    assert_eq!(rate_wait(3, 2, 5_300), Some(Duration::from_millis(700)));
    assert_eq!(rate_wait(3, 2, 5_999), Some(Duration::from_millis(1)));
    assert_eq!(rate_wait(1, 0, 5_000), Some(Duration::from_millis(1000)));
}

#[test]
fn a_lost_group_is_recreated_and_anything_else_retried() {
    assert_eq!(on_redis_error(Some("NOGROUP")), Recovery::RecreateGroup);
    assert_eq!(on_redis_error(Some("LOADING")), Recovery::Retry);
    assert_eq!(on_redis_error(None), Recovery::Retry);
}

#[test]
fn backoff_doubles_to_its_cap_with_jitter_and_resets() {
    let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(800));
    assert_eq!(b.failed(1.0), Duration::from_millis(100));
    assert_eq!(b.failed(1.0), Duration::from_millis(200));
    assert_eq!(b.failed(0.0), Duration::from_millis(200));
    assert_eq!(b.failed(1.0), Duration::from_millis(800));
    assert_eq!(b.failed(1.0), Duration::from_millis(800));
    assert_eq!(b.failures(), 5);
    b.succeeded();
    assert_eq!(b.failures(), 0);
    assert_eq!(b.failed(7.0), Duration::from_millis(100));
}
