//! Checks the Rust implementation against vectors made by an independent one
//! (`tools/vectors/gen_vectors.py`: pycryptodome, coincurve, eth-account).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;

use serde_json::Value;
use swarm_protocol::{
    commitment, keccak256, Address, Bits256, Keystore, PrivateKey, Signature, H256,
};

const VECTORS: &str = include_str!("vectors/vectors.json");

fn section(name: &str) -> Vec<Value> {
    let all: Value = serde_json::from_str(VECTORS).expect("vectors.json is JSON");
    let cases = all[name].as_array().expect("section is an array").clone();
    assert!(!cases.is_empty(), "section {name} is empty");
    cases
}

fn text<'a>(case: &'a Value, field: &str) -> &'a str {
    case[field]
        .as_str()
        .unwrap_or_else(|| panic!("field {field} missing in {case}"))
}

fn key(case: &Value) -> PrivateKey {
    PrivateKey::from_str(text(case, "private_key")).unwrap()
}

#[test]
fn keccak256_vectors() {
    for case in section("keccak256") {
        let input = hex::decode(&text(&case, "input")[2..]).unwrap();
        let expected = H256::from_str(text(&case, "hash")).unwrap();
        assert_eq!(
            keccak256(&input),
            expected,
            "keccak256 of {}",
            text(&case, "input")
        );
    }
}

#[test]
fn address_vectors() {
    for case in section("addresses") {
        let expected = text(&case, "address");
        let address = key(&case).address();
        assert_eq!(address.to_string(), expected);
        // The checksummed text parses back to the same address.
        assert_eq!(Address::from_str(expected).unwrap(), address);
    }
}

#[test]
fn signature_vectors() {
    for case in section("signatures") {
        let raw = text(&case, "raw");
        let digest = keccak256(raw.as_bytes());
        assert_eq!(
            digest,
            H256::from_str(text(&case, "tx_hash")).unwrap(),
            "{raw}"
        );

        // RFC 6979 on both sides: byte-identical signatures.
        let signature = key(&case).sign_hash(&digest);
        assert_eq!(signature.to_string(), text(&case, "signature"), "{raw}");

        let expected = Signature::from_str(text(&case, "signature")).unwrap();
        let signer = expected.recover(&digest).unwrap();
        assert_eq!(signer.to_string(), text(&case, "signer"), "{raw}");
    }
}

#[test]
fn commitment_vectors() {
    for case in section("commitments") {
        let verdicts = Bits256::from_str(text(&case, "verdicts")).unwrap();
        assert_eq!(verdicts.to_string(), text(&case, "verdicts"));
        let nonce = H256::from_str(text(&case, "nonce")).unwrap();
        let author = Address::from_str(text(&case, "address")).unwrap();
        let expected = H256::from_str(text(&case, "commitment")).unwrap();
        assert_eq!(commitment(&verdicts, &nonce, &author), expected, "{case}");
    }
}

#[test]
fn keystore_vectors() {
    for case in section("keystores") {
        let label = text(&case, "label");
        let keystore = Keystore::from_json(&case["keystore"].to_string())
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        let address = Address::from_str(text(&case, "address")).unwrap();
        assert_eq!(keystore.address().unwrap(), Some(address), "{label}");

        let decrypted = keystore
            .decrypt(text(&case, "password"))
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(decrypted.address(), address, "{label}");
        assert_eq!(decrypted.to_bytes(), key(&case).to_bytes(), "{label}");
        assert!(keystore.decrypt("not the password").is_err(), "{label}");
    }
}
