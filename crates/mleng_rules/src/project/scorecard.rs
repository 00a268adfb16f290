//! The reproducibility scorecard (`mleng review --summary`): for each training entry point,
//! whether its run can be repeated (seeds, determinism, configuration, tracking, checkpoints,
//! pinned dependencies), each yes/no with what explains a no.

use std::path::PathBuf;

use mleng_diagnostics::Finding;
use mleng_knowledge::experiment::{Rng, ML_LIBRARY_IMPORTS};

use super::{EntryPoint, FileFacts, ProjectFacts};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scorecard {
    pub entry_point: PathBuf,
    /// Where it trains (`line 13`, `cell 4, line 1`).
    pub trains_at: String,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub name: &'static str,
    pub ok: bool,
    /// What makes it a yes, or the finding / missing piece that makes it a no.
    pub detail: String,
}

pub fn scorecards(facts: &ProjectFacts, findings: &[Finding]) -> Vec<Scorecard> {
    let mut cards: Vec<Scorecard> = facts
        .training_entry_points()
        .iter()
        .map(|entry| card(facts, entry, findings))
        .collect();
    cards.sort_by(|a, b| a.entry_point.cmp(&b.entry_point));
    cards
}

fn names(files: &[&FileFacts]) -> String {
    files
        .iter()
        .filter_map(|f| f.path.file_name())
        .map(|n| n.to_string_lossy().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn finding_at<'f>(findings: &'f [Finding], code: &str, entry: &EntryPoint) -> Option<&'f Finding> {
    findings
        .iter()
        .find(|f| f.code == code && f.location.path == entry.file.path)
}

fn card(facts: &ProjectFacts, entry: &EntryPoint, findings: &[Finding]) -> Scorecard {
    let files = &entry.reached;
    let any = |pred: &dyn Fn(&FileFacts) -> bool| files.iter().any(|f| pred(f));
    let mut items = Vec::new();

    // Seeds.
    let seeded_all = [Rng::Torch, Rng::Numpy, Rng::Python]
        .iter()
        .all(|&rng| any(&|f| f.seeds(rng)));
    let seeded_torch = any(&|f| f.seeds(Rng::Torch));
    let seeds_detail = match finding_at(findings, "EXP002", entry) {
        Some(f) => format!("{}: {}", f.code, f.message),
        None if seeded_all => seed_how(files),
        None if seeded_torch => format!("{} (not every generator)", seed_how(files)),
        None => format!("no seeding found in {}", names(files)),
    };
    items.push(Item {
        name: "seeds",
        ok: seeded_torch && finding_at(findings, "EXP002", entry).is_none(),
        detail: seeds_detail,
    });

    // Determinism.
    let deterministic = files.iter().find_map(|f| f.determinism.as_ref());
    let benchmark = files.iter().find_map(|f| f.cudnn_benchmark.as_ref());
    let (ok, detail) = match (deterministic, benchmark) {
        // Deterministic mode restricts cuDNN to deterministic kernels even when benchmarking.
        (Some(site), _) => (true, format!("`{}`", crate::context::one_line(&site.text, 70))),
        (None, Some(site)) => (
            false,
            format!(
                "`{}` picks the fastest cuDNN kernels per run, which may differ between runs",
                crate::context::one_line(&site.text, 70)
            ),
        ),
        (None, None) => (
            false,
            "no `torch.use_deterministic_algorithms(True)` or `torch.backends.cudnn.deterministic = True`".into(),
        ),
    };
    items.push(Item {
        name: "determinism",
        ok,
        detail,
    });

    // Configuration.
    let config = files.iter().find_map(|f| f.config_source);
    items.push(Item {
        name: "config",
        ok: config.is_some() || any(&|f| f.full_service_trainer),
        detail: match config {
            Some(how) => format!("read with {how}"),
            None if any(&|f| f.full_service_trainer) => "trainer arguments".into(),
            None => {
                "hyperparameters are literals in the code (no argparse, Hydra, config file)".into()
            }
        },
    });

    // Metric tracking.
    let tracking = files.iter().find_map(|f| f.metric_tracking.clone());
    items.push(Item {
        name: "tracking",
        ok: tracking.is_some(),
        detail: match tracking {
            Some(how) => format!("metrics via {how}"),
            None => {
                "no metric is logged (no TensorBoard, W&B, MLflow, logger or print of the loss)"
                    .into()
            }
        },
    });

    // Hyperparameters recorded.
    let recorded = any(&|f| f.records_config || f.full_service_trainer);
    items.push(Item {
        name: "config recorded",
        ok: recorded,
        detail: if recorded {
            "configuration saved with the run".into()
        } else {
            "the run's configuration is not logged or saved with the checkpoint".into()
        },
    });

    // Checkpoints.
    let checkpoint = files.iter().find_map(|f| f.checkpoint.as_ref());
    let (ok, detail) = if any(&|f| f.full_service_trainer) {
        (true, "the trainer saves resumable checkpoints".to_string())
    } else {
        match checkpoint {
            Some(_) if any(&|f| f.checkpoint_has_optimizer) => {
                (true, "checkpoint includes optimizer state".to_string())
            }
            Some(site) => (
                false,
                format!(
                    "`{}` saves weights only: training cannot resume (no optimizer state)",
                    crate::context::one_line(&site.text, 70)
                ),
            ),
            None => (false, "no checkpoint is saved".to_string()),
        }
    };
    items.push(Item {
        name: "checkpoints",
        ok,
        detail,
    });

    // Pinned dependencies: torch and every other main ML library the run imports.
    let (ok, detail) = pinned_dependencies(facts, entry);
    items.push(Item {
        name: "pinned deps",
        ok,
        detail,
    });

    let trains_at = entry
        .site
        .location
        .span
        .map(|s| match entry.site.location.cell {
            Some(cell) => format!("cell {cell}, line {}", s.start_line),
            None => format!("line {}", s.start_line),
        })
        .unwrap_or_default();
    Scorecard {
        entry_point: entry.file.path.clone(),
        trains_at,
        items,
    }
}

/// Whether the requirement files governing the entry point pin or bound torch and each other
/// main ML library the files it reaches import, with the pins or what is missing.
fn pinned_dependencies(facts: &ProjectFacts, entry: &EntryPoint) -> (bool, String) {
    let governing: Vec<_> = facts.requirements.governing(&entry.file.path).collect();
    if governing.is_empty() {
        return (false, "no requirement file found".into());
    }
    let mut imported: Vec<&str> = Vec::new();
    for (name, _) in ML_LIBRARY_IMPORTS {
        if *name == "torch" || entry.reached.iter().any(|f| f.ml_imports.contains(name)) {
            imported.push(name);
        }
    }
    let file_name = |path: &std::path::Path| {
        path.file_name()
            .map_or(String::new(), |n| n.to_string_lossy().to_string())
    };
    let mut pinned: Vec<(String, Vec<String>)> = Vec::new();
    let mut unpinned = Vec::new();
    let mut unlisted = Vec::new();
    for import in imported {
        let packages = ML_LIBRARY_IMPORTS
            .iter()
            .find(|(name, _)| *name == import)
            .map_or(&[][..], |(_, packages)| *packages);
        let found = governing.iter().find_map(|file| {
            file.entries
                .iter()
                .filter(|e| packages.contains(&e.name.as_str()))
                // A pinned entry wins over an unpinned one for the same library.
                .max_by_key(|e| !e.spec.is_empty())
                .map(|e| (*file, e))
        });
        match found {
            Some((file, e)) if !e.spec.is_empty() => {
                let pin = format!("`{}{}`", e.name, e.spec);
                let name = file_name(&file.path);
                match pinned.iter_mut().find(|(f, _)| *f == name) {
                    Some((_, pins)) => pins.push(pin),
                    None => pinned.push((name, vec![pin])),
                }
            }
            Some((file, e)) => unpinned.push(format!(
                "`{}` has no version in {}",
                e.name,
                file_name(&file.path)
            )),
            None => unlisted.push(format!("`{}`", packages.first().copied().unwrap_or(import))),
        }
    }
    let mut problems = unpinned;
    if !unlisted.is_empty() {
        problems.push(format!(
            "{} imported but not listed in the requirement files",
            unlisted.join(", ")
        ));
    }
    if problems.is_empty() {
        let pins: Vec<String> = pinned
            .iter()
            .map(|(file, pins)| format!("{} in {file}", pins.join(", ")))
            .collect();
        (true, pins.join("; "))
    } else {
        (false, problems.join("; "))
    }
}

fn seed_how(files: &[&FileFacts]) -> String {
    if let Some(helper) = files.iter().find_map(|f| f.seed_helper.clone()) {
        return format!("`{helper}(...)`");
    }
    if files.iter().any(|f| f.self_seeding_trainer) {
        return "the Hugging Face Trainer seeds the run".into();
    }
    let mut seeded = Vec::new();
    for (rng, name) in [
        (Rng::Torch, "torch"),
        (Rng::Numpy, "NumPy"),
        (Rng::Python, "random"),
    ] {
        if files.iter().any(|f| f.seeded.contains(&rng)) {
            seeded.push(name);
        }
    }
    format!("{} seeded", seeded.join(", "))
}

/// Plain-text rendering.
pub fn render_text(cards: &[Scorecard]) -> String {
    let mut out = String::from("\nReproducibility scorecard\n");
    if cards.is_empty() {
        out.push_str("  no training entry point found (a script or notebook that trains)\n");
        return out;
    }
    for card in cards {
        let score = card.items.iter().filter(|i| i.ok).count();
        out.push_str(&format!(
            "\n{} (trains at {}): {score}/{}\n",
            card.entry_point.display(),
            card.trains_at,
            card.items.len()
        ));
        for item in &card.items {
            out.push_str(&format!(
                "  {:<16} {:<4} {}\n",
                item.name,
                if item.ok { "yes" } else { "no" },
                item.detail
            ));
        }
    }
    out
}
