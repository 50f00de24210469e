//! `deploy/docker-compose.yml` cannot be run here (no container engine), so this keeps it
//! in step with the code instead: every role runs as a service, and every setting of
//! `moviebook serve` is given to the roles.

use clap::{Args, Command, ValueEnum};
use moviebook::Config;
use moviebook::config::Role;

fn compose() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/docker-compose.yml"
    );
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

#[test]
fn compose_runs_every_role_as_its_own_service() {
    let compose = compose();
    for role in Role::value_variants() {
        let name = role.to_possible_value().unwrap().get_name().to_owned();
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
