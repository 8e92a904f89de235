//! Search: a guid, an address or a transaction hash, sent to its page.

use super::*;

pub(crate) async fn search(
    State(s): State<AppState>,
    q: QueryParams,
) -> Result<Response, ExplorerError> {
    let q = query(q)?;
    let text = q.get("q").map(|t| t.trim()).unwrap_or("");
    if text.is_empty() {
        return Err(ExplorerError::BadRequest(
            "nothing to search for: type a bounty guid, an address (0x…) or an artifact's sha256"
                .to_owned(),
        ));
    }
    if let Ok(guid) = Guid::parse_str(text) {
        if crate::bounties::find(&s.view, s.store.as_ref(), &guid)
            .await?
            .is_some()
        {
            return Ok(Redirect::to(&format!("/explorer/bounties/{guid}")).into_response());
        }
        return Err(ExplorerError::NotFound(format!("no bounty {guid}")));
    }
    let hexish = text.strip_prefix("0x").unwrap_or(text);
    if hexish.len() == 40 && hexish.chars().all(|c| c.is_ascii_hexdigit()) {
        let address = parse_address(text)?;
        return Ok(Redirect::to(&format!("/explorer/accounts/{address}")).into_response());
    }
    if hexish.len() == 64 && hexish.chars().all(|c| c.is_ascii_hexdigit()) {
        let sha256 = hexish.to_ascii_lowercase();
        let block = s.view.read(|r| r.block());
        let found: Vec<BountyRow> = data::bounties_with_sha256(&s.view, s.store.as_ref(), &sha256)
            .await?
            .iter()
            .map(|b| BountyRow::of(b, block))
            .collect();
        if found.is_empty() {
            return Err(ExplorerError::NotFound(format!(
                "no bounty has an artifact with sha256 {sha256}"
            )));
        }
        let main = html! {
            h1 { "Artifact " code.hash { (sha256) } }
            p.muted { (found.len()) " bounty(ies) with this artifact, newest first" }
            (bounty_table(&found))
        };
        return Ok(Page {
            title: format!("Artifact {sha256}"),
            live: None,
            main,
        }
        .into_response());
    }
    Err(ExplorerError::BadRequest(format!(
        "{:?} is neither a bounty guid, an address (0x and 40 hex digits) nor a sha256 (64 hex digits)",
        short(text)
    )))
}
