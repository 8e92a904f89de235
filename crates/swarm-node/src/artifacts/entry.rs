//! What is known about a stored artifact ([`ArtifactEntry`]) and a bundle of
//! them ([`Manifest`]), and the two guesses made from an upload: its
//! mimetype (sniffed from the first bytes) and a filename that is safe to
//! show and to save (basename only, no control or bidi characters).
//!
//! Why here and not in a backend: these are the bounty metadata of SPEC §3.5,
//! the same whichever backend keeps the bytes.

use serde::{Deserialize, Serialize};

/// How many leading bytes are kept to guess the mimetype.
pub(super) const SNIFF_LEN: usize = 8 * 1024;
/// Longest stored filename, in bytes.
const MAX_FILENAME_BYTES: usize = 255;

/// One stored artifact; a wire type, so it is defined in [`swarm_protocol::api`].
pub use swarm_protocol::api::ArtifactEntry;

/// A bundle manifest: the artifacts of one bounty, in order.
///
/// Stored as the canonical JSON `{"artifacts":[...]}`; its sha256 is the
/// bundle's uri.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The artifacts; index `i` is artifact `i` of the bounty.
    pub artifacts: Vec<ArtifactEntry>,
}

/// Basename only (after `/` or `\`), without control or bidi-override
/// characters, at most 255 bytes; `.` and `..` become `""`.
pub(super) fn sanitize_filename(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|&c| !c.is_control() && !is_bidi_control(c))
        .collect();
    if cleaned == "." || cleaned == ".." {
        return String::new();
    }
    truncate_utf8(cleaned, MAX_FILENAME_BYTES)
}

/// Characters that reorder text on screen ("invoice\u{202e}fdp.exe").
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` cut to at most `max` bytes, at a character boundary.
pub(super) fn truncate_utf8(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// `infer`'s guess from the first bytes; else `text/plain` for UTF-8 without
/// NULs; else `application/octet-stream`.
pub(super) fn sniff_mimetype(head: &[u8], size: u64) -> String {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type().to_owned();
    }
    let text = match std::str::from_utf8(head) {
        Ok(_) => !head.contains(&0),
        // A multi-byte character cut by the end of the sniffed prefix is fine.
        Err(e) => {
            e.error_len().is_none()
                && u64::try_from(head.len()).unwrap_or(u64::MAX) < size
                && !head[..e.valid_up_to()].contains(&0)
        }
    };
    if text {
        "text/plain".to_owned()
    } else {
        "application/octet-stream".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_serializes_as_bounty_metadata() {
        let entry = ArtifactEntry {
            filename: "a.exe".into(),
            size: 3,
            mimetype: "text/plain".into(),
            sha256: "s".into(),
            sha1: "h".into(),
            md5: "m".into(),
        };
        let json = serde_json::to_string(&entry).unwrap();
        assert_eq!(
            json,
            r#"{"filename":"a.exe","filesize":3,"mimetype":"text/plain","sha256":"s","sha1":"h","md5":"m"}"#
        );
        assert_eq!(serde_json::from_str::<ArtifactEntry>(&json).unwrap(), entry);
    }

    #[test]
    fn binary_and_broken_text_are_octet_streams() {
        assert_eq!(sniff_mimetype(b"abc\0def", 7), "application/octet-stream");
        assert_eq!(
            sniff_mimetype(&[0xff, 0xfe, 0xfd], 3),
            "application/octet-stream"
        );
    }

    #[test]
    fn filenames_are_sanitized() {
        assert_eq!(sanitize_filename("C:\\Users\\x\\evil.exe"), "evil.exe");
        assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_filename("a\u{0}b\nc\u{7f}.txt"), "abc.txt");
        assert_eq!(
            sanitize_filename("invoice\u{202e}fdp.exe"),
            "invoicefdp.exe"
        );
        assert_eq!(sanitize_filename(".."), "");
        assert_eq!(sanitize_filename("dir/"), "");
        let long = "é".repeat(200);
        let cut = sanitize_filename(&long);
        assert_eq!(cut.len(), 254);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
