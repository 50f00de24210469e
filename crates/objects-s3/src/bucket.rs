//! Makes sure the bucket exists. Creating it at connect lets a fresh environment (a local S3
//! server, a new test bucket) work without a separate setup step; an existing bucket is only
//! looked at (HeadBucket), so a service whose role may not create buckets still connects.

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use objects::ObjectError;

use crate::errors::unavailable;

/// The region where S3 takes no location constraint (and refuses one that names it).
const DEFAULT_REGION: &str = "us-east-1";

/// Creates `bucket` unless it exists and is ours; `region` is where a new one goes when the
/// client's own region should not decide.
pub(crate) async fn ensure(
    client: &Client,
    bucket: &str,
    region: Option<&str>,
) -> Result<(), ObjectError> {
    match client.head_bucket().bucket(bucket).send().await {
        Ok(_) => return Ok(()),
        Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => {}
        Err(err) => return Err(unavailable("HeadBucket", err)),
    }
    let region = region
        .map(str::to_owned)
        .or_else(|| client.config().region().map(|r| r.as_ref().to_owned()));
    let mut create = client.create_bucket().bucket(bucket);
    if let Some(region) = region.filter(|r| r != DEFAULT_REGION) {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region.as_str()))
                .build(),
        );
    }
    match create.send().await {
        Ok(_) => {
            tracing::info!(bucket, "created the S3 bucket for pictures");
            Ok(())
        }
        // Another process created it between our look and our create.
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_bucket_already_owned_by_you()) =>
        {
            Ok(())
        }
        Err(err) => Err(unavailable("CreateBucket", err)),
    }
}
