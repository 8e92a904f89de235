//! `swarm scan`: one JSON line per file, and an exit status that says
//! whether anything was malicious.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

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
        assert_eq!(lines[0]["metadata"]["malware_family"], "EICAR-Test-File");
        assert_eq!(lines[1]["verdict"], "benign");
        assert!(lines[1]["confidence"].as_f64().unwrap() > 0.0);
    }
    let (code, lines, _) = scan(&[benign]);
    assert_eq!((code, lines.len()), (0, 1), "nothing malicious");

    // An unreadable file is reported on its line and exits 2.
    let (code, lines, _) = scan(&[benign, "/nonexistent/file"]);
    assert_eq!(code, 2);
    assert!(lines[1]["error"].as_str().unwrap().contains("cannot read"));
    // An unknown engine is a clear error, exit 2.
    let (code, _, stderr) = scan(&["--engine", "nope", benign]);
    assert_eq!(code, 2);
    assert!(stderr.contains("unknown engine \"nope\""), "{stderr}");
}
