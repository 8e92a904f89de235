//! The explorer's pages: handlers that gather data and maud markup that
//! shows it. Every value from outside the node (filenames, mimetypes, scan
//! metadata, family names) is interpolated with `( )`, which HTML-escapes;
//! nothing here builds markup from strings.
//!
//! One file per page (`overview`, `bounties`, `engines`, `accounts`,
//! `search`), each with its full-page and live-fragment handlers; tables
//! more than one page shows in `tables`; parsing and formatting here.

use std::collections::HashMap;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use swarm_protocol::{Address, Amount, ArtifactMetadata, Bits256, Bounty, Guid, PayoutRole, Round};

use super::data::{self, EngineStats};
use super::{chart, ExplorerError, Fragment, Page};
use crate::api::AppState;
use crate::artifacts::ArtifactEntry;

/// Bounties per page of the bounties list.
const PAGE_SIZE: usize = 25;

/// Assertions on an engine's page, transactions and payouts on an account's.
const RECENT: usize = 25;

type QueryParams = Result<Query<HashMap<String, String>>, QueryRejection>;
type PathParam = Result<Path<String>, PathRejection>;

fn query(q: QueryParams) -> Result<HashMap<String, String>, ExplorerError> {
    q.map(|Query(q)| q)
        .map_err(|e| ExplorerError::BadRequest(format!("bad query string: {}", e.body_text())))
}

fn path(p: PathParam) -> Result<String, ExplorerError> {
    p.map(|Path(p)| p)
        .map_err(|e| ExplorerError::BadRequest(format!("bad path: {}", e.body_text())))
}

fn short(text: &str) -> String {
    let mut s: String = text.chars().take(80).collect();
    if text.chars().count() > 80 {
        s.push('…');
    }
    s
}

fn parse_guid(text: &str) -> Result<Guid, ExplorerError> {
    Guid::parse_str(text).map_err(|_| {
        ExplorerError::BadRequest(format!(
            "{:?} is not a bounty guid (a UUID such as 0b1e5a52-6bf3-4c3e-9d2f-3a1c5e7d9f00)",
            short(text)
        ))
    })
}

fn parse_address(text: &str) -> Result<Address, ExplorerError> {
    text.parse::<Address>().map_err(|e| {
        ExplorerError::BadRequest(format!("{:?} is not an account address: {e}", short(text)))
    })
}

// ---- formatting ---------------------------------------------------------------

fn nct(a: Amount) -> String {
    format!("{} NCT", a.to_nct_string())
}

/// An amount to four decimals (truncated), the exact figure on hover: for
/// tables where 18 decimals would drown the column.
fn nct_approx(a: Amount) -> Markup {
    let exact = a.to_nct_string();
    let shown = match exact.split_once('.') {
        Some((whole, frac)) if frac.len() > 4 => format!("{whole}.{}", &frac[..4]),
        _ => exact.clone(),
    };
    html! { span title={ (exact) " NCT" } { (shown) " NCT" } }
}

/// `2026-11-28 01:45:07 UTC` from Unix milliseconds.
pub(crate) fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn round_name(round: Round) -> &'static str {
    match round {
        Round::Assertion => "assertion",
        Round::Reveal => "reveal",
        Round::Vote => "vote",
        Round::Quorum => "quorum",
        Round::Finished => "finished",
    }
}

fn verdict(malicious: bool) -> &'static str {
    if malicious {
        "malicious"
    } else {
        "benign"
    }
}

fn role_name(role: PayoutRole) -> &'static str {
    match role {
        PayoutRole::Ambassador => "ambassador",
        PayoutRole::Expert => "engine",
        PayoutRole::Arbiter => "arbiter",
    }
}

fn percent(ratio: Option<f64>) -> String {
    ratio
        .map(|r| format!("{:.1}%", r * 100.0))
        .unwrap_or_else(|| "–".to_owned())
}

fn address_link(base: &str, a: &Address) -> Markup {
    let full = a.to_string();
    let shown = format!("{}…{}", &full[..8], &full[full.len() - 6..]);
    html! {
        a.addr href={ (base) (full) } title=(full) data-address=(full) { (shown) }
    }
}

fn account_link(a: &Address) -> Markup {
    address_link("/explorer/accounts/", a)
}

fn engine_link(a: &Address) -> Markup {
    address_link("/explorer/engines/", a)
}

fn bounty_link(guid: &Guid) -> Markup {
    html! { a.guid href={ "/explorer/bounties/" (guid) } { code { (guid) } } }
}

mod accounts;
mod bounties;
mod engines;
mod overview;
mod search;
mod tables;

pub(crate) use accounts::{account, account_live};
pub(crate) use bounties::{bounties, bounties_live, bounty, bounty_live};
pub(crate) use engines::{engine, engine_live, engines, engines_live};
pub(crate) use overview::{overview, overview_live};
pub(crate) use search::search;
use tables::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_795_829_107_000), "2026-11-28 01:25:07 UTC");
    }

    #[test]
    fn approximate_amounts_keep_the_exact_one_on_hover() {
        let a = Amount::from_wei(16_518_749_999_999_999_994);
        assert_eq!(
            nct_approx(a).into_string(),
            "<span title=\"16.518749999999999994 NCT\">16.5187 NCT</span>"
        );
        assert_eq!(
            nct_approx(Amount::from_nct(2)).into_string(),
            "<span title=\"2 NCT\">2 NCT</span>"
        );
    }
}
