//! How DynamoDB's answers become the port's errors, and which failed writes the adapter may
//! retry itself (its back-off is `RETRY_BACKOFF` in the crate root).
//!
//! The SDK already retries what it knows to be transient (throttling, 5xx, dropped
//! connections, timeouts) a few times. A read that still fails is `Unavailable`, which the
//! port promises is worth retrying later. A write that still fails for throttling or a server
//! error, or that conflicted with another transaction (which the SDK does not retry), is
//! [`Outcome::Retry`]: the write path tries it again itself before it gives up with
//! `Unavailable`. A request DynamoDB refuses as malformed is `Invalid`.

use std::error::Error;

use aws_client::causes;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use store::StoreError;

/// What a failed write call means.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Final: the port's error.
    Fail(StoreError),
    /// Nothing was written and trying again may work (a conflict with another
    /// transaction, or throttling or a server error that outlasted the SDK's retries).
    Retry(String),
}

/// Service error codes that mean "too busy, in the way or failing right now", not "wrong".
const RETRYABLE_CODES: [&str; 6] = [
    "TransactionConflictException",
    "TransactionInProgressException",
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
];

/// Cancellation reason codes that mean the same inside a transaction.
const RETRYABLE_REASONS: [&str; 4] = [
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
    "RequestLimitExceeded",
];

/// The port's error for a failed read, table call or ping.
pub(crate) fn read_error<E, R>(operation: &str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match classify(operation, err) {
        Outcome::Fail(error) => error,
        Outcome::Retry(reason) => StoreError::Unavailable(reason),
    }
}

/// What a failed single-item write (PutItem, UpdateItem, DeleteItem) means; its condition
/// is the one of write 0.
pub(crate) fn write_outcome<E, R>(operation: &str, err: SdkError<E, R>) -> Outcome
where
    E: ProvideErrorMetadata + Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let failed_condition = err.as_service_error().and_then(ProvideErrorMetadata::code)
        == Some("ConditionalCheckFailedException");
    if failed_condition {
        return Outcome::Fail(StoreError::ConditionFailed { index: 0 });
    }
    classify(operation, err)
}

/// What a failed TransactWriteItems means. A cancelled transaction wrote nothing, and its
/// reasons are listed in the order of the writes.
pub(crate) fn transaction_outcome<R>(err: SdkError<TransactWriteItemsError, R>) -> Outcome
where
    R: std::fmt::Debug + 'static,
{
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        err.as_service_error()
    else {
        return classify("TransactWriteItems", err);
    };
    let codes: Vec<&str> = cancelled
        .cancellation_reasons()
        .iter()
        .map(|reason| reason.code().unwrap_or("None"))
        .collect();
    let message = || format!("transaction cancelled, reasons {codes:?}");
    // Conditions come first, as in the SQLite adapter, which checks every condition before
    // it writes anything.
    if let Some(index) = codes
        .iter()
        .position(|code| *code == "ConditionalCheckFailed")
    {
        return Outcome::Fail(StoreError::ConditionFailed { index });
    }
    if let Some(index) = codes.iter().position(|code| *code == "ValidationError") {
        let detail = cancelled.cancellation_reasons()[index]
            .message()
            .unwrap_or("invalid");
        return Outcome::Fail(StoreError::Invalid(format!("write {index}: {detail}")));
    }
    if codes.iter().any(|code| RETRYABLE_REASONS.contains(code)) {
        return Outcome::Retry(message());
    }
    Outcome::Fail(StoreError::Unavailable(message()))
}

fn classify<E, R>(operation: &str, err: SdkError<E, R>) -> Outcome
where
    E: ProvideErrorMetadata + Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let message = || match err.as_service_error() {
        // The code and DynamoDB's message say it all; the SDK's report adds the raw response.
        Some(service) => format!(
            "DynamoDB {operation}: {}: {}",
            service.code().unwrap_or("unknown error"),
            service.message().unwrap_or("no message")
        ),
        None => format!("DynamoDB {operation}: {}", causes(&err)),
    };
    match &err {
        SdkError::ServiceError(context) => match context.err().code() {
            Some("ValidationException" | "SerializationException") => {
                Outcome::Fail(StoreError::Invalid(message()))
            }
            Some(code) if RETRYABLE_CODES.contains(&code) => Outcome::Retry(message()),
            // Missing table, bad credentials, and everything unknown: the store cannot work
            // right now, whatever the request.
            _ => Outcome::Fail(StoreError::Unavailable(message())),
        },
        // The request could not even be built: an argument the SDK refuses.
        SdkError::ConstructionFailure(_) => Outcome::Fail(StoreError::Invalid(message())),
        // Timeouts, connections refused or dropped, answers that are not DynamoDB's.
        _ => Outcome::Fail(StoreError::Unavailable(message())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::error::ErrorMetadata;
    use aws_sdk_dynamodb::types::CancellationReason;
    use aws_sdk_dynamodb::types::error::TransactionCanceledException;

    type Error = SdkError<TransactWriteItemsError, ()>;

    fn cancelled(codes: &[&str]) -> Error {
        let reasons = codes
            .iter()
            .map(|code| {
                CancellationReason::builder()
                    .code(*code)
                    .message(format!("because {code}"))
                    .build()
            })
            .collect();
        let exception = TransactionCanceledException::builder()
            .set_cancellation_reasons(Some(reasons))
            .build();
        SdkError::service_error(
            TransactWriteItemsError::TransactionCanceledException(exception),
            (),
        )
    }

    fn service(code: &str) -> Error {
        let metadata = ErrorMetadata::builder()
            .code(code)
            .message("said so")
            .build();
        SdkError::service_error(TransactWriteItemsError::generic(metadata), ())
    }

    fn fail(outcome: Outcome) -> StoreError {
        match outcome {
            Outcome::Fail(error) => error,
            Outcome::Retry(reason) => panic!("expected a final error, got a retry: {reason}"),
        }
    }

    #[test]
    fn a_cancelled_transaction_names_its_first_failed_condition() {
        let codes = [
            "None",
            "ValidationError",
            "ConditionalCheckFailed",
            "ConditionalCheckFailed",
        ];
        assert_eq!(
            fail(transaction_outcome(cancelled(&codes))),
            StoreError::ConditionFailed { index: 2 }
        );
        assert_eq!(
            fail(transaction_outcome(cancelled(&["None", "ValidationError"]))),
            StoreError::Invalid("write 1: because ValidationError".into())
        );
        assert!(matches!(
            transaction_outcome(cancelled(&["None", "TransactionConflict"])),
            Outcome::Retry(_)
        ));
        assert!(matches!(
            transaction_outcome(cancelled(&["ThrottlingError", "None"])),
            Outcome::Retry(_)
        ));
        assert!(matches!(
            fail(transaction_outcome(cancelled(&[
                "ItemCollectionSizeLimitExceeded"
            ]))),
            StoreError::Unavailable(_)
        ));
    }

    #[test]
    fn service_errors_map_by_their_code() {
        assert!(matches!(
            fail(write_outcome(
                "PutItem",
                service("ConditionalCheckFailedException")
            )),
            StoreError::ConditionFailed { index: 0 }
        ));
        assert!(matches!(
            fail(transaction_outcome(service("ValidationException"))),
            StoreError::Invalid(message) if message.contains("ValidationException: said so")
        ));
        for code in [
            "TransactionConflictException",
            "ProvisionedThroughputExceededException",
        ] {
            assert!(matches!(
                write_outcome("UpdateItem", service(code)),
                Outcome::Retry(_)
            ));
            assert!(matches!(
                read_error("GetItem", service(code)),
                StoreError::Unavailable(_)
            ));
        }
        for code in [
            "ResourceNotFoundException",
            "UnrecognizedClientException",
            "Odd",
        ] {
            assert!(matches!(
                read_error("Query", service(code)),
                StoreError::Unavailable(_)
            ));
        }
        let timeout: Error = SdkError::timeout_error("too slow");
        assert!(matches!(
            read_error("Query", timeout),
            StoreError::Unavailable(_)
        ));
    }
}
