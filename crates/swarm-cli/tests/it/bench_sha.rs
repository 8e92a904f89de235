//! `swarm bench sdk`'s sha256 part measures the EICAR engine's hashing
//! against `sha256sum` and OpenSSL; its figures mean something only if
//! every side hashed the same bytes to the same digest.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn the_sha256_bench_checks_ours_sha256sum_and_openssl_agree_and_reports_each_side() {
    let output = Command::new(env!("CARGO_BIN_EXE_swarm"))
        .args([
            "bench",
            "sdk",
            "--skip-engine",
            "--sha-mib",
            "1",
            "--runs",
            "1",
            "--json",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let sha = &report["sha256"];
    assert_eq!(sha["hashes_match"], true, "{sha}");
    assert_eq!(sha["verdicts_ok"], true, "{sha}");
    assert_eq!(sha["bytes"], 1024 * 1024);
    assert!(
        sha["openssl_version"]
            .as_str()
            .unwrap()
            .starts_with("OpenSSL"),
        "{sha}"
    );
    for figure in [
        "openssl_speed_16k_median_mb_per_s",
        "openssl_dgst_hashing_mb_per_s",
        "ratio_ours_over_openssl_speed",
        "ratio_ours_over_sha256sum",
    ] {
        let v = sha[figure].as_f64().unwrap();
        assert!(v.is_finite() && v > 0.0, "{figure} = {v}: {sha}");
    }
    assert_eq!(
        sha["openssl_speed_16k_mb_per_s"].as_array().unwrap().len(),
        1,
        "one timed run: {sha}"
    );
}
