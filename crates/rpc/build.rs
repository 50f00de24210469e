//! Generates the moviebook.v1 messages, servers and clients from `proto/` at the repository
//! root. protoc comes from the `protoc-bin-vendored` crate, handed to prost-build directly
//! (no `PROTOC` environment variable to set, which would need `unsafe` in edition 2024), so
//! building needs nothing installed on the machine.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let protos: Vec<PathBuf> = ["actors", "users", "movies"]
        .iter()
        .map(|name| root.join(format!("moviebook/v1/{name}.proto")))
        .collect();
    // A new .proto file in the folder must rebuild too, not only edits of the listed ones.
    println!("cargo:rerun-if-changed={}", root.display());

    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure().compile_with_config(config, &protos, &[root])?;
    Ok(())
}
