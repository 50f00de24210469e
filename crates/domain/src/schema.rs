//! The schemas of request fields whose rules `minLength`/`maxLength` alone would misstate,
//! written as patterns that accept exactly what the parsers accept: a name is counted after
//! trimming, a URL must be http(s) without spaces, and an e-mail needs a dotted domain. A
//! client generator (or schemathesis) that follows the document then never sends a value the
//! server refuses, nor expects a refusal the server does not give. The unit tests hold each
//! pattern against the rule it describes.

use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{Object, RefOr, Schema};

/// The characters `str::trim` removes (Unicode `White_Space`), as a class body.
const SPACE: &str =
    "\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

/// The characters `char::is_control` refuses (`Cc`), as a class body.
const CONTROL: &str = "\\u0000-\\u001f\\u007f-\\u009f";

/// The longest URL accepted, in characters.
pub const URL_MAX: usize = 2048;

/// The pattern of [`crate::input::name_rule`] with `max`: any spaces around 1..=max
/// characters that start and end with a non-space and hold no control character.
pub fn name_pattern(max: usize) -> String {
    let edge = format!("[^{SPACE}{CONTROL}]");
    let inner = max.saturating_sub(2);
    format!("^[{SPACE}]*{edge}(?:[^{CONTROL}]{{0,{inner}}}{edge})?[{SPACE}]*$")
}

/// The pattern of an http(s) URL: a scheme, a non-empty host, no space or control character.
pub fn url_pattern() -> String {
    format!("^https?://[^/?#{SPACE}{CONTROL}][^{SPACE}{CONTROL}]*$")
}

/// The pattern of an e-mail as sign-up takes it: a local part, `@`, and a domain with a dot
/// that neither starts nor ends it; spaces around it are trimmed.
pub fn email_pattern() -> String {
    let text = format!("[^{SPACE}{CONTROL}]");
    let domain = format!("[^@{SPACE}{CONTROL}]");
    let domain_edge = format!("[^.@{SPACE}{CONTROL}]");
    format!("^[{SPACE}]*{text}+@{domain_edge}{domain}*\\.{domain}*{domain_edge}[{SPACE}]*$")
}

/// The pattern of a `YYYY-MM-DD` date no later than `today` (`YYYY-MM-DD` too): such dates
/// sort as text, so it is "the same digits up to some place, then a smaller digit there, then
/// any digits", or `today` itself. `format: date` beside it says which days exist.
pub fn not_after_pattern(today: &str) -> String {
    let digit_of = |c: char| c.to_digit(10);
    let mut alternatives = vec![today.to_owned()];
    for (at, c) in today.char_indices() {
        let Some(digit) = digit_of(c).filter(|d| *d > 0) else {
            continue;
        };
        let rest: String = today[at + 1..]
            .chars()
            .map(|c| if c == '-' { "-" } else { "[0-9]" })
            .collect();
        alternatives.push(format!("{}[0-{}]{rest}", &today[..at], digit - 1));
    }
    format!("^(?:{})$", alternatives.join("|"))
}

/// An optional `YYYY-MM-DD` date not in the future (`null` counts as absent); the bound
/// moves with the day, so the schema is made with the document.
pub fn optional_past_date() -> Object {
    let today = crate::actor::format_date(crate::timestamp::today());
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Date,
        )))
        .pattern(Some(not_after_pattern(&today)))
        .description(Some("`YYYY-MM-DD`, not in the future"))
        .build()
}

/// A name or title of 1..=max characters after trimming.
pub fn name(max: usize, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(name_pattern(max)))
        .description(Some(format!(
            "{description}: 1..{max} characters after trimming, no control characters"
        )))
        .build()
}

/// An optional http(s) URL (`null` counts as absent).
pub fn optional_url() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .pattern(Some(url_pattern()))
        .max_length(Some(URL_MAX))
        .description(Some("An http(s) URL"))
        .build()
}

/// A list of at most `max` http(s) URLs (absent or `null` is an empty list).
pub fn url_list(max: usize) -> Schema {
    let url = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(url_pattern()))
        .max_length(Some(URL_MAX));
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(RefOr::T(Schema::Object(url.build())))
        .max_items(Some(max))
        .description(Some(format!("At most {max} http(s) URLs")))
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `text` matches `pattern` as an ECMA engine reads it, by the `regex` crate:
    /// `\uXXXX` becomes `\x{XXXX}` and the final `$` means the end of the text.
    fn matches(pattern: &str, text: &str) -> bool {
        let mut rust = String::new();
        let mut rest = pattern;
        while let Some(at) = rest.find("\\u") {
            rust.push_str(&rest[..at]);
            let hex = &rest[at + 2..at + 6];
            rust.push_str(&format!("\\x{{{hex}}}"));
            rest = &rest[at + 6..];
        }
        rust.push_str(rest);
        // `$` of ECMA matches only at the end; `\z` says so for `regex`.
        let rust = rust
            .strip_suffix('$')
            .map(|p| format!("{p}\\z"))
            .unwrap_or(rust);
        regex::Regex::new(&rust).unwrap().is_match(text)
    }

    #[test]
    fn the_name_pattern_is_the_name_rule() {
        let pattern = name_pattern(5);
        for text in [
            "a",
            "  Neo ",
            "ab cd",
            "\tabcde\n",
            "é",
            "a\u{a0}b",
            "\u{3000}x",
            "x\u{2028}",
            "",
            " ",
            "abcdef",
            "a\u{7}b",
            "a\nb",
            "\u{85}",
            " \u{9f}",
            "a\u{1680}\u{1680}\u{1680}\u{1680}b",
        ] {
            assert_eq!(
                matches(&pattern, text),
                crate::input::name_rule(text, 5).is_ok(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn the_url_pattern_is_the_url_rule() {
        let pattern = url_pattern();
        for text in [
            "https://example.com/a.png",
            "http://é.fr",
            "https://x?y",
            "ftp://example.com",
            "https://",
            "https:///a",
            "https://a b",
            "https://a\u{0}",
            "https://a\n",
            " https://a",
            "javascript:alert(1)",
        ] {
            assert_eq!(
                matches(&pattern, text),
                crate::input::is_http_url(text),
                "{text:?}"
            );
        }
    }

    #[test]
    fn the_date_pattern_allows_today_and_earlier() {
        let pattern = not_after_pattern("2026-12-01");
        for (text, earlier) in [
            ("2026-12-01", true),
            ("2026-11-30", true),
            ("2025-12-31", true),
            ("0001-01-01", true),
            ("1999-12-31", true),
            ("2026-12-02", false),
            ("2027-01-01", false),
            ("2026-12-10", false),
            ("9999-01-01", false),
        ] {
            assert_eq!(matches(&pattern, text), earlier, "{text}");
        }
    }

    #[test]
    fn the_email_pattern_is_the_email_rule() {
        let pattern = email_pattern();
        for text in [
            "ann@example.com",
            " Ann@Example.com ",
            "a@b@c.d",
            "a@b.c",
            "a@.bc",
            "a@bc.",
            "a@bc",
            "@b.c",
            "a b@c.d",
            "a@c.d\u{1}",
            "a@c..d",
        ] {
            assert_eq!(
                matches(&pattern, text),
                crate::user::looks_like_email(text.trim()),
                "{text:?}"
            );
        }
    }
}
