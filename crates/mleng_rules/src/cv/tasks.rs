//! What a computer-vision project does, read from its code: which tasks it trains (detection,
//! segmentation, ...), and which architectures, losses, augmentations and optimizers it uses,
//! each with `path:line`. `mleng recommend --project` compares this with the recommendation
//! data in `mleng_knowledge::recommend`.
//!
//! The task signals and the "already uses this recommendation" patterns are data (the TOML
//! files); this module only matches them against the semantic index.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mleng_knowledge::recommend::{self, Constraints, Item, Task};
use mleng_knowledge::vision::{ALBUMENTATIONS_RANDOM, TORCHVISION_RANDOM};
use mleng_python::index::literals::string;
use mleng_python::{ParsedFile, SemanticIndex, SourceFile};
use rayon::prelude::*;
use ruff_python_ast::Expr;
use ruff_text_size::{Ranged, TextRange};
use serde::Serialize;

/// A place in the project.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Site {
    pub path: PathBuf,
    pub line: u32,
    /// The code there (first line, trimmed).
    pub code: String,
    /// Byte offsets of the whole construct in its file (for review findings).
    #[serde(skip)]
    pub span: (u32, u32),
    /// The notebook cell (`line` is then the line in the cell).
    #[serde(skip)]
    pub cell: Option<u32>,
}

impl std::fmt::Display for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.line)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Aspect {
    Architecture,
    Loss,
    Augmentation,
    Optimizer,
}

impl Aspect {
    pub fn title(self) -> &'static str {
        match self {
            Aspect::Architecture => "Architecture",
            Aspect::Loss => "Loss",
            Aspect::Augmentation => "Augmentation",
            Aspect::Optimizer => "Optimizer / schedule",
        }
    }
}

/// A task signal found in a file.
#[derive(Debug, Clone, Serialize)]
pub struct TaskHit {
    pub task: String,
    pub aspect: String,
    pub what: String,
    pub site: Site,
}

/// A recommendation of a task that the code already follows.
#[derive(Debug, Clone, Serialize)]
pub struct UseHit {
    pub task: String,
    /// Section index in `Task::sections()` and item index in it.
    pub section: usize,
    pub item: usize,
    pub site: Site,
}

/// Something the code does, whatever the task.
#[derive(Debug, Clone, Serialize)]
pub struct Practice {
    pub aspect: Aspect,
    /// Short name (`CrossEntropyLoss`, `RandomHorizontalFlip`, `SGD`).
    pub name: String,
    pub site: Site,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct FileFacts {
    pub tasks: Vec<TaskHit>,
    pub uses: Vec<UseHit>,
    pub practices: Vec<Practice>,
    /// Builds a recurrent or Transformer decoder: an image backbone here is likely the
    /// encoder of a captioning or VQA model, not a classifier.
    pub sequence_decoder: bool,
    /// Defines or uses a generative model (diffusion, GAN): its U-Net is a denoiser and its
    /// backbones are no classifiers, so only dataset signals say what the task is.
    pub generative: bool,
}

/// Names of generative-model code: a class whose name holds one of the first (`GaussianDiffusion`,
/// `Discriminator`), a function named like the second (`q_sample`, DDPM's forward process), or
/// an import from `diffusers`.
const GENERATIVE_CLASS_WORDS: &[&str] = &["Diffusion", "Discriminator", "DDPM", "DDIM"];
const GENERATIVE_FUNCTIONS: &[&str] = &["q_sample", "p_sample", "p_losses", "ddim_sample"];

/// Decoders of sequence models (show-attend-tell captioning, seq2seq): with one of these in
/// the project, a backbone alone is no evidence of image classification.
const SEQUENCE_DECODERS: &[&str] = &[
    "torch.nn.LSTM",
    "torch.nn.LSTMCell",
    "torch.nn.GRU",
    "torch.nn.GRUCell",
    "torch.nn.TransformerDecoder",
    "torch.nn.TransformerDecoderLayer",
    "torch.nn.utils.rnn.pack_padded_sequence",
];

fn site(index: &SemanticIndex, range: TextRange) -> Site {
    let source = index.source;
    let global = source.lines.line_of(range.start());
    let cell = source.cell_of_line(global).map(|(c, _)| c);
    let line = source.cell_of_line(global).map_or(global, |(_, l)| l);
    let code = index
        .text(range)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .chars()
        .take(80)
        .collect();
    Site {
        path: source.path.clone(),
        line,
        code,
        span: (range.start().into(), range.end().into()),
        cell,
    }
}

const LOSS_FUNCTIONS: &[&str] = &[
    "cross_entropy",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "nll_loss",
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "kl_div",
    "huber_loss",
];

fn short_of(s: &str) -> &str {
    s.rsplit('.').next().unwrap_or(s)
}

fn practice_of(qualified: Option<&str>, callee_text: &str) -> Option<(Aspect, String)> {
    if let Some(q) = qualified {
        let short = short_of(q);
        let loss_lib = [
            "torch.nn.",
            "segmentation_models_pytorch.losses.",
            "monai.losses.",
            "timm.loss.",
        ]
        .iter()
        .any(|p| q.starts_with(p));
        if (loss_lib && short.ends_with("Loss"))
            || (q.starts_with("torch.nn.functional.") && LOSS_FUNCTIONS.contains(&short))
            || (q.starts_with("torchvision.ops.") && short.ends_with("_loss"))
        {
            return Some((Aspect::Loss, short.to_string()));
        }
        let constructor = short.starts_with(|c: char| c.is_ascii_uppercase());
        if (q.starts_with("torch.optim.lr_scheduler.") || q.starts_with("timm.scheduler."))
            && constructor
        {
            return Some((Aspect::Optimizer, short.to_string()));
        }
        if q.starts_with("torch.optim.")
            && short.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && short != "Optimizer"
        {
            return Some((Aspect::Optimizer, short.to_string()));
        }
        let random = (q.starts_with("torchvision.transforms")
            && TORCHVISION_RANDOM.contains(&short))
            || (q.starts_with("albumentations") && ALBUMENTATIONS_RANDOM.contains(&short))
            || matches!(short, "MixUp" | "CutMix" | "Mixup");
        if random {
            return Some((Aspect::Augmentation, short.to_string()));
        }
        return None;
    }
    // Unresolved constructors of loss classes (`ComputeLoss(model)`, `FocalLoss(...)`).
    let short = short_of(callee_text);
    (short.ends_with("Loss") && short.starts_with(|c: char| c.is_ascii_uppercase()))
        .then(|| (Aspect::Loss, short.to_string()))
}

/// The pattern heads of the built-in tasks.
struct Heads {
    calls: Vec<&'static str>,
    definitions: Vec<(bool, &'static str)>,
}

/// [`call_pattern_heads`] and [`definition_pattern_heads`] of `tasks` when they are the
/// built-in tasks (what reviews scan with), computed once instead of for every file: sorting
/// them was a tenth of the scan.
fn builtin_heads(tasks: &[Task]) -> Option<&'static Heads> {
    static HEADS: std::sync::OnceLock<Option<Heads>> = std::sync::OnceLock::new();
    let builtin: &'static [Task] = recommend::tasks().ok()?;
    if !std::ptr::eq(tasks, builtin) {
        return None;
    }
    HEADS
        .get_or_init(|| {
            Some(Heads {
                calls: call_pattern_heads(builtin),
                definitions: definition_pattern_heads(builtin),
            })
        })
        .as_ref()
}

/// The literal callee prefixes of every call pattern (`torchvision.models.resnet` for
/// `torchvision.models.resnet*`, `torch.nn.CrossEntropyLoss` for `...&kw:label_smoothing`).
fn call_pattern_heads(tasks: &[Task]) -> Vec<&str> {
    let mut heads: Vec<&str> = tasks
        .iter()
        .flat_map(|t| {
            t.signals.iter().flat_map(|s| s.patterns.iter()).chain(
                t.sections()
                    .into_iter()
                    .flat_map(|(_, items)| items.iter().flat_map(|i| i.uses.iter())),
            )
        })
        .filter_map(|p| {
            let callee = p.0.split('&').next()?;
            (!callee.contains(':')).then(|| callee.trim_end_matches('*'))
        })
        .collect();
    heads.sort_unstable();
    heads.dedup();
    heads
}

/// The name prefixes of every definition pattern (`(true, "Detect")` for `class:Detect`,
/// `(false, "mixup")` for `def:mixup*`).
fn definition_pattern_heads(tasks: &[Task]) -> Vec<(bool, &str)> {
    let mut heads: Vec<(bool, &str)> = tasks
        .iter()
        .flat_map(|t| {
            t.signals.iter().flat_map(|s| s.patterns.iter()).chain(
                t.sections()
                    .into_iter()
                    .flat_map(|(_, items)| items.iter().flat_map(|i| i.uses.iter())),
            )
        })
        .filter_map(|p| {
            let (is_class, name) = match p.0.strip_prefix("class:") {
                Some(n) => (true, n),
                None => (false, p.0.strip_prefix("def:")?),
            };
            Some((is_class, name.trim_end_matches('*')))
        })
        .collect();
    heads.sort_unstable();
    heads.dedup();
    heads
}

/// Matches one file against every task's signals and "uses" patterns.
pub fn scan(index: &SemanticIndex, tasks: &[Task]) -> FileFacts {
    let mut facts = FileFacts::default();
    let computed;
    let (heads, definition_heads) = match builtin_heads(tasks) {
        Some(builtin) => (&builtin.calls, &builtin.definitions),
        None => {
            computed = (call_pattern_heads(tasks), definition_pattern_heads(tasks));
            (&computed.0, &computed.1)
        }
    };
    facts.sequence_decoder = index.calls.iter().any(|c| {
        c.qualified
            .as_deref()
            .is_some_and(|q| SEQUENCE_DECODERS.contains(&q))
    });
    facts.generative = index.imports_any(&["diffusers"])
        || index
            .classes
            .iter()
            .any(|c| GENERATIVE_CLASS_WORDS.iter().any(|w| c.name.contains(w)))
        || index
            .functions
            .iter()
            .any(|f| GENERATIVE_FUNCTIONS.contains(&f.name));
    for call in &index.calls {
        // The callee through imports only: a method on a typed receiver (`model.parameters()`
        // on a `resnet50(...)`) is not a use of what built the receiver.
        let qualified = call.qualified.as_deref();
        let callee_text = index.text(call.expr.func.range());
        // Most calls match no pattern: check the callee against the patterns' heads first.
        if let Some(q) = qualified.filter(|q| heads.iter().any(|h| q.starts_with(h))) {
            let strings: Vec<&str> = call.argument_values().filter_map(string).collect();
            let keywords: Vec<&str> = call
                .expr
                .arguments
                .keywords
                .iter()
                .filter_map(|k| k.arg.as_ref().map(|a| a.as_str()))
                .collect();
            for task in tasks {
                for signal in &task.signals {
                    if signal
                        .patterns
                        .iter()
                        .any(|p| p.matches_call(q, &strings, &keywords))
                    {
                        facts.tasks.push(TaskHit {
                            task: task.id.clone(),
                            aspect: signal.aspect.clone(),
                            what: signal.what.clone(),
                            site: site(index, call.range()),
                        });
                    }
                }
                for (s, (_, items)) in task.sections().iter().enumerate() {
                    for (i, item) in items.iter().enumerate() {
                        if item
                            .uses
                            .iter()
                            .any(|p| p.matches_call(q, &strings, &keywords))
                        {
                            facts.uses.push(UseHit {
                                task: task.id.clone(),
                                section: s,
                                item: i,
                                site: site(index, call.range()),
                            });
                        }
                    }
                }
            }
        }
        // Calls nested in a call's arguments (`Compose([...])`) are separate calls already.
        // Practices come from what a call constructs, not from methods on it (`scheduler.step()`).
        if let Some((aspect, name)) = practice_of(call.qualified.as_deref(), callee_text) {
            if !matches!(call.expr.func.as_ref(), Expr::Call(_)) {
                facts.practices.push(Practice {
                    aspect,
                    name,
                    site: site(index, call.range()),
                });
            }
        }
    }
    let definitions = index
        .classes
        .iter()
        .map(|c| (true, c.name, c.def.range(), c.def.name.range()))
        .chain(
            index
                .functions
                .iter()
                .map(|f| (false, f.name, f.def.range(), f.def.name.range())),
        );
    for (is_class, name, range, name_range) in definitions {
        let header = TextRange::new(range.start(), name_range.end());
        // Most definitions match no pattern: check the name against the patterns' heads first.
        let candidate = definition_heads
            .iter()
            .any(|(c, head)| *c == is_class && name.starts_with(head));
        for task in tasks.iter().filter(|_| candidate) {
            for signal in &task.signals {
                if signal
                    .patterns
                    .iter()
                    .any(|p| p.matches_definition(is_class, name))
                {
                    facts.tasks.push(TaskHit {
                        task: task.id.clone(),
                        aspect: signal.aspect.clone(),
                        what: signal.what.clone(),
                        site: site(index, header),
                    });
                }
            }
            for (s, (_, items)) in task.sections().iter().enumerate() {
                for (i, item) in items.iter().enumerate() {
                    if item
                        .uses
                        .iter()
                        .any(|p| p.matches_definition(is_class, name))
                    {
                        facts.uses.push(UseHit {
                            task: task.id.clone(),
                            section: s,
                            item: i,
                            site: site(index, header),
                        });
                    }
                }
            }
        }
        let lower = name.to_ascii_lowercase();
        if !is_class
            && [
                "mosaic",
                "mixup",
                "cutmix",
                "copy_paste",
                "random_perspective",
            ]
            .iter()
            .any(|w| lower.contains(w))
        {
            facts.practices.push(Practice {
                aspect: Aspect::Augmentation,
                name: format!("{name}()"),
                site: site(index, header),
            });
        }
        if is_class && name.ends_with("Loss") {
            facts.practices.push(Practice {
                aspect: Aspect::Loss,
                name: format!("{name} (class)"),
                site: site(index, header),
            });
        }
    }
    facts
}

/// A detected task with everything found for it.
#[derive(Debug, Serialize)]
pub struct DetectedTask {
    pub task: String,
    pub signals: Vec<TaskHit>,
    /// What the project does now, per aspect, from files that show this task (or no task at all).
    pub now: BTreeMap<Aspect, Vec<Practice>>,
    /// (section, item) -> where the project already follows it.
    #[serde(skip)]
    pub followed: BTreeMap<(usize, usize), Site>,
}

#[derive(Debug, Serialize)]
pub struct ProjectScan {
    pub files: usize,
    pub tasks: Vec<DetectedTask>,
}

fn scan_file(path: &Path, tasks: &[Task]) -> Option<FileFacts> {
    let source = SourceFile::load(path).ok()?;
    let parsed = ParsedFile::parse(&source);
    if !parsed.syntax_errors().is_empty() {
        return None;
    }
    let index = SemanticIndex::build(&source, parsed.module());
    mleng_python::contained::contain(|| scan(&index, tasks)).ok()
}

/// Groups the facts of a project's files (tests left out) by detected task. A task counts when
/// an architecture or dataset signal of it appears; a backbone alone counts for classification
/// only when no other task is found and no sequence decoder makes it an encoder. A generative
/// project (diffusion, GAN) has none of these tasks: its U-Net denoises and its CIFAR-10 is
/// training images, not labels.
pub fn detect(per_file: &[&FileFacts], tasks: &[Task]) -> Vec<DetectedTask> {
    if per_file.iter().any(|f| f.generative) {
        return Vec::new();
    }
    let strong = |h: &TaskHit| matches!(h.aspect.as_str(), "architecture" | "data");
    let any_strong = per_file.iter().flat_map(|f| f.tasks.iter()).any(strong)
        || per_file.iter().any(|f| f.sequence_decoder);
    let found: Vec<&Task> = tasks
        .iter()
        .filter(|task| {
            let mut hits = per_file
                .iter()
                .flat_map(|f| f.tasks.iter())
                .filter(|h| h.task == task.id);
            hits.any(|h| strong(h) || (!any_strong && h.aspect == "backbone"))
        })
        .collect();
    let mut detected: Vec<DetectedTask> = Vec::new();
    for task in found.iter().copied() {
        let hits = || {
            per_file
                .iter()
                .flat_map(|f| f.tasks.iter())
                .filter(|h| h.task == task.id)
        };
        let signals: Vec<TaskHit> = hits()
            .filter(|h| matches!(h.aspect.as_str(), "architecture" | "data" | "backbone"))
            .cloned()
            .collect();
        let mut now: BTreeMap<Aspect, Vec<Practice>> = BTreeMap::new();
        let mut followed = BTreeMap::new();
        for facts in per_file {
            let file_tasks: Vec<&str> = facts
                .tasks
                .iter()
                .map(|h| h.task.as_str())
                .filter(|t| found.iter().any(|f| f.id == *t))
                .collect();
            let relevant = file_tasks.is_empty() || file_tasks.contains(&task.id.as_str());
            if !relevant {
                continue;
            }
            for p in &facts.practices {
                now.entry(p.aspect).or_default().push(p.clone());
            }
            for u in facts.uses.iter().filter(|u| u.task == task.id) {
                followed
                    .entry((u.section, u.item))
                    .or_insert_with(|| u.site.clone());
            }
        }
        for hit in &signals {
            if matches!(hit.aspect.as_str(), "architecture" | "backbone") {
                now.entry(Aspect::Architecture).or_default().push(Practice {
                    aspect: Aspect::Architecture,
                    name: hit.site.code.clone(),
                    site: hit.site.clone(),
                });
            }
        }
        for list in now.values_mut() {
            list.sort_by(|a, b| a.site.cmp(&b.site));
        }
        detected.push(DetectedTask {
            task: task.id.clone(),
            signals,
            now,
            followed,
        });
    }
    detected.sort_by_key(|d| std::cmp::Reverse(d.signals.len()));
    detected
}

/// The aspects of a project compared with the recommendations, with their section index in
/// `Task::sections()`.
pub const ASPECTS: [(Aspect, usize); 4] = [
    (Aspect::Architecture, 0),
    (Aspect::Loss, 1),
    (Aspect::Augmentation, 2),
    (Aspect::Optimizer, 3),
];

/// A key recommendation a detected task does not follow.
pub struct Gap<'a> {
    pub aspect: Aspect,
    pub section: usize,
    pub item: &'a Item,
    /// What the project does instead (`CrossEntropyLoss` for "label smoothing"), for items
    /// that are only advised when the project does that (`advise_when`).
    pub trigger: Option<&'a Practice>,
}

/// The key recommendations of `task` that `detected` does not follow. Items with `advise_when`
/// count only when the project does one of those things (its first such site is the trigger).
pub fn gaps<'a>(detected: &'a DetectedTask, task: &'a Task, c: &Constraints) -> Vec<Gap<'a>> {
    let sections = task.sections();
    let mut out = Vec::new();
    for &(aspect, section) in &ASPECTS {
        let now = detected.now.get(&aspect).map(Vec::as_slice).unwrap_or(&[]);
        for (i, item) in sections[section].1.iter().enumerate() {
            if !item.key || !item.fits(c) || detected.followed.contains_key(&(section, i)) {
                continue;
            }
            let trigger = now.iter().find(|p| {
                item.advise_when
                    .iter()
                    .any(|w| p.name.trim_end_matches(" (class)") == w)
            });
            if !item.advise_when.is_empty() && trigger.is_none() {
                continue;
            }
            out.push(Gap {
                aspect,
                section,
                item,
                trigger,
            });
        }
    }
    out
}

/// Scans the project's files in parallel and groups the facts by detected task. A task counts
/// when an architecture or dataset signal of it appears outside tests.
pub fn scan_project(files: &[PathBuf]) -> Result<ProjectScan, &'static recommend::RecommendError> {
    let tasks = recommend::tasks()?;
    let per_file: Vec<FileFacts> = files
        .par_iter()
        .filter(|p| !crate::test_code::is_test_code(p))
        .filter_map(|p| scan_file(p, tasks))
        .collect();
    let detected = detect(&per_file.iter().collect::<Vec<_>>(), tasks);
    Ok(ProjectScan {
        files: per_file.len(),
        tasks: detected,
    })
}
