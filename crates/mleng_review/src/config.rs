//! Configuration: `[tool.mleng]` in `pyproject.toml`, or a top-level `mleng.toml`, found in
//! the first reviewed path's directory or any parent (the nearest wins, `mleng.toml` before
//! `pyproject.toml` in the same directory). Command-line flags and server requests override it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mleng_diagnostics::Severity;
use serde::Deserialize;

use crate::ReviewError;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    pub select: Option<Vec<String>>,
    #[serde(default)]
    pub extend_select: Vec<String>,
    #[serde(default)]
    pub ignore: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub per_file_ignores: BTreeMap<String, Vec<String>>,
    /// Severity overrides: `TRN001 = "warning"`.
    #[serde(default)]
    pub severity: BTreeMap<String, String>,
    pub fail_on: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PyProject {
    tool: Option<Tool>,
}

#[derive(Debug, Deserialize)]
struct Tool {
    mleng: Option<toml::Value>,
}

/// A configuration and the file it came from (`None`: defaults, nothing found).
#[derive(Debug, Default, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    pub path: Option<PathBuf>,
}

impl LoadedConfig {
    /// Where settings came from, for error messages.
    pub fn origin(&self) -> String {
        self.path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "command line".into())
    }
}

/// Loads an explicit config file, or discovers one from `start` (a file or a folder).
pub fn load(explicit: Option<&Path>, start: &Path) -> Result<LoadedConfig, ReviewError> {
    if let Some(path) = explicit {
        let config = read(path)?.unwrap_or_default();
        return Ok(LoadedConfig {
            config,
            path: Some(path.to_path_buf()),
        });
    }
    match find(start) {
        Some(path) => Ok(LoadedConfig {
            config: read(&path)?.unwrap_or_default(),
            path: Some(path),
        }),
        None => Ok(LoadedConfig::default()),
    }
}

/// The configuration file that applies to `start`: the nearest `mleng.toml`, or
/// `pyproject.toml` with a `[tool.mleng]` table, in `start`'s folder or a parent.
pub fn find(start: &Path) -> Option<PathBuf> {
    let start = if start.is_file() {
        start.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        start.to_path_buf()
    };
    let start = std::fs::canonicalize(&start).unwrap_or(start);
    for dir in start.ancestors() {
        for name in ["mleng.toml", "pyproject.toml"] {
            let candidate = dir.join(name);
            // An unreadable or invalid file is reported by `load`, not skipped here.
            if candidate.is_file() && (name == "mleng.toml" || has_mleng_table(&candidate)) {
                return Some(candidate);
            }
        }
    }
    None
}

fn has_mleng_table(pyproject: &Path) -> bool {
    match std::fs::read_to_string(pyproject) {
        // A broken pyproject.toml is reported when it is read, so it counts as found.
        Ok(text) => match toml::from_str::<PyProject>(&text) {
            Ok(parsed) => parsed.tool.and_then(|t| t.mleng).is_some(),
            Err(_) => true,
        },
        Err(_) => true,
    }
}

/// `None` for a `pyproject.toml` without a `[tool.mleng]` table.
fn read(path: &Path) -> Result<Option<Config>, ReviewError> {
    let invalid = |message: String| ReviewError::Config {
        path: path.to_path_buf(),
        message,
    };
    let text =
        std::fs::read_to_string(path).map_err(|err| invalid(format!("cannot read: {err}")))?;
    let is_pyproject = path.file_name().is_some_and(|n| n == "pyproject.toml");
    if is_pyproject {
        let pyproject: PyProject = toml::from_str(&text)
            .map_err(|err| invalid(format!("not valid TOML: {}", err.message())))?;
        let Some(value) = pyproject.tool.and_then(|t| t.mleng) else {
            return Ok(None);
        };
        let config = Config::deserialize(value)
            .map_err(|err| invalid(format!("invalid [tool.mleng]: {}", err.message())))?;
        Ok(Some(config))
    } else {
        let config: Config = toml::from_str(&text)
            .map_err(|err| invalid(format!("invalid configuration: {}", err.message())))?;
        Ok(Some(config))
    }
}

pub fn parse_severity(text: &str, what: &str) -> Result<Severity, ReviewError> {
    Severity::parse(text).ok_or_else(|| ReviewError::Setting {
        what: what.to_string(),
        message: format!("unknown severity `{text}` (expected info, warning or error)"),
    })
}
