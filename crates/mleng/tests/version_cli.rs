//! End-to-end test of `mleng --version`: the crate version and the commit the binary was built
//! from (crates/mleng/build.rs), checked against the checkout's own `git`.

use std::path::Path;
use std::process::Command as Std;

use assert_cmd::Command;

fn version_line(flag: &str) -> String {
    let assert = Command::cargo_bin("mleng").unwrap().arg(flag).assert();
    let out = assert.success();
    String::from_utf8_lossy(&out.get_output().stdout)
        .trim_end()
        .to_string()
}

/// `git rev-parse --short=9 HEAD` of the workspace, when it is a git checkout and git runs.
fn checkout_commit() -> Option<String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if !workspace.join(".git").exists() {
        return None;
    }
    let out = Std::new("git")
        .arg("-C")
        .arg(&workspace)
        .args(["rev-parse", "--short=9", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn version_names_the_crate_version_and_the_commit() {
    let line = version_line("--version");
    assert_eq!(line, version_line("-V"));
    let prefix = format!("mleng {}", env!("CARGO_PKG_VERSION"));
    assert!(line.starts_with(&prefix), "{line}");
    let rest = &line[prefix.len()..];
    match std::env::var("MLENG_GIT_COMMIT")
        .ok()
        .map(|c| {
            // build.rs shortens a full hash to 9 digits, like `git rev-parse --short=9`.
            let c = c.trim();
            let full = c.len() == 40 && c.bytes().all(|b| b.is_ascii_hexdigit());
            if full {
                c[..9].to_string()
            } else {
                c.to_string()
            }
        })
        .filter(|c| !c.is_empty())
        .or_else(checkout_commit)
    {
        Some(commit) => {
            let clean = format!(" ({commit})");
            let dirty = format!(" ({commit}-dirty)");
            assert!(
                rest == clean || rest == dirty,
                "`{line}` does not name commit {commit}"
            );
        }
        // Built outside a git checkout (an sdist): the version alone, no empty parentheses.
        None => assert_eq!(rest, "", "{line}"),
    }
}
