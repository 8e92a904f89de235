//! `GET /events?since=<block>`: the event stream over a WebSocket.
//!
//! First `{"event": "connected"}`, then every stored event from block
//! `since` on, then live events as blocks are committed. The live
//! subscription is opened before the stored events are read, and events are
//! forwarded strictly in (block, position) order past the last one sent, so
//! a client that reconnects with the last block it saw misses nothing and
//! sees nothing twice within one connection.
//!
//! What a stream may hold is bounded, whatever its client does: stored
//! events are read in pages of at most [`REPLAY_PAGE_BYTES`] and sent one
//! at a time, each send waiting for the client (the socket's buffers are the
//! only queue); a client that takes longer than the node's event send
//! timeout to accept one message is disconnected with close code 1008; a
//! client that falls behind the live channel catches up from the store
//! instead of being buffered. Streams are capped per IP and in all. Before
//! these bounds, 100 clients that opened `/events?since=0` and never read
//! held 7.5 GB of the node's memory.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Extension, Query, State};
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;

use super::{ApiError, AppState};
use crate::chain::EventRecord;
use crate::limits::connections::Refused;

/// Most stored events read per query while replaying.
const REPLAY_PAGE: u32 = 1000;

/// Most bytes of stored events one stream holds at a time while replaying.
pub(crate) const REPLAY_PAGE_BYTES: usize = 256 * 1024;

/// WebSocket close code 1008, "policy violation": the client broke a limit.
const CLOSE_POLICY: u16 = 1008;
/// WebSocket close code 1011: the node failed.
const CLOSE_ERROR: u16 = 1011;
/// WebSocket close code 1001: the node is going away.
const CLOSE_AWAY: u16 = 1001;

#[utoipa::path(get, path = "/events", tag = "events",
    params(("since" = Option<u64>, Query, description = "Replay stored events from this block on, then stream live ones")),
    responses((status = 101, description = "WebSocket whose every message is an EventRecord {event, data, block_number, seq, txhash} (see components); closed with 1008 when the client reads too slowly, 1001 when the node stops"),
              (status = 400, description = "Not a WebSocket handshake, or since is not a block number"),
              (status = 429, description = "The IP holds its share of event streams (Retry-After)"),
              (status = 503, description = "The node serves all the event streams it takes (Retry-After)")))]
pub(crate) async fn subscribe(
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
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
    // Unknown only when the router is called without the accept loop (tests).
    let ip = peer.map_or(IpAddr::from([0, 0, 0, 0]), |p| p.0 .0.ip());
    let slot = state
        .subscriptions
        .acquire(ip)
        .map_err(|refused| match refused {
            Refused::PerIp { max } => ApiError::TooManyRequests {
                message: format!(
                    "{ip} holds {max} event streams, the most one client may; close one first"
                ),
                retry_after: Duration::from_secs(1),
            },
            Refused::Total { max } => ApiError::Unavailable(format!(
                "the node serves {max} event streams, the most it takes; try again shortly"
            )),
        })?;
    let send_timeout = state.limits.event_send_timeout;
    Ok(ws.on_upgrade(move |socket| async move {
        let _slot = slot;
        let mut client = Client {
            socket,
            send_timeout,
        };
        let end = stream(&mut client, &state, since)
            .await
            .err()
            .unwrap_or(End::Gone);
        tracing::debug!(%ip, ?end, "event stream ended");
        client.close(end).await;
    }))
}

/// Why a stream ended.
#[derive(Debug)]
enum End {
    /// The client closed it or went away.
    Gone,
    /// The node is shutting down.
    Shutdown,
    /// The client did not take a message within the send timeout.
    TooSlow(Duration),
    /// The node could not read its events.
    Failed(String),
}

/// The client's side of a stream.
struct Client {
    socket: WebSocket,
    send_timeout: Duration,
}

impl Client {
    /// Sends one message, waiting for the client at most the send timeout.
    async fn send_text(&mut self, text: String) -> Result<(), End> {
        let message = Message::Text(Utf8Bytes::from(text));
        match tokio::time::timeout(self.send_timeout, self.socket.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Gone),
            Err(_) => Err(End::TooSlow(self.send_timeout)),
        }
    }

    async fn send(&mut self, record: &EventRecord) -> Result<(), End> {
        let text = serde_json::to_string(record).map_err(|e| End::Failed(e.to_string()))?;
        self.send_text(text).await
    }

    /// Says why the stream ends, when the client can still hear it.
    async fn close(mut self, end: End) {
        let (code, reason) = match &end {
            End::Gone => return,
            End::Shutdown => (CLOSE_AWAY, "the node is shutting down".to_owned()),
            End::TooSlow(limit) => (
                CLOSE_POLICY,
                format!(
                    "too slow: a message waited more than {}s for the client; reconnect with since=<last block seen>",
                    limit.as_secs_f64()
                ),
            ),
            End::Failed(detail) => {
                tracing::error!(%detail, "event stream failed");
                (CLOSE_ERROR, "the node cannot read its events; see its log".to_owned())
            }
        };
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        };
        // A client too slow to read may be too slow to take this too.
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            self.socket.send(Message::Close(Some(frame))),
        )
        .await;
    }
}

/// Sends stored events after `last` (from block `since`) until caught up,
/// one page of at most [`REPLAY_PAGE_BYTES`] in memory at a time.
async fn replay(
    client: &mut Client,
    state: &AppState,
    since: u64,
    last: &mut Option<(u64, u32)>,
) -> Result<(), End> {
    loop {
        let page = {
            // Reads of replaying streams take turns, so that a crowd of them
            // cannot take every store connection from block commits.
            let _turn = state
                .replay_reads
                .acquire()
                .await
                .map_err(|e| End::Failed(e.to_string()))?;
            state
                .store
                .events(since, *last, REPLAY_PAGE, REPLAY_PAGE_BYTES)
                .await
                .map_err(|e| End::Failed(e.to_string()))?
        };
        if page.is_empty() {
            return Ok(());
        }
        for record in &page {
            client.send(record).await?;
            *last = Some((record.block_number, record.seq));
        }
    }
}

/// Streams until the client goes (`Ok`) or the stream must end (`Err`).
async fn stream(client: &mut Client, state: &AppState, since: Option<u64>) -> Result<(), End> {
    let mut live = state.events.subscribe();
    // Read after subscribing: every block past `tip` reaches `live`.
    let tip = state.view.tip().map(|t| t.number).unwrap_or(0);
    let connected = serde_json::json!({
        "event": "connected",
        "data": {"community": state.community, "block": tip},
    });
    client.send_text(connected.to_string()).await?;

    let mut last: Option<(u64, u32)> = match since {
        Some(since) => {
            // A `since` beyond the tip streams live: the blocks up to it must
            // not be filtered out of the live stream.
            let since = since.min(tip.saturating_add(1));
            let mut last = None;
            replay(client, state, since, &mut last).await?;
            last.or(Some((since.saturating_sub(1), u32::MAX)))
        }
        // Live only: everything after the tip.
        None => Some((tip, u32::MAX)),
    };

    loop {
        tokio::select! {
            // The node is stopping: say goodbye rather than hold its store open.
            _ = state.shutdown.cancelled() => return Err(End::Shutdown),
            received = live.recv() => match received {
                Ok(block) => {
                    for record in &block.events {
                        let position = (record.block_number, record.seq);
                        if last.is_none_or(|l| position > l) {
                            client.send(record).await?;
                            last = Some(position);
                        }
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    // Too slow for the live channel: catch up from the store.
                    let since = last.map(|l| l.0).unwrap_or(0);
                    replay(client, state, since, &mut last).await?;
                }
                Err(RecvError::Closed) => return Err(End::Shutdown),
            },
            incoming = client.socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(()),
                Some(Ok(_)) => {}
            },
        }
    }
}
