//! The yara engine with yara-x: rule metadata, compile errors, timeouts
//! and a large file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use swarm_engines::test_scanner::Toolchain;
use swarm_engines::{Yara, YaraError, YaraRules};
use swarm_protocol::{ArtifactMetadata, Guid};
use swarm_sdk::{Artifact, ArtifactKind, ScanError, Scanner, Verdict};

use crate::support;

fn artifact(content: impl Into<Bytes>) -> Artifact {
    Artifact {
        bounty_guid: Guid::nil(),
        index: 0,
        kind: ArtifactKind::File,
        content: content.into(),
        file: None,
        metadata: ArtifactMetadata::default(),
        deadline: None,
    }
}

const FAMILY_RULES: &str = r#"
rule with_family {
    meta:
        family = "Ransom:Win32/WannaCrypt.A!rsm"
        author = "swarm tests"
    strings:
        $a = "EVIL-ONE"
    condition:
        $a
}

rule with_malware_family {
    meta:
        malware_family = "Worm.Example"
    strings:
        $a = "EVIL-TWO"
    condition:
        $a
}
"#;

const NAMED_RULE: &str = r#"
rule MAL_Emotet_Jan21_1 {
    strings:
        $a = { 45 56 49 4C 2D 33 }   // EVIL-3
    condition:
        $a
}
"#;

fn rules_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

#[tokio::test]
async fn family_comes_from_meta_or_rule_name() {
    let dir = rules_dir(&[
        ("families.yar", FAMILY_RULES),
        ("more/named.yara", NAMED_RULE),
        ("README.txt", "not a rule file"),
    ]);
    let rules = YaraRules::load_dir(dir.path()).unwrap();
    assert_eq!(rules.files().len(), 2);
    assert_eq!(rules.len(), 3);
    let yara = Yara::new(rules, Duration::from_secs(10));

    // (content, verdict, normalized family, the name it was read from)
    let cases: [(&[u8], Verdict, &str, Option<&str>); 4] = [
        (
            b"xx EVIL-ONE xx",
            Verdict::Malicious,
            "wannacry",
            Some("Ransom:Win32/WannaCrypt.A!rsm"),
        ),
        (
            b"xx EVIL-TWO xx",
            Verdict::Malicious,
            "example",
            Some("Worm.Example"),
        ),
        (
            b"xx EVIL-3 xx",
            Verdict::Malicious,
            "emotet",
            Some("MAL_Emotet_Jan21_1"),
        ),
        (b"nothing to see", Verdict::Benign, "", None),
    ];
    for (content, verdict, family, raw) in cases {
        let r = yara.scan(&artifact(content)).await.unwrap();
        assert_eq!(r.verdict, verdict, "{}", String::from_utf8_lossy(content));
        assert_eq!(r.metadata.malware_family, family);
        assert_eq!(
            r.metadata.extra.get("raw_family").and_then(|v| v.as_str()),
            raw
        );
        assert_eq!(r.metadata.product.as_deref(), Some("yara-x"));
    }
    let r = yara
        .scan(&artifact(&b"EVIL-ONE and EVIL-3"[..]))
        .await
        .unwrap();
    assert_eq!(r.confidence, 1.0);
    assert_eq!(
        r.metadata.extra["rules"],
        serde_json::json!(["default.with_family", "default.MAL_Emotet_Jan21_1"])
    );
}

#[test]
fn compile_errors_name_file_and_line() {
    let broken = "rule ok { condition: true }\n\nrule broken {\n    condition:\n        no_such_identifier\n}\n";
    let dir = rules_dir(&[("good.yar", NAMED_RULE), ("sub/broken.yar", broken)]);
    let err = YaraRules::load_dir(dir.path()).unwrap_err();
    let YaraError::Compile(errors) = &err else {
        panic!("expected a compile error, got {err}");
    };
    assert_eq!(errors.len(), 1, "{err}");
    let text = err.to_string();
    let at = format!("{}:5:", dir.path().join("sub/broken.yar").display());
    assert!(text.contains(&at), "{text} should point at {at}");
    assert!(text.contains("no_such_identifier"), "{text}");

    // A syntax error too.
    let dir = rules_dir(&[("syntax.yar", "rule x {\n  condition\n    true\n}\n")]);
    let text = YaraRules::load_dir(dir.path()).unwrap_err().to_string();
    assert!(text.contains("syntax.yar:"), "{text}");

    // A module left out of the build (magic needs libmagic) is refused at
    // start-up, by name.
    let dir = rules_dir(&[(
        "magic.yar",
        "import \"magic\"\nrule m { condition: magic.type() contains \"PE\" }\n",
    )]);
    let text = YaraRules::load_dir(dir.path()).unwrap_err().to_string();
    assert!(
        text.contains("magic.yar:1:") && text.contains("magic"),
        "{text}"
    );
    // ...and the ones built in work.
    let ok = "import \"hash\"\nrule h { condition: hash.md5(0, filesize) == \"d41d8cd98f00b204e9800998ecf8427e\" }\n";
    assert_eq!(
        YaraRules::from_sources([("hash.yar", ok)]).unwrap().len(),
        1
    );

    // No rule file at all is an error, not an engine that finds nothing.
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        YaraRules::load_dir(empty.path()),
        Err(YaraError::NoRules(_))
    ));
    assert!(matches!(
        YaraRules::load_dir(empty.path().join("missing")),
        Err(YaraError::Read { .. })
    ));
}

#[tokio::test]
async fn a_slow_rule_times_out_instead_of_asserting() {
    // Quadratic in the file size, and never true.
    let slow = r#"
rule slow {
    condition:
        for any i in (0..filesize) : (
            for any j in (0..filesize) : ( uint8(i) + uint8(j) == 1000 )
        )
}
"#;
    let rules = YaraRules::from_sources([("slow.yar", slow)]).unwrap();
    let yara = Yara::new(rules, Duration::from_secs(1));
    let started = Instant::now();
    let e = yara.scan(&artifact(vec![7u8; 200_000])).await.unwrap_err();
    assert!(matches!(e, ScanError::Timeout(_)), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_large_file_matches_at_its_end() {
    let rules = YaraRules::from_sources([("families.yar", FAMILY_RULES)]).unwrap();
    let yara = Yara::new(rules, Duration::from_secs(60));
    let mut content = vec![0x5au8; 64 << 20];
    let tail = b"EVIL-TWO";
    let at = content.len() - tail.len();
    content[at..].copy_from_slice(tail);
    let r = yara.scan(&artifact(content)).await.unwrap();
    assert_eq!(r.verdict, Verdict::Malicious);
    assert_eq!(r.metadata.malware_family, "example");
    assert_eq!(r.metadata.extra["raw_family"], "Worm.Example");
    let r = yara.scan(&artifact(vec![0x5au8; 64 << 20])).await.unwrap();
    assert_eq!(r.verdict, Verdict::Benign);
}

/// Rules on the pe module: a 64-bit Windows console program.
const PE_RULES: &str = r#"
import "pe"

rule windows_console_x64 {
    meta:
        family = "PE.ConsoleX64"
    condition:
        pe.is_pe and pe.is_64bit()
        and pe.machine == pe.MACHINE_AMD64
        and pe.subsystem == pe.SUBSYSTEM_WINDOWS_CUI
}

rule imports_sleep {
    condition:
        pe.imports(/^kernel32\.dll$/i, /^Sleep$/)
}
"#;

/// A rule on the elf module: an x86-64 Linux program.
const ELF_RULES: &str = r#"
import "elf"

rule linux_x64 {
    meta:
        family = "ELF.X64"
    condition:
        elf.machine == elf.EM_X86_64
        and (elf.type == elf.ET_DYN or elf.type == elf.ET_EXEC)
}
"#;

/// A Windows program (the test scanner, built with MinGW-w64) and a Linux
/// one (`/bin/ls`), as artifacts.
fn programs() -> (Artifact, Artifact) {
    let pe = std::fs::read(support::scanner(Toolchain::MingwW64)).unwrap();
    let elf = std::fs::read("/bin/ls").unwrap();
    assert_eq!(&pe[..2], b"MZ");
    assert_eq!(&elf[..4], b"\x7fELF");
    (artifact(pe), artifact(elf))
}

#[tokio::test]
async fn pe_rules_match_a_windows_program_and_not_a_linux_one() {
    let rules = YaraRules::from_sources([("pe.yar", PE_RULES)]).unwrap();
    assert_eq!(rules.len(), 2);
    let yara = Yara::new(rules, Duration::from_secs(10));
    let (pe, elf) = programs();
    let r = yara.scan(&pe).await.unwrap();
    assert_eq!(r.verdict, Verdict::Malicious);
    assert_eq!(r.metadata.malware_family, "consolex64");
    assert_eq!(r.metadata.extra["raw_family"], "PE.ConsoleX64");
    assert_eq!(r.metadata.extra["family_platform"], "windows");
    assert_eq!(
        r.metadata.extra["rules"],
        serde_json::json!(["default.windows_console_x64", "default.imports_sleep"])
    );
    let r = yara.scan(&elf).await.unwrap();
    assert_eq!(r.verdict, Verdict::Benign, "{:?}", r.metadata.extra);
    let r = yara.scan(&artifact(NOT_A_PROGRAM)).await.unwrap();
    assert_eq!(r.verdict, Verdict::Benign);
}

#[tokio::test]
async fn elf_rules_match_a_linux_program_and_not_a_windows_one() {
    let rules = YaraRules::from_sources([("elf.yar", ELF_RULES)]).unwrap();
    let yara = Yara::new(rules, Duration::from_secs(10));
    let (pe, elf) = programs();
    let r = yara.scan(&elf).await.unwrap();
    assert_eq!(r.verdict, Verdict::Malicious);
    // A platform and an architecture, no family: the name is kept.
    assert_eq!(r.metadata.malware_family, "");
    assert_eq!(r.metadata.extra["raw_family"], "ELF.X64");
    assert_eq!(r.metadata.extra["family_platform"], "linux");
    let r = yara.scan(&pe).await.unwrap();
    assert_eq!(r.verdict, Verdict::Benign);
}

/// Neither a PE nor an ELF file, starting with "MZ" all the same.
const NOT_A_PROGRAM: &[u8] = b"MZ but not a program at all";
