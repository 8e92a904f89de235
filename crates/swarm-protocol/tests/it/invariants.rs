//! Property test of the bounty registry (SPEC §3): random interleavings of
//! every transaction kind and of blocks keep the books.
//!
//! SPEC §3.9 makes one promise about money: sum(balances) + escrow + stakes +
//! treasury == total minted, after every block. Unit tests check it along
//! the paths someone thought of; this test checks it, and the rules around
//! it, along paths nobody thought of.
//!
//! A generated run is a sequence of 200..400 operations — all fourteen
//! transaction names, "begin the next block(s)", and a replay of the last
//! admitted transaction — on a small community (with or without a dev
//! faucet) whose windows are short: assertion round at most 5 blocks, reveal
//! 3, vote 4, stakes mature after 5. So a run really posts, asserts, reveals,
//! votes and settles dozens of bounties, in all four settlement cases.
//!
//! Operations are *indices into the live state*, not transactions: "actor k
//! asserts on the j-th bounty that is in its assertion round, with mask seed
//! s", "the j-th assertion author that has not revealed yet reveals". They
//! are resolved against the registry when they run, so most are valid, and
//! a shrunk sequence still means something (deleting an earlier post does
//! not turn every later assertion into garbage). Many are invalid on
//! purpose: about one in ten of each kind carries a deliberate flaw (bad
//! commitment or nonce, bit out of range, bid out of bounds, duplicate guid,
//! bad uri, zero amount, wrong community, expired, ...) and must be refused;
//! others are refused by the state they meet (wrong round, duplicate
//! assertion or vote, insufficient funds, understaked or non-arbiter voter,
//! non-owner admin, replay, deprecated community, locked stake).
//!
//! After every operation and every block the test checks:
//!
//! * [`Registry::check_invariants`] (balances + escrow + stakes + treasury ==
//!   minted, escrow == what unsettled bounties hold);
//! * the same sum recomputed here from the public read API, the minted total
//!   against genesis plus the admitted mints, and the escrow against the
//!   unsettled bounties' amounts, fees and bids;
//! * every listed balance is positive (zero balances are removed). Amounts
//!   are `u128`, so a "negative" balance could only appear as a debit that
//!   saturated at zero or a sum that wrapped, which the checks above catch;
//! * a refused transaction leaves the registry exactly as it was (`==` on a
//!   clone taken before), and a transaction with a deliberate flaw is refused;
//! * an admitted transaction was allowed in the state before it (owner-only
//!   actions by the owner or, for mints, within the faucet's limit; each
//!   bounty action in its round; votes by staked, whitelisted arbiters;
//!   deposits by arbiters), and its hash is now remembered against replay;
//! * a bounty settles only in `begin_block`, exactly when a `settled_bounty`
//!   event says so, no later than its vote deadline; its payouts plus dust
//!   equal what it held; the ambassador's refund is right when nobody
//!   asserted; and once settled the bounty never changes again;
//! * the treasury never shrinks; after the last operation every bounty
//!   settles and the escrow is exactly zero.
//!
//! A property test that never settles anything proves nothing, so
//! `fixed_seeds_cover_every_kind_and_settlement_case` runs 64 fixed-seed
//! sequences (`--nocapture` prints the tally) and asserts that every
//! transaction kind was admitted, each of the four settlement cases
//! (A=0/V=0, A=0/V>0, A>0/V=0, A>0/V>0) and an early settlement (every
//! arbiter voted) occurred, and the main refusal reasons were hit.
//!
//! `PROPTEST_CASES` can raise the number of cases (256) but not lower it.
//! A failure shrinks by deleting operations first (see [`Deletable`]) and is
//! saved in `tests/invariants.proptest-regressions`; its minimal input
//! prints without the deleted operations, so that it can be pasted (with
//! `Op::` before each variant) into a named regression `#[test]`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::strategy::{NewTree, ValueTree};
use proptest::test_runner::{FileFailurePersistence, RngAlgorithm, TestRng, TestRunner};
use swarm_protocol::test_utils::{key, nonce_for, uri};
use swarm_protocol::{
    commitment, keccak256, AddArbiter, Address, Amount, ArtifactMetadata, ArtifactType, Assert,
    Bits256, Bounty, Deprecate, Event, Faucet, Genesis, Guid, Mint, NctAmount, PostBounty,
    Registry, RemoveArbiter, Reveal, Round, SetFees, SetWindows, StakeDeposit, StakeWithdraw,
    Transfer, Tx, TxBody, TxError, Undeprecate, VerifiedTx, Vote, H256, MAX_EXPIRY_BLOCKS,
    WEI_PER_NCT,
};

// ---- the cast ------------------------------------------------------------------

const COMMUNITY: &str = "prop";
/// Actor 0 owns the community; 1..=3 are funded users; 4 is nearly broke;
/// 5..=7 are the genesis arbiters; 8 is a candidate the owner may whitelist.
const ACTORS: usize = 9;
const OWNER: usize = 0;
const POOR: usize = 4;
const ARBITERS: [usize; 3] = [5, 6, 7];
const CANDIDATE: usize = 8;
/// Who stakes and votes in a "fitting" operation.
const STAKERS: [usize; 4] = [5, 6, 7, CANDIDATE];
/// Who posts bounties.
const AMBASSADORS: [usize; 5] = [0, 1, 2, 3, POOR];
/// Whom the owner adds or removes.
const ARBITER_CHOICES: [usize; 5] = [CANDIDATE, 5, 6, 7, 1];
/// Nobody's key: a payee outside the cast.
const STRANGER: Address = Address([0x77; 20]);
/// At most this many artifacts per generated bounty.
const MAX_ARTIFACTS: u8 = 4;
const MINIMUM_STAKE_NCT: u128 = 10;

fn key_index(actor: usize) -> u64 {
    if actor < 5 {
        actor as u64
    } else {
        100 + (actor - 5) as u64
    }
}

fn addrs() -> &'static [Address; ACTORS] {
    static ADDRS: OnceLock<[Address; ACTORS]> = OnceLock::new();
    ADDRS.get_or_init(|| std::array::from_fn(|i| key(key_index(i)).address()))
}

fn addr(actor: usize) -> Address {
    addrs()[actor % ACTORS]
}

fn nct(n: u128) -> Amount {
    Amount::from_nct(n)
}

/// k/16 NCT (1/16 = 0.0625, the default minimums).
fn sixteenths(k: u128) -> Amount {
    Amount::from_wei(k * WEI_PER_NCT / 16)
}

fn wei(w: u128) -> Amount {
    Amount::from_wei(w)
}

/// The community of every run; with `faucet`, anyone may mint up to 50 NCT at a time.
fn genesis(faucet: bool) -> Genesis {
    let a = addrs();
    let mut g = Genesis::new(COMMUNITY, a[OWNER]);
    let mut give = |i: usize, amount: Amount| {
        g.allocations.insert(a[i], NctAmount(amount));
    };
    give(OWNER, nct(10_000));
    for user in 1..=3 {
        give(user, nct(200));
    }
    give(POOR, sixteenths(8));
    for arbiter in ARBITERS {
        give(arbiter, nct(1_000));
    }
    give(CANDIDATE, nct(100));
    for arbiter in ARBITERS {
        g.arbiters.insert(a[arbiter]);
    }
    let p = &mut g.parameters;
    p.max_duration = Some(5);
    p.assertion_reveal_window = Some(3);
    p.arbiter_vote_window = Some(4);
    p.stake_duration = Some(5);
    p.minimum_stake = Some(NctAmount(nct(MINIMUM_STAKE_NCT)));
    p.maximum_stake = Some(NctAmount(nct(100)));
    if faucet {
        g.faucet = Some(Faucet {
            max_per_mint: nct(50),
        });
    }
    g
}

// ---- operations ----------------------------------------------------------------

/// Which bounty an operation aims at: with `fitting`, the `index`-th (newest
/// first) of those in the round the operation needs — for reveals and votes,
/// of the (bounty, author or arbiter) pairs, mostly those that have not acted
/// yet (see `Sim::pick_pair`); otherwise, or when nothing fits, the
/// `index`-th of all bounties, whatever their round.
#[derive(Clone, Copy, Debug)]
struct Target {
    fitting: bool,
    index: u8,
}

/// One step of a run. The `u8` fields are seeds, resolved at run time
/// against the registry (see `Sim::resolve`); `flaw` 0 means none.
#[derive(Clone, Debug)]
enum Op {
    /// Nothing: what shrinking turns a deleted operation into (see
    /// [`Deletable`]). Never generated; skipped by `run`.
    Nop,
    /// Begin this many blocks.
    Blocks(u8),
    Transfer {
        from: u8,
        to: u8,
        amount: u8,
        flaw: u8,
    },
    Mint {
        from: u8,
        to: u8,
        amount: u8,
    },
    Post {
        from: u8,
        n: u8,
        amount: u8,
        duration: u8,
        metadata: bool,
        flaw: u8,
    },
    Assert {
        from: u8,
        target: Target,
        mask: u8,
        bids: u8,
        verdicts: u8,
        flaw: u8,
    },
    Reveal {
        from: u8,
        target: Target,
        flaw: u8,
    },
    Vote {
        from: u8,
        target: Target,
        votes: u8,
        flaw: u8,
    },
    Deposit {
        from: u8,
        amount: u8,
    },
    Withdraw {
        from: u8,
        amount: u8,
    },
    SetFees {
        from: u8,
        fees: u8,
    },
    SetWindows {
        from: u8,
        reveal: u8,
        vote: u8,
    },
    AddArbiter {
        from: u8,
        who: u8,
    },
    RemoveArbiter {
        from: u8,
        who: u8,
    },
    Deprecate {
        from: u8,
        rollover: bool,
    },
    Undeprecate {
        from: u8,
    },
    /// Send the last admitted transaction again.
    Replay,
}

/// Mostly 0 (no flaw), sometimes one of `1..=kinds`.
fn flaw(kinds: u8) -> BoxedStrategy<u8> {
    prop_oneof![9 => Just(0u8), 1 => 1..=kinds].boxed()
}

fn target() -> impl Strategy<Value = Target> {
    (prop::bool::weighted(0.9), any::<u8>()).prop_map(|(fitting, index)| Target { fitting, index })
}

fn op() -> impl Strategy<Value = Op> {
    let s = any::<u8>;
    prop_oneof![
        12 => (1u8..=2).prop_map(Op::Blocks),
        5 => (s(), s(), s(), flaw(3))
            .prop_map(|(from, to, amount, flaw)| Op::Transfer { from, to, amount, flaw }),
        2 => (s(), s(), s()).prop_map(|(from, to, amount)| Op::Mint { from, to, amount }),
        14 => (s(), s(), s(), s(), any::<bool>(), flaw(9)).prop_map(
            |(from, n, amount, duration, metadata, flaw)| Op::Post {
                from,
                n,
                amount,
                duration,
                metadata,
                flaw
            }
        ),
        18 => (s(), target(), s(), s(), s(), flaw(6)).prop_map(
            |(from, target, mask, bids, verdicts, flaw)| Op::Assert {
                from,
                target,
                mask,
                bids,
                verdicts,
                flaw
            }
        ),
        12 => (s(), target(), flaw(4))
            .prop_map(|(from, target, flaw)| Op::Reveal { from, target, flaw }),
        12 => (s(), target(), s(), flaw(1))
            .prop_map(|(from, target, votes, flaw)| Op::Vote { from, target, votes, flaw }),
        4 => (s(), s()).prop_map(|(from, amount)| Op::Deposit { from, amount }),
        2 => (s(), s()).prop_map(|(from, amount)| Op::Withdraw { from, amount }),
        1 => (s(), s()).prop_map(|(from, fees)| Op::SetFees { from, fees }),
        1 => (s(), s(), s()).prop_map(|(from, reveal, vote)| Op::SetWindows { from, reveal, vote }),
        1 => (s(), s()).prop_map(|(from, who)| Op::AddArbiter { from, who }),
        1 => (s(), s()).prop_map(|(from, who)| Op::RemoveArbiter { from, who }),
        1 => (s(), any::<bool>()).prop_map(|(from, rollover)| Op::Deprecate { from, rollover }),
        4 => s().prop_map(|from| Op::Undeprecate { from }),
        1 => Just(Op::Replay),
    ]
}

/// A run of 200..400 operations.
///
/// The vector cannot shrink below 200 elements, so each element is
/// [`Deletable`]: shrinking first tries to delete every operation, one by
/// one, and only then simplifies the ones the failure needs.
fn ops() -> impl Strategy<Value = Ops> {
    prop::collection::vec(Deletable(op()), 200..400).prop_map(Ops)
}

/// An operation whose first shrinking step replaces it by [`Op::Nop`].
///
/// (A union with `Just(Op::Nop)` or a `(keep, op)` pair would first spend
/// dozens of steps shrinking the fields of an operation before, or after,
/// deleting it.)
#[derive(Debug)]
struct Deletable<S>(S);

impl<S: Strategy<Value = Op>> Strategy for Deletable<S> {
    type Tree = DeletableTree<S::Tree>;
    type Value = Op;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        Ok(DeletableTree {
            inner: self.0.new_tree(runner)?,
            tried: false,
            deleted: false,
        })
    }
}

struct DeletableTree<T> {
    inner: T,
    /// Deletion was tried.
    tried: bool,
    /// Deleted (for now, or for good if the failure persisted).
    deleted: bool,
}

impl<T: ValueTree<Value = Op>> ValueTree for DeletableTree<T> {
    type Value = Op;

    fn current(&self) -> Op {
        if self.deleted {
            Op::Nop
        } else {
            self.inner.current()
        }
    }

    fn simplify(&mut self) -> bool {
        if !self.tried {
            self.tried = true;
            self.deleted = true;
            return true;
        }
        // Deleted for good: nothing is simpler than nothing.
        !self.deleted && self.inner.simplify()
    }

    fn complicate(&mut self) -> bool {
        if self.deleted {
            // The failure needs this operation: restore it.
            self.deleted = false;
            return true;
        }
        self.inner.complicate()
    }
}

/// A run. Its `Debug` leaves the `Nop`s out, so that a shrunk failure
/// prints only the operations that matter, ready to paste into a
/// regression test.
#[derive(Clone)]
struct Ops(Vec<Op>);

impl fmt::Debug for Ops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().filter(|op| !matches!(op, Op::Nop)))
            .finish()
    }
}

// ---- outcome counts ------------------------------------------------------------

const CASES: [&str; 4] = ["A=0/V=0", "A=0/V>0", "A>0/V=0", "A>0/V>0"];

#[derive(Default)]
struct Tally {
    runs: u64,
    ops: u64,
    blocks: u64,
    admitted: BTreeMap<&'static str, u64>,
    refused: BTreeMap<String, u64>,
    cases: [u64; 4],
    /// Settled before the vote deadline because every arbiter voted.
    early: u64,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.runs += other.runs;
        self.ops += other.ops;
        self.blocks += other.blocks;
        for (k, v) in other.admitted {
            *self.admitted.entry(k).or_default() += v;
        }
        for (k, v) in other.refused {
            *self.refused.entry(k).or_default() += v;
        }
        for (mine, theirs) in self.cases.iter_mut().zip(other.cases) {
            *mine += theirs;
        }
        self.early += other.early;
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} runs, {} operations, {} blocks",
            self.runs, self.ops, self.blocks
        )?;
        writeln!(f, "admitted:")?;
        for (name, count) in &self.admitted {
            writeln!(f, "  {name:<24} {count}")?;
        }
        writeln!(f, "refused:")?;
        for (reason, count) in &self.refused {
            writeln!(f, "  {reason:<48} {count}")?;
        }
        writeln!(f, "settlements:")?;
        for (case, count) in CASES.iter().zip(self.cases) {
            writeln!(f, "  {case:<24} {count}")?;
        }
        write!(f, "  {:<24} {}", "(early, all voted)", self.early)
    }
}

/// The variant name of a refusal, such as `WrongRound`.
fn reason(e: &TxError) -> String {
    format!("{e:?}")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect()
}

// ---- the simulation ------------------------------------------------------------

/// A transaction ready to apply, with what the test knows about it.
struct Planned {
    tx: VerifiedTx,
    /// Set when the transaction has a deliberate flaw and must be refused.
    must_refuse: Option<&'static str>,
    /// For an assertion: the verdicts and nonce a correct reveal will use.
    commit: Option<(Bits256, H256)>,
}

struct Sim {
    reg: Registry,
    counter: u64,
    next_guid: u128,
    /// What each admitted assertion committed to, by (bounty, author).
    commits: BTreeMap<(Guid, Address), (Bits256, H256)>,
    /// Every settled bounty as first seen settled.
    settled: BTreeMap<Guid, Bounty>,
    /// Genesis allocations plus admitted mints.
    minted: Amount,
    treasury: Amount,
    last_admitted: Option<VerifiedTx>,
    tally: Tally,
}

/// What a bounty holds while unsettled, computed from its public fields.
fn held_by(b: &Bounty) -> u128 {
    b.amount.wei()
        + b.fee.wei()
        + b.assertions
            .iter()
            .map(|a| a.fee.wei() + a.bids.iter().map(|x| x.wei()).sum::<u128>())
            .sum::<u128>()
}

fn ensure(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(what())
    }
}

impl Sim {
    fn new(faucet: bool) -> Self {
        let g = genesis(faucet);
        let reg = Registry::new(&g).unwrap();
        let minted = reg.total_minted();
        Sim {
            reg,
            counter: 0,
            next_guid: 0,
            commits: BTreeMap::new(),
            settled: BTreeMap::new(),
            minted,
            treasury: Amount::ZERO,
            last_admitted: None,
            tally: Tally::default(),
        }
    }

    /// Block 1, and the three genesis arbiters stake the minimum — signed and
    /// verified for real, unlike the random operations.
    fn prelude(&mut self) -> Result<(), String> {
        self.next_block()?;
        for arbiter in ARBITERS {
            let k = key(key_index(arbiter));
            let tx = self.tx(
                k.address(),
                StakeDeposit {
                    amount: nct(MINIMUM_STAKE_NCT),
                },
            );
            let tx = tx.sign(&k).verify().map_err(|e| e.to_string())?;
            let planned = Planned {
                tx,
                must_refuse: None,
                commit: None,
            };
            if !self.submit(planned, false)? {
                return Err("prelude stake refused".into());
            }
        }
        Ok(())
    }

    fn tx(&mut self, from: Address, body: impl Into<TxBody>) -> Tx {
        // Distinct expiries keep identical bodies from colliding as replays.
        self.counter += 1;
        let expires = self.reg.block() + 1 + self.counter % (MAX_EXPIRY_BLOCKS - 6);
        Tx::new(from, COMMUNITY, expires, body)
    }

    fn plan(&mut self, from: Address, body: impl Into<TxBody>) -> Planned {
        let tx = self.tx(from, body);
        Planned {
            tx: VerifiedTx::unchecked(tx),
            must_refuse: None,
            commit: None,
        }
    }

    fn fresh_guid(&mut self) -> Guid {
        self.next_guid += 1;
        Guid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0000 | self.next_guid)
    }

    /// The owner, or (for seeds >= 200) any actor: admin operations come
    /// mostly from the owner, sometimes from someone who may not act.
    fn admin(from: u8) -> Address {
        if from < 200 {
            addr(OWNER)
        } else {
            addr(usize::from(from))
        }
    }

    /// A staker, or (for seeds >= 224) anyone.
    fn staker(from: u8) -> Address {
        if from < 224 {
            addr(STAKERS[usize::from(from) % STAKERS.len()])
        } else {
            addr(usize::from(from))
        }
    }

    fn pick_bounty(&self, t: Target, want: impl Fn(Round) -> bool) -> Option<Guid> {
        let all: Vec<&Bounty> = self.reg.bounties_newest_first().collect();
        if t.fitting {
            let fit: Vec<&&Bounty> = all.iter().filter(|b| want(self.reg.round(b))).collect();
            if !fit.is_empty() {
                return Some(fit[usize::from(t.index) % fit.len()].guid);
            }
        }
        if all.is_empty() {
            None
        } else {
            Some(all[usize::from(t.index) % all.len()].guid)
        }
    }

    /// A bounty and its artifact count; an unknown guid when there is none.
    fn pick(&mut self, t: Target, want: impl Fn(Round) -> bool) -> (Guid, usize) {
        match self.pick_bounty(t, want) {
            Some(guid) => {
                let n = self.reg.bounty(&guid).map_or(1, |b| b.num_artifacts);
                (guid, n as usize)
            }
            None => (self.fresh_guid(), 1),
        }
    }

    /// For a fitting operation, a (bounty, actor) pair among the bounties in
    /// the wanted round: mostly one where `actors` says the actor has not yet
    /// acted (index < 224), otherwise any pair, so that duplicates happen too.
    /// `None` when the operation is not fitting or no pair exists.
    fn pick_pair(
        &self,
        t: Target,
        want: impl Fn(Round) -> bool,
        actors: impl Fn(&Bounty) -> Vec<(Address, bool)>,
    ) -> Option<(Guid, Address, usize)> {
        if !t.fitting {
            return None;
        }
        let mut open = Vec::new();
        let mut all = Vec::new();
        for b in self.reg.bounties_newest_first() {
            if !want(self.reg.round(b)) {
                continue;
            }
            for (who, fresh) in actors(b) {
                let pair = (b.guid, who, b.num_artifacts as usize);
                if fresh {
                    open.push(pair);
                }
                all.push(pair);
            }
        }
        let list = if t.index < 224 && !open.is_empty() {
            open
        } else {
            all
        };
        (!list.is_empty()).then(|| list[usize::from(t.index) % list.len()])
    }

    /// Turns an operation into a transaction against the current state.
    fn resolve(&mut self, op: &Op) -> Option<Planned> {
        let p = self.reg.parameters().clone();
        let planned = match *op {
            Op::Nop | Op::Blocks(_) => return None,
            Op::Replay => {
                let tx = self.last_admitted.clone()?;
                Planned {
                    tx,
                    must_refuse: Some("replay"),
                    commit: None,
                }
            }
            Op::Transfer {
                from,
                to,
                amount,
                flaw,
            } => {
                let from = addr(usize::from(from));
                let to = if to % 10 == 9 {
                    STRANGER
                } else {
                    addr(usize::from(to))
                };
                let balance = self.reg.balance(&from);
                let (amount, bad) = match amount % 6 {
                    0 => (nct(1), None),
                    1 => (sixteenths(1), None),
                    2 => (balance, balance.is_zero().then_some("zero transfer")),
                    3 => (wei(balance.wei() + 1), Some("more than the balance")),
                    4 => (Amount::ZERO, Some("zero transfer")),
                    _ => (nct(3), None),
                };
                let mut tx = self.tx(from, Transfer { to, amount });
                let bad = match flaw {
                    1 => {
                        tx.community = "elsewhere".into();
                        Some("wrong community")
                    }
                    2 => {
                        tx.expires = self.reg.block() - 1;
                        Some("expired")
                    }
                    3 => {
                        tx.expires = self.reg.block() + MAX_EXPIRY_BLOCKS + 1;
                        Some("expires too far ahead")
                    }
                    _ => bad,
                };
                Planned {
                    tx: VerifiedTx::unchecked(tx),
                    must_refuse: bad,
                    commit: None,
                }
            }
            Op::Mint { from, to, amount } => {
                let from = Self::admin(from);
                let to = if to % 10 == 9 {
                    STRANGER
                } else {
                    addr(usize::from(to))
                };
                let (amount, bad) = match amount % 5 {
                    0 => (nct(100), None),
                    1 => (nct(1), None),
                    2 => (sixteenths(1), None),
                    3 => (Amount::ZERO, Some("zero mint")),
                    _ => (wei(u128::MAX), Some("supply overflow")),
                };
                let mut planned = self.plan(from, Mint { to, amount });
                let allowed = from == addr(OWNER)
                    || self.reg.faucet().is_some_and(|f| amount <= f.max_per_mint);
                planned.must_refuse =
                    bad.or((!allowed).then_some("not the owner, and no faucet or above its limit"));
                planned
            }
            Op::Post {
                from,
                n,
                amount,
                duration,
                metadata,
                flaw,
            } => {
                let from = addr(AMBASSADORS[usize::from(from) % AMBASSADORS.len()]);
                let mut n = 1 + u32::from(n % MAX_ARTIFACTS);
                let minimum = p.bounty_amount_minimum.wei() * u128::from(n);
                let mut amount = match amount % 5 {
                    0 => wei(minimum),
                    1 => wei(minimum * 3),
                    2 => nct(1),
                    3 => nct(4),
                    _ => nct(20),
                };
                let mut duration = 1 + u64::from(duration) % p.max_duration;
                let mut guid = self.fresh_guid();
                let mut uri = uri(self.counter);
                let meta = |count: u32| {
                    (0..count)
                        .map(|i| ArtifactMetadata {
                            filename: Some(format!("sample{i}.exe")),
                            filesize: Some(68),
                            ..Default::default()
                        })
                        .collect::<Vec<_>>()
                };
                let mut metadata = metadata.then(|| meta(n));
                let mut bad = None;
                match flaw {
                    1 => {
                        if let Some(b) = self.reg.bounties_newest_first().next() {
                            guid = b.guid;
                            bad = Some("duplicate guid");
                        }
                    }
                    2 => {
                        amount = wei(minimum - 1);
                        bad = Some("amount below the minimum");
                    }
                    3 => {
                        duration = 0;
                        bad = Some("zero duration");
                    }
                    4 => {
                        duration = p.max_duration + 1;
                        bad = Some("duration above the maximum");
                    }
                    5 => {
                        uri = "not a bundle".into();
                        bad = Some("bad uri");
                    }
                    6 => {
                        n = 0;
                        metadata = None;
                        bad = Some("no artifacts");
                    }
                    7 => {
                        n = 257;
                        metadata = None;
                        bad = Some("too many artifacts");
                    }
                    8 => {
                        metadata = Some(meta(n + 1));
                        bad = Some("metadata count");
                    }
                    9 => {
                        amount = wei(u128::MAX / 2);
                        bad = Some("insufficient funds");
                    }
                    _ => {}
                }
                let artifact_type = if n % 2 == 0 {
                    ArtifactType::Url
                } else {
                    ArtifactType::File
                };
                let mut planned = self.plan(
                    from,
                    PostBounty {
                        guid,
                        artifact_type,
                        amount,
                        uri,
                        num_artifacts: n,
                        duration,
                        metadata,
                    },
                );
                planned.must_refuse = bad;
                planned
            }
            Op::Assert {
                from,
                target,
                mask,
                bids,
                verdicts,
                flaw,
            } => {
                let who = addr(usize::from(from));
                let (guid, n) = self.pick(target, |r| r == Round::Assertion);
                let all = (1u32 << n) - 1;
                let mask_bits = u32::from(mask) % all + 1;
                let mut mask = Bits256::from_indices((0..n).filter(|i| mask_bits >> i & 1 == 1));
                let ladder = [sixteenths(1), sixteenths(4), sixteenths(8), sixteenths(16)];
                let mut bid_list: Vec<Amount> = (0..mask.count())
                    .map(|k| ladder[usize::from(bids >> (2 * (k % 4))) & 3])
                    .collect();
                let verdicts_bits = u32::from(verdicts) & all;
                let verdicts =
                    Bits256::from_indices((0..n).filter(|i| verdicts_bits >> i & 1 == 1));
                let nonce = nonce_for(&guid, &who);
                let mut commit = commitment(&verdicts, &nonce, &who);
                let mut bad = None;
                match flaw {
                    1 => {
                        // Admissible, but no reveal will ever match it.
                        commit = commitment(&verdicts, &keccak256(b"not my nonce"), &who);
                    }
                    2 => {
                        mask = Bits256::EMPTY;
                        bid_list.clear();
                        bad = Some("empty mask");
                    }
                    3 => {
                        mask.set(n, true);
                        bid_list.push(sixteenths(1));
                        bad = Some("mask bit out of range");
                    }
                    4 => {
                        bid_list.push(sixteenths(1));
                        bad = Some("one bid too many");
                    }
                    5 => {
                        bid_list[0] = wei(p.assertion_bid_minimum.wei() - 1);
                        bad = Some("bid below the minimum");
                    }
                    6 => {
                        bid_list[0] = wei(p.assertion_bid_maximum.wei() + 1);
                        bad = Some("bid above the maximum");
                    }
                    _ => {}
                }
                let mut planned = self.plan(
                    who,
                    Assert {
                        bounty_guid: guid,
                        mask,
                        bids: bid_list,
                        commitment: commit,
                    },
                );
                planned.must_refuse = bad;
                planned.commit = Some((verdicts, nonce));
                planned
            }
            Op::Reveal { from, target, flaw } => {
                let pair = self.pick_pair(
                    target,
                    |r| r == Round::Reveal,
                    |b| {
                        b.assertions
                            .iter()
                            .map(|a| (a.author, a.revealed.is_none()))
                            .collect()
                    },
                );
                let (guid, who) = match pair {
                    Some((guid, who, _)) => (guid, who),
                    None => (
                        self.pick(target, |r| r == Round::Reveal).0,
                        addr(usize::from(from)),
                    ),
                };
                let (mut verdicts, mut nonce) = self
                    .commits
                    .get(&(guid, who))
                    .copied()
                    .unwrap_or((Bits256::EMPTY, nonce_for(&guid, &who)));
                let mut metadata =
                    serde_json::json!([{"malware_family": "Eicar", "scanner": {"version": "1"}}]);
                let bad = match flaw {
                    1 => {
                        verdicts.set(255, !verdicts.get(255));
                        Some("wrong verdicts")
                    }
                    2 => {
                        nonce = H256::ZERO;
                        Some("zero nonce")
                    }
                    3 => {
                        nonce = keccak256(nonce.0);
                        Some("wrong nonce")
                    }
                    4 => {
                        metadata = serde_json::Value::String("x".repeat(65 * 1024));
                        Some("metadata too large")
                    }
                    _ => None,
                };
                let mut planned = self.plan(
                    who,
                    Reveal {
                        bounty_guid: guid,
                        nonce,
                        verdicts,
                        metadata,
                    },
                );
                planned.must_refuse = bad;
                planned
            }
            Op::Vote {
                from,
                target,
                votes,
                flaw,
            } => {
                let voting = |r| matches!(r, Round::Vote | Round::Quorum);
                let pair = self.pick_pair(target, voting, |b| {
                    STAKERS
                        .iter()
                        .map(|&s| (addr(s), !b.has_voted(&addr(s))))
                        .collect()
                });
                let (guid, who, n) = match pair {
                    Some(pair) => pair,
                    None => {
                        let (guid, n) = self.pick(target, voting);
                        (guid, addr(usize::from(from)), n)
                    }
                };
                let mut votes = Bits256::from_indices((0..n).filter(|i| votes >> i & 1 == 1));
                let mut bad = None;
                if flaw == 1 {
                    votes.set(n, true);
                    bad = Some("vote bit out of range");
                }
                let mut planned = self.plan(
                    who,
                    Vote {
                        bounty_guid: guid,
                        votes,
                    },
                );
                planned.must_refuse = bad;
                planned
            }
            Op::Deposit { from, amount } => {
                let who = Self::staker(from);
                let amount = [10, 10, 5, 30, 0, 150, 950, 2][usize::from(amount) % 8];
                let mut planned = self.plan(
                    who,
                    StakeDeposit {
                        amount: nct(amount),
                    },
                );
                planned.must_refuse = (amount == 0).then_some("zero deposit");
                planned
            }
            Op::Withdraw { from, amount } => {
                let who = Self::staker(from);
                let free = self.reg.stake_withdrawable(&who);
                let (amount, bad) = match amount % 6 {
                    0 => (free, free.is_zero().then_some("zero withdrawal")),
                    1 => (nct(1), (free < nct(1)).then_some("more than withdrawable")),
                    2 => {
                        let total = self.reg.stake_total(&who);
                        (
                            total,
                            (total.is_zero() || total > free).then_some("locked or zero"),
                        )
                    }
                    3 => (wei(free.wei() + 1), Some("more than withdrawable")),
                    4 => (Amount::ZERO, Some("zero withdrawal")),
                    _ => (nct(5), (free < nct(5)).then_some("more than withdrawable")),
                };
                let mut planned = self.plan(who, StakeWithdraw { amount });
                planned.must_refuse = bad;
                planned
            }
            Op::SetFees { from, fees } => {
                let from = Self::admin(from);
                let (bounty_fee, assertion_fee) = match fees % 5 {
                    0 => (sixteenths(1), Amount::from_wei(WEI_PER_NCT / 32)),
                    1 => (Amount::ZERO, Amount::ZERO),
                    2 => (sixteenths(2), sixteenths(1)),
                    3 => (nct(3), sixteenths(8)),
                    _ => (sixteenths(1), Amount::ZERO),
                };
                let mut planned = self.plan(
                    from,
                    SetFees {
                        bounty_fee,
                        assertion_fee,
                    },
                );
                planned.must_refuse = (from != addr(OWNER)).then_some("not the owner");
                planned
            }
            Op::SetWindows { from, reveal, vote } => {
                let from = Self::admin(from);
                let reveal = u64::from(reveal % 5);
                let vote = u64::from(vote % 6);
                let mut planned = self.plan(
                    from,
                    SetWindows {
                        assertion_reveal_window: reveal,
                        arbiter_vote_window: vote,
                    },
                );
                planned.must_refuse = if from != addr(OWNER) {
                    Some("not the owner")
                } else if reveal == 0 || vote == 0 {
                    Some("zero window")
                } else {
                    None
                };
                planned
            }
            Op::AddArbiter { from, who } => {
                let from = Self::admin(from);
                let arbiter = addr(ARBITER_CHOICES[usize::from(who) % ARBITER_CHOICES.len()]);
                let mut planned = self.plan(from, AddArbiter { arbiter });
                planned.must_refuse = (from != addr(OWNER)).then_some("not the owner");
                planned
            }
            Op::RemoveArbiter { from, who } => {
                let from = Self::admin(from);
                let arbiter = addr(ARBITER_CHOICES[usize::from(who) % ARBITER_CHOICES.len()]);
                let mut planned = self.plan(from, RemoveArbiter { arbiter });
                planned.must_refuse = (from != addr(OWNER)).then_some("not the owner");
                planned
            }
            Op::Deprecate { from, rollover } => {
                let from = Self::admin(from);
                let mut planned = self.plan(from, Deprecate { rollover });
                planned.must_refuse = (from != addr(OWNER)).then_some("not the owner");
                planned
            }
            Op::Undeprecate { from } => {
                let from = Self::admin(from);
                let mut planned = self.plan(from, Undeprecate {});
                planned.must_refuse = (from != addr(OWNER)).then_some("not the owner");
                planned
            }
        };
        Some(planned)
    }

    fn step(&mut self, op: &Op) -> Result<(), String> {
        self.tally.ops += 1;
        match op {
            Op::Blocks(k) => {
                for _ in 0..*k {
                    self.next_block()?;
                }
                Ok(())
            }
            _ => match self.resolve(op) {
                Some(planned) => self.submit(planned, true).map(|_| ()),
                None => self.check(false).map(|_| ()),
            },
        }
    }

    /// Applies a planned transaction and checks everything; `Ok(admitted)`.
    fn submit(&mut self, planned: Planned, count: bool) -> Result<bool, String> {
        let before = self.reg.clone();
        let name = planned.tx.tx().name();
        match self.reg.apply(&planned.tx) {
            Ok(_events) => {
                if let Some(why) = planned.must_refuse {
                    return Err(format!("admitted a {name} that must be refused ({why})"));
                }
                self.check_admission(&before, planned.tx.tx())?;
                ensure(self.reg.is_recent_tx(&planned.tx.hash()), || {
                    format!("admitted {name} is not remembered against replay")
                })?;
                match &planned.tx.tx().body {
                    TxBody::Mint(m) => {
                        self.minted = self.minted.checked_add(m.amount).ok_or("mint overflow")?;
                    }
                    TxBody::Assert(a) => {
                        if let Some(c) = planned.commit {
                            self.commits.insert((a.bounty_guid, planned.tx.from()), c);
                        }
                    }
                    _ => {}
                }
                if count {
                    *self.tally.admitted.entry(name).or_default() += 1;
                }
                self.last_admitted = Some(planned.tx);
                let newly = self.check(false)?;
                ensure(newly == 0, || format!("{name} settled {newly} bounties"))?;
                Ok(true)
            }
            Err(e) => {
                ensure(self.reg == before, || {
                    format!("refused {name} ({e}) changed the registry")
                })?;
                if count {
                    *self
                        .tally
                        .refused
                        .entry(format!("{} <- {name}", reason(&e)))
                        .or_default() += 1;
                }
                // Unchanged, so still consistent; check anyway, it is cheap.
                self.check(false)?;
                Ok(false)
            }
        }
    }

    /// The rules an admitted transaction must have met in the state before it.
    fn check_admission(&self, before: &Registry, tx: &Tx) -> Result<(), String> {
        let from = tx.from;
        let name = tx.name();
        let round_of = |guid: &Guid| before.bounty(guid).map(|b| before.round(b));
        match &tx.body {
            TxBody::Mint(d) => ensure(
                from == before.owner()
                    || before.faucet().is_some_and(|f| d.amount <= f.max_per_mint),
                || format!("mint of {} admitted from {from}", d.amount),
            ),
            TxBody::SetFees(_)
            | TxBody::SetWindows(_)
            | TxBody::AddArbiter(_)
            | TxBody::RemoveArbiter(_)
            | TxBody::Deprecate(_)
            | TxBody::Undeprecate(_) => ensure(from == before.owner(), || {
                format!("{name} admitted from non-owner {from}")
            }),
            TxBody::PostBounty(d) => {
                ensure(before.bounty(&d.guid).is_none(), || {
                    format!("bounty {} posted twice", d.guid)
                })?;
                ensure(before.deprecation().is_none(), || {
                    "bounty posted while deprecated".into()
                })?;
                ensure(self.reg.bounty_count() == before.bounty_count() + 1, || {
                    "bounty count did not grow by one".into()
                })
            }
            TxBody::Assert(d) => ensure(round_of(&d.bounty_guid) == Some(Round::Assertion), || {
                format!("assertion admitted in {:?}", round_of(&d.bounty_guid))
            }),
            TxBody::Reveal(d) => ensure(round_of(&d.bounty_guid) == Some(Round::Reveal), || {
                format!("reveal admitted in {:?}", round_of(&d.bounty_guid))
            }),
            TxBody::Vote(d) => {
                ensure(
                    matches!(round_of(&d.bounty_guid), Some(Round::Vote | Round::Quorum)),
                    || format!("vote admitted in {:?}", round_of(&d.bounty_guid)),
                )?;
                ensure(before.arbiters().contains(&from), || {
                    format!("vote admitted from non-arbiter {from}")
                })?;
                ensure(
                    before.stake_total(&from) >= before.parameters().minimum_stake,
                    || format!("vote admitted from understaked {from}"),
                )
            }
            TxBody::StakeDeposit(_) => ensure(before.arbiters().contains(&from), || {
                format!("deposit admitted from non-arbiter {from}")
            }),
            _ => Ok(()),
        }
    }

    /// Begins the next block and checks that exactly the bounties that fell
    /// due settled.
    fn next_block(&mut self) -> Result<(), String> {
        let n = self.reg.block() + 1;
        let events = self.reg.begin_block(n, keccak256(n.to_be_bytes()));
        self.tally.blocks += 1;
        let settled_events = events
            .iter()
            .filter(|e| matches!(e, Event::SettledBounty(_)))
            .count();
        let newly = self.check(true).map_err(|e| format!("block {n}: {e}"))?;
        ensure(newly == settled_events, || {
            format!(
                "block {n}: {settled_events} settled_bounty events but {newly} bounties settled"
            )
        })
    }

    /// Every accounting invariant; returns how many bounties are newly settled.
    fn check(&mut self, after_block: bool) -> Result<usize, String> {
        let reg = &self.reg;
        reg.check_invariants()?;

        // The books, recomputed from the public read API.
        let mut balances: u128 = 0;
        for (account, amount) in reg.balances() {
            ensure(!amount.is_zero(), || {
                format!("zero balance listed for {account}")
            })?;
            balances = balances
                .checked_add(amount.wei())
                .ok_or("balances overflow u128")?;
        }
        let stakes = reg
            .stakes()
            .values()
            .flatten()
            .try_fold(0u128, |s, e| s.checked_add(e.amount.wei()))
            .ok_or("stakes overflow u128")?;
        let total = [reg.escrow().wei(), stakes, reg.treasury().wei()]
            .into_iter()
            .try_fold(balances, u128::checked_add)
            .ok_or("supply overflows u128")?;
        ensure(total == reg.total_minted().wei(), || {
            format!(
                "balances {balances} + escrow {} + stakes {stakes} + treasury {} = {total} != minted {}",
                reg.escrow().wei(),
                reg.treasury().wei(),
                reg.total_minted().wei()
            )
        })?;
        ensure(reg.total_minted() == self.minted, || {
            format!(
                "total minted {} but genesis + admitted mints = {}",
                reg.total_minted(),
                self.minted
            )
        })?;
        ensure(reg.treasury() >= self.treasury, || {
            format!(
                "treasury shrank from {} to {}",
                self.treasury,
                reg.treasury()
            )
        })?;
        self.treasury = reg.treasury();

        // Bounty by bounty: escrow, deadlines, settled ones frozen.
        let block = reg.block();
        let mut held: u128 = 0;
        let mut count = 0;
        let mut newly = Vec::new();
        for b in reg.bounties_newest_first() {
            count += 1;
            match &b.settlement {
                None => {
                    ensure(!self.settled.contains_key(&b.guid), || {
                        format!("bounty {} is no longer settled", b.guid)
                    })?;
                    ensure(block < b.vote_deadline(), || {
                        format!(
                            "bounty {} unsettled at block {block}, vote deadline {}",
                            b.guid,
                            b.vote_deadline()
                        )
                    })?;
                    held += held_by(b);
                }
                Some(_) => match self.settled.get(&b.guid) {
                    Some(frozen) => ensure(frozen == b, || {
                        format!(
                            "settled bounty {} changed:\nwas {frozen:?}\nnow {b:?}",
                            b.guid
                        )
                    })?,
                    None => {
                        ensure(after_block, || {
                            format!("bounty {} settled by a transaction", b.guid)
                        })?;
                        newly.push(b.clone());
                    }
                },
            }
        }
        ensure(count == reg.bounty_count(), || {
            format!(
                "{count} bounties listed, bounty_count {}",
                reg.bounty_count()
            )
        })?;
        ensure(held == reg.escrow().wei(), || {
            format!(
                "escrow {} but unsettled bounties hold {held}",
                reg.escrow().wei()
            )
        })?;
        let n = newly.len();
        for b in newly {
            self.first_settlement(&b, block)?;
            self.settled.insert(b.guid, b);
        }
        Ok(n)
    }

    /// Checks a bounty seen settled for the first time, and counts its case.
    fn first_settlement(&mut self, b: &Bounty, block: u64) -> Result<(), String> {
        let s = b.settlement.as_ref().ok_or("not settled")?;
        let out = &s.outcome;
        let guid = b.guid;
        ensure(s.block == block, || {
            format!(
                "bounty {guid} first seen settled at {block}, says {}",
                s.block
            )
        })?;
        ensure(s.block <= b.vote_deadline(), || {
            format!(
                "bounty {guid} settled at {} after its vote deadline {}",
                s.block,
                b.vote_deadline()
            )
        })?;
        ensure(out.bounty_guid == guid, || {
            format!("settlement of {guid} names {}", out.bounty_guid)
        })?;
        let paid = out
            .payouts
            .iter()
            .map(|x| x.amount.wei())
            .try_fold(out.treasury.wei(), u128::checked_add)
            .ok_or("payouts overflow u128")?;
        ensure(paid == held_by(b), || {
            format!(
                "bounty {guid} held {} but paid out {paid} (with dust {})",
                held_by(b),
                out.treasury.wei()
            )
        })?;
        let (a, v) = (b.assertions.len(), b.votes.len());
        ensure(out.consensus.is_some() == (v > 0), || {
            format!(
                "bounty {guid}: consensus {:?} with A={a}, V={v}",
                out.consensus
            )
        })?;
        let ambassador = out
            .payouts
            .first()
            .filter(|x| x.account == b.author)
            .map(|x| x.amount.wei())
            .ok_or("first payout is not the ambassador's")?;
        match (a, v) {
            (0, 0) => ensure(ambassador == b.amount.wei() + b.fee.wei(), || {
                format!("A=0/V=0 bounty {guid} refunded {ambassador}")
            })?,
            (0, _) => ensure(ambassador == b.amount.wei(), || {
                format!("A=0/V>0 bounty {guid} refunded {ambassador}")
            })?,
            _ => {}
        }
        self.tally.cases[usize::from(a > 0) * 2 + usize::from(v > 0)] += 1;
        if s.block < b.vote_deadline() {
            self.tally.early += 1;
        }
        Ok(())
    }

    /// Blocks until every bounty has settled; then nothing is in escrow.
    fn drain(&mut self) -> Result<(), String> {
        for _ in 0..64 {
            if self
                .reg
                .bounties_newest_first()
                .all(|b| b.settlement.is_some())
            {
                return ensure(self.reg.escrow().is_zero(), || {
                    format!("all settled, escrow {}", self.reg.escrow())
                });
            }
            self.next_block()?;
        }
        Err("bounties still unsettled 64 blocks after the last operation".into())
    }
}

/// Runs one sequence from genesis (with or without a faucet), then drains
/// it; adds its counts to `tally`.
fn run(faucet: bool, ops: &[Op], tally: &mut Tally) -> Result<(), String> {
    let mut sim = Sim::new(faucet);
    sim.prelude()?;
    for (i, op) in ops.iter().filter(|op| !matches!(op, Op::Nop)).enumerate() {
        let block = sim.reg.block();
        sim.step(op)
            .map_err(|e| format!("op #{i} {op:?} in block {block}: {e}"))?;
    }
    sim.drain().map_err(|e| format!("draining: {e}"))?;
    sim.tally.runs += 1;
    tally.merge(sim.tally);
    Ok(())
}

fn config() -> ProptestConfig {
    let default = ProptestConfig::default();
    ProptestConfig {
        cases: default.cases.max(256),
        // Deleting 200..400 operations one at a time takes that many steps
        // before any simplification; a run takes a few ms to a few tens of
        // ms in a debug build, so this bounds shrinking to minutes.
        max_shrink_iters: default.max_shrink_iters().max(16_384),
        // Next to this file: tests/invariants.proptest-regressions. (The
        // default looks for a lib.rs beside the source and, in tests/, finds none.)
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..default
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_interleavings_keep_the_books(faucet in any::<bool>(), ops in ops()) {
        run(faucet, &ops.0, &mut Tally::default()).map_err(TestCaseError::fail)?;
    }
}

#[test]
fn fixed_seeds_cover_every_kind_and_settlement_case() {
    let mut tally = Tally::default();
    for seed in 0..64u8 {
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]);
        let mut runner = TestRunner::new_with_rng(ProptestConfig::default(), rng);
        let ops = ops().new_tree(&mut runner).unwrap().current();
        let faucet = seed % 2 == 1;
        run(faucet, &ops.0, &mut tally).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
    eprintln!("{tally}");
    for name in TxBody::NAMES {
        assert!(
            tally.admitted.get(name).copied().unwrap_or(0) > 0,
            "{name} never admitted\n{tally}"
        );
    }
    for (case, count) in CASES.iter().zip(tally.cases) {
        assert!(count > 0, "settlement case {case} never occurred\n{tally}");
    }
    assert!(tally.early > 0, "no bounty settled early\n{tally}");
    for reason in [
        "WrongRound",
        "FaucetLimit",
        "DuplicateAssertion",
        "DuplicateVote",
        "CommitmentMismatch",
        "InsufficientBalance",
        "NotOwner",
        "NotArbiter",
        "Replayed",
        "StakeLocked",
        "Deprecated",
    ] {
        assert!(
            tally
                .refused
                .keys()
                .any(|k| k.split(' ').next() == Some(reason)),
            "never refused for {reason}\n{tally}"
        );
    }
}
