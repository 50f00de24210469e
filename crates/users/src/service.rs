//! The users service: signing up, logging in, renaming and deleting users, and their pages.
//! It owns the user and e-mail records (`crate::record`) and reads a user's reviews from
//! the projector's read model.

use std::net::IpAddr;
use std::sync::Arc;

use domain::events::{Envelope, Event, UserDeleted, UserRenamed};
use domain::{Credentials, NewUser, email_key};
use platform::auth::{Authenticator, IssuedToken, Principal};
use platform::outbox::Outbox;
use projector::reviews::user_reviews;
use store::{Condition, Record, Store, StoreError, StoreExt, Write};
use uuid::Uuid;

use crate::UsersError;
use crate::passwords::Passwords;
use crate::record::{EmailRecord, UserNameChange, UserRecord};
use crate::throttle::LoginThrottle;
use crate::view::{TokenResponse, UserView};

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

impl UsersService {
    /// Builds the service, hashing with `passwords`; computes the decoy hash once.
    pub async fn new(
        outbox: Outbox,
        auth: Arc<Authenticator>,
        passwords: Passwords,
    ) -> Result<Self, UsersError> {
        let decoy_hash = passwords
            .hash("decoy password, never matches".to_owned())
            .await?;
        let throttle = Arc::new(LoginThrottle::new(outbox.store().clone()));
        Ok(UsersService {
            outbox,
            auth,
            throttle,
            passwords,
            decoy_hash: Arc::new(decoy_hash),
        })
    }

    fn store(&self) -> &dyn Store {
        self.outbox.store().as_ref()
    }

    async fn load(&self, id: &Uuid) -> Result<UserRecord, UsersError> {
        self.store()
            .get_record(&UserRecord::key(id))
            .await?
            .ok_or(UsersError::NotFound)
    }

    /// The user who claimed `email` (in any letter case), if any.
    async fn find_by_email(&self, email: &str) -> Result<Option<UserRecord>, UsersError> {
        let Some(claim) = self
            .store()
            .get_record::<EmailRecord>(&EmailRecord::key(email))
            .await?
        else {
            return Ok(None);
        };
        Ok(self
            .store()
            .get_record(&UserRecord::key(&claim.user_id))
            .await?)
    }

    /// Signs a user up; [`UsersError::EmailTaken`] when the e-mail is taken (in any letter case).
    pub async fn sign_up(&self, user: NewUser) -> Result<UserView, UsersError> {
        let id = domain::ids::new_id();
        let record = UserRecord {
            id,
            password_hash: self.passwords.hash(user.password).await?,
            name: user.name,
            email: user.email,
            created_at: domain::timestamp::now_micros(),
        };
        let writes = vec![
            Write::Put {
                item: record.to_item(UserRecord::key(&id))?,
                condition: Condition::NotExists,
            },
            Write::Put {
                item: EmailRecord { user_id: id }.to_item(EmailRecord::key(&record.email))?,
                condition: Condition::NotExists,
            },
        ];
        match self.outbox.commit(writes, &[]).await {
            Err(StoreError::ConditionFailed { index: 1 }) => return Err(UsersError::EmailTaken),
            other => other?,
        }
        Ok(UserView::of(record, true, Vec::new()))
    }

    /// Exchanges an e-mail and password for a token.
    pub async fn log_in(
        &self,
        credentials: Credentials,
        client: IpAddr,
    ) -> Result<TokenResponse, UsersError> {
        let email = email_key(&credentials.email);
        self.throttle.reserve(&email, client).await?;
        let user = self.find_by_email(&email).await?;
        let stored_hash = user.as_ref().map_or_else(
            || self.decoy_hash.as_ref().clone(),
            |u| u.password_hash.clone(),
        );
        let matches = match self
            .passwords
            .verify(credentials.password, stored_hash)
            .await
        {
            Ok(matches) => matches,
            Err(error) => {
                // The password was never checked, so the attempt does not count.
                self.throttle.give_back(&email, client).await?;
                return Err(error.into());
            }
        };
        let user_id = match (matches, user) {
            (true, Some(user)) => user.id,
            _ => return Err(UsersError::WrongCredentials),
        };
        self.throttle.succeeded(&email, client).await?;
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
    pub async fn get(&self, id: &Uuid, viewer: Option<Principal>) -> Result<UserView, UsersError> {
        let user = self.load(id).await?;
        let reviews = user_reviews(self.store(), id).await?;
        let show_email = viewer.is_some_and(|p| p.may_act_as(*id));
        Ok(UserView::of(user, show_email, reviews))
    }

    /// Renames a user; the new name reaches their reviews through the event.
    pub async fn rename(
        &self,
        id: &Uuid,
        by: Principal,
        name: String,
    ) -> Result<UserView, UsersError> {
        if !by.may_act_as(*id) {
            return Err(UsersError::Forbidden(
                "only that user or the admin may change a user",
            ));
        }
        let mut user = self.load(id).await?;
        let write = Write::Update {
            key: UserRecord::key(id),
            set: store::attrs_of(&UserNameChange { name: &name }, UserRecord::KIND)?,
            add: Vec::new(),
            condition: Condition::Exists,
        };
        let event = Envelope::new(Event::UserRenamed(UserRenamed {
            user_id: *id,
            name: name.clone(),
        }));
        match self.outbox.commit(vec![write], &[event]).await {
            Err(StoreError::ConditionFailed { .. }) => return Err(UsersError::NotFound),
            other => other?,
        }
        user.name = name;
        let reviews = user_reviews(self.store(), id).await?;
        Ok(UserView::of(user, true, reviews))
    }

    /// Deletes a user; their reviews go through the event.
    pub async fn delete(&self, id: &Uuid, by: Principal) -> Result<(), UsersError> {
        if !by.may_act_as(*id) {
            return Err(UsersError::Forbidden(
                "only that user or the admin may delete a user",
            ));
        }
        let user = self.load(id).await?;
        let writes = vec![
            Write::Delete {
                key: UserRecord::key(id),
                condition: Condition::Exists,
            },
            Write::delete(EmailRecord::key(&user.email)),
        ];
        let event = Envelope::new(Event::UserDeleted(UserDeleted { user_id: *id }));
        match self.outbox.commit(writes, &[event]).await {
            Err(StoreError::ConditionFailed { .. }) => Err(UsersError::NotFound),
            other => Ok(other?),
        }
    }
}
