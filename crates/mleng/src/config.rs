//! Configuration: `[tool.mleng]` in `pyproject.toml`, or a top-level `mleng.toml`, found in
//! the first reviewed path's directory or any parent (the nearest wins, `mleng.toml` before
//! `pyproject.toml` in the same directory). Command-line flags override it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use mleng_diagnostics::Severity;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
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

pub struct LoadedConfig {
    pub config: Config,
    pub path: Option<PathBuf>,
}

/// Loads an explicit `--config` file, or discovers one from `start`.
pub fn load(explicit: Option<&Path>, start: &Path) -> Result<LoadedConfig> {
    if let Some(path) = explicit {
        let config = read(path)?.unwrap_or_default();
        return Ok(LoadedConfig {
            config,
            path: Some(path.to_path_buf()),
        });
    }
    let start = if start.is_file() {
        start.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        start.to_path_buf()
    };
    let start = std::fs::canonicalize(&start).unwrap_or(start);
    for dir in start.ancestors() {
        for name in ["mleng.toml", "pyproject.toml"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                if let Some(config) = read(&candidate)? {
                    return Ok(LoadedConfig {
                        config,
                        path: Some(candidate),
                    });
                }
            }
        }
    }
    Ok(LoadedConfig {
        config: Config::default(),
        path: None,
    })
}

/// `None` for a `pyproject.toml` without a `[tool.mleng]` table.
fn read(path: &Path) -> Result<Option<Config>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let is_pyproject = path.file_name().is_some_and(|n| n == "pyproject.toml");
    if is_pyproject {
        let pyproject: PyProject = toml::from_str(&text)
            .with_context(|| format!("{} is not valid TOML", path.display()))?;
        let Some(value) = pyproject.tool.and_then(|t| t.mleng) else {
            return Ok(None);
        };
        let config = Config::deserialize(value).map_err(|err| {
            anyhow::anyhow!(
                "{}: invalid [tool.mleng]: {}",
                path.display(),
                err.message()
            )
        })?;
        Ok(Some(config))
    } else {
        let config: Config = toml::from_str(&text).map_err(|err| {
            anyhow::anyhow!(
                "{}: invalid configuration: {}",
                path.display(),
                err.message()
            )
        })?;
        Ok(Some(config))
    }
}

pub fn parse_severity(text: &str, what: &str) -> Result<Severity> {
    match Severity::parse(text) {
        Some(s) => Ok(s),
        None => bail!("{what}: unknown severity `{text}` (expected info, warning or error)"),
    }
}
