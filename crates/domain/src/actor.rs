//! The rules of a new actor.

use serde_json::Value;
use uuid::Uuid;

use crate::input::{Fields, RequestBody, ValidationErrors};

/// A validated `POST /actors` body; unknown fields are refused.
#[derive(Debug, Clone, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewActor {
    #[schema(schema_with = actor_name_schema)]
    pub name: String,
    #[schema(schema_with = crate::schema::optional_past_date, required = false)]
    pub date_of_birth: Option<time::Date>,
    /// At most 10,000 characters.
    #[schema(max_length = 10000)]
    pub bio: Option<String>,
    #[schema(schema_with = crate::schema::optional_url, required = false)]
    pub thumbnail_url: Option<String>,
    #[schema(schema_with = pictures_schema, required = false)]
    pub pictures: Vec<String>,
}

fn actor_name_schema() -> utoipa::openapi::Object {
    crate::schema::name(ACTOR_NAME_MAX, "The actor's name")
}

fn pictures_schema() -> utoipa::openapi::Schema {
    crate::schema::url_list(crate::movie::PICTURES_MAX)
}

/// An actor as other services need it: its id and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorSummaryRef {
    pub id: Uuid,
    pub name: String,
}

pub const ACTOR_NAME_MAX: usize = 200;
pub const BIO_MAX: usize = 10_000;

const DATE_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

impl RequestBody for NewActor {
    fn parse(body: &Value) -> Result<Self, ValidationErrors> {
        let mut f = Fields::of::<NewActor>(body);
        let name = f.name("name", ACTOR_NAME_MAX);
        let date_of_birth = match f.raw("date_of_birth").map(Value::as_str) {
            None => None,
            Some(None) => {
                f.fail("date_of_birth", "must be a YYYY-MM-DD string");
                None
            }
            Some(Some(text)) => match time::Date::parse(text, DATE_FORMAT) {
                Ok(date) if date <= crate::timestamp::today() => Some(date),
                Ok(_) => {
                    f.fail("date_of_birth", "must not be in the future");
                    None
                }
                Err(_) => {
                    f.fail("date_of_birth", "must be a date as YYYY-MM-DD");
                    None
                }
            },
        };
        let bio = f.optional_text("bio", BIO_MAX);
        let thumbnail_url = f.optional_url("thumbnail_url");
        let pictures = f.url_list("pictures", crate::movie::PICTURES_MAX);
        f.finish(|| {
            Some(NewActor {
                name: name?,
                date_of_birth,
                bio,
                thumbnail_url,
                pictures,
            })
        })
    }
}

/// A date of birth as the API shows it.
pub fn format_date(date: time::Date) -> String {
    date.format(DATE_FORMAT).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refuses_future_birth_dates_and_bad_urls() {
        let errors = NewActor::parse(
            &json!({"name": "Keanu", "date_of_birth": "2999-01-01", "thumbnail_url": "x"}),
        )
        .unwrap_err()
        .0;
        assert_eq!(errors.len(), 2);
        let actor =
            NewActor::parse(&json!({"name": " Keanu Reeves ", "date_of_birth": "1964-09-02"}))
                .unwrap();
        assert_eq!(actor.name, "Keanu Reeves");
        assert_eq!(format_date(actor.date_of_birth.unwrap()), "1964-09-02");
    }
}
