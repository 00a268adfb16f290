//! The one way to review code with mleng: "review these paths, or these in-memory buffers,
//! with this configuration". The CLI, the language server and the MCP server all call it, so
//! configuration discovery, rule selection, severity overrides, per-file ignores, excludes and
//! input errors behave the same everywhere.
//!
//! Around the review: applying fixes ([`fix`]), restricting findings to the lines a change
//! touched ([`changed`]) and to findings not in a baseline ([`baseline`]).

pub mod baseline;
pub mod catalog;
pub mod changed;
pub mod config;
pub mod fix;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use globset::GlobSet;
use mleng_diagnostics::{Area, Finding, Location, Severity};
use mleng_python::discover;
use mleng_rules::engine::expand_selector;
use mleng_rules::incremental::{review_project_cached, ReviewCache};
use mleng_rules::project::ProjectFacts;
use mleng_rules::{review_project_with, Overlay, Settings};

pub use config::{Config, LoadedConfig};
pub use mleng_rules::incremental::Reuse;

/// Why a review could not start. Problems with a file being reviewed are never errors: they
/// are findings (`INP...`), and the review goes on.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("{}: {message}", path.display())]
    Config { path: PathBuf, message: String },
    #[error("{what}: {message}")]
    Setting { what: String, message: String },
    #[error("{0}")]
    Git(String),
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
}

/// What the caller adds to (or puts instead of) the configuration file: the CLI's flags, a
/// server request's arguments.
#[derive(Debug, Clone, Default)]
pub struct ReviewOptions {
    /// A configuration file to use instead of discovering one.
    pub config: Option<PathBuf>,
    /// Rules to run instead of the configured/default selection.
    pub select: Option<Vec<String>>,
    pub extend_select: Vec<String>,
    pub ignore: Vec<String>,
    /// Glob patterns of paths to skip, added to the configured ones.
    pub exclude: Vec<String>,
    /// Overrides the configured `fail-on`.
    pub fail_on: Option<String>,
}

/// A file's contents held in memory (an editor's unsaved buffer, a file piped on stdin): it is
/// reviewed instead of what is on disk, and need not exist there.
#[derive(Debug, Clone)]
pub struct Buffer {
    pub path: PathBuf,
    pub text: String,
}

/// A configuration turned into settings, ready to review any number of times (a server keeps
/// one per workspace folder and rebuilds it when the configuration file changes).
#[derive(Debug, Clone)]
pub struct Reviewer {
    pub settings: Settings,
    exclude: GlobSet,
    /// The configuration file in use (`None`: defaults).
    pub config_path: Option<PathBuf>,
    pub fail_on: Option<Severity>,
    /// What [`Reviewer::review_incremental`] keeps between reviews. It lives and dies with
    /// these settings: a new configuration is a new reviewer, with an empty cache.
    cache: CacheCell,
}

/// The reviewer's cache. A clone starts empty: its settings may be changed.
#[derive(Debug, Default)]
struct CacheCell(Mutex<ReviewCache>);

impl Clone for CacheCell {
    fn clone(&self) -> Self {
        CacheCell::default()
    }
}

/// What a review found.
#[derive(Default)]
pub struct Review {
    /// All findings, sorted by file, position and code; input problems included.
    pub findings: Vec<Finding>,
    /// Python files and notebooks reviewed.
    pub files_reviewed: usize,
    /// Project facts, when asked for (the reproducibility scorecard).
    pub facts: Option<ProjectFacts>,
    /// A reviewed path does not exist (a usage error for the CLI).
    pub missing_paths: bool,
    /// How much of an incremental review was done again (`None`: a review from scratch).
    pub reuse: Option<Reuse>,
}

impl Reviewer {
    /// Loads the configuration that applies to `start` (or `options.config`) and merges the
    /// options into it.
    pub fn new(start: &Path, options: &ReviewOptions) -> Result<Reviewer, ReviewError> {
        let loaded = config::load(options.config.as_deref(), start)?;
        Reviewer::from_config(&loaded, options)
    }

    pub fn from_config(
        loaded: &LoadedConfig,
        options: &ReviewOptions,
    ) -> Result<Reviewer, ReviewError> {
        let cfg = &loaded.config;
        let origin = loaded.origin();
        let setting = |what: String| {
            move |err: mleng_rules::engine::SelectionError| ReviewError::Setting {
                what,
                message: err.to_string(),
            }
        };
        let select = options.select.as_deref().or(cfg.select.as_deref());
        let mut extend = cfg.extend_select.clone();
        extend.extend(options.extend_select.iter().cloned());
        let mut ignore = cfg.ignore.clone();
        ignore.extend(options.ignore.iter().cloned());
        let mut settings = Settings::from_selection(select, &extend, &ignore)
            .map_err(setting(format!("rule selection ({origin})")))?;
        for (code, severity) in &cfg.severity {
            let codes = expand_selector(code).map_err(setting(format!("[severity] ({origin})")))?;
            let severity =
                config::parse_severity(severity, &format!("severity of {code} ({origin})"))?;
            for code in codes {
                settings.severity_overrides.insert(code, severity);
            }
        }
        let base = loaded.path.as_deref().and_then(Path::parent);
        for (pattern, codes) in &cfg.per_file_ignores {
            let glob = globset(&anchored(std::slice::from_ref(pattern), base), &origin)?;
            let mut set = HashSet::new();
            for code in codes {
                set.extend(expand_selector(code).map_err(setting(format!(
                    "per-file-ignores for `{pattern}` ({origin})"
                )))?);
            }
            settings.per_file_ignores.push((glob, set));
        }
        let fail_on = match options.fail_on.as_deref().or(cfg.fail_on.as_deref()) {
            Some(text) => Some(config::parse_severity(text, "fail-on")?),
            None => None,
        };
        let mut excludes = anchored(&cfg.exclude, base);
        excludes.extend(options.exclude.iter().cloned());
        Ok(Reviewer {
            settings,
            exclude: globset(&excludes, &origin)?,
            config_path: loaded.path.clone(),
            fail_on,
            cache: CacheCell::default(),
        })
    }

    /// Reviews `paths` (files and folders, walked with the excludes) as one project, with
    /// `buffers` in place of their files on disk. A buffer outside `paths` is reviewed too.
    pub fn review(&self, paths: &[PathBuf], buffers: &[Buffer], keep_facts: bool) -> Review {
        self.review_inner(paths, buffers, keep_facts, None)
    }

    /// [`Reviewer::review`] of a project reviewed again and again (an editor's workspace
    /// folder): what the previous incremental review of this reviewer computed for files that
    /// did not change since (per file: the source and its summary for the project model; per
    /// project, while the model stays the same: each file's findings and facts) is reused, so
    /// an edit costs the changed files and the project rules. The findings are those of
    /// [`Reviewer::review`]; only the files of the last review are kept.
    pub fn review_incremental(&self, paths: &[PathBuf], buffers: &[Buffer]) -> Review {
        let mut cache = self.cache.0.lock().unwrap_or_else(|poisoned| {
            // A review panicked outside the rules' containment: start again from scratch.
            let mut cache = poisoned.into_inner();
            cache.clear();
            cache
        });
        self.review_inner(paths, buffers, false, Some(&mut cache))
    }

    fn review_inner(
        &self,
        paths: &[PathBuf],
        buffers: &[Buffer],
        keep_facts: bool,
        cache: Option<&mut ReviewCache>,
    ) -> Review {
        let buffered: HashSet<&Path> = buffers.iter().map(|b| b.path.as_path()).collect();
        // A buffer need not exist on disk (a new file in an editor, stdin).
        let on_disk: Vec<PathBuf> = paths
            .iter()
            .filter(|p| !buffered.contains(p.as_path()))
            .cloned()
            .collect();
        let discovery = discover::discover(&on_disk, &self.exclude);
        let mut inputs = discovery.files.clone();
        for buffer in buffers {
            if !inputs.contains(&buffer.path) && !self.excludes(&buffer.path) {
                inputs.push(buffer.path.clone());
            }
        }
        let files_reviewed = inputs.len();
        if let Some(progress) = &self.settings.progress {
            progress
                .total
                .store(files_reviewed, std::sync::atomic::Ordering::Relaxed);
            progress.done.store(0, std::sync::atomic::Ordering::Relaxed);
        }
        inputs.extend(discovery.project_files.iter().cloned());
        let overlay: Overlay = buffers
            .iter()
            .map(|b| (b.path.clone(), b.text.clone()))
            .collect();
        let (review, reuse) = match cache {
            Some(cache) => {
                let review =
                    review_project_cached(&inputs, &overlay, &self.settings, keep_facts, cache);
                (review, Some(cache.last_review()))
            }
            None => (
                review_project_with(&inputs, &overlay, &self.settings, keep_facts),
                None,
            ),
        };
        let mut findings: Vec<Finding> = review
            .outcomes
            .into_iter()
            .flat_map(|o| o.findings)
            .collect();
        for (path, reason) in &discovery.errors {
            findings.push(Finding::new(
                "INP001",
                "unreadable-file",
                Severity::Error,
                Area::Input,
                Location::file(path.clone()),
                format!("{}: {reason}", path.display()),
            ));
        }
        findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        Review {
            findings,
            files_reviewed,
            facts: review.facts,
            missing_paths: discovery
                .errors
                .iter()
                .any(|(_, reason)| reason == "no such file or directory"),
            reuse,
        }
    }
}

impl Reviewer {
    /// Whether the configured excludes skip `path` (an editor's buffer is not reviewed then,
    /// like a file on disk).
    pub fn excludes(&self, path: &Path) -> bool {
        let relative = path.strip_prefix("./").unwrap_or(path);
        self.exclude.is_match(relative)
            || path
                .file_name()
                .is_some_and(|name| self.exclude.is_match(Path::new(name)))
    }
}

/// The configuration's path patterns, plus each relative one anchored at the configuration
/// file's folder: `exclude = ["scratch"]` in `/repo/mleng.toml` then also matches
/// `/repo/scratch/a.py`, as a review of `/repo` (absolute paths, as editors give) walks it.
fn anchored(patterns: &[String], base: Option<&Path>) -> Vec<String> {
    let mut out = patterns.to_vec();
    if let Some(base) = base.and_then(Path::to_str) {
        let base = globset::escape(base.trim_end_matches('/'));
        for pattern in patterns {
            let relative = pattern.trim_start_matches("./");
            if !relative.starts_with('/') && !relative.starts_with("**") {
                out.push(format!("{base}/{relative}"));
            }
        }
    }
    out
}

/// Reviews `paths` and `buffers` with the configuration found from the first path (or the
/// current folder): the whole pipeline in one call.
pub fn review(
    paths: &[PathBuf],
    buffers: &[Buffer],
    options: &ReviewOptions,
) -> Result<Review, ReviewError> {
    let start = paths
        .first()
        .or(buffers.first().map(|b| &b.path))
        .cloned()
        .unwrap_or_else(|| PathBuf::from("."));
    Ok(Reviewer::new(&start, options)?.review(paths, buffers, false))
}

fn globset(patterns: &[String], origin: &str) -> Result<GlobSet, ReviewError> {
    discover::build_globset(patterns).map_err(|err| ReviewError::Setting {
        what: format!("exclude patterns ({origin})"),
        message: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes_and_per_file_ignores_apply_to_absolute_paths_and_buffers() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::write(
            root.join("mleng.toml"),
            "exclude = [\"scratch\"]\nper-file-ignores = { \"legacy/*.py\" = [\"SEC001\"] }\n",
        )
        .unwrap();
        let code = "import torch\nw = torch.load(\"x.pt\")\n";
        for folder in ["scratch", "legacy", "src"] {
            std::fs::create_dir(root.join(folder)).unwrap();
            std::fs::write(root.join(folder).join("a.py"), code).unwrap();
        }
        let reviewer = Reviewer::new(&root, &ReviewOptions::default()).unwrap();
        let buffer = Buffer {
            path: root.join("scratch").join("open.py"),
            text: code.to_string(),
        };
        let review = reviewer.review(std::slice::from_ref(&root), &[buffer], false);
        let files: HashSet<&Path> = review
            .findings
            .iter()
            .filter(|f| f.code == "SEC001")
            .map(|f| f.location.path.as_path())
            .collect();
        assert_eq!(
            files,
            HashSet::from([root.join("src").join("a.py").as_path()])
        );
        assert!(reviewer.excludes(&root.join("scratch").join("b.py")));
        assert!(!reviewer.excludes(&root.join("src").join("b.py")));
    }
}
