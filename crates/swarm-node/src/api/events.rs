//! `GET /events?since=<block>`: the event stream over a WebSocket.
//!
//! First `{"event": "connected"}`, then every stored event from block
//! `since` on, then live events as blocks are committed. The live
//! subscription is opened before the stored events are read, and events are
//! forwarded strictly in (block, position) order past the last one sent, so
//! a client that reconnects with the last block it saw misses nothing and
//! sees nothing twice within one connection.

use std::collections::HashMap;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;

use super::{ApiError, AppState};
use crate::chain::EventRecord;

/// Stored events read per query while replaying.
const REPLAY_PAGE: u32 = 1000;

#[utoipa::path(get, path = "/events", tag = "events",
    params(("since" = Option<u64>, Query, description = "Replay stored events from this block on, then stream live ones")),
    responses((status = 101, description = "WebSocket of {event, data, block_number, txhash}")))]
pub(crate) async fn subscribe(
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let since = match query.get("since") {
        None => None,
        Some(s) => Some(s.parse::<u64>().map_err(|_| {
            ApiError::BadRequest(
                "bad_since",
                format!("since={:?} is not a block number", super::reads::short(s)),
            )
        })?),
    };
    let ws = ws.map_err(|e| {
        ApiError::BadRequest(
            "not_websocket",
            format!("GET /events is a WebSocket endpoint; this request is not a WebSocket handshake: {}", e.body_text()),
        )
    })?;
    Ok(ws.on_upgrade(move |socket| async move {
        if let Err(e) = stream(socket, state, since).await {
            tracing::debug!(error = %e, "event stream ended");
        }
    }))
}

async fn send(socket: &mut WebSocket, record: &EventRecord) -> Result<(), String> {
    let text = serde_json::to_string(record).map_err(|e| e.to_string())?;
    socket
        .send(Message::Text(Utf8Bytes::from(text)))
        .await
        .map_err(|e| e.to_string())
}

/// Sends stored events after `last` (from block `since`) until caught up.
async fn replay(
    socket: &mut WebSocket,
    state: &AppState,
    since: u64,
    last: &mut Option<(u64, u32)>,
) -> Result<(), String> {
    loop {
        let page = state
            .store
            .events(since, *last, REPLAY_PAGE)
            .await
            .map_err(|e| e.to_string())?;
        if page.is_empty() {
            return Ok(());
        }
        for record in &page {
            send(socket, record).await?;
            *last = Some((record.block_number, record.seq));
        }
    }
}

async fn stream(mut socket: WebSocket, state: AppState, since: Option<u64>) -> Result<(), String> {
    let mut live = state.events.subscribe();
    // Read after subscribing: every block past `tip` reaches `live`.
    let tip = state.view.tip().map(|t| t.number).unwrap_or(0);
    let connected = serde_json::json!({
        "event": "connected",
        "data": {"community": state.community, "block": tip},
    });
    socket
        .send(Message::Text(Utf8Bytes::from(connected.to_string())))
        .await
        .map_err(|e| e.to_string())?;

    let mut last: Option<(u64, u32)> = match since {
        Some(since) => {
            // A `since` beyond the tip streams live: the blocks up to it must
            // not be filtered out of the live stream.
            let since = since.min(tip.saturating_add(1));
            let mut last = None;
            replay(&mut socket, &state, since, &mut last).await?;
            last.or(Some((since.saturating_sub(1), u32::MAX)))
        }
        // Live only: everything after the tip.
        None => Some((tip, u32::MAX)),
    };

    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => {
                // The node is stopping: say goodbye rather than hold its store open.
                let _ = socket.send(Message::Close(None)).await;
                return Ok(());
            }
            received = live.recv() => match received {
                Ok(block) => {
                    for record in &block.events {
                        let position = (record.block_number, record.seq);
                        if last.is_none_or(|l| position > l) {
                            send(&mut socket, record).await?;
                            last = Some(position);
                        }
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    // Too slow for the live channel: catch up from the store.
                    let since = last.map(|l| l.0).unwrap_or(0);
                    replay(&mut socket, &state, since, &mut last).await?;
                }
                Err(RecvError::Closed) => return Ok(()),
            },
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(()),
                Some(Ok(_)) => {}
            },
        }
    }
}
