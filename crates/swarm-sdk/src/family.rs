//! Normalized malware family names, so that answers from different engines
//! can be grouped.
//!
//! Every vendor names a detection its own way: ClamAV says
//! `Win.Ransomware.WannaCry-6313787-0`, Microsoft
//! `Ransom:Win32/WannaCrypt.A!rsm`, Kaspersky `Trojan-Ransom.Win32.Wanna.m`,
//! TrendMicro `Ransom_WCRY.SMALYM`. As raw strings these are four families;
//! [`Family::parse`] reads each as the same one, `wannacry`, on Windows,
//! ransomware. (PolySwarm's `polyunite` did this for the original
//! marketplace; this is swarm's own, smaller reading.)
//!
//! How a name is read, in order:
//!
//! 1. Vendor phrases are taken out and noted ([`PHRASES`]): ESET's
//!    `a variant of `, Kaspersky's `not-a-virus:`, `(not a virus)`.
//!    Everything from the first `!` on is dropped: it is a variant or
//!    hash suffix (`!MTB`, `Artemis!ABCDEF123456`); Microsoft's `!ml`
//!    (a model's verdict) makes the name heuristic.
//! 2. The rest is cut into words at every character that is not a letter
//!    or a digit, and each word is looked up, in this order: a test file
//!    ([`TEST_FILES`]), a marker ([`MARKERS`]), a platform ([`PLATFORMS`]),
//!    a category ([`CATEGORIES`]), a generic name ([`GENERIC`], or any
//!    word starting with `generic`), a word that says nothing
//!    ([`IGNORED`]: architectures, database suffixes).
//! 3. The first other word of at least three characters that is not a
//!    number is the family slot's candidate. Later words are variant
//!    suffixes (`.A`, `.CD`, `-6313787-0`, `.SMALYM`) and are not read as
//!    families, though platform and category words still count
//!    (`Win32/Emotet.CD trojan`).
//! 4. The family is canonicalized with [`ALIASES`] (`wannacrypt`, `wanna`,
//!    `wcry` are `wannacry`) and lower-cased.
//!
//! **Generic and heuristic names** (`Trojan.GenericKD.31234567`,
//! `Gen:Variant.Razy.123456`, `Artemis!…`, `Win32:Malware-gen`, ESET's
//! `Kryptik`, ClamAV's `Agent`) set [`Family::heuristic`] and give **no**
//! family: they are vendor buckets for unrelated samples, and grouping
//! answers by them would group nothing real. A generic word in the family
//! slot is kept empty — unless a later word is a family [`ALIASES`] knows
//! (`DeepScan:Generic.Ransom.WannaCryptor.X` is `wannacry`), since a known
//! name is no guess. Heuristic markers (`HEUR:`, `Heuristics.`, ESET's
//! `a variant of`) set `heuristic` too but keep a family that is named;
//! ClamAV's `Heuristics.*` name a detection method, never a family.
//!
//! **Test files**: every vendor's name for the EICAR test file
//! (`EICAR-Test-File (not a virus)`, `Win32:EICAR-Test [Tst]`,
//! `Test.EICAR.NDB.UNOFFICIAL`, ...) is the family [`EICAR`], category
//! [`Category::Test`], and not heuristic: a test file is matched exactly.
//! ClamAV's own test files (`ClamAV-Test-File`) are `clamav-test`.
//!
//! Reading never fails: a name it cannot place gives no family, and the
//! raw name is always kept in [`Family::raw`].

use std::fmt;

/// The family of every vendor's name for the EICAR test file.
pub const EICAR: &str = "eicar";

/// What an operating system or file format a detection is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Platform {
    /// Windows programs (`Win`, `Win32`, `W32`, `MSIL`, `PE`).
    Windows,
    /// Linux and other Unix programs (`Unix`, `Linux`, `ELF`).
    Linux,
    /// macOS (`OSX`, `MacOS`).
    MacOs,
    /// Android (`Andr`, `AndroidOS`).
    Android,
    /// iOS.
    Ios,
    /// MS-DOS (`DOS`), where EICAR officially runs.
    Dos,
    /// Office documents and their macros (`Doc`, `Xls`, `O97M`, `RTF`).
    Document,
    /// PDF files.
    Pdf,
    /// HTML pages.
    Html,
    /// JavaScript.
    JavaScript,
    /// Other scripts (`VBS`, `PowerShell`, `BAT`, `PHP`, `Python`).
    Script,
    /// Java (`Java`, `JAR`).
    Java,
    /// E-mail messages.
    Email,
    /// Archives (`Zip`, `RAR`, `7z`).
    Archive,
    /// Several platforms (`Multi`, `Multios`).
    Multi,
}

impl Platform {
    /// Its lower-case name, as engines report it.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Windows => "windows",
            Platform::Linux => "linux",
            Platform::MacOs => "macos",
            Platform::Android => "android",
            Platform::Ios => "ios",
            Platform::Dos => "dos",
            Platform::Document => "document",
            Platform::Pdf => "pdf",
            Platform::Html => "html",
            Platform::JavaScript => "javascript",
            Platform::Script => "script",
            Platform::Java => "java",
            Platform::Email => "email",
            Platform::Archive => "archive",
            Platform::Multi => "multi",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of malware a detection says it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Category {
    /// Malicious, kind unsaid (`Mal`, `Malware`): broad.
    Malware,
    /// A trojan (`Trojan`, `Troj`, `Trj`): broad, most vendors' default.
    Trojan,
    /// Potentially unwanted (`PUA`, `PUP`, `Riskware`, `not-a-virus`): broad.
    Pua,
    /// Ransomware (`Ransom`, `Ransomware`).
    Ransomware,
    /// A worm.
    Worm,
    /// A file infector.
    Virus,
    /// A backdoor or remote access trojan.
    Backdoor,
    /// A downloader.
    Downloader,
    /// A dropper.
    Dropper,
    /// Spyware, password stealers and bankers (`Spy`, `PWS`, `Stealer`,
    /// `Banker`).
    Spyware,
    /// Adware.
    Adware,
    /// Phishing.
    Phishing,
    /// An exploit.
    Exploit,
    /// A coin miner.
    Miner,
    /// A rootkit.
    Rootkit,
    /// A hacking tool (`HackTool`, `VirTool`, YARA's `HKTL`).
    HackTool,
    /// A test file (EICAR, ClamAV's test files).
    Test,
}

impl Category {
    /// Its lower-case name, as engines report it.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Malware => "malware",
            Category::Trojan => "trojan",
            Category::Pua => "pua",
            Category::Ransomware => "ransomware",
            Category::Worm => "worm",
            Category::Virus => "virus",
            Category::Backdoor => "backdoor",
            Category::Downloader => "downloader",
            Category::Dropper => "dropper",
            Category::Spyware => "spyware",
            Category::Adware => "adware",
            Category::Phishing => "phishing",
            Category::Exploit => "exploit",
            Category::Miner => "miner",
            Category::Rootkit => "rootkit",
            Category::HackTool => "hacktool",
            Category::Test => "test",
        }
    }

    /// Whether a narrower category met later in the name replaces this
    /// one: Kaspersky's `Trojan-Ransom` is ransomware, ClamAV's
    /// `PUA.Win.Adware` adware.
    fn is_broad(self) -> bool {
        matches!(self, Category::Malware | Category::Trojan | Category::Pua)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A detection name, read.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Family {
    /// The normalized family (lower case, aliases resolved), `None` when
    /// the name has none: a generic or heuristic bucket, or nothing
    /// recognisable.
    pub family: Option<String>,
    /// What the detection is for, when the name says.
    pub platform: Option<Platform>,
    /// What kind of malware, when the name says.
    pub category: Option<Category>,
    /// Whether the name says a generic signature, a heuristic or a model
    /// matched rather than a signature for one family.
    pub heuristic: bool,
    /// The name as the engine gave it.
    pub raw: String,
}

/// A vendor phrase taken out of a name before it is cut into words, and
/// what it says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phrase {
    /// The detection is heuristic (ESET's `a variant of`).
    Heuristic,
    /// The file is potentially unwanted (Kaspersky's `not-a-virus:`).
    Pua,
    /// Nothing (the `(not a virus)` of EICAR names).
    Nothing,
}

/// Vendor phrases, lower case, longest first where one contains another.
pub const PHRASES: &[(&str, Phrase)] = &[
    ("probably a variant of ", Phrase::Heuristic),
    ("possibly a variant of ", Phrase::Heuristic),
    ("a variant of ", Phrase::Heuristic),
    ("probably unknown ", Phrase::Heuristic),
    ("not-a-virus:", Phrase::Pua),
    ("(not a virus)", Phrase::Nothing),
    ("potentially unwanted", Phrase::Pua),
    ("potentially unsafe", Phrase::Pua),
];

/// What a marker word says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    /// A heuristic or machine-learning detection; a family may follow.
    Heuristic,
    /// A heuristic whose following words name the method, never a
    /// family (ClamAV's `Heuristics.Encrypted.Zip`).
    Method,
    /// A rule-author prefix that says nothing of the family (YARA's `APT_`).
    Nothing,
}

/// Marker words: they never fill the family slot.
pub const MARKERS: &[(&str, Marker)] = &[
    ("heur", Marker::Heuristic),
    ("heuristic", Marker::Heuristic),
    ("deepscan", Marker::Heuristic),
    ("behaveslike", Marker::Heuristic),
    ("uds", Marker::Heuristic),
    ("advml", Marker::Heuristic),
    // Malwarebytes' `Malware.AI.…`: a model's verdict.
    ("ai", Marker::Heuristic),
    ("susp", Marker::Heuristic),
    ("suspicious", Marker::Heuristic),
    ("heuristics", Marker::Method),
    ("apt", Marker::Nothing),
    ("crime", Marker::Nothing),
];

/// Platform words, as the vendors write them (lower case).
pub const PLATFORMS: &[(&str, Platform)] = &[
    ("win", Platform::Windows),
    ("win32", Platform::Windows),
    ("win64", Platform::Windows),
    ("w32", Platform::Windows),
    ("w64", Platform::Windows),
    ("windows", Platform::Windows),
    ("msil", Platform::Windows),
    ("pe", Platform::Windows),
    ("pe32", Platform::Windows),
    ("unix", Platform::Linux),
    ("linux", Platform::Linux),
    ("lnx", Platform::Linux),
    ("elf", Platform::Linux),
    ("osx", Platform::MacOs),
    ("macos", Platform::MacOs),
    ("macosx", Platform::MacOs),
    ("andr", Platform::Android),
    ("android", Platform::Android),
    ("androidos", Platform::Android),
    ("ios", Platform::Ios),
    ("dos", Platform::Dos),
    ("doc", Platform::Document),
    ("docx", Platform::Document),
    ("xls", Platform::Document),
    ("xlsx", Platform::Document),
    ("xlm", Platform::Document),
    ("ppt", Platform::Document),
    ("rtf", Platform::Document),
    ("ole2", Platform::Document),
    ("o97m", Platform::Document),
    ("w97m", Platform::Document),
    ("x97m", Platform::Document),
    ("office", Platform::Document),
    ("pdf", Platform::Pdf),
    ("html", Platform::Html),
    ("htm", Platform::Html),
    ("js", Platform::JavaScript),
    ("javascript", Platform::JavaScript),
    ("vbs", Platform::Script),
    ("vba", Platform::Script),
    ("powershell", Platform::Script),
    ("ps1", Platform::Script),
    ("bat", Platform::Script),
    ("php", Platform::Script),
    ("python", Platform::Script),
    ("java", Platform::Java),
    ("jar", Platform::Java),
    ("email", Platform::Email),
    ("zip", Platform::Archive),
    ("rar", Platform::Archive),
    ("7z", Platform::Archive),
    ("multi", Platform::Multi),
    ("multios", Platform::Multi),
];

/// Category words, as the vendors write them (lower case); vendors'
/// fused forms (`TrojanDownloader`, `TSPY`) included.
pub const CATEGORIES: &[(&str, Category)] = &[
    ("mal", Category::Malware),
    ("malware", Category::Malware),
    ("malw", Category::Malware),
    ("trojan", Category::Trojan),
    ("troj", Category::Trojan),
    ("trj", Category::Trojan),
    ("pua", Category::Pua),
    ("pup", Category::Pua),
    ("riskware", Category::Pua),
    ("unwanted", Category::Pua),
    ("ransom", Category::Ransomware),
    ("ransomware", Category::Ransomware),
    ("trojanransom", Category::Ransomware),
    ("filecoder", Category::Ransomware),
    ("worm", Category::Worm),
    ("virus", Category::Virus),
    ("backdoor", Category::Backdoor),
    ("bkdr", Category::Backdoor),
    ("rat", Category::Backdoor),
    ("webshell", Category::Backdoor),
    ("downloader", Category::Downloader),
    ("trojandownloader", Category::Downloader),
    ("dldr", Category::Downloader),
    ("dropper", Category::Dropper),
    ("trojandropper", Category::Dropper),
    ("spyware", Category::Spyware),
    ("spy", Category::Spyware),
    ("trojanspy", Category::Spyware),
    ("tspy", Category::Spyware),
    ("pws", Category::Spyware),
    ("psw", Category::Spyware),
    ("stealer", Category::Spyware),
    ("banker", Category::Spyware),
    ("adware", Category::Adware),
    ("adw", Category::Adware),
    ("phishing", Category::Phishing),
    ("phish", Category::Phishing),
    ("exploit", Category::Exploit),
    ("expl", Category::Exploit),
    ("miner", Category::Miner),
    ("coinminer", Category::Miner),
    ("rootkit", Category::Rootkit),
    ("hacktool", Category::HackTool),
    ("virtool", Category::HackTool),
    ("hktl", Category::HackTool),
    ("test", Category::Test),
    ("tst", Category::Test),
];

/// Generic names: vendor buckets for unrelated samples. A word starting
/// with `generic` (`GenericKD`, `GenericRXAA`) is one too.
pub const GENERIC: &[&str] = &[
    "gen",
    "variant",
    "artemis",
    "agent",
    "kryptik",
    "razy",
    "rdn",
    "wacatac",
    "dangerousobject",
    "cryptik",
    "obfuscated",
    "packed",
    "encrypted",
    // ClamAV's phishing pages, thousands of unrelated ones.
    "bank",
];

/// Words that say nothing of the family: architectures, ClamAV's
/// database and origin suffixes, Kaspersky's `Net-` of `Net-Worm`.
pub const IGNORED: &[&str] = &[
    "net",
    "x64",
    "x86",
    "x32",
    "amd64",
    "arm",
    "arm64",
    "i386",
    "mips",
    "ndb",
    "hdb",
    "ldb",
    "hsb",
    "unofficial",
    "file",
    "signature",
];

/// Test files: a word starting with the first names this family.
pub const TEST_FILES: &[(&str, &str)] = &[("eicar", EICAR), ("clamav", "clamav-test")];

/// Other names of families, and each family's own name, lower case:
/// (as written, canonical).
pub const ALIASES: &[(&str, &str)] = &[
    ("wannacry", "wannacry"),
    ("wannacrypt", "wannacry"),
    ("wannacryptor", "wannacry"),
    ("wannacrypt0r", "wannacry"),
    ("wanacrypt", "wannacry"),
    ("wanacrypt0r", "wannacry"),
    ("wanacryptor", "wannacry"),
    ("wanna", "wannacry"),
    ("wcry", "wannacry"),
    ("emotet", "emotet"),
    ("geodo", "emotet"),
    ("heodo", "emotet"),
    ("trickbot", "trickbot"),
    ("trickster", "trickbot"),
    ("qakbot", "qakbot"),
    ("qbot", "qakbot"),
    ("quakbot", "qakbot"),
    ("pinkslipbot", "qakbot"),
    ("zeus", "zeus"),
    ("zbot", "zeus"),
    ("dridex", "dridex"),
    ("cridex", "dridex"),
    ("ursnif", "ursnif"),
    ("gozi", "ursnif"),
    ("isfb", "ursnif"),
    ("agenttesla", "agenttesla"),
    ("agensla", "agenttesla"),
    ("njrat", "njrat"),
    ("bladabindi", "njrat"),
    ("formbook", "formbook"),
    ("xloader", "formbook"),
    ("lokibot", "lokibot"),
    ("icedid", "icedid"),
    ("bokbot", "icedid"),
    ("conficker", "conficker"),
    ("kido", "conficker"),
    ("downadup", "conficker"),
    ("mirai", "mirai"),
    ("ryuk", "ryuk"),
    ("lockbit", "lockbit"),
    ("remcos", "remcos"),
    ("nanocore", "nanocore"),
];

/// The family slot while a name is read.
enum Slot<'a> {
    Empty,
    /// A generic word took it: no family, unless a known one follows.
    Generic,
    /// A word that may be a family.
    Named(&'a str),
    /// A name that can never have a family (ClamAV's `Heuristics.`).
    Closed,
}

fn lookup<T: Copy>(table: &[(&str, T)], word: &str) -> Option<T> {
    table.iter().find(|(w, _)| *w == word).map(|(_, t)| *t)
}

fn alias(word: &str) -> Option<&'static str> {
    lookup(ALIASES, word)
}

/// Sets the category, unless a narrower one is already set.
fn narrow(current: &mut Option<Category>, c: Category) {
    match current {
        Some(old) if !old.is_broad() => {}
        _ => *current = Some(c),
    }
}

fn is_generic(word: &str) -> bool {
    word.starts_with("generic") || GENERIC.contains(&word)
}

impl Family {
    /// Reads a detection name (see the module's documentation for how).
    pub fn parse(raw: &str) -> Family {
        let mut text = raw.trim().to_lowercase();
        let mut heuristic = false;
        let mut category: Option<Category> = None;
        for (phrase, says) in PHRASES {
            if let Some(at) = text.find(phrase) {
                text.replace_range(at..at + phrase.len(), " ");
                match says {
                    Phrase::Heuristic => heuristic = true,
                    Phrase::Pua => category = Some(Category::Pua),
                    Phrase::Nothing => {}
                }
            }
        }
        if let Some(bang) = text.find('!') {
            // Microsoft's `!ml`: a machine-learning model's verdict.
            heuristic |= text[bang + 1..].trim() == "ml";
            text.truncate(bang);
        }

        let mut platform = None;
        let mut slot = Slot::Empty;
        let mut test_file = None;
        for word in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            if let Some((_, name)) = TEST_FILES.iter().find(|(p, _)| word.starts_with(p)) {
                test_file = test_file.or(Some(*name));
            } else if let Some(marker) = lookup(MARKERS, word) {
                match marker {
                    Marker::Heuristic => heuristic = true,
                    Marker::Method => {
                        heuristic = true;
                        slot = Slot::Closed;
                    }
                    Marker::Nothing => {}
                }
            } else if let Some(p) = lookup(PLATFORMS, word) {
                platform = platform.or(Some(p));
            } else if let Some(c) = lookup(CATEGORIES, word) {
                narrow(&mut category, c);
            } else if is_generic(word) {
                heuristic = true;
                if matches!(slot, Slot::Empty) {
                    slot = Slot::Generic;
                }
            } else if !IGNORED.contains(&word) {
                match slot {
                    Slot::Empty if word.len() >= 3 && !word.chars().all(|c| c.is_ascii_digit()) => {
                        slot = Slot::Named(word);
                    }
                    Slot::Generic => {
                        if let Some(known) = alias(word) {
                            slot = Slot::Named(known);
                        }
                    }
                    _ => {}
                }
            }
        }

        let family = match (test_file, slot) {
            (Some(name), _) => {
                category = Some(Category::Test);
                heuristic = false;
                Some(name.to_owned())
            }
            (None, Slot::Named(word)) => Some(alias(word).unwrap_or(word).to_owned()),
            (None, Slot::Empty | Slot::Generic | Slot::Closed) => None,
        };
        Family {
            family,
            platform,
            category,
            heuristic,
            raw: raw.to_owned(),
        }
    }

    /// The family, `""` when there is none (as `malware_family` has it).
    pub fn name(&self) -> &str {
        self.family.as_deref().unwrap_or("")
    }
}

#[cfg(test)]
mod tests;
