//! [`S3Blobs`]: the [`BlobStore`] on an S3-compatible object store, so that
//! several nodes (on one PostgreSQL database) serve the same artifacts.
//!
//! Layout under the bucket's prefix: the same relative paths as a data
//! directory ([`BlobKey::path`]: `blobs/<2 hex>/<sha256>`,
//! `manifests/<sha256>.json`), plus `tmp/` for this backend's own scratch
//! objects. An operator can copy a node's `artifacts/` directory into a
//! bucket and point the node at it.
//!
//! Why the `object_store` crate: it speaks S3's REST dialect (signatures,
//! multipart uploads, listing pages, retries) for AWS and the compatible
//! servers alike; writing that again would be the riskiest code in the node.
//!
//! How the contract is met on S3:
//! - puts are atomic: a single PUT, or a multipart upload that becomes
//!   visible only when completed (staged files larger than
//!   [`MULTIPART_PART`] are uploaded in parts of that size, so uploading
//!   never holds a whole artifact in memory); a failed upload is aborted;
//! - reads stream the object's body as it arrives;
//! - S3 has no "touch" and refuses to copy an object onto itself unchanged,
//!   so [`touch`](BlobStore::touch) copies the object to a scratch key and
//!   back (two server-side copies, no bytes through the node), which gives
//!   it a new last-modified time atomically;
//! - every failure of the service (unreachable, timed out, refused) is a
//!   [`BlobError::Backend`], which the API answers with 503 and
//!   `Retry-After`: the client tried nothing wrong and may try again.
//!
//! Requests time out after [`S3Config::timeout`] (retries included), so an
//! object store that hangs makes the node answer 503 in bounded time instead
//! of holding the client's connection.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use object_store::{ClientConfigKey, ObjectMeta, ObjectStore, RetryConfig};
use tokio::io::AsyncWriteExt;

use super::blob::{
    BlobError, BlobKey, BlobMeta, BlobReader, BlobStore, Listed, Namespace, StagedFile,
    MANIFEST_SUFFIX,
};

/// Part size of multipart uploads, and the most a put holds in memory.
/// S3 takes parts of at least 5 MiB.
pub const MULTIPART_PART: usize = 8 << 20;

/// Objects up to this size are put again rather than deduplicated: one
/// request either way, and a touch is three.
const CHEAP_PUT: u64 = 1 << 20;

/// The scratch prefix of [`BlobStore::touch`]'s copies.
const TMP_PREFIX: &str = "tmp";

/// Where the artifacts live in an object store, and how to reach it.
///
/// Parsed from `s3://BUCKET[/PREFIX]`; what the URL does not say comes from
/// the standard AWS variables (`AWS_ENDPOINT_URL`, `AWS_REGION` or
/// `AWS_DEFAULT_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`, ...), unless set here.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// The bucket.
    pub bucket: String,
    /// The key prefix inside the bucket, without leading or trailing `/`
    /// (empty: the bucket's root).
    pub prefix: String,
    /// The service's URL for an S3-compatible server (MinIO, Ceph, moto,
    /// ...); AWS's own when unset. An `http://` endpoint is allowed
    /// without TLS.
    pub endpoint: Option<String>,
    /// The region; `us-east-1` when neither this nor the environment says.
    pub region: Option<String>,
    /// An access key id (with [`S3Config::secret_access_key`]) instead of the
    /// environment's credentials.
    pub access_key_id: Option<String>,
    /// The secret of [`S3Config::access_key_id`].
    pub secret_access_key: Option<String>,
    /// The longest one operation may take, retries included.
    pub timeout: Duration,
}

impl S3Config {
    /// The default of [`S3Config::timeout`].
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// `s3://bucket/prefix`.
    pub fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// The secret stays out of logs and error messages.
impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("url", &self.url())
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Why an `s3://` URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("artifact store {url:?} is not s3://BUCKET[/PREFIX]: {reason}")]
pub struct BadS3Url {
    /// The refused text.
    pub url: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl FromStr for S3Config {
    type Err = BadS3Url;

    fn from_str(url: &str) -> Result<Self, BadS3Url> {
        let bad = |reason| BadS3Url {
            url: url.to_owned(),
            reason,
        };
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| bad("it does not start with s3://"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        // S3's bucket naming rules, loosely: what a URL host may hold.
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.'));
        if !valid_bucket {
            return Err(bad(
                "the bucket name must be 3 to 63 lowercase letters, digits, '-' or '.'",
            ));
        }
        let prefix = prefix.trim_matches('/');
        if prefix
            .split('/')
            .any(|part| part == "." || part == ".." || (part.is_empty() && !prefix.is_empty()))
        {
            return Err(bad("the prefix has an empty, '.' or '..' segment"));
        }
        if prefix.chars().any(|c| c.is_control()) {
            return Err(bad("the prefix has a control character"));
        }
        Ok(S3Config {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            timeout: Self::DEFAULT_TIMEOUT,
        })
    }
}

/// Artifact bytes in an S3-compatible object store.
pub struct S3Blobs {
    store: Arc<dyn ObjectStore>,
    config: S3Config,
}

impl fmt::Debug for S3Blobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Blobs")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl S3Blobs {
    /// Connects to the bucket of `config` and checks that it is there and
    /// writable (a probe object is put and deleted under `tmp/`), so that a
    /// missing bucket, a wrong endpoint or read-only credentials stop the
    /// node at start-up, not at its first upload.
    pub async fn connect(config: S3Config) -> Result<Self, BlobError> {
        let blobs = Self::open(config)?;
        let probe = blobs.scratch("probe");
        let checked = async {
            blobs
                .store
                .put(&probe, Bytes::from_static(b"swarm").into())
                .await?;
            blobs.store.delete(&probe).await
        };
        checked.await.map_err(|e| blobs.error(&probe, e))?;
        Ok(blobs)
    }

    /// The backend of `config`, without checking the bucket.
    pub fn open(config: S3Config) -> Result<Self, BlobError> {
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(&config.bucket);
        for (key, value) in [
            (AmazonS3ConfigKey::Endpoint, &config.endpoint),
            (AmazonS3ConfigKey::Region, &config.region),
            (AmazonS3ConfigKey::AccessKeyId, &config.access_key_id),
            (
                AmazonS3ConfigKey::SecretAccessKey,
                &config.secret_access_key,
            ),
        ] {
            if let Some(value) = value {
                builder = builder.with_config(key, value);
            }
        }
        if builder
            .get_config_value(&AmazonS3ConfigKey::Endpoint)
            .is_some_and(|e| e.starts_with("http://"))
        {
            builder = builder.with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp),
                "true",
            );
        }
        let millis = config.timeout.as_millis().max(1);
        let connect = millis.min(5_000);
        let store = builder
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
                format!("{millis}ms"),
            )
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                format!("{connect}ms"),
            )
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: config.timeout,
                ..RetryConfig::default()
            })
            .build()
            .map_err(|e| BlobError::Backend {
                location: config.url(),
                source: Box::new(e),
            })?;
        Ok(S3Blobs {
            store: Arc::new(store),
            config,
        })
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &S3Config {
        &self.config
    }

    /// The object path of `relative` under the prefix.
    fn object(&self, relative: &str) -> ObjectPath {
        if self.config.prefix.is_empty() {
            ObjectPath::from(relative)
        } else {
            ObjectPath::from(format!("{}/{relative}", self.config.prefix))
        }
    }

    /// The object of `key`.
    fn path(&self, key: &BlobKey) -> ObjectPath {
        self.object(&key.path())
    }

    /// A fresh scratch object under `tmp/`.
    fn scratch(&self, what: &str) -> ObjectPath {
        self.object(&format!("{TMP_PREFIX}/{what}-{}", uuid::Uuid::new_v4()))
    }

    /// `s3://bucket/path`.
    fn url_of(&self, path: &ObjectPath) -> String {
        format!("s3://{}/{path}", self.config.bucket)
    }

    fn error(&self, path: &ObjectPath, source: object_store::Error) -> BlobError {
        BlobError::Backend {
            location: self.url_of(path),
            source: Box::new(source),
        }
    }

    /// The key an object of the listing of `namespace` stands for, if any.
    fn key_of(&self, namespace: Namespace, location: &ObjectPath) -> Option<BlobKey> {
        let location = location.as_ref();
        let relative = if self.config.prefix.is_empty() {
            location
        } else {
            location
                .strip_prefix(self.config.prefix.as_str())?
                .strip_prefix('/')?
        };
        let rest = relative
            .strip_prefix(namespace.as_str())?
            .strip_prefix('/')?;
        let key = match namespace {
            Namespace::Manifests => BlobKey::manifest(rest.strip_suffix(MANIFEST_SUFFIX)?)?,
            Namespace::Blobs => {
                let (shard, name) = rest.split_once('/')?;
                BlobKey::blob(name).filter(|k| k.name().get(..2) == Some(shard))?
            }
        };
        Some(key)
    }

    async fn upload_file(&self, path: &ObjectPath, file: &StagedFile) -> Result<(), BlobError> {
        let local = file.path().display().to_string();
        let mut source = tokio::fs::File::open(file.path())
            .await
            .map_err(BlobError::io(&local))?;
        let mut writer =
            BufWriter::with_capacity(Arc::clone(&self.store), path.clone(), MULTIPART_PART);
        let copied = async {
            tokio::io::copy(&mut source, &mut writer).await?;
            writer.shutdown().await
        }
        .await;
        if let Err(e) = copied {
            // Nothing becomes visible; parts already sent are discarded.
            if let Err(abort) = writer.abort().await {
                tracing::warn!(object = %self.url_of(path), error = %abort, "could not abort a multipart upload");
            }
            return Err(BlobError::Backend {
                location: self.url_of(path),
                source: Box::new(e),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl BlobStore for S3Blobs {
    async fn put_file(&self, key: &BlobKey, file: StagedFile) -> Result<(), BlobError> {
        let path = self.path(key);
        self.upload_file(&path, &file).await?;
        // `file` is dropped here: the staged copy is deleted.
        Ok(())
    }

    async fn put_bytes(&self, key: &BlobKey, bytes: Bytes) -> Result<(), BlobError> {
        let path = self.path(key);
        self.store
            .put(&path, bytes.into())
            .await
            .map_err(|e| self.error(&path, e))?;
        Ok(())
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<BlobReader>, BlobError> {
        let path = self.path(key);
        let result = match self.store.get(&path).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.error(&path, e)),
        };
        let size = result.meta.size;
        let location = self.url_of(&path);
        let stream = result
            .into_stream()
            .map_err(move |source| BlobError::Backend {
                location: location.clone(),
                source: Box::new(source),
            });
        Ok(Some(BlobReader::new(size, Box::pin(stream))))
    }

    async fn head(&self, key: &BlobKey) -> Result<Option<BlobMeta>, BlobError> {
        let path = self.path(key);
        match self.store.head(&path).await {
            Ok(meta) => Ok(Some(blob_meta(&meta))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(&path, e)),
        }
    }

    async fn touch(&self, key: &BlobKey) -> Result<bool, BlobError> {
        let path = self.path(key);
        let scratch = self.scratch("touch");
        match self.store.copy(&path, &scratch).await {
            Ok(()) => {}
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(self.error(&path, e)),
        }
        let copied_back = self.store.copy(&scratch, &path).await;
        if let Err(e) = self.store.delete(&scratch).await {
            tracing::warn!(object = %self.url_of(&scratch), error = %e, "could not delete a scratch copy");
        }
        match copied_back {
            Ok(()) => Ok(true),
            Err(e) => Err(self.error(&path, e)),
        }
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        let path = self.path(key);
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(&path, e)),
        }
    }

    fn list(&self, namespace: Namespace) -> BoxStream<'_, Result<Listed, BlobError>> {
        let top = self.object(namespace.as_str());
        self.store
            .list(Some(&top))
            .map_err(move |e| self.error(&top, e))
            .try_filter_map(move |meta| async move {
                Ok(self.key_of(namespace, &meta.location).map(|key| Listed {
                    key,
                    meta: blob_meta(&meta),
                }))
            })
            .boxed()
    }

    fn location(&self, key: &BlobKey) -> String {
        self.url_of(&self.path(key))
    }

    fn shared(&self) -> bool {
        true
    }

    fn put_is_cheap(&self, size: u64) -> bool {
        size <= CHEAP_PUT
    }
}

fn blob_meta(meta: &ObjectMeta) -> BlobMeta {
    BlobMeta {
        size: meta.size,
        modified: SystemTime::from(meta.last_modified),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_name_a_bucket_and_a_prefix() {
        let config: S3Config = "s3://artifacts".parse().unwrap();
        assert_eq!(
            (config.bucket.as_str(), config.prefix.as_str()),
            ("artifacts", "")
        );
        assert_eq!(config.url(), "s3://artifacts");
        let config: S3Config = "s3://my.bucket-1/swarm/prod/".parse().unwrap();
        assert_eq!(
            (config.bucket.as_str(), config.prefix.as_str()),
            ("my.bucket-1", "swarm/prod")
        );
        assert_eq!(config.url(), "s3://my.bucket-1/swarm/prod");
        assert_eq!(config.timeout, S3Config::DEFAULT_TIMEOUT);
        for (bad, why) in [
            ("/var/swarm", "s3://"),
            ("s3://", "bucket name"),
            ("s3://ab", "bucket name"),
            ("s3://Upper", "bucket name"),
            ("s3://bucket/a//b", "segment"),
            ("s3://bucket/../etc", "segment"),
            ("s3://bucket/a\nb", "control"),
        ] {
            let err = bad.parse::<S3Config>().unwrap_err();
            assert!(err.to_string().contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn the_secret_is_not_shown() {
        let mut config: S3Config = "s3://bucket".parse().unwrap();
        config.secret_access_key = Some("hunter2".into());
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn listed_objects_map_back_to_keys() {
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let mut config: S3Config = "s3://bucket/p/q".parse().unwrap();
        config.region = Some("us-east-1".into());
        config.access_key_id = Some("k".into());
        config.secret_access_key = Some("s".into());
        let blobs = S3Blobs::open(config).unwrap();
        let blob = BlobKey::blob(abc).unwrap();
        let manifest = BlobKey::manifest(abc).unwrap();
        assert_eq!(
            blobs.location(&blob),
            format!("s3://bucket/p/q/blobs/ba/{abc}")
        );
        assert_eq!(
            blobs.key_of(Namespace::Blobs, &blobs.path(&blob)),
            Some(blob)
        );
        assert_eq!(
            blobs.key_of(Namespace::Manifests, &blobs.path(&manifest)),
            Some(manifest.clone())
        );
        assert_eq!(blobs.key_of(Namespace::Blobs, &blobs.path(&manifest)), None);
        for foreign in [
            format!("p/q/blobs/00/{abc}"),
            format!("p/q/blobs/{abc}"),
            "p/q/manifests/notes.txt".to_owned(),
            format!("other/blobs/ba/{abc}"),
            format!("p/q/tmp/touch-{abc}"),
        ] {
            let path = ObjectPath::from(foreign.as_str());
            assert_eq!(blobs.key_of(Namespace::Blobs, &path), None, "{foreign}");
            assert_eq!(blobs.key_of(Namespace::Manifests, &path), None, "{foreign}");
        }
    }
}
