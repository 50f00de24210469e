//! The AWS SDK set-up that the DynamoDB store (`store-dynamodb`) and the S3 object store
//! (`objects-s3`) share, so that both reach AWS, or a local stand-in, the same way: the same
//! hyper/rustls client, bounded connect, attempt and operation times, a few quick retries of
//! what the SDK knows to be transient, and fixed dummy credentials for a local endpoint. Each
//! adapter builds its own service client from the [`SdkConfig`] this loads and maps
//! [`NoRegion`] and [`causes`] into its port's errors.

use std::error::Error;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

/// The region a local endpoint is signed for when none is given: local servers take any.
const LOCAL_REGION: &str = "us-east-1";

/// Where an AWS service is and how long its calls may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Another endpoint than AWS's, such as DynamoDB Local (`http://127.0.0.1:8000`) or a local
    /// S3-compatible server. With one, requests are signed with fixed dummy credentials and
    /// the region defaults to us-east-1; without one, region and credentials come from the
    /// usual AWS chain (environment, profile, web identity, container or instance role).
    pub endpoint: Option<String>,
    /// The AWS region, when it should not come from the environment.
    pub region: Option<String>,
    /// How long opening a connection may take.
    pub connect_timeout: Duration,
    /// How long one attempt of a call may take, answer included.
    pub attempt_timeout: Duration,
    /// How long a call may take in all, its retries and their back-off included.
    pub operation_timeout: Duration,
    /// Attempts per call, the first included, for errors the SDK knows to be transient.
    pub max_attempts: u32,
}

/// Neither the configuration nor the environment names a region, without which no AWS
/// request can be signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no AWS region: set AWS_REGION or give the region in the configuration")]
pub struct NoRegion;

impl ClientConfig {
    /// Loads the SDK's shared configuration: these times and retries, the endpoint and region
    /// given, and the credentials and region of the AWS chain for what is not.
    pub async fn load(&self) -> Result<SdkConfig, NoRegion> {
        let retry = RetryConfig::standard()
            .with_max_attempts(self.max_attempts.max(1))
            // The SDK's default first back-off is a second; for a service that answers in
            // milliseconds that only makes an outage slower to report.
            .with_initial_backoff(Duration::from_millis(50))
            .with_max_backoff(Duration::from_secs(1));
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(self.connect_timeout)
            .operation_attempt_timeout(self.attempt_timeout)
            .operation_timeout(self.operation_timeout)
            .build();
        // Behaviour defaults follow the SDK version in Cargo.lock; upgrades are tested against
        // DynamoDB Local and the local S3 server like any change.
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(retry)
            .timeout_config(timeouts);
        let region = match (&self.region, &self.endpoint) {
            (Some(region), _) => Some(region.clone()),
            (None, Some(_)) => Some(LOCAL_REGION.to_owned()),
            (None, None) => None,
        };
        if let Some(region) = region {
            loader = loader.region(Region::new(region));
        }
        if let Some(endpoint) = &self.endpoint {
            loader = loader
                .endpoint_url(endpoint)
                // DynamoDB Local takes any key made only of letters and digits, local S3
                // servers any key at all.
                .credentials_provider(Credentials::new(
                    "moviebooklocal",
                    "moviebooklocal",
                    None,
                    None,
                    "moviebook-local-endpoint",
                ));
        }
        let shared = loader.load().await;
        if shared.region().is_none() {
            return Err(NoRegion);
        }
        Ok(shared)
    }
}

/// An error and its causes on one line ("dispatch failure: io error: ... refused"), without
/// the debug dump of the SDK's own report.
pub fn causes(err: &(dyn Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(current) = next {
        let text = current.to_string();
        // Some layers repeat their cause's text in their own.
        if !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
        next = current.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct Layer {
        text: &'static str,
        #[source]
        source: Option<Box<Layer>>,
    }

    fn chain(texts: &[&'static str]) -> Option<Box<Layer>> {
        texts
            .iter()
            .rev()
            .fold(None, |source, text| Some(Box::new(Layer { text, source })))
    }

    #[test]
    fn causes_are_joined_without_a_layer_that_repeats_its_cause() {
        let err = chain(&[
            "dispatch failure",
            "io error: connection refused",
            "connection refused",
        ])
        .unwrap();
        assert_eq!(
            causes(err.as_ref()),
            "dispatch failure: io error: connection refused"
        );
        let alone = chain(&["timed out"]).unwrap();
        assert_eq!(causes(alone.as_ref()), "timed out");
    }

    fn local(endpoint: Option<&str>, region: Option<&str>) -> ClientConfig {
        ClientConfig {
            endpoint: endpoint.map(str::to_owned),
            region: region.map(str::to_owned),
            connect_timeout: Duration::from_millis(100),
            attempt_timeout: Duration::from_millis(200),
            operation_timeout: Duration::from_millis(500),
            max_attempts: 0,
        }
    }

    #[tokio::test]
    async fn a_local_endpoint_is_signed_for_us_east_1_unless_a_region_is_given() {
        let shared = local(Some("http://127.0.0.1:1"), None)
            .load()
            .await
            .unwrap();
        assert_eq!(shared.region().map(|r| r.as_ref()), Some("us-east-1"));
        assert_eq!(shared.endpoint_url(), Some("http://127.0.0.1:1"));
        let shared = local(Some("http://127.0.0.1:1"), Some("eu-west-1"))
            .load()
            .await
            .unwrap();
        assert_eq!(shared.region().map(|r| r.as_ref()), Some("eu-west-1"));
        let timeouts = shared.timeout_config().unwrap();
        assert_eq!(timeouts.connect_timeout(), Some(Duration::from_millis(100)));
        assert_eq!(
            shared.retry_config().map(|r| r.max_attempts()),
            Some(1),
            "at least the first attempt"
        );
    }
}
