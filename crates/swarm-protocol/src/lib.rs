//! swarm-protocol
mod address;
mod amount;
mod hash;
mod hex_text;
mod keys;
pub use address::{Address, AddressError};
pub use amount::{as_nct, Amount, AmountError, NCT_DECIMALS, WEI_PER_NCT};
pub use hash::{keccak256, H256};
pub use hex_text::HexError;
pub use keys::{KeyError, PrivateKey, Signature};
mod bits;
mod commitment;
pub use bits::Bits256;
pub use commitment::commitment;
