//! The rules of a new movie.

use serde_json::Value;
use uuid::Uuid;

use crate::input::{Fields, ValidationErrors};
use crate::timestamp::current_year;

/// A validated `POST /movies` body. Actor ids are checked for existence by the movies
/// service, which asks the actors service.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMovie {
    pub title: String,
    pub release_year: i32,
    /// Lower-case, trimmed, duplicates merged, in the order first given.
    pub genres: Vec<String>,
    pub cast: Vec<CastEntry>,
    pub overview: Option<String>,
    pub thumbnail_url: Option<String>,
    pub pictures: Vec<String>,
}

/// One cast member as requested: an actor id and the role played.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CastEntry {
    pub actor_id: Uuid,
    pub role: String,
}

pub const TITLE_MAX: usize = 300;
pub const GENRES_MAX: usize = 10;
pub const GENRE_MAX: usize = 40;
pub const ROLE_MAX: usize = 100;
pub const CAST_MAX: usize = 50;
pub const OVERVIEW_MAX: usize = 10_000;
pub const PICTURES_MAX: usize = 20;
pub const FIRST_RELEASE_YEAR: i64 = 1870;

impl NewMovie {
    /// Reads and checks a request body.
    pub fn parse(body: &Value) -> Result<Self, ValidationErrors> {
        let mut f = Fields::new(
            body,
            &[
                "title",
                "release_year",
                "genres",
                "actors",
                "overview",
                "thumbnail_url",
                "pictures",
            ],
        );
        let title = f.name("title", TITLE_MAX);
        let latest = i64::from(current_year()) + 10;
        let release_year = f.integer("release_year", FIRST_RELEASE_YEAR..=latest);
        let genres = parse_genres(&mut f);
        let cast = parse_cast(&mut f);
        let overview = f.optional_text("overview", OVERVIEW_MAX);
        let thumbnail_url = f.optional_url("thumbnail_url");
        let pictures = f.url_list("pictures", PICTURES_MAX);
        f.finish(|| {
            Some(NewMovie {
                title: title?,
                release_year: i32::try_from(release_year?).ok()?,
                genres: genres?,
                cast,
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
        let mut entry = Fields::new(item, &["actor_id", "role"]);
        let actor_id = entry.string("actor_id");
        let role = entry.name("role", ROLE_MAX);
        let mut errors = match entry.finish(|| Some(())) {
            Ok(()) => Vec::new(),
            Err(errors) => errors.0,
        };
        let actor_id = actor_id.and_then(|text| {
            let id = crate::ids::parse_id(&text);
            if id.is_none() {
                errors.push(crate::FieldError {
                    field: "actor_id".into(),
                    message: "is not an actor id".into(),
                });
            }
            id
        });
        for error in errors {
            let field = if error.field.is_empty() {
                format!("actors[{i}]")
            } else {
                format!("actors[{i}].{}", error.field)
            };
            f.fail(&field, error.message);
        }
        if let (Some(actor_id), Some(role)) = (actor_id, role) {
            cast.push(CastEntry { actor_id, role });
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
        assert_eq!(movie.cast[0].role, "Neo");
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
