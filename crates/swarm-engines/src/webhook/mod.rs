//! Webhook engines: PolySwarm's engines as they run today — a web service
//! written with the `polyswarm-engine` Python package (Flask plus Celery
//! workers) — on a swarm marketplace, unchanged.
//!
//! An engine author with such an engine should not have to port it.
//! [`Webhook`] is a [`Scanner`] that speaks the package's protocol:
//!
//! - **Delivery.** For each artifact it posts a `Bounty` (see [`wire`]) to
//!   the engine's URL with `X-POLYSWARM-EVENT: bounty`, a unique
//!   `X-POLYSWARM-DELIVERY` and `X-POLYSWARM-SIGNATURE`, the hex
//!   HMAC-SHA256 of the exact body keyed with the shared secret (the
//!   package's `PSENGINE_WEBHOOK_SECRET`). Connection errors and 5xx are
//!   retried with backoff until the deadline; a 401/403 means the secrets
//!   differ and is reported as such; another 4xx ends the scan.
//! - **The answer.** The engine downloads the artifact from the bounty's
//!   `artifact_uri` and posts its `Analysis` to the `response_url`, both
//!   served by this scanner's own small HTTP server (`server.rs`) under an
//!   unguessable nonce. The analysis is taken once; malicious and benign
//!   carry the engine's bid in wei, which the microengine clamps into the
//!   community's limits; suspicious, unknown, an invalid analysis, a
//!   refused signature or no analysis by the deadline mean no assertion.
//! - **Start-up.** `setup` starts the server, reads the community's bid
//!   limits from the node (they go in every bounty's `rules`) and sends a
//!   signed `ping` event: an engine that is not there, or that refuses the
//!   signature, stops the engine at start with the reason.
//!
//! The artifact is served by the scanner rather than by the node: the
//! scanner already holds it (downloaded, size-checked), so the engine needs
//! to reach one address, not two, and the node's artifacts stay private
//! (docs/DECISIONS.md).

mod error;
mod server;
pub mod wire;

pub use error::WebhookError;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use swarm_sdk::{
    Artifact, ArtifactKind, CancellationToken, NodeClient, ScanError, ScanResult, Scanner,
};
use tokio::sync::{Mutex, OnceCell};
use tokio::time::Instant;

use server::Deliveries;
use wire::{BountyMetadata, BountyRules, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER};

/// How a [`Webhook`] reaches its engine and is reached by it.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// The engine's URL, e.g. `http://engine:8000/eicar` (the package's
    /// web service serves one queue per path).
    pub url: String,
    /// The shared secret: the engine's `PSENGINE_WEBHOOK_SECRET`.
    pub secret: String,
    /// Where the scanner's server listens for the engine's downloads and
    /// analyses; port 0 picks a free one.
    pub listen: SocketAddr,
    /// The base URL the engine reaches that server at; default
    /// `http://<listen address>` (`127.0.0.1` when listening on every
    /// interface).
    pub public_url: Option<String>,
    /// The node whose community's bid limits go in each bounty's `rules`;
    /// `None` (as for `swarm scan`): the default genesis's limits.
    pub node: Option<String>,
    /// How long an artifact outside a bounty (no deadline) may take.
    pub timeout: Duration,
    /// How long `setup` waits for the engine to answer its ping.
    pub startup_timeout: Duration,
}

impl WebhookConfig {
    /// The engine at `url` sharing `secret`, with the defaults: a server on
    /// a free port of 127.0.0.1, 60 s per artifact outside a bounty, 30 s
    /// for the engine to answer the start-up ping.
    pub fn new(url: impl Into<String>, secret: impl Into<String>) -> Self {
        WebhookConfig {
            url: url.into(),
            secret: secret.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            node: None,
            timeout: Duration::from_secs(60),
            startup_timeout: Duration::from_secs(30),
        }
    }
}

/// The running server.
#[derive(Debug)]
struct Server {
    public_url: String,
    stop: CancellationToken,
}

/// A PolySwarm webhook engine as a [`Scanner`]. See the module docs.
pub struct Webhook {
    config: WebhookConfig,
    http: reqwest::Client,
    deliveries: Deliveries,
    server: OnceCell<Server>,
    rules: Mutex<BountyRules>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("Webhook")
            .field("url", &self.config.url)
            .field("listen", &self.config.listen)
            .field("public_url", &self.config.public_url)
            .finish_non_exhaustive()
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        if let Some(server) = self.server.get() {
            server.stop.cancel();
        }
    }
}

/// The limits of the default genesis.
fn default_rules() -> BountyRules {
    let p = swarm_sdk::swarm_protocol::Parameters::default();
    BountyRules {
        min_allowed_bid: p.assertion_bid_minimum.wei(),
        max_allowed_bid: p.assertion_bid_maximum.wei(),
    }
}

fn is_http_url(url: &str) -> bool {
    reqwest::Url::parse(url)
        .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .unwrap_or(false)
}

/// RFC 3339 in UTC with an explicit offset, which every Python's
/// `datetime.fromisoformat` reads.
fn rfc3339(t: SystemTime) -> String {
    let s = humantime::format_rfc3339_micros(t).to_string();
    match s.strip_suffix('Z') {
        Some(bare) => format!("{bare}+00:00"),
        None => s,
    }
}

/// At most `n` characters of `text`, for messages.
fn excerpt(text: &str, n: usize) -> String {
    let mut out: String = text.trim().chars().take(n).collect();
    if text.trim().chars().count() > n {
        out.push('…');
    }
    out
}

impl Webhook {
    /// A webhook engine; checks the URLs, starts nothing until `setup`.
    pub fn new(config: WebhookConfig) -> Result<Self, WebhookError> {
        if !is_http_url(&config.url) {
            return Err(WebhookError::BadUrl {
                what: "the webhook engine's URL",
                url: config.url,
            });
        }
        if let Some(public) = &config.public_url {
            if !is_http_url(public) {
                return Err(WebhookError::BadUrl {
                    what: "the public URL of the answers' server",
                    url: public.clone(),
                });
            }
        }
        if config.secret.is_empty() || wire::signature(&config.secret, b"").is_err() {
            return Err(WebhookError::BadSecret);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| WebhookError::Unreachable {
                url: config.url.clone(),
                detail: format!("cannot build an HTTP client: {e}"),
            })?;
        Ok(Webhook {
            config,
            http,
            deliveries: Deliveries::default(),
            server: OnceCell::new(),
            rules: Mutex::new(default_rules()),
        })
    }

    /// The base URL the engine downloads from and answers to, once the
    /// server runs (after `setup` or the first scan).
    pub fn public_url(&self) -> Option<&str> {
        self.server.get().map(|s| s.public_url.as_str())
    }

    /// Deliveries waiting for an answer.
    pub fn in_flight(&self) -> usize {
        self.deliveries.len()
    }

    async fn server(&self) -> Result<&Server, WebhookError> {
        self.server
            .get_or_try_init(|| async {
                let addr = self.config.listen;
                let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                    WebhookError::Bind {
                        addr,
                        detail: e.to_string(),
                    }
                })?;
                let bound = listener.local_addr().map_err(|e| WebhookError::Bind {
                    addr,
                    detail: e.to_string(),
                })?;
                let public_url = match &self.config.public_url {
                    Some(url) => url.trim_end_matches('/').to_owned(),
                    None => {
                        let mut shown = bound;
                        if shown.ip().is_unspecified() {
                            shown.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                        }
                        format!("http://{shown}")
                    }
                };
                let stop = CancellationToken::new();
                let app = server::router(self.deliveries.clone());
                let stopped = stop.clone().cancelled_owned();
                tokio::spawn(async move {
                    if let Err(e) = axum::serve(listener, app)
                        .with_graceful_shutdown(stopped)
                        .await
                    {
                        tracing::error!(error = %e, "the webhook answers' server stopped");
                    }
                });
                tracing::info!(listen = %bound, public = %public_url, "webhook answers' server started");
                Ok(Server { public_url, stop })
            })
            .await
    }

    /// Posts `body` as `event`, retrying connection errors and 5xx until
    /// `until`.
    async fn post(
        &self,
        event: &str,
        delivery: &str,
        body: Vec<u8>,
        until: Instant,
    ) -> Result<(), WebhookError> {
        // The secret was checked to key an HMAC in `new`.
        let signature = wire::signature(&self.config.secret, &body).unwrap_or_default();
        let url = &self.config.url;
        let mut backoff = Duration::from_millis(100);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let sent = self
                .http
                .post(url)
                .header(EVENT_HEADER, event)
                .header(DELIVERY_HEADER, delivery)
                .header(SIGNATURE_HEADER, &signature)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .timeout(left.clamp(Duration::from_millis(100), Duration::from_secs(10)))
                .body(body.clone())
                .send()
                .await;
            let failure = match sent {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => {
                    let status = r.status().as_u16();
                    let text = excerpt(&r.text().await.unwrap_or_default(), 300);
                    match status {
                        401 | 403 => {
                            return Err(WebhookError::SignatureRefused {
                                url: url.clone(),
                                status,
                                body: text,
                            })
                        }
                        400..=499 => {
                            return Err(WebhookError::Rejected {
                                url: url.clone(),
                                status,
                                body: text,
                            })
                        }
                        _ => format!("{status}: {text}"),
                    }
                }
                Err(e) => {
                    let mut detail = e.to_string();
                    let mut source = std::error::Error::source(&e);
                    while let Some(s) = source {
                        detail = format!("{detail}: {s}");
                        source = s.source();
                    }
                    detail
                }
            };
            if Instant::now() + backoff >= until {
                return Err(WebhookError::Unreachable {
                    url: url.clone(),
                    detail: failure,
                });
            }
            tracing::debug!(%url, event, delivery, failure, "webhook delivery failed; retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    async fn deliver(&self, artifact: &Artifact) -> Result<ScanResult, WebhookError> {
        let server = self.server().await?;
        let now = Instant::now();
        let until = artifact.deadline.unwrap_or(now + self.config.timeout);
        let left = until.saturating_duration_since(now);
        let (id, nonce, registration) = self.deliveries.register(artifact.content.clone());
        let (artifact_type, default_mime) = match artifact.kind {
            ArtifactKind::File => ("FILE", "application/octet-stream"),
            ArtifactKind::Url => ("URL", "text/uri-list"),
        };
        let sha256 = match &artifact.metadata.sha256 {
            Some(h) if artifact.kind == ArtifactKind::File && h.len() == 64 => h.to_lowercase(),
            _ => hex::encode(Sha256::digest(&artifact.content)),
        };
        let mimetype = match artifact.kind {
            ArtifactKind::Url => default_mime.to_owned(),
            ArtifactKind::File => artifact
                .metadata
                .mimetype
                .clone()
                .unwrap_or_else(|| default_mime.to_owned()),
        };
        let tasked_at = SystemTime::now();
        let bounty = wire::Bounty {
            id,
            artifact_type: artifact_type.to_owned(),
            artifact_uri: format!("{}/v1/artifacts/{id}?nonce={nonce}", server.public_url),
            response_url: format!(
                "{}/v1/bounties/{id}/assertions/?nonce={nonce}",
                server.public_url
            ),
            metadata: BountyMetadata { sha256, mimetype },
            rules: *self.rules.lock().await,
            duration: left.as_secs(),
            expiration: rfc3339(tasked_at + left),
            tasked_at: rfc3339(tasked_at),
        };
        let body = serde_json::to_vec(&bounty)
            .map_err(|e| WebhookError::BadAnswer(format!("cannot encode the bounty: {e}")))?;
        let delivery = uuid::Uuid::new_v4().to_string();
        self.post("bounty", &delivery, body, until).await?;
        tracing::debug!(id, %delivery, bounty = %artifact.bounty_guid, index = artifact.index,
            "webhook engine took the artifact");
        let mut registration = registration;
        match tokio::time::timeout_at(until, &mut registration.answer).await {
            Ok(Ok(answer)) => answer,
            // The sender lives in the table until the registration drops.
            Ok(Err(_)) | Err(_) => Err(WebhookError::NoAnswer(left)),
        }
    }

    async fn start(&self) -> Result<(), WebhookError> {
        self.server().await?;
        if let Some(node) = &self.config.node {
            let p = NodeClient::new(node.clone())
                .parameters()
                .await
                .map_err(|e| WebhookError::Parameters {
                    node: node.clone(),
                    detail: e.to_string(),
                })?;
            *self.rules.lock().await = BountyRules {
                min_allowed_bid: p.parameters.assertion_bid_minimum.wei(),
                max_allowed_bid: p.parameters.assertion_bid_maximum.wei(),
            };
        }
        let delivery = uuid::Uuid::new_v4().to_string();
        let until = Instant::now() + self.config.startup_timeout;
        self.post("ping", &delivery, b"{}".to_vec(), until).await?;
        tracing::info!(url = %self.config.url, "webhook engine answered the ping");
        Ok(())
    }
}

impl Scanner for Webhook {
    async fn setup(&self) -> Result<(), ScanError> {
        self.start().await.map_err(ScanError::from)
    }

    async fn scan(&self, artifact: &Artifact) -> Result<ScanResult, ScanError> {
        self.deliver(artifact).await.map_err(ScanError::from)
    }

    async fn teardown(&self) -> Result<(), ScanError> {
        if let Some(server) = self.server.get() {
            server.stop.cancel();
        }
        Ok(())
    }
}
