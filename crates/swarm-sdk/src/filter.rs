//! Bounty filters (SPEC §5.3): decide from a bounty's per-artifact metadata,
//! **before** anything is downloaded, which artifacts an engine looks at.
//!
//! A [`Filter`] is `KEY CMP VALUE`, such as `mimetype == text/plain`,
//! `filesize < 1048576` or `filename regex \.exe$`. CMP is one of
//! `< <= == >= > contains startswith endswith regex`. The comparisons
//! `< <= == >= >` are numeric when both the metadata value and VALUE parse
//! as numbers, and compare the text otherwise. KEY names a metadata field
//! (`filename`, `filesize`, `mimetype`, `sha256`, `sha1`, `md5`, `uri`,
//! `protocol`, or any extra field the ambassador attached); a dotted KEY
//! (`a.b`) walks into nested objects. A filter on a missing key never matches.
//!
//! [`Filters`] combines accept and reject filters: an artifact is allowed
//! when no reject filter matches it and, if there are accept filters, at
//! least one of them matches. An artifact without metadata is allowed only
//! when there are no accept filters.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde_json::Value;
use swarm_protocol::ArtifactMetadata;

/// How a [`Filter`] compares the metadata value with its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Comparison {
    /// `<`
    Less,
    /// `<=`
    LessOrEqual,
    /// `==`
    Equal,
    /// `>=`
    GreaterOrEqual,
    /// `>`
    Greater,
    /// `contains`: the value contains VALUE.
    Contains,
    /// `startswith`: the value starts with VALUE.
    StartsWith,
    /// `endswith`: the value ends with VALUE.
    EndsWith,
    /// `regex`: VALUE, a regular expression, matches somewhere in the value.
    Regex,
}

impl Comparison {
    /// The comparison's spelling in a filter.
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Less => "<",
            Comparison::LessOrEqual => "<=",
            Comparison::Equal => "==",
            Comparison::GreaterOrEqual => ">=",
            Comparison::Greater => ">",
            Comparison::Contains => "contains",
            Comparison::StartsWith => "startswith",
            Comparison::EndsWith => "endswith",
            Comparison::Regex => "regex",
        }
    }

    fn parse(s: &str) -> Option<Comparison> {
        Some(match s {
            "<" => Comparison::Less,
            "<=" => Comparison::LessOrEqual,
            "==" => Comparison::Equal,
            ">=" => Comparison::GreaterOrEqual,
            ">" => Comparison::Greater,
            "contains" => Comparison::Contains,
            "startswith" => Comparison::StartsWith,
            "endswith" => Comparison::EndsWith,
            "regex" => Comparison::Regex,
            _ => return None,
        })
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why text is not a filter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// Not `KEY CMP VALUE`.
    #[error("filter {0:?} is not `KEY CMP VALUE`")]
    Syntax(String),
    /// CMP is not one of the comparisons.
    #[error(
        "filter comparison {0:?} is not one of < <= == >= > contains startswith endswith regex"
    )]
    Comparison(String),
    /// VALUE of a `regex` filter is not a regular expression.
    #[error("filter regex {pattern:?} is invalid: {reason}")]
    Regex {
        /// The pattern.
        pattern: String,
        /// The regex engine's complaint.
        reason: String,
    },
}

/// One `KEY CMP VALUE` condition on an artifact's metadata.
#[derive(Clone, Debug)]
pub struct Filter {
    key: String,
    comparison: Comparison,
    value: String,
    regex: Option<regex::Regex>,
}

impl PartialEq for Filter {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key && self.comparison == other.comparison && self.value == other.value
    }
}

impl Filter {
    /// A filter from its parts.
    pub fn new(
        key: impl Into<String>,
        comparison: Comparison,
        value: impl Into<String>,
    ) -> Result<Self, FilterError> {
        let value = value.into();
        let regex = match comparison {
            Comparison::Regex => {
                Some(regex::Regex::new(&value).map_err(|e| FilterError::Regex {
                    pattern: value.clone(),
                    reason: e.to_string(),
                })?)
            }
            _ => None,
        };
        Ok(Filter {
            key: key.into(),
            comparison,
            value,
            regex,
        })
    }

    /// The metadata key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The comparison.
    pub fn comparison(&self) -> Comparison {
        self.comparison
    }

    /// The value compared with.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether `metadata` satisfies the filter. A missing key never does.
    pub fn matches(&self, metadata: &ArtifactMetadata) -> bool {
        match serde_json::to_value(metadata) {
            Ok(v) => self.matches_json(&v),
            Err(_) => false,
        }
    }

    /// Whether a metadata object (as JSON) satisfies the filter.
    pub fn matches_json(&self, metadata: &Value) -> bool {
        let mut node = metadata;
        let found = match metadata.get(&self.key) {
            Some(v) => Some(v),
            None => {
                let mut ok = true;
                for part in self.key.split('.') {
                    match node.get(part) {
                        Some(next) => node = next,
                        None => {
                            ok = false;
                            break;
                        }
                    }
                }
                ok.then_some(node)
            }
        };
        let text = match found {
            None | Some(Value::Null) => return false,
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        self.matches_text(&text)
    }

    /// Whether a metadata value, as text, satisfies the filter.
    pub fn matches_text(&self, actual: &str) -> bool {
        let ordering = || match (parse_number(actual), parse_number(&self.value)) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ => Some(actual.cmp(self.value.as_str())),
        };
        match self.comparison {
            Comparison::Less => ordering() == Some(Ordering::Less),
            Comparison::LessOrEqual => {
                matches!(ordering(), Some(Ordering::Less | Ordering::Equal))
            }
            Comparison::Equal => ordering() == Some(Ordering::Equal),
            Comparison::GreaterOrEqual => {
                matches!(ordering(), Some(Ordering::Greater | Ordering::Equal))
            }
            Comparison::Greater => ordering() == Some(Ordering::Greater),
            Comparison::Contains => actual.contains(self.value.as_str()),
            Comparison::StartsWith => actual.starts_with(self.value.as_str()),
            Comparison::EndsWith => actual.ends_with(self.value.as_str()),
            Comparison::Regex => self.regex.as_ref().is_some_and(|r| r.is_match(actual)),
        }
    }
}

/// A number, compared exactly when both sides are integers.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Number {
    Int(i128),
    Float(f64),
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => Some(a.cmp(b)),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }
}

impl Number {
    fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

fn parse_number(s: &str) -> Option<Number> {
    let s = s.trim();
    if let Ok(i) = s.parse::<i128>() {
        return Some(Number::Int(i));
    }
    match s.parse::<f64>() {
        // "inf" and "NaN" parse as floats, but nobody means them as numbers.
        Ok(f) if f.is_finite() => Some(Number::Float(f)),
        _ => None,
    }
}

impl FromStr for Filter {
    type Err = FilterError;

    /// Parses `KEY CMP VALUE`; VALUE is the rest of the text after CMP (it
    /// may contain spaces), trimmed.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let syntax = || FilterError::Syntax(s.chars().take(200).collect());
        let (key, rest) = text.split_once(char::is_whitespace).ok_or_else(syntax)?;
        let rest = rest.trim_start();
        let (cmp, value) = rest
            .split_once(char::is_whitespace)
            .map(|(c, v)| (c, v.trim()))
            .unwrap_or((rest, ""));
        if key.is_empty() || cmp.is_empty() || value.is_empty() {
            return Err(syntax());
        }
        let comparison =
            Comparison::parse(cmp).ok_or_else(|| FilterError::Comparison(cmp.to_owned()))?;
        Filter::new(key, comparison, value)
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.key, self.comparison, self.value)
    }
}

/// Accept and reject filters together.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filters {
    /// If any: an artifact must match at least one.
    pub accept: Vec<Filter>,
    /// An artifact matching any is rejected.
    pub reject: Vec<Filter>,
}

impl Filters {
    /// Whether there are no filters at all.
    pub fn is_empty(&self) -> bool {
        self.accept.is_empty() && self.reject.is_empty()
    }

    /// Whether an artifact with `metadata` (`None`: the bounty gave none)
    /// may be downloaded and scanned.
    pub fn allows(&self, metadata: Option<&ArtifactMetadata>) -> bool {
        let Some(metadata) = metadata else {
            return self.accept.is_empty();
        };
        let Ok(json) = serde_json::to_value(metadata) else {
            return self.accept.is_empty();
        };
        if self.reject.iter().any(|f| f.matches_json(&json)) {
            return false;
        }
        self.accept.is_empty() || self.accept.iter().any(|f| f.matches_json(&json))
    }

    /// For each of a bounty's `n` artifacts, whether it is allowed; artifacts
    /// past the end of `metadata` count as having none.
    pub fn allowed(&self, n: usize, metadata: Option<&[ArtifactMetadata]>) -> Vec<bool> {
        (0..n)
            .map(|i| self.allows(metadata.and_then(|m| m.get(i))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, size: u64, mime: &str) -> ArtifactMetadata {
        ArtifactMetadata {
            filename: Some(name.into()),
            filesize: Some(size),
            mimetype: Some(mime.into()),
            ..Default::default()
        }
    }

    fn f(s: &str) -> Filter {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_prints() {
        let x = f("  mimetype   ==   text/plain ");
        assert_eq!(x.key(), "mimetype");
        assert_eq!(x.comparison(), Comparison::Equal);
        assert_eq!(x.value(), "text/plain");
        assert_eq!(x.to_string(), "mimetype == text/plain");
        assert_eq!(f("filename contains a b").value(), "a b");
        assert!(matches!(
            "mimetype".parse::<Filter>(),
            Err(FilterError::Syntax(_))
        ));
        assert!(matches!(
            "mimetype ==".parse::<Filter>(),
            Err(FilterError::Syntax(_))
        ));
        assert!(matches!(
            "mimetype != x".parse::<Filter>(),
            Err(FilterError::Comparison(_))
        ));
        assert!(matches!(
            "filename regex (".parse::<Filter>(),
            Err(FilterError::Regex { .. })
        ));
        assert!("".parse::<Filter>().is_err());
    }

    #[test]
    fn every_comparison() {
        let m = meta("eicar.com.txt", 68, "text/plain");
        let yes = [
            "filesize < 69",
            "filesize <= 68",
            "filesize == 68",
            "filesize >= 68",
            "filesize > 67",
            "mimetype contains plain",
            "mimetype startswith text/",
            "filename endswith .txt",
            "filename regex ^eicar\\.com",
            "mimetype == text/plain",
        ];
        for s in yes {
            assert!(f(s).matches(&m), "{s} should match");
        }
        let no = [
            "filesize < 68",
            "filesize <= 67",
            "filesize == 69",
            "filesize >= 69",
            "filesize > 68",
            "mimetype contains html",
            "mimetype startswith plain",
            "filename endswith .exe",
            "filename regex ^com",
            "mimetype == text/html",
        ];
        for s in no {
            assert!(!f(s).matches(&m), "{s} should not match");
        }
    }

    #[test]
    fn numeric_versus_text() {
        // Numerically 9 < 10; as text "9" > "10".
        assert!(f("x < 10").matches_text("9"));
        assert!(!f("x < 10").matches_text("9a"));
        assert!(f("x > 10").matches_text("9a"));
        // Numbers compare by value, not by spelling.
        assert!(f("x == 1.0").matches_text("1"));
        assert!(f("x == 0x1").matches_text("0x1"));
        assert!(!f("x == 01").matches_text("1x"));
        assert!(f("x >= 2.5").matches_text("2.50"));
        assert!(f("x < 1e3").matches_text("999"));
        // Big integers compare exactly.
        assert!(f("x < 170141183460469231731687303715884105727")
            .matches_text("170141183460469231731687303715884105726"));
        // Text ordering when either side is not a number.
        assert!(f("x < b").matches_text("a"));
        // "NaN" and "inf" are not numbers here: "1" < "nan" as text.
        assert!(f("x < nan").matches_text("1"));
        assert!(!f("x > inf").matches_text("1"));
        assert!(f("x regex ^[0-9]+$").matches_text("12345"));
        // Contains etc. are always on text.
        assert!(f("x contains 1").matches_text("210"));
    }

    #[test]
    fn missing_keys_and_extra_fields() {
        let mut m = meta("a", 1, "b");
        assert!(!f("sha256 == abc").matches(&m));
        assert!(!f("sha256 regex .*").matches(&m));
        m.extra
            .insert("vendor".into(), serde_json::json!({"name": "acme", "n": 3}));
        m.extra.insert("flag".into(), serde_json::json!(true));
        assert!(f("vendor.name == acme").matches(&m));
        assert!(f("vendor.n > 2").matches(&m));
        assert!(f("flag == true").matches(&m));
        assert!(!f("vendor.missing == acme").matches(&m));
    }

    #[test]
    fn accept_and_reject() {
        let text = meta("a.txt", 10, "text/plain");
        let exe = meta("a.exe", 10, "application/x-dosexec");
        let none = Filters::default();
        assert!(none.is_empty());
        assert!(none.allows(Some(&text)) && none.allows(None));

        let reject = Filters {
            accept: vec![],
            reject: vec![f("mimetype == text/plain")],
        };
        assert!(!reject.allows(Some(&text)));
        assert!(reject.allows(Some(&exe)));
        assert!(reject.allows(None));

        let accept = Filters {
            accept: vec![f("filename endswith .exe"), f("filesize > 100")],
            reject: vec![],
        };
        assert!(accept.allows(Some(&exe)));
        assert!(!accept.allows(Some(&text)));
        // No metadata passes only when there are no accept filters.
        assert!(!accept.allows(None));

        // Reject wins over accept.
        let both = Filters {
            accept: vec![f("filename endswith .exe")],
            reject: vec![f("filesize < 100")],
        };
        assert!(!both.allows(Some(&exe)));
        assert_eq!(
            both.allowed(3, Some(&[meta("big.exe", 1000, "x"), text])),
            vec![true, false, false]
        );
    }
}
