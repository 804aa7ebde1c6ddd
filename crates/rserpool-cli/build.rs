//! Puts the git commit the binary is built from into `rserpool --version`
//! (RSERPOOL_COMMIT; "unknown" outside a git checkout, e.g. from crates.io).

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=RSERPOOL_COMMIT={commit}");
    println!("cargo:rerun-if-changed=build.rs");
    // Run again when a commit moves HEAD (in a plain checkout; a worktree
    // keeps its HEAD elsewhere and gets the commit of its last build).
    for path in [
        "../../.git/HEAD",
        "../../.git/refs/heads",
        "../../.git/packed-refs",
    ] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
