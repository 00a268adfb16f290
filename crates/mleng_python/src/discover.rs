//! Finding the files to review: `.py` and `.ipynb` under the given paths, honouring
//! `.gitignore`, `.ignore` and the configured excludes (the `ignore` crate walks in parallel
//! the same way ripgrep and ruff do).

use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};

#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("invalid exclude pattern `{pattern}`: {message}")]
    BadPattern { pattern: String, message: String },
}

/// Directories that never hold code worth reviewing, skipped even without a `.gitignore`.
const ALWAYS_SKIPPED: &[&str] = &[
    ".git",
    "__pycache__",
    ".ipynb_checkpoints",
    ".venv",
    "venv",
    "site-packages",
    "node_modules",
    ".tox",
    ".mypy_cache",
];

pub struct Discovery {
    /// Python files and notebooks to review.
    pub files: Vec<PathBuf>,
    /// Requirement files (`requirements*.txt`, `pyproject.toml`, `environment.yml`) for the
    /// project pass; never reviewed as code.
    pub project_files: Vec<PathBuf>,
    /// Paths that could not be walked, with the reason (reported, never fatal).
    pub errors: Vec<(PathBuf, String)>,
}

pub fn build_globset(patterns: &[String]) -> Result<GlobSet, DiscoverError> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = Glob::new(pattern).map_err(|err| DiscoverError::BadPattern {
            pattern: pattern.clone(),
            message: err.kind().to_string(),
        })?;
        builder.add(glob);
        // `exclude = ["data"]` should also exclude everything below `data/`.
        if !pattern.ends_with("/**") {
            if let Ok(glob) = Glob::new(&format!("{}/**", pattern.trim_end_matches('/'))) {
                builder.add(glob);
            }
        }
    }
    builder.build().map_err(|err| DiscoverError::BadPattern {
        pattern: patterns.join(", "),
        message: err.to_string(),
    })
}

pub fn is_reviewable(path: &Path) -> bool {
    path.extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| ext == "py" || ext == "ipynb")
}

/// Files that describe the project's dependencies, read by the project pass.
pub fn is_project_file(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    (name.starts_with("requirements") && name.ends_with(".txt"))
        || name == "pyproject.toml"
        || name == "environment.yml"
        || name == "environment.yaml"
}

/// Walks `roots`. Files named explicitly are always reviewed (like ruff), unless excluded.
pub fn discover(roots: &[PathBuf], exclude: &GlobSet) -> Discovery {
    let mut files = Vec::new();
    let mut project_files = Vec::new();
    let mut errors = Vec::new();
    for root in roots {
        if !root.exists() {
            errors.push((root.clone(), "no such file or directory".to_string()));
            continue;
        }
        if root.is_file() {
            if !is_excluded(root, exclude) {
                if is_project_file(root) {
                    project_files.push(root.clone());
                } else {
                    files.push(root.clone());
                }
            }
            continue;
        }
        let walker = ignore::WalkBuilder::new(root)
            .hidden(false)
            .git_ignore(true)
            .git_exclude(true)
            .require_git(false)
            .filter_entry(|entry| {
                let name = entry.file_name().to_string_lossy();
                !(entry.file_type().is_some_and(|t| t.is_dir())
                    && ALWAYS_SKIPPED.contains(&name.as_ref()))
            })
            .build();
        for entry in walker {
            match entry {
                Ok(entry) => {
                    let path = entry.path();
                    let is_file = entry.file_type().is_some_and(|t| t.is_file());
                    if is_file && is_reviewable(path) && !is_excluded(path, exclude) {
                        files.push(path.to_path_buf());
                    } else if is_file && is_project_file(path) && !is_excluded(path, exclude) {
                        project_files.push(path.to_path_buf());
                    }
                }
                Err(err) => {
                    let path = match &err {
                        ignore::Error::WithPath { path, .. } => path.clone(),
                        _ => root.clone(),
                    };
                    errors.push((path, err.to_string()));
                }
            }
        }
    }
    files.sort();
    files.dedup();
    project_files.sort();
    project_files.dedup();
    Discovery {
        files,
        project_files,
        errors,
    }
}

fn is_excluded(path: &Path, exclude: &GlobSet) -> bool {
    if exclude.is_empty() {
        return false;
    }
    let relative = path.strip_prefix("./").unwrap_or(path);
    exclude.is_match(relative)
        || path
            .file_name()
            .is_some_and(|name| exclude.is_match(Path::new(name)))
}
