//! `deploy/docker-compose.yml` cannot be run here (no container engine), so this keeps it
//! in step with the code instead: every role runs as a service, every setting of
//! `moviebook serve` is given to the roles, Prometheus scrapes every role; and it keeps the
//! deployment's rules: images pinned (no `latest`), health checks on readiness, the build
//! context free of build output and local data.

use clap::{Args, Command, ValueEnum};
use moviebook::Config;
use moviebook::config::Role;

/// A file of the repository.
fn read(path: &str) -> String {
    let full = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("reading {full}: {e}"))
}

fn compose() -> String {
    read("deploy/docker-compose.yml")
}

/// The name of every role, as `MOVIEBOOK_ROLES` spells it.
fn role_names() -> Vec<String> {
    Role::value_variants()
        .iter()
        .map(|role| role.to_possible_value().unwrap().get_name().to_owned())
        .collect()
}

#[test]
fn compose_runs_every_role_as_its_own_service() {
    let compose = compose();
    for name in role_names() {
        assert!(
            compose.contains(&format!("MOVIEBOOK_ROLES: {name}\n")),
            "deploy/docker-compose.yml has no service playing the {name} role"
        );
    }
    assert!(
        compose.contains("replicas: 2"),
        "the projector runs as two replicas"
    );
}

#[test]
fn compose_gives_the_roles_every_setting() {
    let compose = compose();
    let serve = Config::augment_args(Command::new("serve"));
    let settings: Vec<String> = serve
        .get_arguments()
        .filter(|arg| !arg.is_hide_set())
        .filter_map(|arg| arg.get_env().map(|env| env.to_string_lossy().into_owned()))
        .collect();
    assert!(settings.len() >= 10, "settings found: {settings:?}");
    for setting in settings {
        assert!(
            compose.contains(&format!("{setting}:")),
            "deploy/docker-compose.yml does not set {setting}"
        );
    }
}

/// The images a compose file or Dockerfile names: each `image:` value (an alias `*name`
/// refers to one checked where it is anchored) and each `FROM` image (a build stage named
/// earlier is not an image).
fn images(text: &str) -> Vec<String> {
    let mut images = Vec::new();
    let mut stages = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(value) = line.strip_prefix("image:") {
            let value = value.trim();
            if value.starts_with('*') {
                continue;
            }
            // `&anchor image`: the image after the anchor's name.
            let value = match value.strip_prefix('&') {
                Some(anchored) => anchored.split_once(' ').map_or("", |(_, image)| image),
                None => value,
            };
            images.push(value.trim_matches('"').to_owned());
        } else if let Some(from) = line.strip_prefix("FROM ") {
            let mut words = from.split_whitespace();
            let image = words.next().unwrap_or_default().to_owned();
            if let (Some("AS"), Some(stage)) = (words.next(), words.next()) {
                stages.push(stage.to_owned());
            }
            if !stages[..stages.len().saturating_sub(1)].contains(&image) {
                images.push(image);
            }
        }
    }
    images
}

/// The tag (or digest) an image reference pins, if any: what follows the last `:` of its
/// last path part, or its `@sha256:` digest.
fn pinned_version(image: &str) -> Option<&str> {
    if let Some((_, digest)) = image.split_once('@') {
        return Some(digest);
    }
    let last_part = image.rsplit('/').next().unwrap_or(image);
    last_part.split_once(':').map(|(_, tag)| tag)
}

#[test]
fn every_image_is_pinned_to_a_version_never_latest() {
    let compose = compose();
    let dockerfile = read("deploy/Dockerfile");
    let mut named = images(&compose);
    named.extend(images(&dockerfile));
    assert!(named.len() >= 4, "images found in deploy/: {named:?}");
    for image in &named {
        let version = pinned_version(image);
        assert!(
            version.is_some_and(|v| !v.is_empty() && v != "latest"),
            "{image} is not pinned to a version (tag {version:?}): deploy/ names {named:?}"
        );
        // A version, not a moving name: a number in it (1.95.0, 2.6.1, bookworm-20251229-slim),
        // or the locally built image.
        let version = version.unwrap_or_default();
        assert!(
            version.chars().any(|c| c.is_ascii_digit()) || image == "moviebook:local",
            "{image}: {version} names no version"
        );
    }
}

#[test]
fn health_checks_ask_for_readiness() {
    let dockerfile = read("deploy/Dockerfile");
    let healthcheck: String = dockerfile
        .split("HEALTHCHECK")
        .nth(1)
        .and_then(|rest| rest.split("\nENTRYPOINT").next())
        .unwrap_or_else(|| panic!("deploy/Dockerfile has no HEALTHCHECK"))
        .to_owned();
    assert!(
        healthcheck.contains("/readyz") && !healthcheck.contains("/healthz"),
        "the image's HEALTHCHECK asks {healthcheck:?}"
    );
    let compose = compose();
    let checks: Vec<&str> = compose
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("test:"))
        .collect();
    assert!(
        checks.iter().any(|test| test.contains("/readyz")),
        "no compose health check asks /readyz: {checks:?}"
    );
    assert!(
        !compose.contains("/healthz"),
        "deploy/docker-compose.yml asks /healthz where readiness is meant"
    );
}

#[test]
fn the_build_context_leaves_out_build_output_caches_and_local_data() {
    let ignored: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.trim_end_matches('/').to_owned())
        .collect();
    for needed in ["target", ".cache", "moviebook-data", ".git"] {
        assert!(
            ignored.iter().any(|pattern| pattern == needed),
            ".dockerignore does not leave out {needed}/: {ignored:?}"
        );
    }
    // The data directory's database, wherever a developer keeps one.
    assert!(
        ignored.iter().any(|pattern| pattern == "**/*.sqlite3"),
        ".dockerignore does not leave out SQLite files: {ignored:?}"
    );
}

#[test]
fn prometheus_scrapes_every_role_on_its_internal_port() {
    let compose = compose();
    assert!(
        compose.contains("MOVIEBOOK_INTERNAL_ADDR: 0.0.0.0:9090\n"),
        "the roles' internal address is :9090"
    );
    let prometheus = read("deploy/prometheus.yml");
    let names = prometheus
        .lines()
        .find_map(|line| line.trim().strip_prefix("- names:"))
        .unwrap_or_else(|| panic!("deploy/prometheus.yml lists no names to scrape"));
    let scraped: Vec<&str> = names
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(str::trim)
        .collect();
    for role in role_names() {
        assert!(
            scraped.contains(&role.as_str()),
            "deploy/prometheus.yml does not scrape the {role} role: {scraped:?}"
        );
        assert!(
            compose.contains(&format!("\n  {role}:\n")),
            "deploy/docker-compose.yml has no service named {role}, which Prometheus scrapes"
        );
    }
    assert!(prometheus.contains("port: 9090"), "scraped on :9090");
    assert!(
        prometheus.contains("- alerts.yml"),
        "deploy/prometheus.yml loads the alert rules"
    );
}

#[test]
fn dynamodb_local_gets_a_volume_its_own_user_can_write() {
    let compose = compose();
    let owner = compose
        .split("\n  dynamodb-data-owner:\n")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap_or_else(|| panic!("no service hands DynamoDB Local's volume to its user"));
    assert!(
        owner.contains("\"chown\", \"dynamodblocal:dynamodblocal\", \"/home/dynamodblocal/data\"")
            && owner.contains("dynamodb-data:/home/dynamodblocal/data"),
        "dynamodb-data-owner: {owner}"
    );
    let dynamodb = compose
        .split("\n  dynamodb:\n")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap_or_else(|| panic!("no dynamodb service"));
    assert!(
        dynamodb
            .contains("dynamodb-data-owner:\n        condition: service_completed_successfully"),
        "DynamoDB Local starts after its volume is handed over: {dynamodb}"
    );
    assert!(
        !dynamodb.contains("user:"),
        "DynamoDB Local itself runs as its own user: {dynamodb}"
    );
}
