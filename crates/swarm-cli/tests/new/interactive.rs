//! `swarm new`'s prompts, answered through a pseudo-terminal as a person
//! at a keyboard would: typed text, Enter for a default, arrow keys in a
//! list, and a bad answer that is refused with its reason and asked again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use expectrl::{Eof, Session};

const DOWN: &str = "\x1b[B";

#[test]
fn prompts_answered_at_a_terminal_make_the_crate() {
    let out = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_swarm"));
    command
        .args(["new", "--output-dir"])
        .arg(out.path())
        .env("TERM", "xterm")
        .env("NO_COLOR", "1");
    let mut p = Session::spawn(command).unwrap();
    p.set_expect_timeout(Some(Duration::from_secs(20)));

    // participant_type: the list starts on microengine; one down is arbiter.
    p.expect("participant_type").unwrap();
    p.send(DOWN).unwrap();
    p.send("\r").unwrap();

    // A bad name is refused with its reason, then a good one is taken.
    p.expect("engine_name").unwrap();
    p.send("9 Lives\r").unwrap();
    p.expect("must start with a letter").unwrap();
    // Clear the refused text before typing again.
    p.send("\x15").unwrap();
    p.send("Road Runner\r").unwrap();

    // Enter takes the slug defaults derived from the name.
    p.expect("engine_name_slug").unwrap();
    p.send("\r").unwrap();
    p.expect("project_slug").unwrap();
    p.send("\r").unwrap();
    p.expect("author_org").unwrap();
    p.send("Acme Inc\r").unwrap();
    p.expect("author_org_slug").unwrap();
    p.send("\r").unwrap();
    p.expect("package_slug").unwrap();
    p.send("\r").unwrap();
    p.expect("author_name").unwrap();
    p.send("Wile E Coyote\r").unwrap();
    p.expect("author_email").unwrap();
    p.send("wile@acme.example\r").unwrap();
    // supports: files, URLs, files and URLs -> two down.
    p.expect("supports").unwrap();
    p.send(DOWN).unwrap();
    p.send(DOWN).unwrap();
    p.send("\r").unwrap();
    p.expect("has_backend").unwrap();
    p.send("y").unwrap();
    p.send("\r").unwrap();
    // An arbiter is not asked for a scan mode.
    p.expect("created ").unwrap();
    p.expect(Eof).unwrap();

    let dir = out.path().join("arbiter-roadrunner");
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("name = \"arbiter-roadrunner\""),
        "{manifest}"
    );
    assert!(
        manifest.contains("name = \"acmeinc_roadrunner\""),
        "{manifest}"
    );
    assert!(
        manifest.contains("Wile E Coyote <wile@acme.example>"),
        "{manifest}"
    );
    let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
    assert!(lib.contains("impl GroundTruth for RoadRunner"), "{lib}");
    assert!(
        lib.contains("ArtifactKind::File | ArtifactKind::Url"),
        "{lib}"
    );
    let main = std::fs::read_to_string(dir.join("src/main.rs")).unwrap();
    assert!(main.contains("ROADRUNNER_BACKEND"), "{main}");
}
