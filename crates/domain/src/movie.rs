//! The rules of a new movie.

use serde_json::Value;
use uuid::Uuid;

use crate::input::{Fields, RequestBody, ValidationErrors};
use crate::timestamp::current_year;

/// A validated `POST /movies` body. Actor ids are checked for existence by the movies
/// service, which asks the actors service.
#[derive(Debug, Clone, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMovie {
    #[schema(schema_with = title_schema)]
    pub title: String,
    #[schema(schema_with = release_year_schema)]
    pub release_year: i32,
    #[schema(schema_with = genres_schema)]
    pub genres: Vec<String>,
    /// The cast: existing actors and the role each plays (at most 50).
    #[schema(required = false, max_items = 50, nullable)]
    pub actors: Vec<CastEntry>,
    /// At most 10,000 characters.
    #[schema(max_length = 10000)]
    pub overview: Option<String>,
    #[schema(schema_with = crate::schema::optional_url, required = false)]
    pub thumbnail_url: Option<String>,
    #[schema(schema_with = pictures_schema, required = false)]
    pub pictures: Vec<String>,
}

/// One cast member as requested: an actor id and the role played.
#[derive(Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CastEntry {
    /// An existing actor's id.
    pub actor_id: Uuid,
    #[schema(schema_with = role_schema)]
    pub role: String,
}

fn title_schema() -> utoipa::openapi::Object {
    crate::schema::name(TITLE_MAX, "The title")
}

fn role_schema() -> utoipa::openapi::Object {
    crate::schema::name(ROLE_MAX, "A character or a billing (\"Neo\", \"lead\")")
}

/// 1870..(current year + 10): the bound moves with the year, so it is computed when the
/// document is made rather than written in an attribute.
fn release_year_schema() -> utoipa::openapi::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::Integer)
        .minimum(Some(FIRST_RELEASE_YEAR))
        .maximum(Some(i64::from(current_year()) + 10))
        .description(Some("1870..(current year + 10)"))
        .build()
}

/// 1..10 genre names; stored lower-case and trimmed, duplicates merged, in the order first
/// given.
fn genres_schema() -> utoipa::openapi::Schema {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(crate::schema::name(GENRE_MAX, "A genre"))
        .min_items(Some(1))
        .max_items(Some(GENRES_MAX))
        .description(Some(
            "1..10 genre names; stored lower-case and trimmed, duplicates merged",
        ))
        .build()
        .into()
}

fn pictures_schema() -> utoipa::openapi::Schema {
    crate::schema::url_list(PICTURES_MAX)
}

impl RequestBody for CastEntry {
    fn parse(item: &Value) -> Result<Self, ValidationErrors> {
        let mut entry = Fields::of::<CastEntry>(item);
        let actor_id = entry.string("actor_id");
        let role = entry.name("role", ROLE_MAX);
        let actor_id = actor_id.and_then(|text| {
            let id = crate::ids::parse_id(&text);
            if id.is_none() {
                entry.fail("actor_id", "is not an actor id");
            }
            id
        });
        entry.finish(|| {
            Some(CastEntry {
                actor_id: actor_id?,
                role: role?,
            })
        })
    }
}

pub const TITLE_MAX: usize = 300;
pub const GENRES_MAX: usize = 10;
pub const GENRE_MAX: usize = 40;
pub const ROLE_MAX: usize = 100;
pub const CAST_MAX: usize = 50;
pub const OVERVIEW_MAX: usize = 10_000;
pub const PICTURES_MAX: usize = 20;
pub const FIRST_RELEASE_YEAR: i64 = 1870;

impl RequestBody for NewMovie {
    fn parse(body: &Value) -> Result<Self, ValidationErrors> {
        let mut f = Fields::of::<NewMovie>(body);
        let title = f.name("title", TITLE_MAX);
        let latest = i64::from(current_year()) + 10;
        let release_year = f.integer("release_year", FIRST_RELEASE_YEAR..=latest);
        let genres = parse_genres(&mut f);
        let actors = parse_cast(&mut f);
        let overview = f.optional_text("overview", OVERVIEW_MAX);
        let thumbnail_url = f.optional_url("thumbnail_url");
        let pictures = f.url_list("pictures", PICTURES_MAX);
        f.finish(|| {
            Some(NewMovie {
                title: title?,
                release_year: i32::try_from(release_year?).ok()?,
                genres: genres?,
                actors,
                overview,
                thumbnail_url,
                pictures,
            })
        })
    }
}

/// Normalises a genre name as stored and looked up: trimmed and lower-case.
pub fn genre_key(name: &str) -> String {
    name.trim().to_lowercase()
}

fn parse_genres(f: &mut Fields<'_>) -> Option<Vec<String>> {
    let value = f.required("genres")?;
    let Some(items) = value.as_array() else {
        f.fail("genres", "must be an array of genre names");
        return None;
    };
    if items.is_empty() || items.len() > GENRES_MAX {
        f.fail("genres", format!("must have 1 to {GENRES_MAX} names"));
        return None;
    }
    let mut genres: Vec<String> = Vec::new();
    let mut valid = true;
    for (i, item) in items.iter().enumerate() {
        match f.name_value(&format!("genres[{i}]"), item, GENRE_MAX) {
            Some(name) => {
                let key = genre_key(&name);
                if !genres.contains(&key) {
                    genres.push(key);
                }
            }
            None => valid = false,
        }
    }
    valid.then_some(genres)
}

fn parse_cast(f: &mut Fields<'_>) -> Vec<CastEntry> {
    let Some(value) = f.raw("actors") else {
        return Vec::new();
    };
    let Some(items) = value.as_array() else {
        f.fail("actors", "must be an array of {actor_id, role}");
        return Vec::new();
    };
    if items.len() > CAST_MAX {
        f.fail("actors", format!("must have at most {CAST_MAX} entries"));
        return Vec::new();
    }
    let mut cast = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match CastEntry::parse(item) {
            Ok(entry) => cast.push(entry),
            Err(errors) => {
                for error in errors.0 {
                    let field = if error.field.is_empty() {
                        format!("actors[{i}]")
                    } else {
                        format!("actors[{i}].{}", error.field)
                    };
                    f.fail(&field, error.message);
                }
            }
        }
    }
    cast
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_a_full_movie_and_normalises_genres() {
        let movie = NewMovie::parse(&json!({
            "title": "  The Matrix ", "release_year": 1999, "genres": ["Sci-Fi", " sci-fi", "Action"],
            "actors": [{"actor_id": "0192f0c1-0000-7000-8000-000000000001", "role": "Neo"}],
            "thumbnail_url": "https://example.com/m.png"
        }))
        .unwrap();
        assert_eq!(movie.title, "The Matrix");
        assert_eq!(movie.genres, ["sci-fi", "action"]);
        assert_eq!(movie.actors[0].role, "Neo");
    }

    #[test]
    fn lists_every_failing_field() {
        let errors = NewMovie::parse(&json!({
            "title": "", "release_year": 1800, "genres": [],
            "actors": [{"actor_id": "nope", "role": ""}], "pictures": ["ftp://x"]
        }))
        .unwrap_err()
        .0;
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        for expected in [
            "title",
            "release_year",
            "genres",
            "actors[0].actor_id",
            "actors[0].role",
            "pictures[0]",
        ] {
            assert!(
                fields.contains(&expected),
                "{expected} missing from {fields:?}"
            );
        }
    }
}
