//! `swarm bench node` over several engine and artifact counts: each point
//! must complete every lifecycle it ran, keep the supply, and land in the
//! JSON and on the charts the sweep writes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn an_engine_sweep_completes_every_lifecycle_and_charts_each_count() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("engines.svg");
    let output = Command::new(env!("CARGO_BIN_EXE_swarm"))
        .args([
            "bench",
            "node",
            "--engines",
            "1,2",
            "--artifacts",
            "3",
            "--lifecycles",
            "30",
            "--batch",
            "10",
            "--json",
            "--svg",
        ])
        .arg(&svg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let points: serde_json::Value = serde_json::from_slice(
        output
            .stdout
            .rsplit(|b| *b == b'\n')
            .find(|l| !l.is_empty())
            .unwrap(),
    )
    .unwrap();
    let points = points.as_array().unwrap();
    assert_eq!(points.len(), 2, "{points:?}");
    for (point, engines) in points.iter().zip([1, 2]) {
        assert_eq!(point["engines"], engines);
        assert_eq!(point["artifacts"], 3);
        let best = &point["best"];
        assert_eq!(best["lifecycles_complete"], 30, "{best}");
        assert_eq!(best["lifecycles_missed"], 0, "{best}");
        assert_eq!(best["supply_ok"], true, "{best}");
        assert_eq!(best["artifacts_per_bounty"], 3);
        // 1 post, an assertion and a reveal per engine, 1 vote.
        assert_eq!(best["transactions_per_lifecycle"], 2 + 2 * engines);
        assert!(best["reads"].as_u64().unwrap() > 0, "{best}");
    }
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(chart.starts_with("<svg"), "{chart}");
    assert_eq!(chart.matches("<circle").count(), 2, "{chart}");
    let tx_chart = std::fs::read_to_string(dir.path().join("engines-tx.svg")).unwrap();
    assert_eq!(tx_chart.matches("<circle").count(), 2, "{tx_chart}");
}
