//! `swarm scan`: one JSON line per file, and an exit status that says
//! whether anything was malicious.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use swarm_e2e::EICAR;

fn scan(args: &[&str]) -> (i32, Vec<serde_json::Value>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_swarm"))
        .arg("scan")
        .args(args)
        .output()
        .unwrap();
    let lines = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (
        out.status.code().unwrap(),
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn eicar_is_malicious_and_the_exit_status_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let eicar = dir.path().join("eicar.com");
    let benign = dir.path().join("notes.txt");
    std::fs::write(&eicar, EICAR).unwrap();
    std::fs::write(&benign, b"just some notes").unwrap();
    let (eicar, benign) = (eicar.to_str().unwrap(), benign.to_str().unwrap());

    for engine in ["eicar", "eicar-sha256"] {
        let (code, lines, _) = scan(&["--engine", engine, eicar, benign]);
        assert_eq!(code, 1, "{engine}: something malicious");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["file"], eicar);
        assert_eq!(lines[0]["verdict"], "malicious");
        assert_eq!(lines[0]["metadata"]["malware_family"], "eicar");
        assert_eq!(lines[0]["metadata"]["raw_family"], "EICAR-Test-File");
        assert_eq!(lines[1]["verdict"], "benign");
        assert!(lines[1]["confidence"].as_f64().unwrap() > 0.0);
    }
    let (code, lines, _) = scan(&[benign]);
    assert_eq!((code, lines.len()), (0, 1), "nothing malicious");

    // An unreadable file is reported on its line and exits 2.
    let (code, lines, _) = scan(&[benign, "/nonexistent/file"]);
    assert_eq!(code, 2);
    assert!(lines[1]["error"].as_str().unwrap().contains("cannot read"));
    // A name that is no built-in engine is a command; one that does not
    // exist fails on every file, exit 2.
    let (code, lines, _) = scan(&["--engine", "no-such-scanner-command", benign]);
    assert_eq!(code, 2);
    assert!(
        lines[0]["error"].as_str().unwrap().contains("exited with"),
        "{lines:?}"
    );
}

#[test]
fn a_command_is_an_engine() {
    let dir = tempfile::tempdir().unwrap();
    let eicar = dir.path().join("eicar.com");
    let benign = dir.path().join("notes.txt");
    std::fs::write(&eicar, EICAR).unwrap();
    std::fs::write(&benign, b"just some notes").unwrap();
    let (eicar, benign) = (eicar.to_str().unwrap(), benign.to_str().unwrap());

    // Exit status: grep -q exits 0 on a match; inverted, a match exits 1.
    let (code, lines, _) = scan(&["--engine", "! grep -q EICAR", eicar, benign]);
    assert_eq!(code, 1);
    assert_eq!(lines[0]["verdict"], "malicious");
    assert_eq!(lines[1]["verdict"], "benign");

    // A JSON verdict line, with the file path as the last argument.
    let script = dir.path().join("engine.sh");
    std::fs::write(
        &script,
        "#!/bin/sh
if grep -q EICAR \"$1\"; then
  echo '{\"verdict\":\"malicious\",\"confidence\":0.9,\"metadata\":{\"malware_family\":\"Trojan:Win32/Emotet.A!MTB\"}}'
else
  echo '{\"verdict\":\"benign\",\"confidence\":0.7}'
fi
",
    )
    .unwrap();
    let cmd = format!("sh {}", script.display());
    let (code, lines, _) = scan(&["--engine", &cmd, eicar, benign]);
    assert_eq!(code, 1);
    // The command's name normalized, and kept.
    assert_eq!(lines[0]["metadata"]["malware_family"], "emotet");
    assert_eq!(
        lines[0]["metadata"]["raw_family"],
        "Trojan:Win32/Emotet.A!MTB"
    );
    assert_eq!(lines[0]["confidence"], 0.9);
    assert_eq!(lines[1]["verdict"], "benign");
    assert_eq!(lines[1]["confidence"], 0.7);

    // Too slow: an error, not a verdict.
    let (code, lines, _) = scan(&[
        "--engine",
        "sleep 20; true",
        "--command-timeout",
        "1",
        benign,
    ]);
    assert_eq!(code, 2);
    assert!(
        lines[0]["error"].as_str().unwrap().contains("timed out"),
        "{lines:?}"
    );
}

/// A build without the yara feature (the quickstart's) says how to get it.
#[cfg(not(feature = "yara"))]
#[test]
fn yara_without_its_feature_says_how_to_build_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, b"just some notes").unwrap();
    let (code, lines, stderr) = scan(&["--engine", "yara", file.to_str().unwrap()]);
    assert_eq!((code, lines.len()), (2, 0));
    assert!(stderr.contains("--features yara"), "{stderr}");
}

#[cfg(feature = "yara")]
#[test]
fn yara_rules_from_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        rules.join("eicar.yar"),
        "rule eicar_string {\n  meta:\n    family = \"EICAR\"\n  strings:\n    $e = \"EICAR-STANDARD\"\n  condition:\n    $e\n}\n",
    )
    .unwrap();
    let eicar = dir.path().join("eicar.com");
    let benign = dir.path().join("notes.txt");
    std::fs::write(&eicar, EICAR).unwrap();
    std::fs::write(&benign, b"just some notes").unwrap();
    let (eicar, benign) = (eicar.to_str().unwrap(), benign.to_str().unwrap());

    let (code, lines, _) = scan(&[
        "--engine",
        "yara",
        "--yara-rules-dir",
        rules.to_str().unwrap(),
        eicar,
        benign,
    ]);
    assert_eq!(code, 1);
    assert_eq!(lines[0]["verdict"], "malicious");
    assert_eq!(lines[0]["metadata"]["malware_family"], "eicar");
    assert_eq!(lines[0]["metadata"]["raw_family"], "EICAR");
    assert_eq!(lines[1]["verdict"], "benign");

    // A broken rule stops the start, naming the file and line.
    std::fs::write(
        rules.join("broken.yar"),
        "rule b {\n  condition:\n    nope\n}\n",
    )
    .unwrap();
    let (code, lines, stderr) = scan(&[
        "--engine",
        "yara",
        "--yara-rules-dir",
        rules.to_str().unwrap(),
        benign,
    ]);
    assert_eq!((code, lines.len()), (2, 0));
    assert!(stderr.contains("broken.yar:3:"), "{stderr}");
    // No rules directory: a clear error.
    let (code, _, stderr) = scan(&["--engine", "yara", benign]);
    assert_eq!(code, 2);
    assert!(stderr.contains("YARA_RULES_DIR"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clamav_through_clamd() {
    let clamd = swarm_engines::LocalClamd::start()
        .await
        .expect("start clamd");
    let dir = tempfile::tempdir().unwrap();
    let eicar = dir.path().join("eicar.com");
    let benign = dir.path().join("notes.txt");
    std::fs::write(&eicar, EICAR).unwrap();
    std::fs::write(&benign, b"just some notes").unwrap();
    let zip = format!("{}/clam.zip", swarm_engines::local_clamd::TESTFILES_DIR);
    let port = clamd.port().to_string();
    let socket = clamd.socket();
    let (eicar, benign) = (eicar.to_str().unwrap(), benign.to_str().unwrap());

    let by_tcp = [
        "--engine",
        "clamav",
        "--clamd-port",
        &port,
        eicar,
        benign,
        &zip,
    ];
    let (code, lines, stderr) = tokio::task::block_in_place(|| scan(&by_tcp));
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(lines[0]["metadata"]["malware_family"], "eicar");
    assert_eq!(
        lines[0]["metadata"]["raw_family"],
        "Test.EICAR.NDB.UNOFFICIAL"
    );
    assert!(lines[0]["metadata"]["scanner"]["vendor_version"]
        .as_str()
        .unwrap()
        .starts_with("ClamAV"));
    assert_eq!(lines[1]["verdict"], "benign");
    assert_eq!(lines[2]["metadata"]["malware_family"], "clamav-test");
    assert_eq!(
        lines[2]["metadata"]["raw_family"],
        "ClamAV-Test-File.UNOFFICIAL"
    );

    let by_socket = [
        "--engine",
        "clamav",
        "--clamd-socket",
        socket.to_str().unwrap(),
        eicar,
    ];
    let (code, lines, _) = tokio::task::block_in_place(|| scan(&by_socket));
    assert_eq!(code, 1);
    assert_eq!(lines[0]["verdict"], "malicious");

    // clamd gone: errors, exit 2, no verdict.
    drop(clamd);
    let (code, lines, _) = tokio::task::block_in_place(|| scan(&by_tcp));
    assert_eq!(code, 2);
    assert!(
        lines.iter().all(|l| l.get("verdict").is_none()),
        "{lines:?}"
    );
}
