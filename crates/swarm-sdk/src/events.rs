//! The node's event stream, resumed across disconnects.
//!
//! [`EventStream::next`] yields every event once, in (block, position)
//! order. When the WebSocket drops, the stream reconnects with backoff and
//! asks for `since=<last block seen>`, skipping what it already delivered —
//! the original client lost every event that happened while it was
//! disconnected.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// One event as the node streams it.
pub type NodeEvent = swarm_protocol::api::EventRecord;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A resumable subscription to `GET /events`.
pub struct EventStream {
    url: String,
    since: Option<u64>,
    last: Option<(u64, u32)>,
    socket: Option<Socket>,
    reconnects: u64,
    max_backoff: Duration,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("url", &self.url)
            .field("last", &self.last)
            .field("reconnects", &self.reconnects)
            .finish()
    }
}

impl EventStream {
    /// A stream from the node at `base` (`http://...`), from block `since`
    /// on, or only live events with `None`. Connects on the first `next`.
    pub fn new(base: &str, since: Option<u64>) -> Self {
        let ws = if let Some(rest) = base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            base.to_owned()
        };
        EventStream {
            url: format!("{}/events", ws.trim_end_matches('/')),
            since,
            last: None,
            socket: None,
            reconnects: 0,
            max_backoff: Duration::from_secs(5),
        }
    }

    /// The (block, position) of the last event delivered.
    pub fn last_seen(&self) -> Option<(u64, u32)> {
        self.last
    }

    /// How many times the stream reconnected.
    pub fn reconnects(&self) -> u64 {
        self.reconnects
    }

    /// Drops the connection; the next `next` reconnects and resumes.
    pub fn disconnect(&mut self) {
        self.socket = None;
    }

    fn connect_url(&self) -> String {
        match (self.last, self.since) {
            (Some((block, _)), _) => format!("{}?since={block}", self.url),
            (None, Some(since)) => format!("{}?since={since}", self.url),
            (None, None) => self.url.clone(),
        }
    }

    async fn connect(&mut self) -> Socket {
        let mut backoff = Duration::from_millis(50);
        loop {
            let url = self.connect_url();
            match tokio_tungstenite::connect_async(&url).await {
                Ok((socket, _)) => return socket,
                Err(e) => {
                    tracing::debug!(%url, error = %e, ?backoff, "event stream: reconnecting");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.max_backoff);
                }
            }
        }
    }

    /// The next event. Waits, reconnecting as often as needed; never
    /// returns an event twice or out of order.
    pub async fn next(&mut self) -> NodeEvent {
        loop {
            let socket = match self.socket.as_mut() {
                Some(s) => s,
                None => {
                    let s = self.connect().await;
                    self.socket.insert(s)
                }
            };
            let message = match socket.next().await {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "event stream dropped");
                    self.socket = None;
                    self.reconnects += 1;
                    continue;
                }
                None => {
                    self.socket = None;
                    self.reconnects += 1;
                    continue;
                }
            };
            let text = match message {
                Message::Text(t) => t,
                Message::Ping(p) => {
                    let _ = socket.send(Message::Pong(p)).await;
                    continue;
                }
                Message::Close(_) => {
                    self.socket = None;
                    self.reconnects += 1;
                    continue;
                }
                _ => continue,
            };
            let value: serde_json::Value = match serde_json::from_str(text.as_str()) {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(error = %e, "event stream: not JSON; skipped");
                    continue;
                }
            };
            if value["event"] == "connected" {
                // Live-only subscribers start after the tip the node reports,
                // so a reconnect resumes from there rather than from "now".
                if self.last.is_none() && self.since.is_none() {
                    if let Some(block) = value["data"]["block"].as_u64() {
                        self.last = Some((block, u32::MAX));
                    }
                }
                continue;
            }
            let position = (
                value["block_number"].as_u64().unwrap_or(0),
                value["seq"].as_u64().unwrap_or(0) as u32,
            );
            if self.last.is_some_and(|l| position <= l) {
                continue;
            }
            match serde_json::from_value::<NodeEvent>(value) {
                Ok(event) => {
                    self.last = Some(event.position());
                    return event;
                }
                Err(e) => {
                    // An event kind this SDK does not know: skip it, but
                    // remember we saw it.
                    tracing::debug!(error = %e, "event stream: unknown event skipped");
                    self.last = Some(position);
                }
            }
        }
    }
}
