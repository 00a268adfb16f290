//! The project half shared by the task-advice rules (CV012-CV014): the comparison of
//! `mleng recommend --project` ([`tasks::detect`] and [`tasks::gaps`]) turned into info-level
//! review findings, once per training entry point.
//!
//! A rule owns the key recommendations whose `rule` field in the recommendation data names its
//! code. It reports when, for a training entry point:
//! - the files the entry point reaches (itself and the files its imported calls go to) show
//!   exactly one task, `task`, by an architecture or dataset signal (a backbone alone counts for
//!   classification only when nothing else is found);
//! - every recommendation the rule owns is missing, both in the reached files and in every
//!   other file of the entry point's folder (a label-smoothing loss in `losses.py` counts);
//! - no reached file names a non-supervised objective (contrastive InfoNCE, distillation,
//!   ArcFace-style margins: `NON_SUPERVISED_OBJECTIVE_WORDS`);
//! - with `alternatives_silence`, the project follows no other recommendation of the same
//!   section (a different recommended loss);
//! - one of them is advised because of what the project does (`advise_when`: the
//!   `CrossEntropyLoss` it constructs), and that construction is in a reached file: the finding
//!   is reported there.

use std::collections::BTreeSet;
use std::path::Path;

use mleng_knowledge::recommend::{self, Constraints, Item, Task};
use mleng_knowledge::vision::NON_SUPERVISED_OBJECTIVE_WORDS;
use mleng_python::SemanticIndex;
use ruff_text_size::{Ranged, TextRange};

use super::tasks::{self, Aspect, DetectedTask, Gap, Practice};
use crate::project::{site, FileFacts, ProjectContext, Site};

/// The CV task facts of one reviewed file, kept for the project pass.
#[derive(Debug, Clone)]
pub struct CvFileFacts {
    pub scan: tasks::FileFacts,
    /// Review sites of the file's loss constructions that can trigger advice, by byte span.
    pub loss_sites: Vec<((u32, u32), Site)>,
    /// A name that says the file trains a non-supervised objective with its cross-entropy
    /// (`info_nce_loss`, `teacher`, `ArcFace`): task advice does not apply.
    pub other_objective: Option<String>,
}

/// Scans one file's index for task signals, followed recommendations and practices.
pub fn collect(index: &SemanticIndex) -> Option<CvFileFacts> {
    let all = recommend::tasks().ok()?;
    let scan = tasks::scan(index, all);
    let loss_sites: Vec<((u32, u32), Site)> = scan
        .practices
        .iter()
        // Only what can trigger advice (`advise_when`: `CrossEntropyLoss`, ...).
        .filter(|p| {
            p.aspect == Aspect::Loss
                && all.iter().any(|t| {
                    t.sections().iter().any(|(_, items)| {
                        items.iter().any(|i| {
                            i.advise_when
                                .iter()
                                .any(|w| p.name.trim_end_matches(" (class)") == w)
                        })
                    })
                })
        })
        .map(|p| {
            let range = TextRange::new(p.site.span.0.into(), p.site.span.1.into());
            (p.site.span, site(index, range))
        })
        .collect();
    // Only files that could matter to a finding: they show a task, construct a loss or train.
    let relevant =
        !scan.tasks.is_empty() || !loss_sites.is_empty() || !index.training_loops.is_empty();
    let other_objective = if relevant {
        other_objective(index)
    } else {
        None
    };
    Some(CvFileFacts {
        scan,
        loss_sites,
        other_objective,
    })
}

fn other_objective(index: &SemanticIndex) -> Option<String> {
    // Case-insensitive: each name lowered once (into one buffer) and searched for the words,
    // which are lowercase, instead of comparing every window of it with every word.
    let words: Vec<String> = NON_SUPERVISED_OBJECTIVE_WORDS
        .iter()
        .map(|w| w.to_ascii_lowercase())
        .collect();
    let mut lowered = String::new();
    let mut marks = |name: &str| {
        lowered.clear();
        lowered.push_str(name);
        lowered.make_ascii_lowercase();
        words.iter().any(|w| lowered.contains(w.as_str()))
    };
    index
        .functions
        .iter()
        .map(|f| f.name)
        .chain(index.classes.iter().map(|c| c.name))
        .chain(index.bindings.iter().map(|b| b.target.as_str()))
        .chain(index.calls.iter().map(|c| index.text(c.expr.func.range())))
        .find(|n| marks(n))
        .map(str::to_string)
}

/// What a finding says, for the rule to word its message.
pub(crate) struct Advice<'a> {
    /// The missing recommendations the rule owns.
    pub items: Vec<&'a Item>,
    /// The practice that triggered the advice (the loss construction).
    pub trigger: &'a Practice,
    /// Where to report it.
    pub site: &'a Site,
    /// The task signals that identified the task (first few).
    pub evidence: Vec<String>,
}

/// Runs the comparison for every training entry point and calls `report` once per trigger
/// site for the rule's task.
pub(crate) fn check(
    ctx: &mut ProjectContext,
    task_id: &str,
    alternatives_silence: bool,
    report: fn(&mut ProjectContext, &Advice),
) {
    let Ok(all) = recommend::tasks() else { return };
    let Some(task) = all.iter().find(|t| t.id == task_id) else {
        return;
    };
    let code = ctx.rule.code;
    let owned: Vec<(usize, usize)> = task
        .sections()
        .iter()
        .enumerate()
        .flat_map(|(s, (_, items))| {
            items
                .iter()
                .enumerate()
                .filter(|(_, item)| item.key && item.rule.as_deref() == Some(code))
                .map(move |(i, _)| (s, i))
        })
        .collect();
    if owned.is_empty() {
        return;
    }
    let facts = ctx.facts;
    let mut reported: BTreeSet<(std::path::PathBuf, (u32, u32))> = BTreeSet::new();
    // Once per project: entry points in the folder (or below the folder) of one already
    // reported are the same project. Scripts come before notebooks.
    let mut reported_folders: Vec<&Path> = Vec::new();
    let mut entries = facts.training_entry_points();
    entries.sort_by_key(|e| (e.file.is_notebook, e.file.path.components().count()));
    for entry in entries {
        let Some(folder) = entry.file.path.parent() else {
            continue;
        };
        if reported_folders
            .iter()
            .any(|r| folder.starts_with(r) || r.starts_with(folder))
        {
            continue;
        }
        let reached: Vec<&FileFacts> = entry
            .reached
            .iter()
            .copied()
            .filter(|f| !f.is_test && f.cv.is_some())
            .collect();
        let scans: Vec<&tasks::FileFacts> = reached
            .iter()
            .filter_map(|f| f.cv.as_ref().map(|c| &c.scan))
            .collect();
        let mut detected: Vec<DetectedTask> = tasks::detect(&scans, all);
        if detected.len() != 1 || detected[0].task != task.id {
            continue;
        }
        let Some(mut detected) = detected.pop() else {
            continue;
        };
        // Contrastive, distillation or margin-based training: the cross-entropy is not the
        // task's supervised loss.
        if reached
            .iter()
            .any(|f| f.cv.as_ref().is_some_and(|c| c.other_objective.is_some()))
        {
            reported_folders.push(folder);
            continue;
        }
        // This project is judged here, reported or not: nested entry points are part of it.
        reported_folders.push(folder);
        // Recommendations followed anywhere in the entry point's folder count too.
        for file in facts.files.iter().filter(|f| {
            !f.is_test && f.path.starts_with(folder) || reached.iter().any(|r| r.path == f.path)
        }) {
            let Some(cv) = &file.cv else { continue };
            for u in cv.scan.uses.iter().filter(|u| u.task == task.id) {
                detected
                    .followed
                    .entry((u.section, u.item))
                    .or_insert_with(|| u.site.clone());
            }
        }
        let gaps: Vec<Gap> = tasks::gaps(&detected, task, &Constraints::default())
            .into_iter()
            .filter(|g| {
                let index = item_index(task, g.section, g.item);
                index.is_some_and(|i| owned.contains(&(g.section, i)))
            })
            .collect();
        if gaps.len() != owned.len() {
            continue;
        }
        // `alternatives_silence`: following another recommendation of the same section (a
        // different recommended loss) is a deliberate choice, not a gap.
        if alternatives_silence
            && detected
                .followed
                .keys()
                .any(|(s, i)| owned.iter().any(|(os, oi)| os == s && oi != i))
        {
            continue;
        }
        // Reported where the training code constructs what triggers the advice: in the entry
        // point or the file with the training loop, not in a utility module that builds losses
        // for several tasks.
        let training_files = [&entry.file.path, &entry.training_file.path];
        let triggered = |p: &&Practice, g: &Gap| {
            training_files.contains(&&p.site.path)
                && g.item
                    .advise_when
                    .iter()
                    .any(|w| p.name.trim_end_matches(" (class)") == w)
        };
        let Some(trigger) = gaps.iter().filter(|g| g.trigger.is_some()).find_map(|g| {
            detected
                .now
                .get(&g.aspect)?
                .iter()
                .find(|p| triggered(p, g))
        }) else {
            continue;
        };
        let Some(site) = reached.iter().find_map(|f| {
            let cv = f.cv.as_ref()?;
            if f.path != trigger.site.path {
                return None;
            }
            cv.loss_sites
                .iter()
                .find(|(span, _)| *span == trigger.site.span)
                .map(|(_, s)| s)
        }) else {
            continue;
        };
        if !reported.insert((trigger.site.path.clone(), trigger.site.span)) {
            continue;
        }
        let mut evidence: Vec<String> = Vec::new();
        for hit in &detected.signals {
            let file = hit.site.path.file_name().map_or_else(
                || hit.site.path.display().to_string(),
                |n| n.to_string_lossy().to_string(),
            );
            let cell = hit
                .site
                .cell
                .map(|c| format!("cell {c}:"))
                .unwrap_or_default();
            let line = format!(
                "{} at {file}:{cell}{}: `{}`",
                hit.what, hit.site.line, hit.site.code
            );
            if !evidence.contains(&line) {
                evidence.push(line);
            }
            if evidence.len() == 3 {
                break;
            }
        }
        let advice = Advice {
            items: gaps.iter().map(|g| g.item).collect(),
            trigger,
            site,
            evidence,
        };
        report(ctx, &advice);
    }
}

fn item_index(task: &Task, section: usize, item: &Item) -> Option<usize> {
    task.sections()
        .get(section)?
        .1
        .iter()
        .position(|i| std::ptr::eq(i, item))
}

/// The references of the advised items, as markdown lines for evidence.
pub(crate) fn reference_lines(advice: &Advice) -> Vec<String> {
    advice
        .items
        .iter()
        .flat_map(|i| i.references.iter().take(1))
        .map(|r| format!("see {} <{}>", r.title, r.url))
        .collect()
}
