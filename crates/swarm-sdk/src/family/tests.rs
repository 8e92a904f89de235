//! The naming schemes of ClamAV, YARA rule sets and the big vendors, each
//! name with the reading it must get.

use super::Category::*;
use super::Platform::*;
use super::*;

/// (raw name, family, platform, category, heuristic)
type Case = (
    &'static str,
    Option<&'static str>,
    Option<Platform>,
    Option<Category>,
    bool,
);

#[rustfmt::skip]
const CASES: &[Case] = &[
    // ClamAV: Platform.Category.Family-SigId-Revision[.UNOFFICIAL]
    ("Win.Trojan.Agent-1234", None, Some(Windows), Some(Trojan), true),
    ("Doc.Dropper.Agent-6399558-0", None, Some(Document), Some(Dropper), true),
    ("Html.Phishing.Bank-123", None, Some(Html), Some(Phishing), true),
    ("Win.Ransomware.WannaCry-6313787-0", Some("wannacry"), Some(Windows), Some(Ransomware), false),
    ("Win.Trojan.Emotet-6975001-0", Some("emotet"), Some(Windows), Some(Trojan), false),
    ("Unix.Trojan.Mirai-7100807-0", Some("mirai"), Some(Linux), Some(Trojan), false),
    ("Andr.Trojan.Joker-9765631-0", Some("joker"), Some(Android), Some(Trojan), false),
    ("PUA.Win.Adware.OpenCandy-1", Some("opencandy"), Some(Windows), Some(Adware), false),
    ("PUA.Win.Adware.X", None, Some(Windows), Some(Adware), false),
    ("Heuristics.Phishing.Email.SpoofedDomain", None, Some(Email), Some(Phishing), true),
    ("Heuristics.Encrypted.Zip", None, Some(Archive), None, true),
    ("Clamav.Test.File-6", Some("clamav-test"), None, Some(Test), false),
    ("ClamAV-Test-File.UNOFFICIAL", Some("clamav-test"), None, Some(Test), false),
    // ClamAV EICAR signatures, official and from sigtool .ndb/.hdb databases
    ("Eicar-Signature", Some("eicar"), None, Some(Test), false),
    ("Win.Test.EICAR_HDB-1", Some("eicar"), Some(Windows), Some(Test), false),
    ("Test.EICAR.NDB.UNOFFICIAL", Some("eicar"), None, Some(Test), false),
    // YARA rule names and meta values
    ("Win32_Ransomware_WannaCry", Some("wannacry"), Some(Windows), Some(Ransomware), false),
    ("MAL_Emotet_Jan21_1", Some("emotet"), None, Some(Malware), false),
    ("APT_Lazarus_Dropper_Jan21", Some("lazarus"), None, Some(Dropper), false),
    ("Windows_Trojan_Qbot_92c67a6d", Some("qakbot"), Some(Windows), Some(Trojan), false),
    ("SUSP_Obfuscated_JS", None, Some(JavaScript), None, true),
    ("HKTL_Mimikatz", Some("mimikatz"), None, Some(HackTool), false),
    ("Worm.Example", Some("example"), None, Some(Worm), false),
    ("ELF.X64", None, Some(Linux), None, false),
    // Microsoft
    ("Trojan:Win32/Emotet.A!MTB", Some("emotet"), Some(Windows), Some(Trojan), false),
    ("Ransom:Win32/WannaCrypt.A!rsm", Some("wannacry"), Some(Windows), Some(Ransomware), false),
    ("Trojan:Win32/Wacatac.B!ml", None, Some(Windows), Some(Trojan), true),
    ("TrojanDownloader:O97M/Emotet.PEA!MTB", Some("emotet"), Some(Document), Some(Downloader), false),
    ("Virus:DOS/EICAR_Test_File", Some("eicar"), Some(Dos), Some(Test), false),
    // Kaspersky
    ("HEUR:Trojan.Win32.Generic", None, Some(Windows), Some(Trojan), true),
    ("Trojan-Ransom.Win32.Wanna.m", Some("wannacry"), Some(Windows), Some(Ransomware), false),
    ("Trojan-Banker.Win32.Emotet.abc", Some("emotet"), Some(Windows), Some(Spyware), false),
    ("not-a-virus:AdWare.Win32.Agent.xyz", None, Some(Windows), Some(Adware), true),
    ("UDS:DangerousObject.Multi.Generic", None, Some(Multi), None, true),
    ("Net-Worm.Win32.Kido.ih", Some("conficker"), Some(Windows), Some(Worm), false),
    // ESET
    ("a variant of Win32/Kryptik.HGKL", None, Some(Windows), None, true),
    ("Win32/Emotet.CD trojan", Some("emotet"), Some(Windows), Some(Trojan), false),
    ("a variant of Win32/Filecoder.WannaCryptor.D", Some("wannacry"), Some(Windows), Some(Ransomware), true),
    // Sophos
    ("Troj/Emotet-CTB", Some("emotet"), None, Some(Trojan), false),
    ("Mal/Generic-S", None, None, Some(Malware), true),
    // Avast / AVG
    ("Win32:Malware-gen", None, Some(Windows), Some(Malware), true),
    ("Win32:Trojan-gen", None, Some(Windows), Some(Trojan), true),
    ("Win32:WannaCry-A [Ransom]", Some("wannacry"), Some(Windows), Some(Ransomware), false),
    // BitDefender, GData, Emsisoft (BitDefender's engine)
    ("Gen:Variant.Razy.123456", None, None, None, true),
    ("Trojan.GenericKD.31234567", None, None, Some(Trojan), true),
    ("Generic.Malware.SFL!.123ABC", None, None, Some(Malware), true),
    ("Trojan.Ransom.WannaCryptor.H", Some("wannacry"), None, Some(Ransomware), false),
    ("DeepScan:Generic.Ransom.WannaCryptor.X", Some("wannacry"), None, Some(Ransomware), true),
    // Symantec
    ("Trojan.Gen.2", None, None, Some(Trojan), true),
    ("Ransom.WannaCry", Some("wannacry"), None, Some(Ransomware), false),
    ("Heur.AdvML.B", None, None, None, true),
    // McAfee
    ("Artemis!ABCDEF123456", None, None, None, true),
    ("GenericRXAA-AA!1234ABCD", None, None, None, true),
    ("RDN/Generic.dx", None, None, None, true),
    ("Emotet-FRF!E1A2B3C4D5E6", Some("emotet"), None, None, false),
    // TrendMicro
    ("TROJ_GEN.R002C0PKB21", None, None, Some(Trojan), true),
    ("Ransom_WCRY.SMALYM", Some("wannacry"), None, Some(Ransomware), false),
    ("TSPY_EMOTET.SMD3", Some("emotet"), None, Some(Spyware), false),
    // Fortinet, Malwarebytes, and a few more of the above
    ("W32/Emotet.AJ!tr", Some("emotet"), Some(Windows), None, false),
    ("W32/WannaCryptor.H!tr.ransom", Some("wannacry"), Some(Windows), None, false),
    ("Malware.AI.4228426785", None, None, Some(Malware), true),
    ("HEUR:Trojan-Ransom.Win32.Wanna.gen", Some("wannacry"), Some(Windows), Some(Ransomware), true),
    ("Backdoor.MSIL.Bladabindi.abc", Some("njrat"), Some(Windows), Some(Backdoor), false),
    ("Worm:Win32/Conficker.B", Some("conficker"), Some(Windows), Some(Worm), false),
    // Every vendor's EICAR
    ("EICAR-Test-File (not a virus)", Some("eicar"), None, Some(Test), false),
    ("EICAR_Test_File", Some("eicar"), None, Some(Test), false),
    ("Eicar-Test-Signature", Some("eicar"), None, Some(Test), false),
    ("EICAR-AV-Test", Some("eicar"), None, Some(Test), false),
    ("Win32:EICAR-Test [Tst]", Some("eicar"), Some(Windows), Some(Test), false),
    ("EICAR.TestFile", Some("eicar"), None, Some(Test), false),
    ("EICAR", Some("eicar"), None, Some(Test), false),
    ("EICAR-Test-File", Some("eicar"), None, Some(Test), false),
    // Nothing to read
    ("", None, None, None, false),
    ("   ", None, None, None, false),
    ("1234", None, None, None, false),
];

// At least forty names, from every scheme above.
const _: () = assert!(CASES.len() >= 40);

#[test]
fn names_of_every_scheme_normalize_as_the_table_says() {
    let mut wrong = Vec::new();
    for &(raw, family, platform, category, heuristic) in CASES {
        let got = Family::parse(raw);
        let want = Family {
            family: family.map(str::to_owned),
            platform,
            category,
            heuristic,
            raw: raw.to_owned(),
        };
        if got != want {
            wrong.push(format!("{raw:?}:\n   got {got:?}\n  want {want:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {}:\n{}",
        wrong.len(),
        CASES.len(),
        wrong.join("\n")
    );
}

#[test]
fn every_eicar_name_is_one_family() {
    for (raw, ..) in CASES
        .iter()
        .filter(|c| c.0.to_lowercase().contains("eicar"))
    {
        assert_eq!(Family::parse(raw).name(), EICAR, "{raw}");
    }
}

#[test]
fn wannacry_under_every_vendor_name_is_one_family() {
    for raw in [
        "Win.Ransomware.WannaCry-6313787-0",
        "Ransom:Win32/WannaCrypt.A!rsm",
        "Trojan-Ransom.Win32.Wanna.m",
        "Ransom_WCRY.SMALYM",
        "Trojan.Ransom.WannaCryptor.H",
        "Win32_Ransomware_WannaCry",
    ] {
        assert_eq!(Family::parse(raw).name(), "wannacry", "{raw}");
    }
}

#[test]
fn generic_names_never_make_up_a_family() {
    for raw in [
        "Trojan.GenericKD.31234567",
        "Gen:Variant.Razy.123456",
        "a variant of Win32/Kryptik.HGKL",
        "Artemis!ABCDEF123456",
        "Win32:Malware-gen",
        "HEUR:Trojan.Win32.Generic",
    ] {
        let f = Family::parse(raw);
        assert_eq!(f.family, None, "{raw}");
        assert!(f.heuristic, "{raw}");
    }
}

#[test]
fn tables_hold_lower_case_words_once() {
    let words = PLATFORMS
        .iter()
        .map(|(w, _)| *w)
        .chain(CATEGORIES.iter().map(|(w, _)| *w))
        .chain(MARKERS.iter().map(|(w, _)| *w))
        .chain(GENERIC.iter().copied())
        .chain(IGNORED.iter().copied());
    let mut seen = std::collections::HashSet::new();
    for w in words {
        assert_eq!(w, w.to_lowercase(), "{w}");
        assert!(w.chars().all(char::is_alphanumeric), "{w}");
        assert!(seen.insert(w), "{w} is in two tables");
    }
    for (alias, canonical) in ALIASES {
        assert!(
            !seen.contains(alias),
            "{alias} is a family and a table word"
        );
        assert_eq!(super::alias(canonical), Some(*canonical), "{canonical}");
    }
}
