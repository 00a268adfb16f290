//! Records which commit the binary was built from, for `mleng --version`:
//! `mleng 0.1.0 (cc013ad)`, `mleng 0.1.0 (cc013ad-dirty)`, or `mleng 0.1.0` when unknown.
//!
//! The commit comes from `MLENG_GIT_COMMIT` when set (release builds from an sdist, which has no
//! `.git`), else from the `git` on PATH when the workspace is a git checkout, else it is left out.
//! A missing or failing `git` never fails the build.
//!
//! Rebuilds: the script reruns only when the checked-out commit changes (`HEAD`, the branch's
//! ref, `packed-refs`) or when the binary's own sources change (the crates' `src`, `data` and
//! `assets`, the manifests and the lock file). Those sources recompile `mleng` anyway, so the
//! script adds the cost of two `git` calls, never a rebuild of its own. `-dirty` means exactly
//! that: those sources differ from the commit.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The inputs of the binary, relative to the workspace root: what `-dirty` is about.
fn binary_sources(workspace: &Path) -> Vec<PathBuf> {
    let mut paths = vec![PathBuf::from("Cargo.toml"), PathBuf::from("Cargo.lock")];
    let Ok(crates) = std::fs::read_dir(workspace.join("crates")) else {
        return paths;
    };
    let mut crates: Vec<PathBuf> = crates.flatten().map(|e| e.path()).collect();
    crates.sort();
    for krate in crates {
        let Ok(rel) = krate.strip_prefix(workspace) else {
            continue;
        };
        for part in ["src", "data", "assets", "build.rs", "Cargo.toml"] {
            if krate.join(part).exists() {
                paths.push(rel.join(part));
            }
        }
    }
    paths
}

fn git(workspace: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(workspace)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    Some(text.trim().to_string())
}

/// Asks git for a path inside the git directory (worktrees keep `HEAD` in their own folder and
/// refs in the common one; `--git-path` knows which).
fn git_path(workspace: &Path, name: &str) -> Option<PathBuf> {
    let path = PathBuf::from(git(workspace, &["rev-parse", "--git-path", name])?);
    Some(if path.is_absolute() {
        path
    } else {
        workspace.join(path)
    })
}

fn watch(path: &Path) {
    println!("cargo:rerun-if-changed={}", path.display());
}

fn commit_from_git(workspace: &Path) -> Option<String> {
    // Only this repository's own history: an sdist unpacked inside another repository has no
    // `.git` of its own and must not report that repository's commit.
    if !workspace.join(".git").exists() {
        return None;
    }
    let head = git(workspace, &["rev-parse", "--short=9", "HEAD"])?;
    if let Some(p) = git_path(workspace, "HEAD") {
        watch(&p);
    }
    if let Some(p) = git_path(workspace, "packed-refs").filter(|p| p.exists()) {
        watch(&p);
    }
    if let Some(reference) = git(workspace, &["symbolic-ref", "-q", "HEAD"]) {
        if let Some(p) = git_path(workspace, &reference) {
            // A ref that lives only in packed-refs yet: watch its folder, where a commit will
            // write it (a missing path would make cargo rerun the script on every build).
            if p.exists() {
                watch(&p);
            } else if let Some(dir) = p.parent().filter(|d| d.exists()) {
                watch(dir);
            }
        }
    }
    let sources = binary_sources(workspace);
    for source in &sources {
        watch(&workspace.join(source));
    }
    let mut status = vec![
        "--no-optional-locks",
        "status",
        "--porcelain",
        "--untracked-files=normal",
        "--",
    ];
    let sources: Vec<String> = sources.iter().map(|p| p.display().to_string()).collect();
    status.extend(sources.iter().map(String::as_str));
    let dirty = match git(workspace, &status) {
        Some(changes) => !changes.is_empty(),
        // Status failed after rev-parse worked: say nothing rather than guess.
        None => false,
    };
    Some(if dirty { format!("{head}-dirty") } else { head })
}

/// A full 40-digit hash (CI's `github.sha`) is shortened like `git rev-parse --short=9`;
/// anything else is kept as given.
fn short_hash(commit: &str) -> String {
    if commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        commit[..9].to_string()
    } else {
        commit.to_string()
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=MLENG_GIT_COMMIT");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    // crates/mleng -> the workspace root.
    let workspace = manifest
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let commit = std::env::var("MLENG_GIT_COMMIT")
        .ok()
        .map(|c| short_hash(c.trim()))
        .filter(|c| !c.is_empty())
        .or_else(|| commit_from_git(&workspace));
    let long = match commit {
        Some(c) => format!("{version} ({c})"),
        None => version,
    };
    println!("cargo:rustc-env=MLENG_VERSION={long}");
}
