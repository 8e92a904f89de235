//! The engine's NCT balance, followed from the event stream.
//!
//! An engine must not commit to an assertion it cannot pay for, and asking
//! the node (`GET /balances/{address}/nct`) before each one put a round
//! trip in the middle of every bounty. Every change to a balance is an
//! event the engine already receives, so the balance is read once at start
//! and then kept up to date from the stream: transfers and mints, the
//! engine's own bounties (amount plus bounty fee) and assertions (bids plus
//! assertion fee), settlement payouts, stake deposits and withdrawals.
//!
//! A read of the node's balance is as of a committed block `as_of`; events
//! of blocks up to it are already in it and are skipped. The stream
//! reconnecting, a gap in its block numbers or a debit larger than the
//! balance ask for a fresh read. While one is out, the changes applied are
//! kept with their blocks, so that the answer (as of some block B) can be
//! brought forward by those after B. The node's own check at admission
//! stays the authority: this figure only keeps the engine from sending
//! assertions the node would refuse.

use swarm_protocol::{Address, Amount, Event};

use crate::events::NodeEvent;

/// NCT that an event adds to and takes from one account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Change {
    pub(super) credit: Amount,
    pub(super) debit: Amount,
}

impl Change {
    fn is_zero(&self) -> bool {
        self.credit.is_zero() && self.debit.is_zero()
    }
}

/// The fees in force, which the events of bounties and assertions do not
/// carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Fees {
    pub(super) bounty_fee: Amount,
    pub(super) assertion_fee: Amount,
}

fn sum(amounts: impl IntoIterator<Item = Amount>) -> Amount {
    amounts
        .into_iter()
        .fold(Amount::ZERO, |a, b| a.checked_add(b).unwrap_or(a))
}

/// What `event` does to `account`'s balance, as the registry applies it.
pub(super) fn change_of(account: &Address, fees: &Fees, event: &Event) -> Change {
    let mut c = Change::default();
    let mine = |a: &Address| a == account;
    match event {
        Event::Transfer { from, to, amount } => {
            if mine(from) {
                c.debit = *amount;
            }
            if mine(to) {
                c.credit = *amount;
            }
        }
        Event::Mint { to, amount } if mine(to) => c.credit = *amount,
        Event::Bounty(b) if mine(&b.author) => {
            c.debit = sum([b.amount, fees.bounty_fee]);
        }
        Event::Assertion(a) if mine(&a.author) => {
            c.debit = sum(a.bids.iter().copied().chain([fees.assertion_fee]));
        }
        Event::SettledBounty(s) => {
            c.credit = sum(s
                .payouts
                .iter()
                .filter(|p| mine(&p.account))
                .map(|p| p.amount));
        }
        Event::StakeDeposit {
            account: a, amount, ..
        } if mine(a) => c.debit = *amount,
        Event::StakeWithdrawal {
            account: a, amount, ..
        } if mine(a) => c.credit = *amount,
        _ => {}
    }
    c
}

/// The balance and how far the stream has brought it.
#[derive(Debug)]
pub(super) struct Balance {
    account: Address,
    amount: Amount,
    /// Every event of the blocks up to this one is in `amount`.
    as_of: u64,
    /// While a read is out: the changes applied since it was asked for.
    since_read: Option<Vec<(u64, Change)>>,
    /// A read is wanted (and not yet asked for).
    read_due: bool,
    /// The last `block` event, to notice a gap.
    last_block: Option<u64>,
}

impl Balance {
    /// `amount`, as the node had it at block `as_of`.
    pub(super) fn new(account: Address, amount: Amount, as_of: u64) -> Self {
        Balance {
            account,
            amount,
            as_of,
            since_read: None,
            read_due: false,
            last_block: None,
        }
    }

    /// The balance as far as the events handled tell.
    pub(super) fn amount(&self) -> Amount {
        self.amount
    }

    /// The block the last read of the node's balance was as of.
    pub(super) fn as_of(&self) -> u64 {
        self.as_of
    }

    /// Applies one event (at most once: the stream never repeats one).
    pub(super) fn on_event(&mut self, fees: &Fees, event: &NodeEvent) {
        if let Event::Block { number } = event.event {
            if self
                .last_block
                .is_some_and(|last| number > last.saturating_add(1))
            {
                tracing::debug!(number, last = ?self.last_block, "event stream gap; re-reading the balance");
                self.read_due = true;
            }
            self.last_block = Some(self.last_block.map_or(number, |l| l.max(number)));
        }
        if event.block_number <= self.as_of {
            return;
        }
        let change = change_of(&self.account, fees, &event.event);
        if change.is_zero() {
            return;
        }
        if let Some(log) = self.since_read.as_mut() {
            log.push((event.block_number, change));
        }
        self.amount = self.apply(self.amount, change);
    }

    fn apply(&mut self, amount: Amount, change: Change) -> Amount {
        let credited = amount.checked_add(change.credit).unwrap_or(amount);
        if credited < change.debit {
            // Something was missed: the node would not let it go negative.
            tracing::warn!(%amount, ?change, "tracked balance below zero; re-reading it");
            self.read_due = true;
        }
        credited.saturating_sub(change.debit)
    }

    /// The stream may have missed events (it reconnected): read again.
    pub(super) fn resync(&mut self) {
        self.read_due = true;
    }

    /// Whether to ask the node now; marks the read as out.
    pub(super) fn take_read(&mut self) -> bool {
        if !self.read_due || self.since_read.is_some() {
            return false;
        }
        self.read_due = false;
        self.since_read = Some(Vec::new());
        true
    }

    /// The node's answer: `amount` as of block `block`, brought forward by
    /// the changes of later blocks applied since the read was asked for.
    pub(super) fn on_read(&mut self, block: u64, amount: Amount) {
        let log = self.since_read.take().unwrap_or_default();
        let mut now = amount;
        for (_, change) in log.into_iter().filter(|(b, _)| *b > block) {
            now = self.apply(now, change);
        }
        self.amount = now;
        self.as_of = block;
    }

    /// The read failed: the tracked figure stands; try again later.
    pub(super) fn read_failed(&mut self) {
        self.since_read = None;
        self.read_due = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use swarm_protocol::{AssertionMade, Bits256, BountySettled, Guid, Payout, PayoutRole, H256};

    fn me() -> Address {
        swarm_protocol::PrivateKey::from_bytes(&[7; 32])
            .unwrap()
            .address()
    }

    fn other() -> Address {
        swarm_protocol::PrivateKey::from_bytes(&[8; 32])
            .unwrap()
            .address()
    }

    fn fees() -> Fees {
        Fees {
            bounty_fee: Amount::parse_nct("0.0625").unwrap(),
            assertion_fee: Amount::parse_nct("0.03125").unwrap(),
        }
    }

    fn at(event: Event, block_number: u64) -> NodeEvent {
        NodeEvent {
            event,
            block_number,
            seq: 0,
            txhash: None,
        }
    }

    fn nct(n: u128) -> Amount {
        Amount::from_nct(n)
    }

    fn assertion(author: Address, bids: &[u128]) -> Event {
        Event::Assertion(AssertionMade {
            bounty_guid: Guid::from_u128(1),
            author,
            index: 0,
            bids: bids.iter().map(|b| nct(*b)).collect(),
            mask: Bits256::first(bids.len()),
            commitment: H256([1; 32]),
        })
    }

    fn settled(payouts: &[(Address, u128)]) -> Event {
        Event::SettledBounty(BountySettled {
            bounty_guid: Guid::from_u128(1),
            consensus: None,
            payouts: payouts
                .iter()
                .map(|(a, n)| Payout {
                    account: *a,
                    role: PayoutRole::Expert,
                    amount: nct(*n),
                })
                .collect(),
            treasury: Amount::ZERO,
        })
    }

    #[test]
    fn every_event_that_moves_nct_moves_the_tracked_balance() {
        let mut b = Balance::new(me(), nct(100), 5);
        let f = fees();
        let events = [
            Event::Transfer {
                from: other(),
                to: me(),
                amount: nct(10),
            },
            Event::Transfer {
                from: me(),
                to: other(),
                amount: nct(3),
            },
            Event::Mint {
                to: me(),
                amount: nct(2),
            },
            assertion(me(), &[1, 1]),
            // Another engine's assertion costs this one nothing.
            assertion(other(), &[1]),
            settled(&[(me(), 4), (other(), 9)]),
            Event::StakeDeposit {
                account: me(),
                amount: nct(20),
                total: nct(20),
            },
            Event::StakeWithdrawal {
                account: me(),
                amount: nct(5),
                total: nct(15),
            },
        ];
        for (i, e) in events.into_iter().enumerate() {
            b.on_event(&f, &at(e, 6 + i as u64));
        }
        let expected = nct(100 + 10 - 3 + 2 - 2 + 4 - 20 + 5)
            .checked_sub(f.assertion_fee)
            .unwrap();
        assert_eq!(b.amount(), expected);
        assert!(!b.take_read());
    }

    #[test]
    fn events_already_in_the_read_are_not_counted_twice() {
        let mut b = Balance::new(me(), nct(100), 5);
        let f = fees();
        b.on_event(&f, &at(settled(&[(me(), 7)]), 5));
        b.on_event(&f, &at(settled(&[(me(), 7)]), 3));
        assert_eq!(b.amount(), nct(100));
        b.on_event(&f, &at(settled(&[(me(), 7)]), 6));
        assert_eq!(b.amount(), nct(107));
    }

    #[test]
    fn a_read_is_brought_forward_by_the_later_events_applied_meanwhile() {
        let mut b = Balance::new(me(), nct(100), 5);
        let f = fees();
        b.resync();
        assert!(b.take_read());
        // Only one read at a time.
        b.resync();
        assert!(!b.take_read());
        b.on_event(&f, &at(settled(&[(me(), 1)]), 6));
        b.on_event(&f, &at(settled(&[(me(), 2)]), 7));
        // The node answers 150 as of block 6: block 7's payout comes on top.
        b.on_read(6, nct(150));
        assert_eq!(b.amount(), nct(152));
        assert_eq!(b.as_of(), 6);
        // Block 6 events still to come are in the read already.
        b.on_event(&f, &at(settled(&[(me(), 1)]), 6));
        assert_eq!(b.amount(), nct(152));
        // The resync asked during the read is still due.
        assert!(b.take_read());
    }

    #[test]
    fn a_gap_in_blocks_or_an_overdraft_asks_for_a_read() {
        let mut b = Balance::new(me(), nct(1), 5);
        let f = fees();
        b.on_event(&f, &at(Event::Block { number: 6 }, 6));
        b.on_event(&f, &at(Event::Block { number: 7 }, 7));
        assert!(!b.take_read());
        b.on_event(&f, &at(Event::Block { number: 9 }, 9));
        assert!(b.take_read());
        b.on_read(9, nct(1));
        b.on_event(&f, &at(assertion(me(), &[1]), 10));
        assert_eq!(b.amount(), Amount::ZERO);
        assert!(b.take_read());
        b.read_failed();
        assert!(b.take_read());
    }
}
