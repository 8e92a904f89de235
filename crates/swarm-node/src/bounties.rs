//! Bounties wherever they are: open ones in the committed registry, settled
//! ones in the store.
//!
//! The registry hands a bounty out when it settles and the block that
//! settled it stores the final record, so a reader asks the registry first
//! and the store second. The order matters: a block is committed before
//! the view advances past it, so a bounty the registry no longer holds is
//! already in the store. Listings merge both by posting number, newest
//! first; a bounty caught in both (settled between the two reads) is shown
//! once.

use std::collections::{BTreeMap, BTreeSet};

use swarm_protocol::{Bounty, Guid, Round};

use crate::sequencer::ChainView;
use crate::store::{Store, StoreError};

/// Settled bounties read per store page by a fold over all of them.
const FOLD_PAGE: u32 = 256;

/// A bounty by guid, with the committed block to judge its round at.
pub(crate) async fn find(
    view: &ChainView,
    store: &dyn Store,
    guid: &Guid,
) -> Result<Option<(Bounty, u64)>, StoreError> {
    let (live, block) = view.read(|r| (r.bounty(guid).cloned(), r.block()));
    if let Some(bounty) = live {
        return Ok(Some((bounty, block)));
    }
    Ok(store.settled_bounty(guid).await?.map(|s| (s.bounty, block)))
}

/// One page of a listing.
#[derive(Debug)]
pub(crate) struct Page {
    /// The page's bounties, newest first.
    pub(crate) bounties: Vec<Bounty>,
    /// The committed block their rounds are judged at.
    pub(crate) block: u64,
    /// Bounties matching the filter, over every page.
    pub(crate) total: usize,
}

/// Bounties in round `wanted` (all when `None`), newest first: `take`
/// of them after the first `skip`. Settled bounties are in round 4
/// (finished), so only a listing of all or of finished ones reads the
/// store — the posting numbers of the settled bounties that can fall on
/// the page (the database skips the ones before), then the bodies of the
/// page's few. A deep page costs the open bounties and the page, not the
/// bounties before it.
pub(crate) async fn page(
    view: &ChainView,
    store: &dyn Store,
    wanted: Option<Round>,
    skip: usize,
    take: usize,
) -> Result<Page, StoreError> {
    // Live bounties: their numbers, those matching, and the counts.
    let (live, held, block, posted, held_count) = view.read(|r| {
        let block = r.block();
        let live: Vec<u64> = r
            .numbered_newest_first()
            .filter(|(_, b)| wanted.is_none_or(|w| b.round(block) == w))
            .map(|(n, _)| n)
            .collect();
        let held: BTreeMap<u64, Guid> = r
            .numbered_newest_first()
            .map(|(n, b)| (n, b.guid))
            .collect();
        (
            live,
            held,
            block,
            r.bounty_count() as u64,
            r.held_bounty_count(),
        )
    });
    let with_settled = matches!(wanted, None | Some(Round::Finished));
    // Every bounty posted and not held was handed out: it is settled.
    let settled_total = if with_settled {
        (posted as usize).saturating_sub(held_count)
    } else {
        0
    };
    let end = skip.saturating_add(take);
    // The settled bounties to merge are those numbered below `posted`
    // (posted after the registry was read: not counted) and not held
    // (settled since: the registry's answer stands). Of them, the one at
    // position `from` (newest first) is at or before position `skip` of
    // the listing, since at most `live.len()` live ones come before it:
    // nothing on the page comes before it, and the page ends by the
    // settled one at position `end`.
    let from = skip.saturating_sub(live.len());
    let settled: Vec<u64> = if with_settled && settled_total > from {
        // From the top, a window widened by the held ones filters them
        // out; deeper, the positions count from the top, so the database
        // leaves out the held ones it stores (a few, settled since).
        let (caught, extra) = if from == 0 {
            (Vec::new(), held.len())
        } else {
            let guids: Vec<Guid> = held.values().copied().collect();
            let stored: BTreeSet<Guid> = store.settled_among(&guids).await?.into_iter().collect();
            let caught: Vec<u64> = held
                .iter()
                .filter(|(_, g)| stored.contains(g))
                .map(|(n, _)| *n)
                .collect();
            (caught, 0)
        };
        let limit = u32::try_from((end - from).saturating_add(extra)).unwrap_or(u32::MAX);
        store
            .settled_numbers(posted, &caught, from as u64, limit)
            .await?
            .into_iter()
            .filter(|n| !held.contains_key(n))
            .collect()
    } else {
        Vec::new()
    };
    // Merge newest first and keep the page's slice. Positions count from
    // `from`: the live ones merged before the first settled one get
    // positions below `skip` either way.
    let (mut i, mut j) = (0, 0);
    let mut slice: Vec<(u64, bool)> = Vec::with_capacity(take);
    let mut position = from;
    while position < end && (i < live.len() || j < settled.len()) {
        let from_live = match (live.get(i), settled.get(j)) {
            (Some(l), Some(s)) => l > s,
            (Some(_), None) => true,
            _ => false,
        };
        let number = if from_live {
            i += 1;
            live[i - 1]
        } else {
            j += 1;
            settled[j - 1]
        };
        if position >= skip {
            slice.push((number, from_live));
        }
        position += 1;
    }
    let wanted_settled: Vec<u64> = slice.iter().filter(|s| !s.1).map(|s| s.0).collect();
    let stored = if wanted_settled.is_empty() {
        Vec::new()
    } else {
        store.settled_by_numbers(&wanted_settled).await?
    };
    let wanted_live: BTreeSet<u64> = slice.iter().filter(|s| s.1).map(|s| s.0).collect();
    let mut found: Vec<(u64, Bounty)> = view.read(|r| {
        r.numbered_newest_first()
            .filter(|(n, _)| wanted_live.contains(n))
            .map(|(n, b)| (n, b.clone()))
            .collect()
    });
    // A live one that settled (and left the registry) since: it is stored.
    let missing: Vec<u64> = wanted_live
        .iter()
        .filter(|n| !found.iter().any(|(m, _)| m == *n))
        .copied()
        .collect();
    if !missing.is_empty() {
        found.extend(
            store
                .settled_by_numbers(&missing)
                .await?
                .into_iter()
                .map(|s| (s.number, s.bounty)),
        );
    }
    found.extend(stored.into_iter().map(|s| (s.number, s.bounty)));
    found.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    found.dedup_by_key(|(n, _)| *n);
    Ok(Page {
        bounties: found.into_iter().map(|(_, b)| b).collect(),
        block,
        total: live.len() + settled_total,
    })
}

/// Calls `f` on every bounty, the live ones first, then the settled ones
/// newest first, page by page: memory stays one page however long the
/// chain, and the time grows with the number of settled bounties. `f`
/// returns whether to go on.
pub(crate) async fn for_each(
    view: &ChainView,
    store: &dyn Store,
    mut f: impl FnMut(&Bounty) -> bool,
) -> Result<(), StoreError> {
    let (go_on, held) = view.read(|r| {
        let held: BTreeSet<u64> = r.numbered_newest_first().map(|(n, _)| n).collect();
        (r.bounties_newest_first().all(&mut f), held)
    });
    if !go_on {
        return Ok(());
    }
    let mut before = None;
    loop {
        let page = store.settled_bounties(before, FOLD_PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        before = Some(last.number);
        for s in &page {
            if held.contains(&s.number) {
                continue;
            }
            if !f(&s.bounty) {
                return Ok(());
            }
        }
    }
}
