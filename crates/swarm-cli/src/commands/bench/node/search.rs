//! The highest load, and how it moves with the work: `--find-max` and
//! sweeps over engine or artifact counts.
//!
//! A fixed wave size measures one point, and the wrong one as soon as the
//! work per bounty changes: 200 bounties per block are easy with 1 engine
//! and far past the node with 30. So the search runs short trials (each on
//! a fresh node) with growing wave sizes until one fails — a lifecycle not
//! completed, or the node shedding a post because it is behind — and then
//! bisects. The highest trial that passed is the node's capacity for that
//! work; the lowest that failed shows what happens just above it: the node
//! sheds new bounties with 503 and `Retry-After`, the bench backs off as
//! asked, and no admitted lifecycle is missed.

use anyhow::{bail, Context};

use super::calibration::Calibration;
use super::report::{print_report, Report};
use super::{check_complete, trial, NodeBenchArgs, MAX_BATCH};
use crate::commands::bench::svg::{Chart, Series};

/// Transactions a first trial's wave should hold: well under a 2-core
/// node's capacity per 100 ms block, so the search starts below it.
const FIRST_WAVE_TXS: usize = 600;

/// Bisection stops when the failing size is within this factor of the
/// passing one.
const PRECISION: f64 = 1.15;

/// One point of a sweep: the capacity and the trial just above it.
#[derive(serde::Serialize)]
struct Point {
    /// Engines per bounty.
    engines: u32,
    /// Artifacts per bounty.
    artifacts: u32,
    /// The highest trial that completed every lifecycle with nothing shed.
    best: Option<Report>,
    /// The lowest trial above it.
    above: Option<Report>,
    /// Every trial: wave size, passed.
    trials: Vec<(usize, bool)>,
}

/// Whether a trial ran at or below capacity.
fn passed(r: &Report) -> bool {
    r.lifecycles_complete == r.lifecycles_requested && r.posts_shed == 0 && r.supply_ok
}

/// Runs every engine × artifact count, each with `--find-max` or once.
pub(super) async fn sweep(args: &NodeBenchArgs, calibration: Calibration) -> anyhow::Result<()> {
    let mut points = Vec::new();
    for &engines in &args.engines {
        for &artifacts in &args.artifacts {
            let single = args.single(engines, artifacts);
            let point = if args.find_max {
                find_max(&single, calibration).await?
            } else {
                let report = trial(&single, calibration).await?;
                check_complete(&report)?;
                Point {
                    engines,
                    artifacts,
                    trials: vec![(report.batch, passed(&report))],
                    best: Some(report),
                    above: None,
                }
            };
            if !args.json {
                print_point(&point);
            }
            points.push(point);
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&points).context("serializing the sweep")?
        );
    } else {
        print_summary(&points);
    }
    if let Some(path) = &args.svg {
        write_charts(path, args, &points)?;
    }
    // Above capacity the node may shed, but must never miss what it admitted.
    for p in &points {
        if let Some(above) = &p.above {
            if above.lifecycles_missed > 0 || !above.supply_ok {
                bail!(
                    "above capacity ({} engines, {} artifacts, waves of {}), {} admitted lifecycles were missed{}",
                    p.engines,
                    p.artifacts,
                    above.batch,
                    above.lifecycles_missed,
                    if above.supply_ok { "" } else { " and the supply invariant broke" }
                );
            }
        }
        if p.best.is_none() {
            bail!(
                "no trial passed with {} engines and {} artifacts, not even waves of 1",
                p.engines,
                p.artifacts
            );
        }
    }
    Ok(())
}

/// Finds the largest wave size that passes for these flags.
async fn find_max(args: &NodeBenchArgs, calibration: Calibration) -> anyhow::Result<Point> {
    let per_bounty = 2 + 2 * args.engine_count() as usize;
    let waves = args.trial_waves as usize;
    let first = (FIRST_WAVE_TXS / per_bounty).clamp(1, MAX_BATCH);
    let run = |size: usize| {
        let mut a = args.clone();
        a.batch = size;
        a.lifecycles = size * waves;
        async move {
            if !a.json {
                println!(
                    "trial: {} engines, {} artifacts, {} waves of {size} ...",
                    a.engine_count(),
                    a.artifact_count(),
                    a.trial_waves
                );
            }
            let report = trial(&a, calibration).await?;
            Ok((passed(&report), report))
        }
    };
    let (best, above, trials) = bracket(first, MAX_BATCH, run).await?;
    Ok(Point {
        engines: args.engine_count(),
        artifacts: args.artifact_count(),
        best,
        above,
        trials,
    })
}

/// The search itself, over any trial: doubles (or halves) from `first`
/// until a passing and a failing size bracket the edge, then bisects to
/// within [`PRECISION`]. Returns the highest passing trial's outcome, the
/// lowest failing one's, and every (size, passed).
async fn bracket<T, F, Fut>(
    first: usize,
    max: usize,
    mut run: F,
) -> anyhow::Result<(Option<T>, Option<T>, Vec<(usize, bool)>)>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<(bool, T)>>,
{
    let mut trials = Vec::new();
    let mut best: Option<(usize, T)> = None;
    let mut above: Option<(usize, T)> = None;
    let mut size = first.clamp(1, max);
    loop {
        let (ok, outcome) = run(size).await?;
        trials.push((size, ok));
        if ok {
            best = Some((size, outcome));
            if above.is_some() || size == max {
                break;
            }
            size = (size * 2).min(max);
        } else {
            above = Some((size, outcome));
            if best.is_some() || size == 1 {
                break;
            }
            size = (size / 2).max(1);
        }
    }
    while let (Some((lo, _)), Some((hi, _))) = (&best, &above) {
        let (lo, hi) = (*lo, *hi);
        if hi <= lo + 1 || hi as f64 / lo as f64 <= PRECISION {
            break;
        }
        let mid = (lo + hi) / 2;
        let (ok, outcome) = run(mid).await?;
        trials.push((mid, ok));
        if ok {
            best = Some((mid, outcome));
        } else {
            above = Some((mid, outcome));
        }
    }
    Ok((best.map(|b| b.1), above.map(|a| a.1), trials))
}

/// Prints a point's capacity run in full and the run above it in short.
fn print_point(p: &Point) {
    if let Some(best) = &p.best {
        println!();
        println!("highest load that completed every lifecycle:");
        let _ = print_report(best, false);
    }
    if let Some(above) = &p.above {
        println!();
        println!(
            "just above it (waves of {}): {:.0} lifecycles/s, {} of {} complete, {} transactions shed and sent again, {} admitted lifecycles missed, read p99 {:.2} ms",
            above.batch,
            above.lifecycles_per_second,
            above.lifecycles_complete,
            above.lifecycles_requested,
            above.posts_shed,
            above.lifecycles_missed,
            above.read_latency_p99_ms
        );
    }
}

/// One table row per point.
fn print_summary(points: &[Point]) {
    println!();
    println!(
        "{:>7} {:>9} {:>6} {:>12} {:>10} {:>12} {:>9} {:>9} {:>10} {:>11} {:>16}",
        "engines",
        "artifacts",
        "wave",
        "lifecycles/s",
        "tx/s",
        "artifacts/s",
        "of cores",
        "read p99",
        "post→asrt",
        "above: wave",
        "shed / missed"
    );
    for p in points {
        let Some(b) = &p.best else { continue };
        let above = p.above.as_ref().map_or("-".to_owned(), |a| {
            format!("{} / {}", a.posts_shed, a.lifecycles_missed)
        });
        println!(
            "{:>7} {:>9} {:>6} {:>12.0} {:>10.0} {:>12.0} {:>9.3} {:>7.2}ms {:>10} {:>11} {:>16}",
            p.engines,
            p.artifacts,
            b.batch,
            b.lifecycles_per_second,
            b.transactions_per_second,
            b.lifecycles_per_second * f64::from(p.artifacts),
            b.tx_rate_over_all_cores_recovery,
            b.read_latency_p99_ms,
            b.assertion_inclusion_blocks_max,
            p.above
                .as_ref()
                .map_or("-".to_owned(), |a| a.batch.to_string()),
            above
        );
    }
}

/// FILE: lifecycles/s (and artifacts/s over artifact counts); FILE-tx.svg:
/// transactions/s. The x axis is whichever count varies.
fn write_charts(
    path: &std::path::Path,
    args: &NodeBenchArgs,
    points: &[Point],
) -> anyhow::Result<()> {
    let by_engines = args.engines.len() > 1 || args.artifacts.len() == 1;
    let x = |p: &Point| f64::from(if by_engines { p.engines } else { p.artifacts });
    let x_label = if by_engines {
        "engines per bounty"
    } else {
        "artifacts per bounty"
    };
    let store = if args.database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let best = || {
        points
            .iter()
            .filter_map(|p| p.best.as_ref().map(|b| (p, b)))
    };
    let mut series = vec![Series {
        name: format!("lifecycles/s, {store}"),
        points: best()
            .map(|(p, b)| (x(p), b.lifecycles_per_second))
            .collect(),
    }];
    if !by_engines {
        series.push(Series {
            name: "artifacts/s".into(),
            points: best()
                .map(|(p, b)| (x(p), b.lifecycles_per_second * f64::from(p.artifacts)))
                .collect(),
        });
    }
    Chart {
        title: format!("Highest load that completes every lifecycle, by {x_label}"),
        x_label: x_label.into(),
        y_label: "per second".into(),
        log_x: true,
        series,
    }
    .write(path)?;
    let tx_path = path.with_file_name(format!(
        "{}-tx.svg",
        path.file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("bench-node")
    ));
    Chart {
        title: format!("Transactions/s at that load, by {x_label}"),
        x_label: x_label.into(),
        y_label: "transactions/s".into(),
        log_x: true,
        series: vec![Series {
            name: format!("tx/s, {store}"),
            points: best()
                .map(|(p, b)| (x(p), b.transactions_per_second))
                .collect(),
        }],
    }
    .write(&tx_path)?;
    if !args.json {
        println!(
            "charts written to {} and {}",
            path.display(),
            tx_path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn search(first: usize, capacity: usize) -> (Option<usize>, Option<usize>, Vec<(usize, bool)>) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(bracket(first, 1000, |size| async move {
                Ok((size <= capacity, size))
            }))
            .unwrap()
    }

    #[test]
    fn the_search_doubles_past_the_edge_then_bisects_to_within_fifteen_percent() {
        let (best, above, trials) = search(75, 437);
        let (best, above) = (best.unwrap(), above.unwrap());
        assert!(best <= 437 && above > 437, "{best} {above}");
        assert!(above as f64 / best as f64 <= PRECISION, "{best} {above}");
        assert_eq!(
            &trials[..4],
            &[(75, true), (150, true), (300, true), (600, false)]
        );
    }

    #[test]
    fn a_first_trial_above_capacity_halves_down_and_one_at_the_cap_stops() {
        let (best, above, _) = search(600, 40);
        assert!(best.unwrap() <= 40 && above.unwrap() > 40);
        let (best, above, trials) = search(600, 5_000);
        assert_eq!((best, above), (Some(1000), None));
        assert_eq!(trials, vec![(600, true), (1000, true)]);
        let (best, above, _) = search(8, 0);
        assert_eq!((best, above), (None, Some(1)));
    }
}
