//! `mleng recommend`'s analysis, shared by the CLI and the MCP server: a task's advice as
//! JSON, and a project compared with the advice for the task(s) its code does (what it does
//! now per aspect, what is recommended, and the key recommendations it does not follow).
//! The CLI renders the same rows as text and Markdown.

use std::collections::BTreeSet;
use std::path::Path;

use mleng_knowledge::recommend::{self, Constraints, Task};
use mleng_python::discover;

use crate::tasks::{self, Aspect, DetectedTask, Practice, ProjectScan, Site};

/// Why a recommendation could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RecommendError {
    #[error("no such project folder `{0}`")]
    NoProject(String),
    #[error("{0}")]
    Data(String),
}

/// Scans the Python files and notebooks under `root` for the computer-vision task(s) they do.
pub fn scan_path(root: &Path) -> Result<ProjectScan, RecommendError> {
    if !root.exists() {
        return Err(RecommendError::NoProject(root.display().to_string()));
    }
    let discovery = discover::discover(&[root.to_path_buf()], &globset::GlobSet::empty());
    tasks::scan_project(&discovery.files).map_err(|e| RecommendError::Data(e.to_string()))
}

/// A task's advice (narrowed to `c` by the caller) as `mleng recommend TASK --format json`.
pub fn task_json(task: &Task, c: &Constraints) -> serde_json::Value {
    serde_json::json!({
        "schema_version": recommend::SCHEMA_VERSION,
        "constraints": {
            "data_size": c.data_size,
            "latency": c.latency,
            "device": c.device,
        },
        "task": task,
    })
}

/// `path:line` relative to the project root.
pub fn relative(site: &Site, root: &Path) -> String {
    let path = site.path.strip_prefix(root).unwrap_or(&site.path);
    format!("{}:{}", path.display(), site.line)
}

/// Distinct practices (first site of each name), at most `max`.
fn distinct(practices: &[Practice], max: usize) -> (Vec<&Practice>, usize) {
    let mut seen = BTreeSet::new();
    let unique: Vec<&Practice> = practices
        .iter()
        .filter(|p| seen.insert(p.name.trim_end_matches(" (class)").to_string()))
        .collect();
    let total = unique.len();
    (unique.into_iter().take(max).collect(), total)
}

/// One aspect (architecture, loss, ...) of a detected task: what the project does now and
/// what is recommended.
pub struct Row {
    pub aspect: Aspect,
    pub now: Vec<String>,
    /// (in use, name, why or where it is used, first reference)
    pub recommended: Vec<(bool, String, String, String)>,
}

pub fn rows(detected: &DetectedTask, task: &Task, c: &Constraints, root: &Path) -> Vec<Row> {
    let sections = task.sections();
    tasks::ASPECTS
        .iter()
        .map(|&(aspect, section)| {
            let practices = detected.now.get(&aspect).map(Vec::as_slice).unwrap_or(&[]);
            let (shown, total) = distinct(practices, 6);
            let mut now: Vec<String> = shown
                .iter()
                .map(|p| format!("{} ({})", p.name, relative(&p.site, root)))
                .collect();
            if total > shown.len() {
                now.push(format!("... and {} more", total - shown.len()));
            }
            let recommended = sections[section]
                .1
                .iter()
                .enumerate()
                .filter(|(_, item)| item.fits(c))
                .map(|(i, item)| {
                    let reference = item
                        .references
                        .first()
                        .map(|r| format!("{} <{}>", r.title, r.url))
                        .unwrap_or_default();
                    match detected.followed.get(&(section, i)) {
                        Some(site) => (
                            true,
                            item.name.clone(),
                            format!("in use at {}", relative(site, root)),
                            reference,
                        ),
                        None => (false, item.name.clone(), item.when.clone(), reference),
                    }
                })
                .collect();
            Row {
                aspect,
                now,
                recommended,
            }
        })
        .collect()
}

/// One info-level finding: a key recommendation the project does not follow.
pub struct Advice {
    pub site: String,
    pub message: String,
}

pub fn advice(scan: &ProjectScan, c: &Constraints, root: &Path) -> Vec<Advice> {
    let mut out = Vec::new();
    for detected in &scan.tasks {
        let Some(task) = recommend::find(&detected.task) else {
            continue;
        };
        for gap in tasks::gaps(detected, task, c) {
            let (aspect, item) = (gap.aspect, gap.item);
            let (site, now_text) = match gap.trigger {
                Some(p) => (
                    relative(&p.site, root),
                    format!("{} uses {}", aspect.title().to_lowercase(), p.name),
                ),
                None => match detected.signals.first() {
                    Some(s) => (
                        relative(&s.site, root),
                        format!(
                            "no {} found for it",
                            item.name.split(' ').next().unwrap_or("").to_lowercase()
                        ),
                    ),
                    None => continue,
                },
            };
            let reference = item
                .references
                .first()
                .map(|r| format!(" ({})", r.url))
                .unwrap_or_default();
            out.push(Advice {
                site,
                message: format!(
                    "{} project: {now_text}; consider {}: {}{reference}",
                    task.title.to_lowercase(),
                    item.name,
                    item.when
                ),
            });
        }
    }
    out
}

/// The first distinct signals the task was detected from, for a one-line "detected from".
pub fn evidence(detected: &DetectedTask, root: &Path) -> String {
    let mut seen = BTreeSet::new();
    let parts: Vec<String> = detected
        .signals
        .iter()
        .filter(|h| seen.insert(h.site.code.clone()))
        .take(3)
        .map(|h| format!("`{}` ({})", h.site.code, relative(&h.site, root)))
        .collect();
    let more = detected.signals.len().saturating_sub(parts.len());
    if more > 0 {
        format!("{} and {more} more", parts.join(", "))
    } else {
        parts.join(", ")
    }
}

/// The comparison as `mleng recommend --project PATH --format json`.
pub fn project_json(scan: &ProjectScan, c: &Constraints, root: &Path) -> serde_json::Value {
    let tasks: Vec<serde_json::Value> = scan
        .tasks
        .iter()
        .filter_map(|detected| {
            let task = recommend::find(&detected.task)?;
            let aspects: Vec<serde_json::Value> = rows(detected, task, c, root)
                .into_iter()
                .map(|row| {
                    serde_json::json!({
                        "aspect": row.aspect,
                        "now": row.now,
                        "recommended": row.recommended.iter().map(|(used, name, why, reference)| serde_json::json!({
                            "name": name, "in_use": used, "detail": why, "reference": reference,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            Some(serde_json::json!({
                "task": detected.task,
                "title": task.title,
                "signals": detected.signals,
                "aspects": aspects,
            }))
        })
        .collect();
    let advice: Vec<serde_json::Value> = advice(scan, c, root)
        .into_iter()
        .map(|a| serde_json::json!({"severity": "info", "location": a.site, "message": a.message}))
        .collect();
    serde_json::json!({
        "schema_version": recommend::SCHEMA_VERSION,
        "project": root,
        "advice": advice,
        "files": scan.files,
        "tasks": tasks,
    })
}
