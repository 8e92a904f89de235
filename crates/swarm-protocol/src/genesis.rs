//! Community parameters and the genesis configuration that starts a registry.
//!
//! The genesis file is TOML that an operator writes by hand, so its amounts
//! are NCT (`bounty_fee = "0.0625"`) and every parameter may be left out to
//! take the default of SPEC §3.3. The JSON API shows the same parameters as
//! [`Parameters`], in wei like every other amount on the wire.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::amount::{as_nct, Amount};
use crate::error::GenesisError;

/// The rules of a community. Amounts in wei, windows in blocks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Parameters {
    /// Fee paid by the ambassador per bounty.
    pub bounty_fee: Amount,
    /// Fee paid by an engine per assertion.
    pub assertion_fee: Amount,
    /// Minimum bounty amount per artifact.
    pub bounty_amount_minimum: Amount,
    /// Minimum bid per asserted artifact.
    pub assertion_bid_minimum: Amount,
    /// Maximum bid per asserted artifact.
    pub assertion_bid_maximum: Amount,
    /// Longest assertion round, in blocks.
    pub max_duration: u64,
    /// Reveal round length R, in blocks.
    pub assertion_reveal_window: u64,
    /// Vote round length V, in blocks.
    pub arbiter_vote_window: u64,
    /// Stake an arbiter needs to vote.
    pub minimum_stake: Amount,
    /// Most an arbiter may stake.
    pub maximum_stake: Amount,
    /// Blocks before a stake deposit can be withdrawn.
    pub stake_duration: u64,
    /// Most artifacts in one bounty.
    pub max_artifacts: u32,
    /// Largest artifact, in bytes (enforced by the node's artifact store).
    pub max_artifact_size: u64,
    /// Target time between blocks, in milliseconds (used by the node).
    pub block_time_ms: u64,
}

impl Default for Parameters {
    /// SPEC §3.3.
    fn default() -> Self {
        let milli = |m: u128| Amount::from_wei(m * crate::amount::WEI_PER_NCT / 1_000_000);
        Parameters {
            bounty_fee: milli(62_500),
            assertion_fee: milli(31_250),
            bounty_amount_minimum: milli(62_500),
            assertion_bid_minimum: milli(62_500),
            assertion_bid_maximum: Amount::from_nct(1),
            max_duration: 100,
            assertion_reveal_window: 25,
            arbiter_vote_window: 100,
            minimum_stake: Amount::from_nct(10_000_000),
            maximum_stake: Amount::from_nct(100_000_000),
            stake_duration: 100,
            max_artifacts: 256,
            max_artifact_size: 32 * 1024 * 1024,
            block_time_ms: 1000,
        }
    }
}

impl Parameters {
    /// Checks that the parameters make a working community.
    pub fn validate(&self) -> Result<(), GenesisError> {
        let bad = |name, reason: &str| {
            Err(GenesisError::Parameter {
                name,
                reason: reason.to_owned(),
            })
        };
        if self.assertion_bid_minimum.is_zero() {
            return bad("assertion_bid_minimum", "must be greater than zero");
        }
        if self.assertion_bid_minimum > self.assertion_bid_maximum {
            return bad(
                "assertion_bid_maximum",
                "must be at least assertion_bid_minimum",
            );
        }
        if self.minimum_stake > self.maximum_stake {
            return bad("maximum_stake", "must be at least minimum_stake");
        }
        if self.max_duration == 0 {
            return bad("max_duration", "must be at least 1 block");
        }
        if self.assertion_reveal_window == 0 {
            return bad("assertion_reveal_window", "must be at least 1 block");
        }
        if self.arbiter_vote_window == 0 {
            return bad("arbiter_vote_window", "must be at least 1 block");
        }
        use crate::admission::{MAX_FEE, MAX_WINDOW_BLOCKS};
        for (name, blocks) in [
            ("max_duration", self.max_duration),
            ("assertion_reveal_window", self.assertion_reveal_window),
            ("arbiter_vote_window", self.arbiter_vote_window),
        ] {
            if blocks > MAX_WINDOW_BLOCKS {
                return bad(name, &format!("must be at most {MAX_WINDOW_BLOCKS} blocks"));
            }
        }
        for (name, fee) in [
            ("bounty_fee", self.bounty_fee),
            ("assertion_fee", self.assertion_fee),
        ] {
            if fee > MAX_FEE {
                return bad(name, &format!("must be at most {MAX_FEE}"));
            }
        }
        if self.max_artifacts == 0 || self.max_artifacts > 256 {
            return bad("max_artifacts", "must be between 1 and 256");
        }
        if self.block_time_ms == 0 {
            return bad("block_time_ms", "must be at least 1 ms");
        }
        Ok(())
    }
}

/// A dev faucet: anyone may mint to any account, up to a limit per mint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faucet {
    /// Most NCT one `nct:Mint` may create.
    #[serde(with = "as_nct")]
    pub max_per_mint: Amount,
}

/// The configuration a registry starts from.
///
/// ```toml
/// community = "dev"
/// owner = "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
/// arbiters = ["0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF"]
///
/// [parameters]
/// bounty_fee = "0.0625"
/// assertion_reveal_window = 10
///
/// [allocations]
/// "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf" = "1000000"
///
/// [faucet]
/// max_per_mint = "100000000"
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// The community name every transaction must carry.
    pub community: String,
    /// The community owner: sets fees and windows, manages arbiters, mints.
    pub owner: Address,
    /// Whitelisted arbiters at the start.
    #[serde(default)]
    pub arbiters: BTreeSet<Address>,
    /// Parameters; those left out take the defaults.
    #[serde(default)]
    pub parameters: GenesisParameters,
    /// Starting balances, in NCT.
    #[serde(default)]
    pub allocations: BTreeMap<Address, NctAmount>,
    /// Open a dev faucet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faucet: Option<Faucet>,
}

/// An amount written in NCT in a configuration file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NctAmount(#[serde(with = "as_nct")] pub Amount);

macro_rules! genesis_parameters {
    ($( $name:ident : $ty:ty $(as $with:literal)? ),* $(,)?) => {
        /// Parameters as written in a genesis file: in NCT, each optional.
        #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct GenesisParameters {
            $(
                #[doc = concat!("Overrides `", stringify!($name), "`.")]
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $name: Option<$ty>,
            )*
        }

        impl GenesisParameters {
            /// The defaults, overridden by what was given.
            pub fn resolve(&self) -> Parameters {
                let mut p = Parameters::default();
                $( if let Some(v) = self.$name { p.$name = v.into(); } )*
                p
            }
        }
    };
}

impl From<NctAmount> for Amount {
    fn from(n: NctAmount) -> Amount {
        n.0
    }
}

genesis_parameters! {
    bounty_fee: NctAmount,
    assertion_fee: NctAmount,
    bounty_amount_minimum: NctAmount,
    assertion_bid_minimum: NctAmount,
    assertion_bid_maximum: NctAmount,
    max_duration: u64,
    assertion_reveal_window: u64,
    arbiter_vote_window: u64,
    minimum_stake: NctAmount,
    maximum_stake: NctAmount,
    stake_duration: u64,
    max_artifacts: u32,
    max_artifact_size: u64,
    block_time_ms: u64,
}

impl Genesis {
    /// A genesis for `community` owned by `owner`, with default parameters
    /// and nothing allocated.
    pub fn new(community: impl Into<String>, owner: Address) -> Self {
        Genesis {
            community: community.into(),
            owner,
            arbiters: BTreeSet::new(),
            parameters: GenesisParameters::default(),
            allocations: BTreeMap::new(),
            faucet: None,
        }
    }

    /// Parses a genesis TOML document.
    #[cfg(feature = "toml")]
    pub fn from_toml(text: &str) -> Result<Self, GenesisError> {
        let genesis: Genesis =
            toml::from_str(text).map_err(|e| GenesisError::Parse(e.to_string()))?;
        genesis.parameters.resolve().validate()?;
        if genesis.community.is_empty() {
            return Err(GenesisError::Parse("community must not be empty".into()));
        }
        Ok(genesis)
    }

    /// Writes the genesis as TOML.
    #[cfg(feature = "toml")]
    pub fn to_toml(&self) -> String {
        // A struct of strings, integers and maps keyed by strings always serializes.
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_spec_3_3() {
        let p = Parameters::default();
        assert_eq!(p.bounty_fee.to_nct_string(), "0.0625");
        assert_eq!(p.assertion_fee.to_nct_string(), "0.03125");
        assert_eq!(p.assertion_bid_maximum.to_nct_string(), "1");
        assert_eq!(p.minimum_stake.to_nct_string(), "10000000");
        p.validate().unwrap();
    }

    #[test]
    fn toml_in_nct_with_defaults() {
        let text = r#"
            community = "dev"
            owner = "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
            arbiters = ["0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF"]
            [parameters]
            bounty_fee = "0.5"
            assertion_reveal_window = 10
            [allocations]
            "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf" = "1000000"
            [faucet]
            max_per_mint = "5"
        "#;
        let g = Genesis::from_toml(text).unwrap();
        let p = g.parameters.resolve();
        assert_eq!(
            p.bounty_fee,
            Amount::from_wei(crate::amount::WEI_PER_NCT / 2)
        );
        assert_eq!(p.assertion_reveal_window, 10);
        assert_eq!(p.arbiter_vote_window, 100);
        assert_eq!(g.faucet.as_ref().unwrap().max_per_mint, Amount::from_nct(5));
        assert_eq!(Genesis::from_toml(&g.to_toml()).unwrap(), g);
    }

    #[test]
    fn bad_genesis_is_named() {
        let owner = "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf";
        let unknown = format!("community = \"x\"\nowner = \"{owner}\"\nblock_tme = 3\n");
        assert!(Genesis::from_toml(&unknown)
            .unwrap_err()
            .to_string()
            .contains("block_tme"));
        let zero = format!(
            "community = \"x\"\nowner = \"{owner}\"\n[parameters]\narbiter_vote_window = 0\n"
        );
        let err = Genesis::from_toml(&zero).unwrap_err().to_string();
        assert!(err.contains("arbiter_vote_window"), "{err}");
        let bids = format!(
            "community = \"x\"\nowner = \"{owner}\"\n[parameters]\nassertion_bid_maximum = \"0.01\"\n"
        );
        assert!(Genesis::from_toml(&bids)
            .unwrap_err()
            .to_string()
            .contains("assertion_bid_maximum"));
    }
}
