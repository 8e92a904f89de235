//! Admission: what a node takes into a *new* block, beyond the registry's rules.
//!
//! The registry's rules are consensus: a node replays every stored block
//! through them on start, so they can never tighten without making some
//! stored chain unreadable. The limits here guard the node itself — how deep,
//! how wide and how long a user-supplied JSON value may be, which parameters
//! the owner may set — and are checked only when a transaction is submitted
//! ([`SignedTx::admit`]). They may tighten from one release to the next; a
//! block accepted under older limits still replays.
//!
//! Why bound JSON at all: everything a node accepts it must store, snapshot,
//! stream and reload. serde_json refuses to decode values nested deeper than
//! 128 levels, and the node's encodings wrap a user's value in up to eight
//! levels of their own (a snapshot: registry, bounties, bounty, assertions,
//! assertion, reveal, ...). A transaction nested 126 levels deep decoded
//! fine on submission and then made its own events, and after the next
//! snapshot the whole node, impossible to reload. With a whole transaction
//! held to [`MAX_JSON_DEPTH`] levels, every encoding stays far below that
//! limit whatever the user sent.

use crate::amount::Amount;
use crate::error::TxError;
use crate::tx::{SignedTx, Tx, TxBody, VerifiedTx};

/// Deepest nesting of arrays and objects in a transaction's `raw` text, the
/// envelope included (`{"data": {"metadata": [{...}]}}` is 4 levels).
pub const MAX_JSON_DEPTH: usize = 32;

/// Most keys in one JSON object of a transaction.
pub const MAX_JSON_OBJECT_KEYS: usize = 256;

/// Most JSON values (scalars, arrays and objects) in one transaction: enough
/// for 256 artifacts' metadata with a dozen fields each.
pub const MAX_JSON_VALUES: usize = 16_384;

/// Longest `filename` in a bounty's per-artifact metadata, in bytes (the
/// artifact store keeps 255).
pub const MAX_FILENAME_BYTES: usize = 255;

/// Longest reveal or vote window the owner may set, in blocks: about 11
/// days at one block a second. Past it, a bounty's deadlines would lie so
/// far ahead (at `u64::MAX` they saturate) that its escrow never settles.
pub const MAX_WINDOW_BLOCKS: u64 = 1_000_000;

/// Highest bounty or assertion fee the owner may set: 1,000,000 NCT. A fee
/// nobody can pay stops the marketplace; one that overflows settlement
/// arithmetic would lock escrow.
pub const MAX_FEE: Amount = Amount::from_nct(1_000_000);

impl SignedTx {
    /// Checks a submitted transaction for inclusion in a new block: the JSON
    /// limits of [`check_json`] first (before any signature is recovered),
    /// then [`SignedTx::verify`], then the parameter limits of
    /// [`check_body`]. Stored blocks are replayed with [`SignedTx::verify`]
    /// alone.
    pub fn admit(&self) -> Result<VerifiedTx, TxError> {
        check_json(&self.raw)?;
        let verified = self.verify()?;
        check_body(verified.tx())?;
        Ok(verified)
    }
}

/// Checks that `text` (a transaction's raw JSON) nests at most
/// [`MAX_JSON_DEPTH`] levels, holds at most [`MAX_JSON_OBJECT_KEYS`] keys in
/// any object and [`MAX_JSON_VALUES`] values in all.
///
/// One pass over the bytes, no allocation but a small stack: it runs before
/// the text is parsed, so a hostile value costs no more than its length.
/// Text that is not JSON passes here and is refused by the parser.
pub fn check_json(text: &str) -> Result<(), TxError> {
    // Keys seen so far in each open object; `None` for an array.
    let mut open: Vec<Option<usize>> = Vec::new();
    let mut values = 0usize;
    let (mut in_string, mut escaped) = (false, false);
    // Inside an object, the string after `{` or `,` is a key, not a value.
    let mut expect_key = false;
    // Within a run of number or literal bytes, which is one value.
    let mut in_scalar = false;
    for &b in text.as_bytes() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        let scalar = !matches!(
            b,
            b'"' | b'{' | b'[' | b'}' | b']' | b',' | b':' | b' ' | b'\t' | b'\n' | b'\r'
        );
        let starts_value = match b {
            b'"' if expect_key => {
                if let Some(Some(keys)) = open.last_mut() {
                    *keys += 1;
                    if *keys > MAX_JSON_OBJECT_KEYS {
                        return Err(TxError::JsonLimit {
                            what: "keys in one object",
                            max: MAX_JSON_OBJECT_KEYS,
                        });
                    }
                }
                false
            }
            b'"' => true,
            b'{' | b'[' => {
                if open.len() == MAX_JSON_DEPTH {
                    return Err(TxError::JsonLimit {
                        what: "nesting depth",
                        max: MAX_JSON_DEPTH,
                    });
                }
                open.push((b == b'{').then_some(0));
                true
            }
            b'}' | b']' => {
                open.pop();
                false
            }
            _ => scalar && !in_scalar,
        };
        in_string = b == b'"';
        in_scalar = scalar;
        expect_key = match b {
            b'{' => true,
            b',' => matches!(open.last(), Some(Some(_))),
            b' ' | b'\t' | b'\n' | b'\r' => expect_key,
            _ => false,
        };
        if starts_value {
            values += 1;
            if values > MAX_JSON_VALUES {
                return Err(TxError::JsonLimit {
                    what: "values",
                    max: MAX_JSON_VALUES,
                });
            }
        }
    }
    Ok(())
}

/// The limits on what a transaction's fields may hold that the registry
/// does not check: a bounty guid must be a UUID v4 (SPEC §3.1), a filename
/// at most [`MAX_FILENAME_BYTES`], the owner's windows at most
/// [`MAX_WINDOW_BLOCKS`] and fees at most [`MAX_FEE`].
pub fn check_body(tx: &Tx) -> Result<(), TxError> {
    match &tx.body {
        TxBody::PostBounty(post) => {
            if post.guid.get_version() != Some(uuid::Version::Random)
                || post.guid.get_variant() != uuid::Variant::RFC4122
            {
                return Err(TxError::GuidNotV4(post.guid));
            }
            for (i, meta) in post.metadata.iter().flatten().enumerate() {
                if let Some(name) = &meta.filename {
                    if name.len() > MAX_FILENAME_BYTES {
                        return Err(TxError::FieldTooLong {
                            field: "filename",
                            artifact: i,
                            len: name.len(),
                            max: MAX_FILENAME_BYTES,
                        });
                    }
                }
            }
        }
        TxBody::SetWindows(w) => {
            for (name, value) in [
                ("assertion_reveal_window", w.assertion_reveal_window),
                ("arbiter_vote_window", w.arbiter_vote_window),
            ] {
                if value > MAX_WINDOW_BLOCKS {
                    return Err(TxError::ParameterOutOfRange {
                        name,
                        value: value.to_string(),
                        max: MAX_WINDOW_BLOCKS.to_string(),
                    });
                }
            }
        }
        TxBody::SetFees(f) => {
            for (name, value) in [
                ("bounty_fee", f.bounty_fee),
                ("assertion_fee", f.assertion_fee),
            ] {
                if value > MAX_FEE {
                    return Err(TxError::ParameterOutOfRange {
                        name,
                        value: value.to_string(),
                        max: MAX_FEE.to_string(),
                    });
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn depth_is_counted_over_arrays_and_objects() {
        check_json(&nested(MAX_JSON_DEPTH)).unwrap();
        let err = check_json(&nested(MAX_JSON_DEPTH + 1)).unwrap_err();
        assert_eq!(err.code(), "json_limit");
        assert!(err.to_string().contains("nesting depth"), "{err}");
        let objects = format!(
            "{}1{}",
            "{\"a\":".repeat(MAX_JSON_DEPTH + 1),
            "}".repeat(MAX_JSON_DEPTH + 1)
        );
        assert!(check_json(&objects).is_err());
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let text = format!("{{\"a\": \"{}\\\"{}\"}}", "[".repeat(500), "{".repeat(500));
        check_json(&text).unwrap();
    }

    #[test]
    fn keys_per_object_are_bounded() {
        let object = |n: usize| {
            let fields: Vec<String> = (0..n).map(|i| format!("\"k{i}\": {i}")).collect();
            format!("{{{}}}", fields.join(","))
        };
        check_json(&object(MAX_JSON_OBJECT_KEYS)).unwrap();
        let err = check_json(&object(MAX_JSON_OBJECT_KEYS + 1)).unwrap_err();
        assert!(err.to_string().contains("keys in one object"), "{err}");
        // Strings that are values are not keys.
        let strings: Vec<String> = (0..1000).map(|i| format!("\"v{i}\"")).collect();
        check_json(&format!("[{}]", strings.join(","))).unwrap();
    }

    fn body_error(body: impl Into<TxBody>) -> Option<TxError> {
        let tx = Tx::new(crate::Address([1; 20]), "dev", 10, body);
        check_body(&tx).err()
    }

    fn post(guid: uuid::Uuid, filename: Option<String>) -> crate::PostBounty {
        crate::PostBounty {
            guid,
            artifact_type: crate::ArtifactType::File,
            amount: Amount::from_nct(1),
            uri: "00".repeat(32),
            num_artifacts: 1,
            duration: 10,
            metadata: Some(vec![crate::ArtifactMetadata {
                filename,
                ..Default::default()
            }]),
        }
    }

    #[test]
    fn bounty_guids_must_be_uuid_v4() {
        assert_eq!(body_error(post(uuid::Uuid::new_v4(), None)), None);
        let v1 = uuid::Uuid::parse_str("c232ab00-9414-11ec-b3c8-9f6bdeced846").unwrap();
        for guid in [uuid::Uuid::nil(), uuid::Uuid::max(), v1] {
            let err = body_error(post(guid, None)).unwrap();
            assert_eq!(err.code(), "guid_not_v4");
            assert!(err.to_string().contains(&guid.to_string()), "{err}");
        }
    }

    #[test]
    fn filenames_are_bounded() {
        let ok = "a".repeat(MAX_FILENAME_BYTES);
        assert_eq!(body_error(post(uuid::Uuid::new_v4(), Some(ok))), None);
        let long = "a".repeat(MAX_FILENAME_BYTES + 1);
        let err = body_error(post(uuid::Uuid::new_v4(), Some(long))).unwrap();
        assert_eq!(err.code(), "field_too_long");
    }

    #[test]
    fn owner_parameters_are_bounded() {
        let windows = |r, v| crate::SetWindows {
            assertion_reveal_window: r,
            arbiter_vote_window: v,
        };
        assert_eq!(
            body_error(windows(MAX_WINDOW_BLOCKS, MAX_WINDOW_BLOCKS)),
            None
        );
        for (r, v) in [(u64::MAX, 10), (10, MAX_WINDOW_BLOCKS + 1)] {
            let err = body_error(windows(r, v)).unwrap();
            assert_eq!(err.code(), "parameter_out_of_range", "{err}");
        }
        let fees = |b, a| crate::SetFees {
            bounty_fee: b,
            assertion_fee: a,
        };
        assert_eq!(body_error(fees(MAX_FEE, MAX_FEE)), None);
        let over = Amount::from_wei(MAX_FEE.wei() + 1);
        assert_eq!(
            body_error(fees(Amount::ZERO, over)).map(|e| e.code()),
            Some("parameter_out_of_range")
        );
    }

    /// Depth, most keys in an object and count of values of a parsed value.
    fn measure(value: &serde_json::Value) -> (usize, usize, usize) {
        use serde_json::Value;
        match value {
            Value::Array(items) => items
                .iter()
                .map(measure)
                .fold((1, 0, 1), |(depth, keys, values), (d, k, v)| {
                    (depth.max(d + 1), keys.max(k), values + v)
                }),
            Value::Object(map) => map
                .values()
                .map(measure)
                .fold((1, map.len(), 1), |(depth, keys, values), (d, k, v)| {
                    (depth.max(d + 1), keys.max(k), values + v)
                }),
            _ => (0, 0, 1),
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            // Quotes, backslashes, brackets and control characters.
            "[\\\"\\[\\]{}:, a\u{0}-\u{1f}\u{e9}\u{1f600}]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(40, 400, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map("[\"\\\\{}a-z]{0,6}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// The byte scanner and a parser agree on every value, compact or
        /// pretty-printed: what admission lets through is exactly what is
        /// within the limits.
        #[test]
        fn the_scanner_agrees_with_a_parser(value in json_value(), wrap in 0usize..36) {
            let mut value = value;
            for _ in 0..wrap {
                value = serde_json::json!([value]);
            }
            let (depth, keys, values) = measure(&value);
            let within = depth <= MAX_JSON_DEPTH
                && keys <= MAX_JSON_OBJECT_KEYS
                && values <= MAX_JSON_VALUES;
            for text in [
                serde_json::to_string(&value).unwrap(),
                serde_json::to_string_pretty(&value).unwrap(),
            ] {
                proptest::prop_assert_eq!(check_json(&text).is_ok(), within, "{}", text);
            }
        }
    }

    #[test]
    fn values_are_counted() {
        let list = |n: usize| format!("[{}]", vec!["0"; n].join(","));
        // The array itself is one value.
        check_json(&list(MAX_JSON_VALUES - 1)).unwrap();
        let err = check_json(&list(MAX_JSON_VALUES)).unwrap_err();
        assert!(err.to_string().contains("values"), "{err}");
        // A long number is one value.
        check_json(&format!("[{}]", "9".repeat(100_000))).unwrap();
    }
}
