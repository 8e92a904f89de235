//! Helpers for tests and benchmarks: deterministic keys and a [`Market`]
//! that signs, verifies and applies transactions block by block.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::{
    commitment, keccak256, Address, Amount, Assert, Bits256, Event, Genesis, Guid, NctAmount,
    PostBounty, PrivateKey, Registry, Reveal, StakeDeposit, Tx, TxBody, TxError, Vote, H256,
};

/// A deterministic private key: keccak256("swarm test key {i}").
pub fn key(i: u64) -> PrivateKey {
    PrivateKey::from_bytes(&keccak256(format!("swarm test key {i}")).0).expect("valid scalar")
}

/// A fixed, well-formed artifact uri.
pub fn uri(i: u64) -> String {
    hex::encode(keccak256(format!("bundle {i}")).0)
}

/// A nonce for an engine's commitment on a bounty.
pub fn nonce_for(guid: &Guid, who: &Address) -> H256 {
    keccak256(format!("{guid}{who}"))
}

/// A registry plus the keys that drive it.
pub struct Market {
    pub registry: Registry,
    pub owner: PrivateKey,
    /// Every event produced so far, in order.
    pub events: Vec<Event>,
    /// Guids of the bounties handed out by [`Market::hand_out_settled`]:
    /// what a node's store answers for them.
    pub handed_out: std::collections::BTreeSet<Guid>,
    counter: u64,
}

impl Market {
    /// A dev market: default parameters, `owner = key(0)`, arbiters
    /// `key(100)..key(100 + arbiters)`, and 1,000 NCT for `key(1)..=key(20)`
    /// plus 20M NCT for each arbiter. Starts at block 1.
    pub fn new(arbiters: u64) -> Self {
        let owner = key(0);
        let mut genesis = Genesis::new("test", owner.address());
        for i in 1..=20 {
            genesis
                .allocations
                .insert(key(i).address(), NctAmount(Amount::from_nct(1_000)));
        }
        for i in 0..arbiters {
            let a = key(100 + i).address();
            genesis.arbiters.insert(a);
            genesis
                .allocations
                .insert(a, NctAmount(Amount::from_nct(20_000_000)));
        }
        Self::with_genesis(&genesis, owner)
    }

    /// A market on `genesis`, driven by `owner`. Starts at block 1.
    pub fn with_genesis(genesis: &Genesis, owner: PrivateKey) -> Self {
        let mut market = Market {
            registry: Registry::new(genesis).unwrap(),
            owner,
            events: Vec::new(),
            handed_out: std::collections::BTreeSet::new(),
            counter: 0,
        };
        market.next_block();
        market
    }

    /// The current block.
    pub fn block(&self) -> u64 {
        self.registry.block()
    }

    /// Begins the next block; returns its events and checks the invariants.
    pub fn next_block(&mut self) -> Vec<Event> {
        let n = self.registry.block() + 1;
        let events = self.registry.begin_block(n, keccak256(n.to_be_bytes()));
        self.registry.check_invariants().unwrap();
        self.events.extend(events.clone());
        events
    }

    /// Begins blocks until block `n` is current; returns all their events.
    pub fn advance_to(&mut self, n: u64) -> Vec<Event> {
        let mut events = Vec::new();
        while self.registry.block() < n {
            events.extend(self.next_block());
        }
        events
    }

    /// Signs `body` with `key`, verifies it and applies it in the current block.
    pub fn send(
        &mut self,
        key: &PrivateKey,
        body: impl Into<TxBody>,
    ) -> Result<Vec<Event>, TxError> {
        // Unique raw text per call, so repeated identical actions are not replays.
        self.counter += 1;
        let expires = self.registry.block() + 200 + self.counter % 50;
        let tx = Tx::new(
            key.address(),
            self.registry.community().to_owned(),
            expires,
            body,
        );
        let verified = tx.sign(key).verify()?;
        let events = self.registry.apply_with(&verified, &self.handed_out)?;
        self.registry.check_invariants().unwrap();
        self.events.extend(events.clone());
        Ok(events)
    }

    /// Hands out the settled bounties as a node does at each block
    /// ([`Registry::take_settled`]), remembering their guids.
    pub fn hand_out_settled(&mut self) -> Vec<crate::SettledBounty> {
        let out = self.registry.take_settled();
        self.handed_out.extend(out.iter().map(|s| s.bounty.guid));
        out
    }

    /// Posts a bounty of `n` artifacts and `amount` lasting `duration` blocks.
    pub fn post(&mut self, key: &PrivateKey, n: u32, amount: Amount, duration: u64) -> Guid {
        self.counter += 1;
        let guid = Guid::from_u128(u128::from(self.counter) << 64 | 0xb0);
        self.send(
            key,
            PostBounty {
                guid,
                artifact_type: crate::ArtifactType::File,
                amount,
                uri: uri(self.counter),
                num_artifacts: n,
                duration,
                metadata: None,
            },
        )
        .unwrap();
        guid
    }

    /// Asserts on the artifacts of `mask` with `bids`, committing to `verdicts`.
    pub fn assert(
        &mut self,
        key: &PrivateKey,
        guid: Guid,
        mask: Bits256,
        bids: Vec<Amount>,
        verdicts: Bits256,
    ) -> Result<Vec<Event>, TxError> {
        let who = key.address();
        let commitment = commitment(&verdicts, &nonce_for(&guid, &who), &who);
        self.send(
            key,
            Assert {
                bounty_guid: guid,
                mask,
                bids,
                commitment,
            },
        )
    }

    /// Reveals what [`Market::assert`] committed to.
    pub fn reveal(
        &mut self,
        key: &PrivateKey,
        guid: Guid,
        verdicts: Bits256,
    ) -> Result<Vec<Event>, TxError> {
        let nonce = nonce_for(&guid, &key.address());
        self.send(
            key,
            Reveal {
                bounty_guid: guid,
                nonce,
                verdicts,
                metadata: serde_json::Value::Null,
            },
        )
    }

    /// Votes `votes` on `guid`.
    pub fn vote(
        &mut self,
        key: &PrivateKey,
        guid: Guid,
        votes: Bits256,
    ) -> Result<Vec<Event>, TxError> {
        self.send(
            key,
            Vote {
                bounty_guid: guid,
                votes,
            },
        )
    }

    /// Stakes the minimum for arbiter `key`.
    pub fn stake_minimum(&mut self, key: &PrivateKey) {
        let amount = self.registry.parameters().minimum_stake;
        self.send(key, StakeDeposit { amount }).unwrap();
    }
}
