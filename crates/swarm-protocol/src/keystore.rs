//! Ethereum keystore v3 files ("Web3 Secret Storage"): a private key
//! encrypted under a password.
//!
//! Engines, ambassadors and arbiters of the original PolySwarm network kept
//! their keys in geth-style keystore files (written by geth, by `eth-account`
//! in polyswarm-client, and by wallets such as MyEtherWallet); SPEC §3
//! requires that those existing files work unchanged. So this module reads
//! every variant seen in practice (`scrypt` or `pbkdf2`/hmac-sha256 key
//! derivation, `crypto` or the old `Crypto` casing, extra wallet fields) and
//! writes exactly what geth writes.
//!
//! A key file comes from outside: the key derivation parameters are
//! range-checked before anything is allocated, so a hostile file cannot make
//! the node allocate gigabytes or spin for hours.

use std::str::FromStr;

use aes::cipher::{KeyIvInit, StreamCipher};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::address::Address;
use crate::hash::keccak256;
use crate::keys::PrivateKey;

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// The only cipher of keystore v3.
const CIPHER: &str = "aes-128-ctr";
/// Largest scrypt `n` accepted from a file (geth's standard is 2^18).
const MAX_SCRYPT_N: u64 = 1 << 22;
/// Largest scrypt working memory (`128 * n * r` bytes) accepted from a file.
const MAX_SCRYPT_MEMORY: u64 = 1 << 30;
/// Largest scrypt work (`n * r * p`) accepted from a file: 16 times geth's standard.
const MAX_SCRYPT_WORK: u64 = 1 << 25;
/// Largest pbkdf2 iteration count accepted from a file.
const MAX_PBKDF2_ROUNDS: u64 = 1 << 24;

/// How expensive the password-to-key derivation of a new keystore is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KdfStrength {
    /// geth's standard: scrypt n = 2^18, r = 8, p = 1 (256 MiB, about a second).
    Standard,
    /// geth's light preset: scrypt n = 2^12, r = 8, p = 6. For tests and
    /// development keys only, never for keys holding real value.
    Light,
}

impl KdfStrength {
    /// (log2 n, r, p)
    fn params(self) -> (u8, u32, u32) {
        match self {
            KdfStrength::Standard => (18, 8, 1),
            KdfStrength::Light => (12, 8, 6),
        }
    }
}

/// Why a keystore cannot be read, decrypted or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeystoreError {
    /// Not JSON, or a required field is missing or of the wrong type.
    #[error("malformed keystore: {0}")]
    Malformed(String),
    /// `version` is not 3.
    #[error("unsupported keystore version {0} (only version 3 is supported)")]
    UnsupportedVersion(u64),
    /// A cipher other than aes-128-ctr.
    #[error("unsupported cipher {0:?} (only \"aes-128-ctr\" is supported)")]
    UnsupportedCipher(String),
    /// A key derivation function other than scrypt and pbkdf2.
    #[error("unsupported kdf {0:?} (only \"scrypt\" and \"pbkdf2\" are supported)")]
    UnsupportedKdf(String),
    /// A pbkdf2 pseudo-random function other than hmac-sha256.
    #[error("unsupported pbkdf2 prf {0:?} (only \"hmac-sha256\" is supported)")]
    UnsupportedPrf(String),
    /// scrypt parameters that are invalid or too expensive to honour.
    #[error("scrypt parameters out of range: {0}")]
    ScryptParams(String),
    /// pbkdf2 parameters that are invalid or too expensive to honour.
    #[error("pbkdf2 parameters out of range: {0}")]
    Pbkdf2Params(String),
    /// A hex field does not decode.
    #[error("keystore field {field} is not valid hex")]
    InvalidHex {
        /// The JSON field.
        field: &'static str,
    },
    /// A hex field decodes to the wrong number of bytes.
    #[error("keystore field {field} has {got} bytes, expected {expected}")]
    InvalidLength {
        /// The JSON field.
        field: &'static str,
        /// Bytes found.
        got: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// The `address` field is present but not an address.
    #[error("keystore address field {0:?} is not a 20-byte hex address")]
    InvalidAddress(String),
    /// The password does not derive the key the file was written with.
    #[error("wrong password (MAC mismatch)")]
    WrongPassword,
    /// The MAC matched but the plaintext is not a secp256k1 private key.
    #[error("decrypted key is not a valid secp256k1 private key")]
    InvalidKey,
    /// The key decrypts, but to another account than the file's `address` says.
    #[error("keystore says address {file} but its key is for {key}")]
    AddressMismatch {
        /// The address in the file.
        file: Address,
        /// The address of the decrypted key.
        key: Address,
    },
    /// The operating system's random generator failed.
    #[error("random generator failed: {0}")]
    Random(String),
}

/// A keystore v3 JSON file. Fields that wallets add beyond the standard
/// ones are accepted when reading and dropped when writing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keystore {
    /// Lowercase hex without `0x`, as geth writes it. Optional in the standard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    address: Option<String>,
    /// geth writes `crypto`, some old wallets `Crypto`.
    #[serde(alias = "Crypto")]
    crypto: CryptoJson,
    /// A UUID; not checked.
    #[serde(default)]
    id: String,
    version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct CryptoJson {
    cipher: String,
    ciphertext: String,
    cipherparams: CipherParamsJson,
    kdf: String,
    kdfparams: serde_json::Value,
    mac: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct CipherParamsJson {
    iv: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct ScryptParamsJson {
    dklen: u64,
    n: u64,
    p: u64,
    r: u64,
    salt: String,
}

#[derive(Debug, Deserialize)]
struct Pbkdf2ParamsJson {
    c: u64,
    dklen: u64,
    prf: String,
    salt: String,
}

/// Key derivation parameters, checked and ready to run.
enum Kdf {
    Scrypt {
        log_n: u8,
        r: u32,
        p: u32,
        dklen: usize,
        salt: Vec<u8>,
    },
    Pbkdf2 {
        rounds: u32,
        dklen: usize,
        salt: Vec<u8>,
    },
}

/// The crypto section, decoded and checked.
struct Checked {
    kdf: Kdf,
    iv: [u8; 16],
    ciphertext: [u8; 32],
    mac: [u8; 32],
}

impl Keystore {
    /// Encrypts `key` under `password` with scrypt of the given strength, a
    /// random salt and IV, and a random (v4) UUID.
    pub fn encrypt(
        key: &PrivateKey,
        password: &str,
        strength: KdfStrength,
    ) -> Result<Keystore, KeystoreError> {
        let mut random = [0u8; 32 + 16 + 16];
        rand::rngs::OsRng
            .try_fill_bytes(&mut random)
            .map_err(|e| KeystoreError::Random(e.to_string()))?;
        let (salt, rest) = random.split_at(32);
        let (iv_bytes, uuid_bytes) = rest.split_at(16);
        let mut iv = [0u8; 16];
        iv.copy_from_slice(iv_bytes);
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(uuid_bytes);

        let (log_n, r, p) = strength.params();
        let kdf = Kdf::Scrypt {
            log_n,
            r,
            p,
            dklen: 32,
            salt: salt.to_vec(),
        };
        let derived = kdf.derive(password.as_bytes())?;
        let mut ciphertext = key.to_bytes();
        apply_aes_ctr(&derived, &iv, &mut ciphertext);
        let mac = mac(&derived, &ciphertext);

        let kdfparams = ScryptParamsJson {
            dklen: 32,
            n: 1u64 << log_n,
            p: u64::from(p),
            r: u64::from(r),
            salt: hex::encode(salt),
        };
        let kdfparams =
            serde_json::to_value(kdfparams).map_err(|e| KeystoreError::Malformed(e.to_string()))?;
        Ok(Keystore {
            address: Some(hex::encode(key.address().0)),
            crypto: CryptoJson {
                cipher: CIPHER.to_owned(),
                ciphertext: hex::encode(ciphertext),
                cipherparams: CipherParamsJson {
                    iv: hex::encode(iv),
                },
                kdf: "scrypt".to_owned(),
                kdfparams,
                mac: hex::encode(mac),
            },
            id: uuid::Builder::from_random_bytes(uuid)
                .into_uuid()
                .hyphenated()
                .to_string(),
            version: 3,
        })
    }

    /// Decrypts the private key. Checks the MAC before decrypting, and, when
    /// the file names an address, that the key belongs to it.
    pub fn decrypt(&self, password: &str) -> Result<PrivateKey, KeystoreError> {
        self.check_version()?;
        let checked = self.crypto.check()?;
        let derived = checked.kdf.derive(password.as_bytes())?;
        if !constant_time_eq(&mac(&derived, &checked.ciphertext), &checked.mac) {
            return Err(KeystoreError::WrongPassword);
        }
        let mut plain = checked.ciphertext;
        apply_aes_ctr(&derived, &checked.iv, &mut plain);
        let key = PrivateKey::from_bytes(&plain).map_err(|_| KeystoreError::InvalidKey)?;
        if let Some(file) = self.address()? {
            let actual = key.address();
            if file != actual {
                return Err(KeystoreError::AddressMismatch { file, key: actual });
            }
        }
        Ok(key)
    }

    /// Parses and checks a keystore file (everything but the password).
    pub fn from_json(json: &str) -> Result<Keystore, KeystoreError> {
        let keystore: Keystore =
            serde_json::from_str(json).map_err(|e| KeystoreError::Malformed(e.to_string()))?;
        keystore.check_version()?;
        keystore.crypto.check()?;
        keystore.address()?;
        Ok(keystore)
    }

    /// The file as indented JSON, in geth's layout.
    pub fn to_json_pretty(&self) -> Result<String, KeystoreError> {
        serde_json::to_string_pretty(self).map_err(|e| KeystoreError::Malformed(e.to_string()))
    }

    /// The address the file claims to hold, if it names one. Only
    /// [`Keystore::decrypt`] proves it.
    pub fn address(&self) -> Result<Option<Address>, KeystoreError> {
        let Some(text) = &self.address else {
            return Ok(None);
        };
        let digits = text.strip_prefix("0x").unwrap_or(text).to_ascii_lowercase();
        Address::from_str(&format!("0x{digits}"))
            .map(Some)
            .map_err(|_| KeystoreError::InvalidAddress(text.clone()))
    }

    /// The file's UUID, as written (not checked).
    pub fn id(&self) -> &str {
        &self.id
    }

    fn check_version(&self) -> Result<(), KeystoreError> {
        if self.version == 3 {
            Ok(())
        } else {
            Err(KeystoreError::UnsupportedVersion(self.version))
        }
    }
}

impl CryptoJson {
    fn check(&self) -> Result<Checked, KeystoreError> {
        if self.cipher != CIPHER {
            return Err(KeystoreError::UnsupportedCipher(self.cipher.clone()));
        }
        let kdf = match self.kdf.as_str() {
            "scrypt" => {
                let params: ScryptParamsJson = serde_json::from_value(self.kdfparams.clone())
                    .map_err(|e| KeystoreError::Malformed(format!("kdfparams: {e}")))?;
                check_scrypt(&params)?
            }
            "pbkdf2" => {
                let params: Pbkdf2ParamsJson = serde_json::from_value(self.kdfparams.clone())
                    .map_err(|e| KeystoreError::Malformed(format!("kdfparams: {e}")))?;
                check_pbkdf2(&params)?
            }
            other => return Err(KeystoreError::UnsupportedKdf(other.to_owned())),
        };
        Ok(Checked {
            kdf,
            iv: decode_fixed("cipherparams.iv", &self.cipherparams.iv)?,
            ciphertext: decode_fixed("ciphertext", &self.ciphertext)?,
            mac: decode_fixed("mac", &self.mac)?,
        })
    }
}

fn check_dklen(dklen: u64) -> Result<usize, String> {
    if (32..=64).contains(&dklen) {
        Ok(dklen as usize)
    } else {
        Err(format!("dklen={dklen} must be between 32 and 64"))
    }
}

fn check_scrypt(params: &ScryptParamsJson) -> Result<Kdf, KeystoreError> {
    let ScryptParamsJson {
        dklen,
        n,
        p,
        r,
        ref salt,
    } = *params;
    let out_of_range = KeystoreError::ScryptParams;
    if n < 2 || !n.is_power_of_two() {
        return Err(out_of_range(format!(
            "n={n} must be a power of two above 1"
        )));
    }
    if n > MAX_SCRYPT_N {
        return Err(out_of_range(format!(
            "n={n} is above the limit {MAX_SCRYPT_N}"
        )));
    }
    if r == 0 || p == 0 {
        return Err(out_of_range(format!("r={r} and p={p} must be at least 1")));
    }
    // n <= 2^22, so these products only overflow for absurd r and p.
    let memory = n.saturating_mul(r).saturating_mul(128);
    if memory > MAX_SCRYPT_MEMORY {
        return Err(out_of_range(format!(
            "n={n}, r={r} need {memory} bytes of memory, above the limit {MAX_SCRYPT_MEMORY}"
        )));
    }
    let work = n.saturating_mul(r).saturating_mul(p);
    if work > MAX_SCRYPT_WORK {
        return Err(out_of_range(format!(
            "n*r*p = {work} is above the limit {MAX_SCRYPT_WORK}"
        )));
    }
    let dklen = check_dklen(dklen).map_err(out_of_range)?;
    // The limits above bound r and p well below u32::MAX.
    let r = u32::try_from(r).map_err(|_| out_of_range(format!("r={r} is too large")))?;
    let p = u32::try_from(p).map_err(|_| out_of_range(format!("p={p} is too large")))?;
    Ok(Kdf::Scrypt {
        log_n: n.trailing_zeros() as u8,
        r,
        p,
        dklen,
        salt: decode_hex("kdfparams.salt", salt)?,
    })
}

fn check_pbkdf2(params: &Pbkdf2ParamsJson) -> Result<Kdf, KeystoreError> {
    if params.prf != "hmac-sha256" {
        return Err(KeystoreError::UnsupportedPrf(params.prf.clone()));
    }
    let out_of_range = KeystoreError::Pbkdf2Params;
    let c = params.c;
    if c == 0 || c > MAX_PBKDF2_ROUNDS {
        return Err(out_of_range(format!(
            "c={c} must be between 1 and {MAX_PBKDF2_ROUNDS}"
        )));
    }
    let rounds = u32::try_from(c).map_err(|_| out_of_range(format!("c={c} is too large")))?;
    Ok(Kdf::Pbkdf2 {
        rounds,
        dklen: check_dklen(params.dklen).map_err(out_of_range)?,
        salt: decode_hex("kdfparams.salt", &params.salt)?,
    })
}

impl Kdf {
    fn derive(&self, password: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        match self {
            Kdf::Scrypt {
                log_n,
                r,
                p,
                dklen,
                salt,
            } => {
                let mut out = vec![0u8; *dklen];
                let params = scrypt::Params::new(*log_n, *r, *p)
                    .map_err(|e| KeystoreError::ScryptParams(e.to_string()))?;
                scrypt::scrypt(password, salt, &params, &mut out)
                    .map_err(|e| KeystoreError::ScryptParams(e.to_string()))?;
                Ok(out)
            }
            Kdf::Pbkdf2 {
                rounds,
                dklen,
                salt,
            } => {
                let mut out = vec![0u8; *dklen];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, *rounds, &mut out);
                Ok(out)
            }
        }
    }
}

/// AES-128-CTR with the first 16 bytes of the derived key (`derived` is at
/// least 32 bytes long, checked by `check_dklen`).
fn apply_aes_ctr(derived: &[u8], iv: &[u8; 16], data: &mut [u8]) {
    let mut key = [0u8; 16];
    key.copy_from_slice(&derived[..16]);
    let mut cipher = Aes128Ctr::new(&key.into(), &(*iv).into());
    cipher.apply_keystream(data);
}

/// keccak256(derived[16..32] ++ ciphertext).
fn mac(derived: &[u8], ciphertext: &[u8]) -> [u8; 32] {
    let mut input = Vec::with_capacity(16 + ciphertext.len());
    input.extend_from_slice(&derived[16..32]);
    input.extend_from_slice(ciphertext);
    keccak256(&input).0
}

/// Compares without an early exit, so timing does not reveal where a
/// guessed MAC first differs.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn decode_hex(field: &'static str, text: &str) -> Result<Vec<u8>, KeystoreError> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    hex::decode(digits).map_err(|_| KeystoreError::InvalidHex { field })
}

fn decode_fixed<const N: usize>(field: &'static str, text: &str) -> Result<[u8; N], KeystoreError> {
    let bytes = decode_hex(field, text)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| KeystoreError::InvalidLength {
        field,
        got: bytes.len(),
        expected: N,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_PASSWORD: &str = "testpassword";
    const VECTOR_KEY: &str = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d";

    /// Web3 Secret Storage Definition, test vector "PBKDF2-SHA-256".
    const PBKDF2_VECTOR: &str = r#"{
        "crypto" : {
            "cipher" : "aes-128-ctr",
            "cipherparams" : { "iv" : "6087dab2f9fdbbfaddc31a909735c1e6" },
            "ciphertext" : "5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46",
            "kdf" : "pbkdf2",
            "kdfparams" : {
                "c" : 262144,
                "dklen" : 32,
                "prf" : "hmac-sha256",
                "salt" : "ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd"
            },
            "mac" : "517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2"
        },
        "id" : "3198bc9c-6672-5ab3-d995-4942343ae5b6",
        "version" : 3
    }"#;

    /// Web3 Secret Storage Definition, test vector "Scrypt" (n = 2^18, r = 1, p = 8).
    const SCRYPT_VECTOR: &str = r#"{
        "crypto" : {
            "cipher" : "aes-128-ctr",
            "cipherparams" : { "iv" : "83dbcc02d8ccb40e466191a123791e0e" },
            "ciphertext" : "d172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c",
            "kdf" : "scrypt",
            "kdfparams" : {
                "dklen" : 32,
                "n" : 262144,
                "p" : 8,
                "r" : 1,
                "salt" : "ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19"
            },
            "mac" : "2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097"
        },
        "id" : "3198bc9c-6672-5ab3-d995-4942343ae5b6",
        "version" : 3
    }"#;

    fn light_keystore() -> (PrivateKey, Keystore) {
        let key = PrivateKey::random();
        let keystore = Keystore::encrypt(&key, "hunter2", KdfStrength::Light).unwrap();
        (key, keystore)
    }

    /// A light keystore's JSON with `edit` applied to it.
    fn edited(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let (_, keystore) = light_keystore();
        let mut json = serde_json::to_value(&keystore).unwrap();
        edit(&mut json);
        json.to_string()
    }

    #[test]
    fn round_trip_light() {
        let (key, keystore) = light_keystore();
        let json = keystore.to_json_pretty().unwrap();
        let read = Keystore::from_json(&json).unwrap();
        assert_eq!(read, keystore);
        assert_eq!(read.decrypt("hunter2").unwrap().to_bytes(), key.to_bytes());
        assert_eq!(read.address().unwrap(), Some(key.address()));

        // geth's layout: lowercase address without 0x, a v4 UUID, version 3.
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["address"], hex::encode(key.address().0));
        assert_eq!(value["version"], 3);
        assert_eq!(value["crypto"]["cipher"], "aes-128-ctr");
        assert_eq!(value["crypto"]["kdf"], "scrypt");
        assert_eq!(value["crypto"]["kdfparams"]["n"], 4096);
        assert_eq!(
            value["crypto"]["kdfparams"]["salt"].as_str().unwrap().len(),
            64
        );
        let id = uuid::Uuid::parse_str(read.id()).unwrap();
        assert_eq!(id.get_version_num(), 4);

        // Fresh salt and IV every time.
        let again = Keystore::encrypt(&key, "hunter2", KdfStrength::Light).unwrap();
        assert_ne!(again.crypto.ciphertext, keystore.crypto.ciphertext);
        assert_ne!(again.id, keystore.id);
    }

    #[test]
    fn wrong_password() {
        let (_, keystore) = light_keystore();
        let err = keystore.decrypt("hunter3").unwrap_err();
        assert_eq!(err, KeystoreError::WrongPassword);
        assert_eq!(err.to_string(), "wrong password (MAC mismatch)");
        assert_eq!(
            keystore.decrypt("").unwrap_err(),
            KeystoreError::WrongPassword
        );
    }

    #[test]
    fn web3_secret_storage_pbkdf2_vector() {
        let keystore = Keystore::from_json(PBKDF2_VECTOR).unwrap();
        let key = keystore.decrypt(VECTOR_PASSWORD).unwrap();
        assert_eq!(hex::encode(key.to_bytes()), VECTOR_KEY);
        assert_eq!(
            keystore.decrypt("testpassworD").unwrap_err(),
            KeystoreError::WrongPassword
        );
    }

    #[test]
    fn web3_secret_storage_scrypt_vector() {
        let keystore = Keystore::from_json(SCRYPT_VECTOR).unwrap();
        let key = keystore.decrypt(VECTOR_PASSWORD).unwrap();
        assert_eq!(hex::encode(key.to_bytes()), VECTOR_KEY);
        assert_eq!(
            key.address().to_string(),
            "0x008AeEda4D805471dF9b2A5B0f38A0C3bCBA786b"
        );
    }

    #[test]
    fn capitalized_crypto_key_and_extra_fields() {
        let json = edited(|v| {
            let obj = v.as_object_mut().unwrap();
            let crypto = obj.remove("crypto").unwrap();
            obj.insert("Crypto".into(), crypto);
            obj.insert(
                "x-ethers".into(),
                serde_json::json!({ "client": "ethers.js" }),
            );
            obj["address"] = format!("0x{}", obj["address"].as_str().unwrap()).into();
        });
        let keystore = Keystore::from_json(&json).unwrap();
        keystore.decrypt("hunter2").unwrap();
    }

    #[test]
    fn address_mismatch() {
        let other = hex::encode(PrivateKey::random().address().0);
        let json = edited(|v| v["address"] = other.into());
        let err = Keystore::from_json(&json)
            .unwrap()
            .decrypt("hunter2")
            .unwrap_err();
        assert!(
            matches!(err, KeystoreError::AddressMismatch { .. }),
            "{err}"
        );
    }

    #[test]
    fn malformed_files() {
        let cases: Vec<(String, &str)> = vec![
            ("not json".into(), "malformed keystore"),
            ("{}".into(), "malformed keystore: missing field `crypto`"),
            (
                edited(|v| v["version"] = 1.into()),
                "unsupported keystore version 1",
            ),
            (
                edited(|v| v["crypto"]["cipher"] = "aes-256-cbc".into()),
                "unsupported cipher \"aes-256-cbc\"",
            ),
            (
                edited(|v| v["crypto"]["kdf"] = "argon2".into()),
                "unsupported kdf \"argon2\"",
            ),
            (
                edited(|v| v["crypto"]["kdfparams"]["n"] = 1000.into()),
                "scrypt parameters out of range: n=1000 must be a power of two above 1",
            ),
            (
                edited(|v| v["crypto"]["kdfparams"]["n"] = 1.into()),
                "scrypt parameters out of range: n=1 must be a power of two above 1",
            ),
            (
                edited(|v| v["crypto"]["kdfparams"]["n"] = (1u64 << 40).into()),
                "scrypt parameters out of range: n=1099511627776 is above the limit",
            ),
            (
                edited(|v| v["crypto"]["kdfparams"]["r"] = 1_000_000.into()),
                "scrypt parameters out of range: n=4096, r=1000000 need",
            ),
            (
                edited(|v| v["crypto"]["kdfparams"]["p"] = u64::MAX.into()),
                "scrypt parameters out of range: n*r*p",
            ),
            (
                edited(|v| v["crypto"]["kdfparams"]["p"] = 0.into()),
                "scrypt parameters out of range: r=8 and p=0 must be at least 1",
            ),
            (
                edited(|v| v["crypto"]["kdfparams"]["dklen"] = 16.into()),
                "scrypt parameters out of range: dklen=16 must be between 32 and 64",
            ),
            (
                edited(|v| v["crypto"]["kdfparams"]["n"] = (-2).into()),
                "malformed keystore: kdfparams:",
            ),
            (
                edited(|v| v["crypto"]["cipherparams"]["iv"] = "00ff".into()),
                "keystore field cipherparams.iv has 2 bytes, expected 16",
            ),
            (
                edited(|v| v["crypto"]["mac"] = "zz".into()),
                "keystore field mac is not valid hex",
            ),
            (
                edited(|v| v["address"] = "0x1234".into()),
                "keystore address field \"0x1234\" is not a 20-byte hex address",
            ),
            (
                edited(|v| {
                    v["crypto"]["kdf"] = "pbkdf2".into();
                    v["crypto"]["kdfparams"] = serde_json::json!({
                        "c": 10, "dklen": 32, "prf": "hmac-sha512", "salt": "00"
                    });
                }),
                "unsupported pbkdf2 prf \"hmac-sha512\"",
            ),
            (
                edited(|v| {
                    v["crypto"]["kdf"] = "pbkdf2".into();
                    v["crypto"]["kdfparams"] = serde_json::json!({
                        "c": 0, "dklen": 32, "prf": "hmac-sha256", "salt": "00"
                    });
                }),
                "pbkdf2 parameters out of range: c=0 must be between 1 and",
            ),
        ];
        for (json, expected) in cases {
            let err = Keystore::from_json(&json).unwrap_err().to_string();
            assert!(
                err.starts_with(expected),
                "{err:?} does not start with {expected:?}"
            );
        }
    }

    #[test]
    fn invalid_decrypted_key() {
        // An all-zero plaintext has a valid MAC but is no key.
        let kdf = Kdf::Scrypt {
            log_n: 2,
            r: 1,
            p: 1,
            dklen: 32,
            salt: vec![1, 2, 3],
        };
        let derived = kdf.derive(b"pw").unwrap();
        let iv = [9u8; 16];
        let mut ciphertext = [0u8; 32];
        apply_aes_ctr(&derived, &iv, &mut ciphertext);
        let json = serde_json::json!({
            "crypto": {
                "cipher": "aes-128-ctr",
                "cipherparams": { "iv": hex::encode(iv) },
                "ciphertext": hex::encode(ciphertext),
                "kdf": "scrypt",
                "kdfparams": { "dklen": 32, "n": 4, "p": 1, "r": 1, "salt": "010203" },
                "mac": hex::encode(mac(&derived, &ciphertext)),
            },
            "id": "x",
            "version": 3,
        });
        let keystore = Keystore::from_json(&json.to_string()).unwrap();
        assert_eq!(
            keystore.decrypt("pw").unwrap_err(),
            KeystoreError::InvalidKey
        );
    }
}
