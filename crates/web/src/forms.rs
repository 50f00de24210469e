//! What the forms share: the fields a browser sent, and a form's state as a page shows it
//! again after the API refused it — the input kept, each of the API's messages next to its
//! field.

use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;

use crate::api::Answer;
use crate::respond::PageError;
use crate::session::{CSRF_FIELD, CsrfKey, Visitor};

/// The fields of a submitted form, in the order sent.
#[derive(Debug, Default)]
pub struct Fields(Vec<(String, String)>);

/// A submitted form-encoded form and who sent it, accepted only with the visitor's CSRF
/// token: a handler taking one never acts on a form from elsewhere.
pub struct Submission {
    pub visitor: Visitor,
    pub fields: Fields,
}

impl<S> FromRequest<S> for Submission
where
    CsrfKey: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = PageError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let visitor = match Visitor::from_request_parts(&mut parts, state).await {
            Ok(visitor) => visitor,
            Err(never) => match never {},
        };
        let axum::Form(fields) = axum::Form::<Vec<(String, String)>>::from_request(
            Request::from_parts(parts, body),
            state,
        )
        .await
        .map_err(|rejection| PageError::BadRequest(rejection.body_text()))?;
        let fields = Fields(fields);
        fields.check_csrf(&visitor)?;
        Ok(Submission { visitor, fields })
    }
}

impl Fields {
    /// The fields given in order.
    pub fn new(fields: Vec<(String, String)>) -> Self {
        Fields(fields)
    }

    /// The first value of `name`, if sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The value of `name`, empty when not sent.
    pub fn text(&self, name: &str) -> &str {
        self.get(name).unwrap_or_default()
    }

    /// The value of `name` trimmed, or `None` when blank: an optional field left empty.
    pub fn optional(&self, name: &str) -> Option<&str> {
        Some(self.text(name).trim()).filter(|value| !value.is_empty())
    }

    /// Refuses the form unless it carries `visitor`'s CSRF token: then nothing is done.
    pub fn check_csrf(&self, visitor: &Visitor) -> Result<(), PageError> {
        if visitor.csrf_matches(self.get(CSRF_FIELD)) {
            Ok(())
        } else {
            Err(PageError::FormExpired)
        }
    }
}

/// A form as a page shows it: what was typed, and why it was refused.
#[derive(Debug, Default)]
pub struct FormState {
    values: Vec<(String, String)>,
    errors: Vec<(String, String)>,
    /// A refusal that belongs to no one field.
    pub error: Option<String>,
}

impl FormState {
    /// A form showing `values`.
    pub fn with_values<'a>(values: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        FormState {
            values: values
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
            ..FormState::default()
        }
    }

    /// A form showing the fields `names` as they were sent (never a password or a file).
    pub fn keeping(fields: &Fields, names: &[&str]) -> Self {
        Self::with_values(names.iter().map(|name| (*name, fields.text(name))))
    }

    /// What the field `name` shows.
    pub fn value(&self, name: &str) -> &str {
        self.values
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .unwrap_or_default()
    }

    /// Why the field `name` was refused, if it was.
    pub fn error_of(&self, name: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, message)| message.as_str())
    }

    /// Whether anything was refused.
    pub fn refused(&self) -> bool {
        self.error.is_some() || !self.errors.is_empty()
    }

    /// Marks the field `name` refused with `message` (the first message of a field stays).
    pub fn refuse(&mut self, name: &str, message: impl Into<String>) {
        if self.error_of(name).is_none() {
            self.errors.push((name.to_owned(), message.into()));
        }
    }

    /// Shows the API's refusal `answer`: each failing field's message next to the form's
    /// field that `field_of` names for it (the form-wide error otherwise), and a refusal
    /// without fields at the field `whole` names, or form-wide.
    pub fn show(
        &mut self,
        answer: &Answer,
        field_of: impl Fn(&str) -> Option<String>,
        whole: Option<&str>,
    ) {
        let problem = answer.problem();
        if problem.errors.is_empty() {
            let mut message = problem.detail.unwrap_or_else(|| answer.status.to_string());
            if answer.status == StatusCode::TOO_MANY_REQUESTS {
                let wait = answer
                    .retry_after
                    .as_ref()
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("a few");
                message = format!("{message}: try again in {wait} seconds");
            }
            match whole {
                Some(field) => self.refuse(field, message),
                None => self.error = Some(message),
            }
            return;
        }
        for error in problem.errors {
            match field_of(&error.field) {
                Some(field) => self.refuse(&field, error.message),
                None => {
                    let line = format!("{}: {}", error.field, error.message);
                    self.error = Some(match self.error.take() {
                        Some(before) => format!("{before}; {line}"),
                        None => line,
                    });
                }
            }
        }
    }
}

/// Whether a refusal of the API is one to show on the form (the person can mend their
/// input), rather than a page error.
pub fn is_for_the_form(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::BAD_REQUEST
            | StatusCode::FORBIDDEN
            | StatusCode::CONFLICT
            | StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::UNSUPPORTED_MEDIA_TYPE
            | StatusCode::UNPROCESSABLE_ENTITY
            | StatusCode::TOO_MANY_REQUESTS
    )
}

/// A local path to go on to after a form (`next`): only a path on this site, so a link
/// cannot send a person elsewhere.
pub fn local_path(next: Option<&str>) -> Option<&str> {
    next.filter(|path| {
        path.starts_with('/')
            && !path.starts_with("//")
            && !path.contains(['\\', '\r', '\n'])
            && !path.starts_with("/logout")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        for good in ["/", "/movies/1?cursor=x", "/watchlist"] {
            assert_eq!(local_path(Some(good)), Some(good));
        }
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "evil",
            "/logout",
            "",
        ] {
            assert_eq!(local_path(Some(bad)), None, "{bad}");
        }
    }

    #[test]
    fn a_form_keeps_its_values_and_the_first_message_of_a_field() {
        let fields = Fields::new(vec![
            ("name".into(), "Ann <b>".into()),
            ("password".into(), "secret".into()),
        ]);
        let mut form = FormState::keeping(&fields, &["name", "email"]);
        assert_eq!(form.value("name"), "Ann <b>");
        assert_eq!(form.value("email"), "");
        assert_eq!(form.value("password"), "");
        assert!(!form.refused());
        form.refuse("email", "first");
        form.refuse("email", "second");
        assert_eq!(form.error_of("email"), Some("first"));
        assert!(form.refused());
    }
}
