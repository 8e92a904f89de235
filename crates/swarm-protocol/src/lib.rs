//! The swarm marketplace protocol: pure, deterministic rules with no I/O.
//!
//! Everything the node enforces and every client must agree with lives here:
//! NCT [`Amount`]s, [`Address`]es and [`PrivateKey`]s, the signed transaction
//! envelope ([`SignedTx`]), the assertion [`commitment`], and the bounty
//! [`Registry`] state machine with its settlement arithmetic. Keeping it free
//! of I/O means the node, the SDK and the tests run the very same code, and
//! a property test can drive millions of transactions through it.
//!
//! ```
//! use swarm_protocol::{Amount, Genesis, PrivateKey, Registry, Transfer, Tx};
//!
//! let alice = PrivateKey::from_bytes(&[1; 32])?;
//! let bob = PrivateKey::from_bytes(&[2; 32])?;
//! let mut genesis = Genesis::new("dev", alice.address());
//! genesis.allocations.insert(alice.address(), swarm_protocol::NctAmount(Amount::from_nct(10)));
//! let mut registry = Registry::new(&genesis)?;
//!
//! registry.begin_block(1, Default::default());
//! let pay = Transfer { to: bob.address(), amount: Amount::parse_nct("2.5")? };
//! let signed = Tx::new(alice.address(), "dev", 10, pay).sign(&alice);
//! registry.apply(&signed.verify()?)?;
//!
//! assert_eq!(registry.balance(&bob.address()).to_string(), "2.5 NCT");
//! registry.check_invariants()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod address;
pub mod admission;
mod amount;
pub mod api;
mod bits;
mod commitment;
mod error;
mod events;
mod genesis;
mod hash;
mod hex_text;
mod keys;
mod keystore;
mod math;
mod registry;
mod tx;

#[cfg(any(test, feature = "test-utils"))]
pub mod test_utils;

/// A bounty's identity: a UUID v4.
pub type Guid = uuid::Uuid;

pub use address::{Address, AddressError};
pub use amount::{as_nct, Amount, AmountError, NCT_DECIMALS, WEI_PER_NCT};
pub use bits::Bits256;
pub use commitment::commitment;
pub use error::{GenesisError, TxError};
pub use events::{
    AssertionMade, AssertionRevealed, BountyPosted, BountySettled, Event, Payout, PayoutRole,
    VoteCast,
};
pub use genesis::{Faucet, Genesis, GenesisParameters, NctAmount, Parameters};
pub use hash::{keccak256, H256};
pub use hex_text::HexError;
pub use keys::{KeyError, PrivateKey, Signature};
pub use keystore::{KdfStrength, Keystore, KeystoreError};
pub use math::mul_div;
pub use registry::{
    Assertion, Bounty, Deprecation, Registry, Revealed, Round, SettledBounty, SettledLookup,
    Settlement, StakeEntry, VoteRecord,
};
pub use tx::{
    AddArbiter, ArtifactMetadata, ArtifactType, Assert, Deprecate, Mint, PostBounty, RemoveArbiter,
    Reveal, SetFees, SetWindows, SignedTx, StakeDeposit, StakeWithdraw, Transfer, Tx, TxBody,
    TxKind, Undeprecate, UploadAuth, VerifiedTx, VerifiedUpload, Vote, MAX_EXPIRY_BLOCKS,
    MAX_RAW_TX_BYTES, MAX_REVEAL_METADATA_BYTES, UPLOAD_AUTH_NAME,
};
