//! OpenAPI schemas of the protocol's text-encoded values (feature `openapi`).
//!
//! Amounts, addresses, hashes, bitmasks and signatures cross the wire as
//! strings of a fixed shape; describing that shape (with a pattern) lets a
//! client generator or an API fuzzer check a body field by field.

use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::{Address, Amount, Bits256, Signature, H256};

fn text(pattern: &str, description: &str, example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .description(Some(description))
        .examples([serde_json::Value::String(example.to_owned())])
        .into()
}

macro_rules! text_schema {
    ($ty:ty, $pattern:expr, $description:expr, $example:expr) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                text($pattern, $description, $example)
            }
        }
        impl ToSchema for $ty {}
    };
}

text_schema!(
    Amount,
    "^[0-9]{1,39}$",
    "An amount of wei (10^-18 NCT) as a decimal string",
    "62500000000000000"
);
text_schema!(
    Address,
    "^0x[0-9a-fA-F]{40}$",
    "A 20-byte account address, 0x and 40 hex digits (EIP-55 checksummed)",
    "0x05328f171b8c1463eaFDACCA478D9EE6a1d923F8"
);
text_schema!(
    H256,
    "^0x[0-9a-fA-F]{64}$",
    "A 32-byte hash, 0x and 64 hex digits",
    "0x0000000000000000000000000000000000000000000000000000000000000000"
);
text_schema!(
    Bits256,
    "^0x[0-9a-fA-F]{1,64}$",
    "A set of artifact indices as a 256-bit big-endian hex number (bit i = artifact i)",
    "0x1"
);
text_schema!(
    Signature,
    "^0x[0-9a-fA-F]{130}$",
    "A 65-byte recoverable secp256k1 signature r || s || v, 0x and 130 hex digits",
    "0x000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001b"
);
