//! Requirement files: `requirements*.txt`, `pyproject.toml`, `environment.yml`. Only what the
//! project rules need is read: for each ML framework named, its version constraint as written
//! and the line it is on. Parsing is line-based and forgiving: a line we do not understand is
//! skipped, never guessed at.

use std::path::{Path, PathBuf};

use mleng_diagnostics::{Location, Snippet, Span};
use mleng_knowledge::experiment::{FRAMEWORK_PACKAGES, TORCH_LOAD_SAFE_DEFAULT_SINCE};

use super::Site;

#[derive(Debug, Default)]
pub struct Requirements {
    pub files: Vec<RequirementFile>,
}

#[derive(Debug)]
pub struct RequirementFile {
    pub path: PathBuf,
    pub entries: Vec<Requirement>,
    /// The dependencies of a distributable package (a `pyproject.toml` with a
    /// `[build-system]`), or of a project whose versions live in a lock file next to it
    /// (`uv.lock`, `poetry.lock`, `pdm.lock`, `Pipfile.lock`): ranges there are the point.
    pub library_or_locked: bool,
}

/// One framework named in a requirement file.
#[derive(Debug, Clone)]
pub struct Requirement {
    /// Normalized name (`torch`, `pytorch-lightning`).
    pub name: String,
    /// The version constraint as written (`>=2.0,<2.6`, `==2.1.0`, `^2.1`, `2.1.*`); empty when
    /// the package is not pinned or bounded at all.
    pub spec: String,
    pub line: u32,
    pub site: Site,
}

/// A pin that keeps a package (PyTorch below 2.6, say) below a release.
#[derive(Debug, Clone)]
pub struct TorchPin {
    pub file: PathBuf,
    pub spec: String,
}

impl Requirements {
    pub fn load(paths: &[PathBuf]) -> Requirements {
        let mut files = Vec::new();
        for path in paths {
            let Ok(text) = std::fs::read_to_string(path) else {
                continue;
            };
            files.push(parse(path, &text));
        }
        Requirements { files }
    }

    /// Requirement files that govern `path`: those in one of its ancestor folders.
    pub fn governing<'s>(&'s self, path: &'s Path) -> impl Iterator<Item = &'s RequirementFile> {
        self.files.iter().filter(move |file| {
            file.path
                .parent()
                .is_some_and(|dir| dir.as_os_str().is_empty() || path.starts_with(dir))
        })
    }

    /// The first requirement governing `path` that bounds `torch` (or conda's `pytorch`)
    /// below 2.6.
    pub fn torch_below_2_6(&self, path: &Path) -> Option<TorchPin> {
        self.torch_below(path, TORCH_LOAD_SAFE_DEFAULT_SINCE)
    }

    /// The first requirement governing `path` that requires `torch` 2.6 or later (where
    /// `torch.load` defaults to `weights_only=True`).
    pub fn torch_at_least_2_6(&self, path: &Path) -> Option<TorchPin> {
        self.governing(path).find_map(|file| {
            file.entries.iter().find_map(|entry| {
                let is_torch = entry.name == "torch" || entry.name == "pytorch";
                (is_torch && lower_bound_at_least(&entry.spec, TORCH_LOAD_SAFE_DEFAULT_SINCE)).then(
                    || TorchPin {
                        file: file.path.clone(),
                        spec: format!("{}{}", entry.name, entry.spec),
                    },
                )
            })
        })
    }

    /// The first requirement governing `path` that bounds `torch` (or conda's `pytorch`)
    /// below the `limit` release.
    pub fn torch_below(&self, path: &Path, limit: (u64, u64)) -> Option<TorchPin> {
        self.package_below(path, &["torch", "pytorch"], limit)
    }

    /// The first requirement governing `path` that bounds one of `names` (a package and its
    /// conda name) below the `limit` release.
    pub fn package_below(
        &self,
        path: &Path,
        names: &[&str],
        limit: (u64, u64),
    ) -> Option<TorchPin> {
        self.governing(path).find_map(|file| {
            file.entries.iter().find_map(|entry| {
                let named = names.contains(&entry.name.as_str());
                (named && upper_bound_below(&entry.spec, limit)).then(|| TorchPin {
                    file: file.path.clone(),
                    spec: format!("{}{}", entry.name, entry.spec),
                })
            })
        })
    }
}

pub fn is_requirements_file(path: &Path) -> bool {
    mleng_python::discover::is_project_file(path)
}

pub fn parse(path: &Path, text: &str) -> RequirementFile {
    let is_toml = path.extension().is_some_and(|e| e == "toml");
    let is_yaml = path.extension().is_some_and(|e| e == "yml" || e == "yaml");
    let mut yaml_key = String::new();
    let mut entries = Vec::new();
    let mut section = String::new();
    let mut in_array = false;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i as u32 + 1;
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if is_toml && line.starts_with('[') {
            section = line.trim_matches(['[', ']']).trim().to_string();
            in_array = false;
            continue;
        }
        if is_yaml {
            // Only the `dependencies:` list; `channels: - pytorch` is not a package.
            if !raw.starts_with([' ', '\t', '-']) {
                yaml_key = line.trim_end_matches(':').trim().to_string();
                continue;
            }
            if yaml_key != "dependencies" {
                continue;
            }
        }
        let mut line = line;
        let mut mode = Mode::Plain;
        if is_toml {
            // PEP 621 arrays: `dependencies = [...]` in `[project]`, any key of
            // `[project.optional-dependencies]`; other strings (descriptions) are not requirements.
            let in_dependency_table =
                section.ends_with("dependencies") && !section.starts_with("project.");
            mode = Mode::Strings;
            if in_dependency_table && !in_array {
                mode = Mode::Table;
            } else if !in_array {
                let opens = (section == "project" && line.starts_with("dependencies"))
                    || section == "project.optional-dependencies"
                    || section == "dependency-groups";
                match (opens, line.split_once('[')) {
                    (true, Some((_, rest))) => {
                        in_array = !rest.contains(']');
                        line = rest;
                    }
                    _ => continue,
                }
            } else if line.contains(']') {
                in_array = false;
            }
        }
        for (name, spec) in requirements_on_line(line, mode) {
            let start = raw.find(&name).unwrap_or(0);
            let span = Span {
                start_line: line_no,
                start_column: raw[..start].chars().count() as u32 + 1,
                end_line: line_no,
                end_column: raw.chars().count() as u32 + 1,
            };
            let mut location = Location::file(path.to_path_buf());
            location.span = Some(span);
            entries.push(Requirement {
                name: name.to_ascii_lowercase().replace('_', "-"),
                spec,
                line: line_no,
                site: Site {
                    location,
                    text: raw.to_string(),
                    label: line.to_string(),
                    first_line_text: raw.to_string(),
                    last_line_text: raw.to_string(),
                    snippet: Some(Snippet {
                        first_line: line_no,
                        text: raw.to_string(),
                    }),
                },
            });
        }
    }
    let is_toml = path.extension().is_some_and(|e| e == "toml");
    let package = is_toml && text.lines().any(|l| l.trim() == "[build-system]");
    let locked = path.parent().is_some_and(|dir| {
        ["uv.lock", "poetry.lock", "pdm.lock", "Pipfile.lock"]
            .iter()
            .any(|lock| dir.join(lock).is_file())
    });
    RequirementFile {
        path: path.to_path_buf(),
        entries,
        library_or_locked: package || locked,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A requirements.txt or environment.yml line.
    Plain,
    /// Quoted PEP 508 strings inside a TOML array.
    Strings,
    /// Poetry/PDM `name = "spec"` tables.
    Table,
}

/// Frameworks named on one line, with their constraint.
fn requirements_on_line(line: &str, mode: Mode) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if mode == Mode::Table {
        // Poetry / PDM table style: `torch = "^2.1"` or `torch = { version = "^2.1" }`.
        if let Some((key, value)) = line.split_once('=') {
            let key = key.trim().trim_matches('"');
            if is_framework(key) {
                let spec = value
                    .split("version")
                    .nth(if value.contains("version") { 1 } else { 0 })
                    .unwrap_or(value)
                    .trim_start_matches([' ', '='])
                    .split(['"', '\''])
                    .find(|s| !s.trim().is_empty() && !s.contains('{'))
                    .unwrap_or("")
                    .trim()
                    .to_string();
                let spec = if spec == "*" { String::new() } else { spec };
                out.push((key.to_string(), spec));
            }
            return out;
        }
    }
    // PEP 508 strings (requirements lines, `dependencies = ["torch>=2", ...]`, pip sections of
    // environment.yml) and conda specs (`- pytorch=2.1`).
    let pieces: Vec<&str> = if mode == Mode::Strings {
        line.split(['"', '\''])
            .enumerate()
            .filter(|(i, _)| i % 2 == 1)
            .map(|(_, s)| s)
            .collect()
    } else {
        vec![line.trim_start_matches('-').trim()]
    };
    for piece in pieces {
        let piece = piece.trim();
        if piece.starts_with("-") || piece.contains("://") {
            continue;
        }
        let name_end = piece
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
            .unwrap_or(piece.len());
        let name = &piece[..name_end];
        if !is_framework(name) {
            continue;
        }
        let mut rest = piece[name_end..].trim();
        // Extras `torch[cuda]` and environment markers `; python_version < "3.9"`.
        if rest.starts_with('[') {
            rest = rest.split_once(']').map_or("", |(_, r)| r).trim();
        }
        let spec = rest.split(';').next().unwrap_or("").trim();
        out.push((name.to_string(), spec.to_string()));
    }
    out
}

fn is_framework(name: &str) -> bool {
    let name = name.to_ascii_lowercase().replace('_', "-");
    FRAMEWORK_PACKAGES.contains(&name.as_str())
}

/// Parses `2.1.0`, `2.1`, `2.1.*` into (major, minor).
fn version(text: &str) -> Option<(u64, u64)> {
    let mut parts = text.trim().split('.');
    let major = parts.next()?.trim().parse().ok()?;
    let minor = match parts.next() {
        Some(m) if m.trim() == "*" => u64::MAX,
        Some(m) => m
            .trim()
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect::<String>()
            .parse()
            .ok()?,
        None => 0,
    };
    Some((major, minor))
}

/// Whether every version `spec` allows is at least `limit` (a (major, minor) release).
pub fn lower_bound_at_least(spec: &str, limit: (u64, u64)) -> bool {
    spec.split(',').any(|clause| {
        let clause = clause.trim();
        let ver = [">=", "==", "~=", ">", "="]
            .iter()
            .find_map(|op| clause.strip_prefix(op));
        ver.and_then(version).is_some_and(|v| v >= limit)
    })
}

/// Whether every version `spec` allows is below `limit` (a (major, minor) release).
pub fn upper_bound_below(spec: &str, limit: (u64, u64)) -> bool {
    for clause in spec.split(',') {
        let clause = clause.trim();
        let (op, ver) = if let Some(v) = clause.strip_prefix("==") {
            ("==", v)
        } else if let Some(v) = clause.strip_prefix("<=") {
            ("<=", v)
        } else if let Some(v) = clause.strip_prefix("~=") {
            ("~=", v)
        } else if let Some(v) = clause.strip_prefix('<') {
            ("<", v)
        } else if let Some(v) = clause.strip_prefix('=') {
            // conda `pytorch=2.1`
            ("==", v)
        } else {
            continue;
        };
        let Some((major, minor)) = version(ver) else {
            continue;
        };
        let below = match op {
            "==" | "<=" => (major, minor) < limit,
            "<" => (major, minor) <= limit,
            // `~=2.3.0` allows 2.3.*; `~=2.3` allows 2.*.
            "~=" => {
                if ver.trim().split('.').count() >= 3 {
                    (major, minor) < limit
                } else {
                    major < limit.0
                }
            }
            _ => false,
        };
        if below {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torch_lower_bounds() {
        let limit = (2, 6);
        assert!(lower_bound_at_least(">=2.6", limit));
        assert!(lower_bound_at_least(">=2.7.1,<3", limit));
        assert!(lower_bound_at_least("==2.6.0", limit));
        assert!(lower_bound_at_least("=2.8", limit));
        assert!(!lower_bound_at_least(">=2.0", limit));
        assert!(!lower_bound_at_least("<2.8", limit));
        assert!(!lower_bound_at_least("", limit));
    }

    #[test]
    fn torch_bounds() {
        let limit = (2, 6);
        assert!(upper_bound_below("==2.1.0", limit));
        assert!(upper_bound_below(">=1.13,<2.6", limit));
        assert!(upper_bound_below("<=2.5.1", limit));
        assert!(upper_bound_below("~=2.3.0", limit));
        assert!(upper_bound_below("=2.1", limit));
        assert!(!upper_bound_below("~=2.3", limit));
        assert!(!upper_bound_below(">=2.0", limit));
        assert!(!upper_bound_below("==2.6.0", limit));
        assert!(!upper_bound_below("<2.7", limit));
        assert!(!upper_bound_below("", limit));
    }

    #[test]
    fn parses_requirement_styles() {
        let req = parse(
            Path::new("requirements.txt"),
            "torch==2.1.0  # cuda 12\ntorchvision\nnumpy>=1.24\n-e .\n",
        );
        let got: Vec<_> = req
            .entries
            .iter()
            .map(|e| (e.name.as_str(), e.spec.as_str(), e.line))
            .collect();
        assert_eq!(got, vec![("torch", "==2.1.0", 1), ("torchvision", "", 2)]);

        let toml = parse(
            Path::new("pyproject.toml"),
            "[project]\ndependencies = [\n  \"torch>=2.0,<2.6\",\n  \"timm\",\n]\n[tool.poetry.dependencies]\ntransformers = \"^4.40\"\nlightning = \"*\"\n",
        );
        let got: Vec<_> = toml
            .entries
            .iter()
            .map(|e| (e.name.as_str(), e.spec.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("torch", ">=2.0,<2.6"),
                ("timm", ""),
                ("transformers", "^4.40"),
                ("lightning", "")
            ]
        );

        let env = parse(
            Path::new("environment.yml"),
            "dependencies:\n  - pytorch=2.1\n  - pip:\n    - transformers\n",
        );
        let got: Vec<_> = env
            .entries
            .iter()
            .map(|e| (e.name.as_str(), e.spec.as_str()))
            .collect();
        assert_eq!(got, vec![("pytorch", "=2.1"), ("transformers", "")]);
    }
}
