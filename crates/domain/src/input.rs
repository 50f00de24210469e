//! Reading a JSON request body field by field, so that a bad request is answered with
//! every failing field at once rather than only the first one serde meets. A request body
//! type is also the type the OpenAPI document describes: its fields are the schema's
//! properties, and the properties are the only fields the parser accepts, so the document
//! and the parser cannot drift apart.

use serde::Serialize;
use serde_json::{Map, Value};

/// One failing field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Every failing field of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
#[error("the request has {} invalid field(s)", .0.len())]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    /// One failing field.
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    /// Both values, or every failure of either: parts of a request checked apart still
    /// report all their failing fields together.
    pub fn join<A, B>(
        a: Result<A, ValidationErrors>,
        b: Result<B, ValidationErrors>,
    ) -> Result<(A, B), ValidationErrors> {
        match (a, b) {
            (Ok(a), Ok(b)) => Ok((a, b)),
            (Err(mut a), Err(b)) => {
                a.0.extend(b.0);
                Err(a)
            }
            (Err(e), _) | (_, Err(e)) => Err(e),
        }
    }
}

/// A JSON request body type: documented by its schema, read by its parser.
pub trait RequestBody: utoipa::ToSchema + Sized {
    /// Reads and checks a body, reporting every failing field. Implementations start with
    /// [`Fields::of`], so the fields they accept are the schema's properties.
    fn parse(body: &Value) -> Result<Self, ValidationErrors>;
}

/// The property names of a body type's schema.
fn properties<T: utoipa::ToSchema>() -> Vec<String> {
    use utoipa::openapi::{RefOr, schema::Schema};
    match T::schema() {
        RefOr::T(Schema::Object(object)) => object.properties.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// A request body being read: each accessor records a failure and returns `None`
/// instead of stopping, and `finish` reports them all.
pub struct Fields<'a> {
    object: Option<&'a Map<String, Value>>,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    /// Starts reading `body` as a `T`: a JSON object whose keys are all properties of
    /// `T`'s schema.
    pub fn of<T: RequestBody>(body: &'a Value) -> Self {
        let known = properties::<T>();
        let known: Vec<&str> = known.iter().map(String::as_str).collect();
        Self::new(body, &known)
    }

    /// Starts reading `body`, which must be a JSON object whose keys are all in `known`.
    fn new(body: &'a Value, known: &[&str]) -> Self {
        let mut fields = Fields {
            object: body.as_object(),
            errors: Vec::new(),
        };
        match fields.object {
            None => fields.fail("", "the body must be a JSON object"),
            Some(object) => {
                let mut unknown: Vec<&String> = object
                    .keys()
                    .filter(|k| !known.contains(&k.as_str()))
                    .collect();
                unknown.sort();
                for key in unknown {
                    fields.fail(key, "unknown field");
                }
            }
        }
        fields
    }

    /// Records a failure.
    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// The raw value of a field; `null` counts as absent.
    pub fn raw(&self, field: &str) -> Option<&'a Value> {
        self.object
            .and_then(|o| o.get(field))
            .filter(|v| !v.is_null())
    }

    /// A required field; records "missing" when absent.
    pub fn required(&mut self, field: &str) -> Option<&'a Value> {
        let value = self.raw(field);
        if value.is_none() && self.object.is_some() {
            self.fail(field, "is required");
        }
        value
    }

    /// A string field, checked by [`name_rule`]: trimmed, 1..=max characters, no control characters.
    pub fn name(&mut self, field: &str, max: usize) -> Option<String> {
        let value = self.required(field)?;
        self.name_value(field, value, max)
    }

    /// Checks a value found elsewhere (an array element) as a name.
    pub fn name_value(&mut self, field: &str, value: &Value, max: usize) -> Option<String> {
        let Some(text) = value.as_str() else {
            self.fail(field, "must be a string");
            return None;
        };
        match name_rule(text, max) {
            Ok(name) => Some(name),
            Err(message) => {
                self.fail(field, message);
                None
            }
        }
    }

    /// An optional free text of at most `max` characters (kept as written).
    pub fn optional_text(&mut self, field: &str, max: usize) -> Option<String> {
        let value = self.raw(field)?;
        let Some(text) = value.as_str() else {
            self.fail(field, "must be a string");
            return None;
        };
        if text.chars().count() > max {
            self.fail(field, format!("must be at most {max} characters"));
            return None;
        }
        Some(text.to_owned())
    }

    /// A required string field taken as written.
    pub fn string(&mut self, field: &str) -> Option<String> {
        let value = self.required(field)?;
        match value.as_str() {
            Some(text) => Some(text.to_owned()),
            None => {
                self.fail(field, "must be a string");
                None
            }
        }
    }

    /// A required integer within `range`.
    pub fn integer(&mut self, field: &str, range: std::ops::RangeInclusive<i64>) -> Option<i64> {
        let value = self.required(field)?;
        // `1.0` is an integer to JSON Schema (and to the document), so it is one here too.
        let whole = value
            .as_f64()
            .filter(|n| n.fract() == 0.0 && n.abs() < 9.0e15)
            .map(|n| n as i64);
        let Some(number) = value.as_i64().or(whole) else {
            self.fail(field, "must be an integer");
            return None;
        };
        if !range.contains(&number) {
            self.fail(
                field,
                format!("must be between {} and {}", range.start(), range.end()),
            );
            return None;
        }
        Some(number)
    }

    /// An optional http(s) URL.
    pub fn optional_url(&mut self, field: &str) -> Option<String> {
        let value = self.raw(field)?;
        self.url_value(field, value)
    }

    /// Checks a value found elsewhere (an array element) as an http(s) URL.
    pub fn url_value(&mut self, field: &str, value: &Value) -> Option<String> {
        match value.as_str() {
            Some(text) if is_http_url(text) => Some(text.to_owned()),
            Some(_) => {
                self.fail(field, "must be an http or https URL");
                None
            }
            None => {
                self.fail(field, "must be a string");
                None
            }
        }
    }

    /// An optional array of http(s) URLs (at most `max`); absent means empty.
    pub fn url_list(&mut self, field: &str, max: usize) -> Vec<String> {
        let Some(value) = self.raw(field) else {
            return Vec::new();
        };
        let Some(items) = value.as_array() else {
            self.fail(field, "must be an array of URLs");
            return Vec::new();
        };
        if items.len() > max {
            self.fail(field, format!("must have at most {max} entries"));
            return Vec::new();
        }
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.url_value(&format!("{field}[{i}]"), item))
            .collect()
    }

    /// Ends reading: the value built from the fields, or every failure.
    pub fn finish<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, ValidationErrors> {
        if !self.errors.is_empty() {
            return Err(ValidationErrors(self.errors));
        }
        build().ok_or_else(|| ValidationErrors::single("", "invalid request"))
    }
}

/// The rule for every name and title: trimmed, 1..=max characters, no control characters.
pub fn name_rule(text: &str, max: usize) -> Result<String, String> {
    let trimmed = text.trim();
    if trimmed.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    let length = trimmed.chars().count();
    if length == 0 {
        return Err("must not be empty".to_owned());
    }
    if length > max {
        return Err(format!("must be at most {max} characters"));
    }
    Ok(trimmed.to_owned())
}

/// An http(s) URL of at most [`crate::schema::URL_MAX`] characters with a host and no space
/// or control character.
pub(crate) fn is_http_url(text: &str) -> bool {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    match rest {
        Some(rest) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            !host.is_empty()
                // Characters, as the document's `maxLength` counts them.
                && text.chars().count() <= crate::schema::URL_MAX
                && !text.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_every_failing_field() {
        let body = json!({"title": "", "year": "x", "extra": 1});
        let mut fields = Fields::new(&body, &["title", "year", "genres"]);
        fields.name("title", 10);
        fields.integer("year", 1..=2);
        fields.required("genres");
        let errors = fields.finish(|| Some(())).unwrap_err().0;
        let names: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(names, ["extra", "title", "year", "genres"]);
    }

    #[test]
    fn a_body_accepts_exactly_the_properties_of_its_schema() {
        assert_eq!(
            properties::<crate::NewMovie>(),
            [
                "actors",
                "genres",
                "overview",
                "pictures",
                "release_year",
                "thumbnail_url",
                "title"
            ]
        );
        let errors = crate::NewReview::parse(&json!({"score": 5, "rating": 1}))
            .unwrap_err()
            .0;
        assert_eq!(errors[0].field, "rating");
        assert_eq!(errors[0].message, "unknown field");
    }

    #[test]
    fn names_are_trimmed_and_refuse_control_characters() {
        assert_eq!(name_rule("  Neo ", 10), Ok("Neo".to_owned()));
        assert!(name_rule("a\u{7}b", 10).is_err());
        assert!(name_rule("   ", 10).is_err());
        assert!(name_rule("abcdef", 5).is_err());
    }

    #[test]
    fn urls_must_be_http() {
        assert!(is_http_url("https://example.com/a.png"));
        assert!(!is_http_url("ftp://example.com"));
        assert!(!is_http_url("https://"));
        assert!(!is_http_url("javascript:alert(1)"));
    }
}

/// Property tests: any JSON a client can send to a body parser is answered, never a panic,
/// and every refusal names its failing field.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    use super::*;

    /// Any JSON value; object keys are mostly the bodies' real property names, so the
    /// parsers' field rules are reached rather than only the unknown-field one.
    fn json() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            3 => prop::sample::select(vec![
                "name", "email", "password", "title", "release_year", "genres", "actors",
                "actor_id", "role", "overview", "thumbnail_url", "pictures", "score", "comment",
                "date_of_birth", "bio",
            ])
            .prop_map(str::to_owned),
            1 => ".{0,8}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-20i64..3000).prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
            "https?://[a-z]{0,5}[ /]?".prop_map(Value::from),
            "[0-9]{4}-[0-9]{2}-[0-9]{2}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key.clone(), inner), 0..6)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    /// Parses `body` as `T`: a refusal lists at least one field, and names it whenever the
    /// body is an object (only a body that is no object at all is refused as a whole).
    fn check<T: RequestBody>(body: &Value) {
        if let Err(ValidationErrors(errors)) = T::parse(body) {
            assert!(!errors.is_empty(), "a refusal without a field: {body}");
            if let Some(object) = body.as_object() {
                for error in &errors {
                    // An unknown field may be called "" itself: then that is its name.
                    let named = !error.field.is_empty() || object.contains_key("");
                    assert!(named, "{error:?} of {body}");
                    assert!(!error.message.is_empty(), "{error:?} of {body}");
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn every_body_parser_answers_any_json_and_names_the_failing_fields(body in json()) {
            check::<crate::NewUser>(&body);
            check::<crate::Credentials>(&body);
            check::<crate::Rename>(&body);
            check::<crate::NewMovie>(&body);
            check::<crate::CastEntry>(&body);
            check::<crate::NewActor>(&body);
            check::<crate::NewReview>(&body);
        }

        #[test]
        fn a_name_is_accepted_exactly_when_its_trimmed_form_is(text in "\\PC{0,8}|[ \\t\\n\\u{7}a-z\\u{a0}\\u{3000}]{0,8}") {
            match name_rule(&text, 5) {
                Ok(name) => {
                    prop_assert_eq!(name.as_str(), text.trim());
                    prop_assert!((1..=5).contains(&name.chars().count()));
                }
                Err(message) => prop_assert!(!message.is_empty()),
            }
        }
    }
}
