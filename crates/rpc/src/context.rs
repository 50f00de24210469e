//! What a gRPC call carries about the request it is made for, so that the callee's logs
//! and traces join the caller's: the id of the HTTP request being served (`x-request-id`)
//! and, when traces are exported, the caller's span (`traceparent`). The callee's request
//! layer reads both as it reads HTTP headers.

use platform::request_id::{self, RequestId};
use tonic::metadata::{AsciiMetadataValue, MetadataKey, MetadataMap};

/// Adds the context of the request the running task serves, if it serves one.
pub(crate) fn attach(metadata: &mut MetadataMap) {
    if let Some(id) = RequestId::current() {
        // A request id is ASCII by construction; one that were not would just not be passed.
        if let Ok(value) = AsciiMetadataValue::try_from(id.as_str()) {
            metadata.insert(request_id::HEADER_NAME, value);
        }
    }
    trace_context::inject_current(&mut Metadata(metadata));
}

/// gRPC metadata as a carrier of trace context.
struct Metadata<'a>(&'a mut MetadataMap);

impl trace_context::Injector for Metadata<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            AsciiMetadataValue::try_from(value),
        ) {
            self.0.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_call_made_while_serving_a_request_carries_its_id() {
        let mut outside = MetadataMap::new();
        attach(&mut outside);
        assert!(outside.get(request_id::HEADER_NAME).is_none());

        let id = RequestId::generate();
        let mut inside = MetadataMap::new();
        id.clone().scope(async { attach(&mut inside) }).await;
        let sent = inside
            .get(request_id::HEADER_NAME)
            .and_then(|v| v.to_str().ok());
        assert_eq!(sent, Some(id.as_str()));
    }
}
