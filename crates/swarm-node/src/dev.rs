//! The built-in development genesis: fast blocks, short windows, an open
//! faucet and well-known keys — for `swarm dev` and local testing only.

use swarm_protocol::{keccak256, Amount, Faucet, Genesis, NctAmount, PrivateKey};

/// A well-known development key: keccak256("swarm dev key {i}"). Anyone can
/// derive these; never use them outside a local marketplace.
pub fn dev_key(i: u32) -> PrivateKey {
    let mut seed = keccak256(format!("swarm dev key {i}")).0;
    // keccak output is a valid secp256k1 scalar except with negligible
    // probability; perturb and retry rather than panic.
    loop {
        if let Ok(key) = PrivateKey::from_bytes(&seed) {
            return key;
        }
        seed = keccak256(seed).0;
    }
}

/// The dev genesis: community `dev`, owner `dev_key(0)` (funded with 1M NCT),
/// arbiter `dev_key(1)` (funded with 20M NCT to stake), 200 ms blocks, 10-block
/// assertion rounds at most, R = 5, V = 10, stake_duration 10, and a faucet
/// minting up to 100M NCT at a time.
pub fn dev_genesis() -> Genesis {
    let owner = dev_key(0);
    let arbiter = dev_key(1);
    let mut genesis = Genesis::new("dev", owner.address());
    genesis.arbiters.insert(arbiter.address());
    genesis
        .allocations
        .insert(owner.address(), NctAmount(Amount::from_nct(1_000_000)));
    genesis
        .allocations
        .insert(arbiter.address(), NctAmount(Amount::from_nct(20_000_000)));
    let p = &mut genesis.parameters;
    p.block_time_ms = Some(200);
    p.max_duration = Some(20);
    p.assertion_reveal_window = Some(5);
    p.arbiter_vote_window = Some(10);
    p.stake_duration = Some(10);
    genesis.faucet = Some(Faucet {
        max_per_mint: Amount::from_nct(100_000_000),
    });
    genesis
}
