//! The users service's answer to other services in the same process: whether a user exists
//! and what they are called, read from its own user records (across processes the same
//! answer goes over gRPC, crate `rpc`).

use std::sync::Arc;

use async_trait::async_trait;
use platform::directory::{DirectoryError, UserDirectory, UserProfile};
use store::{Store, StoreExt};
use uuid::Uuid;

use crate::record::UserRecord;

/// Answers "does this user exist, and what is their name" from the users' own items.
pub struct LocalUserDirectory {
    store: Arc<dyn Store>,
}

impl LocalUserDirectory {
    /// A directory reading the users' items in `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        LocalUserDirectory { store }
    }
}

#[async_trait]
impl UserDirectory for LocalUserDirectory {
    async fn user(&self, id: Uuid) -> Result<Option<UserProfile>, DirectoryError> {
        let user = self
            .store
            .get_record::<UserRecord>(&UserRecord::key(&id))
            .await?;
        Ok(user.map(|user| UserProfile {
            id,
            name: user.name,
        }))
    }
}
