//! Signing up, logging in, renaming and deleting users.

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use domain::events::{Envelope, Event, UserDeleted, UserRenamed};
use domain::{Credentials, NewUser, email_key};
use platform::ApiError;
use platform::auth::{Authenticator, IssuedToken, Principal};
use platform::directory::DirectoryError;
use platform::directory::{UserDirectory, UserProfile};
use platform::outbox::Outbox;
use projector::user_reviews::{UserReview, user_reviews};
use serde::Serialize;
use serde_json::{Map, json};
use store::{Condition, Item, Key, Store, StoreError, Write};
use uuid::Uuid;

use crate::passwords::Passwords;
use crate::throttle::LoginThrottle;

fn user_key(id: &Uuid) -> Key {
    Key::new(format!("user#{id}"), "user")
}

fn email_item_key(email: &str) -> Key {
    Key::new(format!("email#{}", email_key(email)), "email")
}

/// A user's page. `email` is shown to that user and the admin only.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub created_at: String,
    /// The user's reviews, most recently written first (at most 100).
    pub reviews: Vec<UserReview>,
}

/// The answer to a successful login.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub user_id: Uuid,
}

/// The users service's commands and queries.
#[derive(Clone)]
pub struct UsersService {
    outbox: Outbox,
    auth: Arc<Authenticator>,
    throttle: Arc<LoginThrottle>,
    passwords: Passwords,
    /// Verified against when the e-mail is unknown, so both failures take as long.
    decoy_hash: Arc<String>,
}

struct StoredUser {
    item: Item,
}

impl StoredUser {
    fn name(&self) -> &str {
        self.item.str("name").unwrap_or_default()
    }
    fn email(&self) -> &str {
        self.item.str("email").unwrap_or_default()
    }
}

impl UsersService {
    /// Builds the service; computes the decoy hash once.
    pub async fn new(outbox: Outbox, auth: Arc<Authenticator>) -> Result<Self, ApiError> {
        let passwords = Passwords::default();
        let decoy_hash = passwords
            .hash("decoy password, never matches".to_owned())
            .await?;
        Ok(UsersService {
            outbox,
            auth,
            throttle: Arc::new(LoginThrottle::default()),
            passwords,
            decoy_hash: Arc::new(decoy_hash),
        })
    }

    fn store(&self) -> &dyn Store {
        self.outbox.store().as_ref()
    }

    async fn load(&self, id: &Uuid) -> Result<StoredUser, ApiError> {
        let item = self
            .store()
            .get(&user_key(id))
            .await?
            .ok_or(ApiError::NotFound("no such user"))?;
        Ok(StoredUser { item })
    }

    /// Signs a user up; 409 when the e-mail is taken (in any letter case).
    pub async fn sign_up(&self, user: NewUser) -> Result<UserView, ApiError> {
        let id = domain::ids::new_id();
        let password_hash = self.passwords.hash(user.password).await?;
        let created_at = domain::timestamp::now_micros();
        let mut attrs = Map::new();
        attrs.insert("id".into(), json!(id));
        attrs.insert("name".into(), json!(user.name));
        attrs.insert("email".into(), json!(user.email));
        attrs.insert("password_hash".into(), json!(password_hash));
        attrs.insert("created_at".into(), json!(created_at));
        let mut email_attrs = Map::new();
        email_attrs.insert("user_id".into(), json!(id));
        let writes = vec![
            Write::Put {
                item: Item::new(user_key(&id), attrs),
                condition: Condition::NotExists,
            },
            Write::Put {
                item: Item::new(email_item_key(&user.email), email_attrs),
                condition: Condition::NotExists,
            },
        ];
        match self.outbox.commit(writes, &[]).await {
            Err(StoreError::ConditionFailed { index: 1 }) => {
                return Err(ApiError::Conflict("that e-mail is already registered"));
            }
            other => other?,
        }
        Ok(UserView {
            id,
            name: user.name,
            email: Some(user.email),
            created_at: domain::timestamp::to_rfc3339(created_at),
            reviews: Vec::new(),
        })
    }

    /// Exchanges an e-mail and password for a token.
    pub async fn log_in(
        &self,
        credentials: Credentials,
        client: IpAddr,
    ) -> Result<TokenResponse, ApiError> {
        let email = email_key(&credentials.email);
        if let Some(retry_after_secs) = self.throttle.refused_for(&email, client) {
            return Err(ApiError::TooManyRequests { retry_after_secs });
        }
        let user = match self.store().get(&email_item_key(&email)).await? {
            Some(entry) => match entry.str("user_id").and_then(|id| id.parse::<Uuid>().ok()) {
                Some(id) => self.store().get(&user_key(&id)).await?,
                None => None,
            },
            None => None,
        };
        let stored_hash = user
            .as_ref()
            .and_then(|u| u.str("password_hash"))
            .map(str::to_owned)
            .unwrap_or_else(|| self.decoy_hash.as_ref().clone());
        let matches = self
            .passwords
            .verify(credentials.password, stored_hash)
            .await?;
        let user_id = match (
            matches,
            user.as_ref()
                .and_then(|u| u.str("id")?.parse::<Uuid>().ok()),
        ) {
            (true, Some(id)) => id,
            _ => {
                self.throttle.failed(&email, client);
                return Err(ApiError::Unauthenticated("wrong e-mail or password"));
            }
        };
        self.throttle.succeeded(&email, client);
        let IssuedToken {
            access_token,
            expires_in,
        } = self.auth.issue(user_id)?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in,
            user_id,
        })
    }

    /// A user's page; the e-mail only for that user or the admin.
    pub async fn get(&self, id: &Uuid, viewer: Option<Principal>) -> Result<UserView, ApiError> {
        let user = self.load(id).await?;
        let reviews = user_reviews(self.store(), id).await?;
        Ok(self.view(&user, viewer.is_some_and(|p| p.may_act_as(*id)), reviews))
    }

    fn view(&self, user: &StoredUser, show_email: bool, reviews: Vec<UserReview>) -> UserView {
        UserView {
            id: user
                .item
                .str("id")
                .and_then(|i| i.parse().ok())
                .unwrap_or_default(),
            name: user.name().to_owned(),
            email: show_email.then(|| user.email().to_owned()),
            created_at: domain::timestamp::to_rfc3339(user.item.int("created_at")),
            reviews,
        }
    }

    /// Renames a user; the new name reaches their reviews through the event.
    pub async fn rename(
        &self,
        id: &Uuid,
        by: Principal,
        name: String,
    ) -> Result<UserView, ApiError> {
        if !by.may_act_as(*id) {
            return Err(ApiError::Forbidden(
                "only that user or the admin may change a user",
            ));
        }
        let mut user = self.load(id).await?;
        let mut set = Map::new();
        set.insert("name".into(), json!(name));
        let write = Write::Update {
            key: user_key(id),
            set,
            add: Vec::new(),
            condition: Condition::Exists,
        };
        let event = Envelope::new(Event::UserRenamed(UserRenamed {
            user_id: *id,
            name: name.clone(),
        }));
        match self.outbox.commit(vec![write], &[event]).await {
            Err(StoreError::ConditionFailed { .. }) => {
                return Err(ApiError::NotFound("no such user"));
            }
            other => other?,
        }
        user.item.attrs.insert("name".into(), json!(name));
        let reviews = user_reviews(self.store(), id).await?;
        Ok(self.view(&user, true, reviews))
    }

    /// Deletes a user; their reviews go through the event.
    pub async fn delete(&self, id: &Uuid, by: Principal) -> Result<(), ApiError> {
        if !by.may_act_as(*id) {
            return Err(ApiError::Forbidden(
                "only that user or the admin may delete a user",
            ));
        }
        let user = self.load(id).await?;
        let writes = vec![
            Write::Delete {
                key: user_key(id),
                condition: Condition::Exists,
            },
            Write::delete(email_item_key(user.email())),
        ];
        let event = Envelope::new(Event::UserDeleted(UserDeleted { user_id: *id }));
        match self.outbox.commit(writes, &[event]).await {
            Err(StoreError::ConditionFailed { .. }) => Err(ApiError::NotFound("no such user")),
            other => Ok(other?),
        }
    }
}

/// Answers "does this user exist, and what is their name" from the users' own items.
pub struct LocalUserDirectory {
    store: Arc<dyn Store>,
}

impl LocalUserDirectory {
    pub fn new(store: Arc<dyn Store>) -> Self {
        LocalUserDirectory { store }
    }
}

#[async_trait]
impl UserDirectory for LocalUserDirectory {
    async fn user(&self, id: Uuid) -> Result<Option<UserProfile>, DirectoryError> {
        let item = self.store.get(&user_key(&id)).await?;
        Ok(item.and_then(|i| {
            Some(UserProfile {
                id,
                name: i.str("name")?.to_owned(),
            })
        }))
    }
}
