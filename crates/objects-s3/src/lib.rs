//! The S3 adapter of the object-storage port, for the cloud deployment: every object is one S3
//! object in one bucket, under the port's key as it is (keys need no encoding), with its
//! content type as S3's `Content-Type`.
//!
//! The client is made the way the DynamoDB store's is, by `aws-client` (same SDK family, same
//! hyper/rustls client): bounded connect, attempt and operation times and a few retries of what
//! the SDK knows to be transient, so that an S3 that cannot be reached turns into
//! [`ObjectError::Unavailable`] within seconds rather than a hung request. An endpoint
//! override (a local S3-compatible server) uses path-style addressing
//! (`http://host:port/bucket/key`), since a local server has no per-bucket host names. The
//! bucket is created at connect when it is missing.
//!
//! S3 makes a put visible whole and at once (strong read-after-write consistency), so the
//! port's atomic replace holds without more work here; the SDK adds a CRC32 checksum to each
//! put, which S3 checks before it stores anything.

mod bucket;
mod errors;

use std::time::Duration;

use async_trait::async_trait;
use aws_client::ClientConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use objects::{ContentType, Object, ObjectError, ObjectKey, ObjectStore};

use errors::unavailable;

/// The content type of an object stored without one (by another tool than MovieBook).
const UNKNOWN_CONTENT_TYPE: &str = "application/octet-stream";

/// Where the bucket is and how long calls may take.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// The bucket's name; it is created when missing.
    pub bucket: String,
    /// The endpoint (a local S3-compatible server's, which is then addressed path-style, or
    /// none for AWS's), region, times and retries. A get's body is read within the operation
    /// timeout too.
    pub aws: ClientConfig,
}

impl S3Config {
    /// The defaults for a bucket of pictures: an upload is at most 10 MiB, which S3 takes in
    /// well under the attempt time even on a slow link, and a call still ends well inside the
    /// API's 30 s request timeout.
    pub fn new(bucket: impl Into<String>) -> Self {
        S3Config {
            bucket: bucket.into(),
            aws: ClientConfig {
                endpoint: None,
                region: None,
                connect_timeout: Duration::from_secs(1),
                attempt_timeout: Duration::from_secs(8),
                operation_timeout: Duration::from_secs(20),
                max_attempts: 3,
            },
        }
    }

    /// The same configuration against another endpoint, such as a local S3-compatible server.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.aws.endpoint = Some(endpoint.into());
        self
    }

    /// An SDK client as the store makes it, for tools and tests that manage the bucket.
    pub async fn client(&self) -> Result<Client, ObjectError> {
        let shared = self.aws.load().await.map_err(|e| {
            ObjectError::Invalid(format!("the S3 object store's configuration: {e}"))
        })?;
        let s3 = aws_sdk_s3::config::Builder::from(&shared)
            // Virtual-host addressing (`bucket.host`) needs DNS for every bucket, which a
            // local server does not have; AWS itself takes either.
            .force_path_style(self.aws.endpoint.is_some())
            .build();
        Ok(Client::from_conf(s3))
    }
}

/// Objects kept in one S3 bucket.
#[derive(Debug, Clone)]
pub struct S3ObjectStore {
    client: Client,
    bucket: String,
    /// Bounds the reading of a get's body, which the SDK's timeouts do not cover.
    operation_timeout: Duration,
}

impl S3ObjectStore {
    /// Connects to the configured bucket, creating it when missing. Fails with
    /// [`ObjectError::Unavailable`] when S3 cannot be reached or refuses (no permission, a
    /// bucket name another account owns).
    pub async fn connect(config: S3Config) -> Result<Self, ObjectError> {
        let client = config.client().await?;
        bucket::ensure(&client, &config.bucket, config.aws.region.as_deref()).await?;
        Ok(S3ObjectStore {
            client,
            bucket: config.bucket,
            operation_timeout: config.aws.operation_timeout,
        })
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    async fn put_checked(
        &self,
        key: &ObjectKey,
        bytes: Vec<u8>,
        content_type: &ContentType,
    ) -> Result<(), ObjectError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(content_type.as_str())
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| unavailable("PutObject", e))?;
        Ok(())
    }

    async fn get(&self, key: &ObjectKey) -> Result<Option<Object>, ObjectError> {
        let answer = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await;
        let output = match answer {
            Ok(output) => output,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(None);
            }
            Err(err) => return Err(unavailable("GetObject", err)),
        };
        let content_type = output
            .content_type()
            .unwrap_or(UNKNOWN_CONTENT_TYPE)
            .to_owned();
        let body = tokio::time::timeout(self.operation_timeout, output.body.collect())
            .await
            .map_err(|_| {
                ObjectError::Unavailable(format!(
                    "S3 GetObject: the body of {key} did not arrive within {:?}",
                    self.operation_timeout
                ))
            })?
            .map_err(|e| ObjectError::Unavailable(format!("S3 GetObject: reading {key}: {e}")))?;
        Ok(Some(Object {
            bytes: body.to_vec(),
            content_type,
        }))
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), ObjectError> {
        // S3 answers a delete of a missing key with success, as the port wants.
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(|e| unavailable("DeleteObject", e))?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), ObjectError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| unavailable("HeadBucket", e))?;
        Ok(())
    }
}
