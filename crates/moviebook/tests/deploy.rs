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
