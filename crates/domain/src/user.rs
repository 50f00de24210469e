//! The rules of users: sign-up, log-in and renaming.

use serde_json::Value;

use crate::input::{Fields, RequestBody, ValidationErrors};

pub const USER_NAME_MAX: usize = 100;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;
pub const EMAIL_MAX: usize = 254;

/// A validated `POST /users` body. The e-mail is kept as given (trimmed); uniqueness is
/// decided on its lower-case form, [`email_key`]. Unknown fields are refused (the `serde`
/// attribute is read by `ToSchema`, which documents it as `additionalProperties: false`).
#[derive(Debug, Clone, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    #[schema(schema_with = user_name_schema)]
    pub name: String,
    /// An e-mail address (at most 254 characters), unique case-insensitively.
    #[schema(schema_with = email_schema)]
    pub email: String,
    /// 8..128 characters; stored only as an argon2id hash.
    #[schema(min_length = 8, max_length = 128, format = Password)]
    pub password: String,
}

/// A `POST /auth/token` body.
#[derive(Debug, Clone, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// At most 254 characters (the sign-up limit).
    #[schema(max_length = 254)]
    pub email: String,
    /// At most 128 characters (the sign-up limit).
    #[schema(max_length = 128, format = Password)]
    pub password: String,
}

/// A validated `PATCH /users/{id}` body.
#[derive(Debug, Clone, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    #[schema(schema_with = user_name_schema)]
    pub name: String,
}

fn user_name_schema() -> utoipa::openapi::Object {
    crate::schema::name(USER_NAME_MAX, "The user's name")
}

fn email_schema() -> utoipa::openapi::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .pattern(Some(crate::schema::email_pattern()))
        .max_length(Some(EMAIL_MAX))
        .description(Some("An e-mail address, unique case-insensitively"))
        .build()
}

impl RequestBody for NewUser {
    fn parse(body: &Value) -> Result<Self, ValidationErrors> {
        let mut f = Fields::of::<NewUser>(body);
        let name = f.name("name", USER_NAME_MAX);
        let raw_email = f.string("email");
        // The length as sent, as the document's `maxLength` counts it; the shape once trimmed.
        let email = raw_email.as_ref().map(|e| e.trim().to_owned());
        if let (Some(raw), Some(email)) = (&raw_email, &email)
            && (raw.chars().count() > EMAIL_MAX || !looks_like_email(email))
        {
            f.fail("email", "must be an e-mail address");
        }
        let password = f.string("password");
        if let Some(password) = &password {
            let length = password.chars().count();
            if !(PASSWORD_MIN..=PASSWORD_MAX).contains(&length) {
                f.fail(
                    "password",
                    format!("must be {PASSWORD_MIN} to {PASSWORD_MAX} characters"),
                );
            }
        }
        f.finish(|| {
            Some(NewUser {
                name: name?,
                email: email?,
                password: password?,
            })
        })
    }
}

/// Only the shape of credentials and the sign-up maximum lengths are checked: no account
/// can have a longer e-mail or password, and refusing them here, before the throttle, the
/// store or the hasher see them, keeps a client from making the server look up or hash
/// megabytes of text. The other password rules are not checked (a wrong one is just wrong).
impl RequestBody for Credentials {
    fn parse(body: &Value) -> Result<Self, ValidationErrors> {
        let mut f = Fields::of::<Credentials>(body);
        let email = f.string("email").map(|e| e.trim().to_owned());
        if email
            .as_ref()
            .is_some_and(|e| e.chars().count() > EMAIL_MAX)
        {
            f.fail("email", format!("must be at most {EMAIL_MAX} characters"));
        }
        let password = f.string("password");
        if password
            .as_ref()
            .is_some_and(|p| p.chars().count() > PASSWORD_MAX)
        {
            f.fail(
                "password",
                format!("must be at most {PASSWORD_MAX} characters"),
            );
        }
        f.finish(|| {
            Some(Credentials {
                email: email?,
                password: password?,
            })
        })
    }
}

impl RequestBody for Rename {
    fn parse(body: &Value) -> Result<Self, ValidationErrors> {
        let mut f = Fields::of::<Rename>(body);
        let name = f.name("name", USER_NAME_MAX);
        f.finish(|| Some(Rename { name: name? }))
    }
}

/// The form under which an e-mail is unique: case-insensitive.
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

pub(crate) fn looks_like_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    email.chars().count() <= EMAIL_MAX
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checks_every_sign_up_rule() {
        let errors = NewUser::parse(&json!({"name": " ", "email": "nope", "password": "short"}))
            .unwrap_err()
            .0;
        assert_eq!(errors.len(), 3);
        let user = NewUser::parse(
            &json!({"name": "Ann", "email": " Ann@Example.com", "password": "long enough"}),
        )
        .unwrap();
        assert_eq!(user.email, "Ann@Example.com");
        assert_eq!(email_key(&user.email), "ann@example.com");
    }

    #[test]
    fn credentials_longer_than_any_account_are_refused_naming_each_field() {
        let email = format!("{}@example.com", "a".repeat(EMAIL_MAX));
        let password = "p".repeat(PASSWORD_MAX + 1);
        let errors = Credentials::parse(&json!({"email": email, "password": password}))
            .unwrap_err()
            .0;
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["email", "password"]);
        // The longest of each is still read, and a short password is only wrong, not invalid.
        let longest = format!("{}@example.com", "a".repeat(EMAIL_MAX - 12));
        let credentials =
            Credentials::parse(&json!({"email": longest, "password": "p".repeat(PASSWORD_MAX)}))
                .unwrap();
        assert_eq!(credentials.email.chars().count(), EMAIL_MAX);
        assert!(Credentials::parse(&json!({"email": "a@b.c", "password": "x"})).is_ok());
    }
}
