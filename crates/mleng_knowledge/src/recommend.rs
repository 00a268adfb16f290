//! Task-level recommendations for computer vision (architectures, losses, augmentation, training
//! recipe, metrics, pitfalls), each with its sources. The knowledge lives in versioned TOML files
//! under `data/recommendations/`, compiled into the binary and parsed into these types; code
//! only filters and renders it.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// Version of the data files' schema; each file states the one it was written for.
pub const SCHEMA_VERSION: u32 = 1;

const FILES: &[(&str, &str)] = &[
    (
        "classification.toml",
        include_str!("../data/recommendations/classification.toml"),
    ),
    (
        "detection.toml",
        include_str!("../data/recommendations/detection.toml"),
    ),
    (
        "semantic_segmentation.toml",
        include_str!("../data/recommendations/semantic_segmentation.toml"),
    ),
    (
        "instance_segmentation.toml",
        include_str!("../data/recommendations/instance_segmentation.toml"),
    ),
    (
        "keypoints.toml",
        include_str!("../data/recommendations/keypoints.toml"),
    ),
    (
        "anomaly_detection.toml",
        include_str!("../data/recommendations/anomaly_detection.toml"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum RecommendError {
    #[error("recommendation data `{file}` is invalid: {message}")]
    Invalid { file: &'static str, message: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    pub title: String,
    pub url: String,
}

/// One recommendation: an architecture, a loss, an augmentation, a recipe step, a metric or a
/// pitfall. Empty `data_size` / `latency` / `device` lists mean "fits everywhere".
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub name: String,
    /// When and why it fits.
    pub when: String,
    #[serde(default)]
    pub data_size: Vec<DataSize>,
    #[serde(default)]
    pub latency: Vec<Latency>,
    #[serde(default)]
    pub device: Vec<Device>,
    /// Where pretrained weights come from (architectures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrained: Option<String>,
    /// mleng rule that checks this pitfall, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// A key recommendation: `--project` turns its absence into an info-level finding.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub key: bool,
    /// Only advise it when the project's code for this aspect uses one of these (practice
    /// names such as `CrossEntropyLoss`); empty = whenever it is missing.
    #[serde(default, skip_serializing)]
    pub advise_when: Vec<String>,
    /// Code patterns that show a project already does this (see [`Pattern`]).
    #[serde(default, skip_serializing)]
    pub uses: Vec<Pattern>,
    pub references: Vec<Reference>,
}

/// A code pattern, matched by `mleng recommend --project` against calls, class definitions and
/// function definitions: `torchvision.models.detection.*` (qualified callee, `*` = any suffix),
/// `class:DetectionModel`, `def:load_mosaic`, `kw:label_smoothing` (a keyword argument), and
/// `arg:-seg` (a string argument containing the text) combined with a callee as
/// `ultralytics.YOLO&arg:-seg`; `!arg:` and `!kw:` negate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Pattern(pub String);

/// How `--project` recognises the task in code.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signal {
    /// `architecture` or `data` (enough to detect the task), `backbone` (enough only when no
    /// other task is found), `loss`, `augmentation` (supporting evidence).
    pub aspect: String,
    pub what: String,
    pub patterns: Vec<Pattern>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    pub schema_version: u32,
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub summary: String,
    #[serde(default, skip_serializing)]
    pub signals: Vec<Signal>,
    pub architectures: Vec<Item>,
    pub losses: Vec<Item>,
    pub augmentation: Vec<Item>,
    pub recipe: Vec<Item>,
    pub metrics: Vec<Item>,
    pub pitfalls: Vec<Item>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataSize {
    Small,
    Medium,
    Large,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Latency {
    Realtime,
    Batch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    Edge,
    Gpu,
}

/// What the user told us about their setting; `None` = not constrained.
#[derive(Debug, Clone, Copy, Default)]
pub struct Constraints {
    pub data_size: Option<DataSize>,
    pub latency: Option<Latency>,
    pub device: Option<Device>,
}

impl Item {
    pub fn fits(&self, c: &Constraints) -> bool {
        fn ok<T: PartialEq>(list: &[T], wanted: Option<T>) -> bool {
            wanted.is_none_or(|w| list.is_empty() || list.contains(&w))
        }
        ok(&self.data_size, c.data_size)
            && ok(&self.latency, c.latency)
            && ok(&self.device, c.device)
    }
}

impl Task {
    /// The sections in display order, with their headings.
    pub fn sections(&self) -> [(&'static str, &[Item]); 6] {
        [
            ("Architectures", &self.architectures),
            ("Losses", &self.losses),
            ("Augmentation", &self.augmentation),
            ("Optimizer and schedule", &self.recipe),
            ("Metrics", &self.metrics),
            ("Common pitfalls", &self.pitfalls),
        ]
    }

    /// A copy with only the items that fit the constraints.
    pub fn narrowed(&self, c: &Constraints) -> Task {
        let keep = |items: &[Item]| items.iter().filter(|i| i.fits(c)).cloned().collect();
        Task {
            architectures: keep(&self.architectures),
            losses: keep(&self.losses),
            augmentation: keep(&self.augmentation),
            recipe: keep(&self.recipe),
            metrics: keep(&self.metrics),
            pitfalls: keep(&self.pitfalls),
            ..self.clone()
        }
    }

    pub fn matches_name(&self, name: &str) -> bool {
        let norm = |s: &str| s.to_ascii_lowercase().replace(['-', ' '], "_");
        let name = norm(name);
        norm(&self.id) == name || self.aliases.iter().any(|a| norm(a) == name)
    }
}

fn parse(file: &'static str, text: &str) -> Result<Task, RecommendError> {
    let task: Task = toml::from_str(text).map_err(|e| RecommendError::Invalid {
        file,
        message: e.to_string(),
    })?;
    if task.schema_version != SCHEMA_VERSION {
        return Err(RecommendError::Invalid {
            file,
            message: format!(
                "schema_version {} (this build reads {SCHEMA_VERSION})",
                task.schema_version
            ),
        });
    }
    for (section, items) in task.sections() {
        for item in items {
            if item.references.is_empty() {
                return Err(RecommendError::Invalid {
                    file,
                    message: format!("{section} `{}` has no reference", item.name),
                });
            }
        }
    }
    Ok(task)
}

/// Every task, parsed once.
pub fn tasks() -> Result<&'static [Task], &'static RecommendError> {
    static TASKS: OnceLock<Result<Vec<Task>, RecommendError>> = OnceLock::new();
    TASKS
        .get_or_init(|| FILES.iter().map(|(file, text)| parse(file, text)).collect())
        .as_ref()
        .map(|v| v.as_slice())
}

pub fn find(name: &str) -> Option<&'static Task> {
    tasks().ok()?.iter().find(|t| t.matches_name(name))
}

impl Pattern {
    /// Does a call with this qualified callee (and string arguments / keywords) match?
    pub fn matches_call(&self, qualified: &str, string_args: &[&str], keywords: &[&str]) -> bool {
        let mut ok = false;
        for part in self.0.split('&') {
            let hit = if let Some(text) = part.strip_prefix("arg:") {
                string_args.iter().any(|a| a.contains(text))
            } else if let Some(text) = part.strip_prefix("!arg:") {
                !string_args.iter().any(|a| a.contains(text))
            } else if let Some(kw) = part.strip_prefix("kw:") {
                keywords.contains(&kw)
            } else if let Some(kw) = part.strip_prefix("!kw:") {
                !keywords.contains(&kw)
            } else if part.starts_with("class:") || part.starts_with("def:") {
                false
            } else if let Some(prefix) = part.strip_suffix('*') {
                qualified.starts_with(prefix)
            } else {
                qualified == part
            };
            if !hit {
                return false;
            }
            ok = true;
        }
        ok
    }

    /// Does a class or function defined in the project match (`class:Name`, `def:name`)?
    pub fn matches_definition(&self, is_class: bool, name: &str) -> bool {
        let wanted = if is_class {
            self.0.strip_prefix("class:")
        } else {
            self.0.strip_prefix("def:")
        };
        match wanted {
            Some(w) => match w.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => name == w,
            },
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_data_file_parses_with_references() {
        let tasks = tasks().expect("data files parse");
        assert!(tasks.len() >= 6);
        for task in tasks {
            assert!(!task.architectures.is_empty(), "{}", task.id);
            assert!(!task.losses.is_empty(), "{}", task.id);
            assert!(!task.signals.is_empty(), "{}", task.id);
            for (_, items) in task.sections() {
                for item in items {
                    for r in &item.references {
                        assert!(
                            r.url.starts_with("https://") || r.url.starts_with("http://"),
                            "{}",
                            r.url
                        );
                    }
                }
            }
        }
        assert!(find("object-detection").is_some());
        assert!(find("semantic segmentation").is_some());
    }

    #[test]
    fn patterns() {
        let p = Pattern("ultralytics.YOLO&arg:-seg".into());
        assert!(p.matches_call("ultralytics.YOLO", &["yolov8n-seg.pt"], &[]));
        assert!(!p.matches_call("ultralytics.YOLO", &["yolov8n.pt"], &[]));
        assert!(
            Pattern("torchvision.models.detection.*".into()).matches_call(
                "torchvision.models.detection.fasterrcnn_resnet50_fpn",
                &[],
                &[]
            )
        );
        assert!(Pattern("class:Segmentation*".into()).matches_definition(true, "SegmentationModel"));
    }
}
