//! Per-file facts for the project pass, read from a file's index while it is alive (in the
//! parallel phase). Everything here is O(calls).

use std::path::PathBuf;

use mleng_knowledge::experiment::{seeded_by, Rng, SELF_SEEDING_TRAINERS};
use mleng_python::index::TrainingScope;
use mleng_python::source::SourceKind;
use mleng_python::SemanticIndex;
use ruff_text_size::{Ranged, TextRange};

use super::Site;
use crate::context::location_of;

#[derive(Debug, Clone)]
pub struct FileFacts {
    pub path: PathBuf,
    pub is_notebook: bool,
    /// A test file (`test_*.py`, `*_test.py`, `conftest.py`, under `tests/`).
    pub is_test: bool,
    /// Meant to be run: `if __name__ == "__main__":`, a notebook, or training at module level.
    pub is_entry_point: bool,
    /// The whole file (for findings about the file rather than a line).
    pub whole_file: Site,
    /// The first place the file trains: a training loop or step function, or `trainer.fit(...)`
    /// on a Lightning `Trainer`.
    pub trains: Option<Site>,
    /// Names of the functions that contain a training loop (for callers in other files).
    pub training_functions: Vec<String>,
    /// Generators seeded somewhere in the file by a known seeding call.
    pub seeded: Vec<Rng>,
    /// A call to a helper whose name says it seeds (`set_seed(42)`, `init_seeds(...)`): what it
    /// seeds is unknown, so it counts as seeding everything.
    pub seed_helper: Option<String>,
    /// Imports Lightning (`lightning` or `pytorch_lightning`).
    pub uses_lightning: bool,
    /// Uses a trainer that seeds every run itself (Hugging Face `Trainer`).
    pub self_seeding_trainer: bool,
    /// First use of NumPy's global generator (`np.random.rand`, `np.random.shuffle`, ...).
    pub numpy_random: Option<Site>,
    /// First use of Python's `random` module (`random.random()`, `random.choice`, ...).
    pub python_random: Option<Site>,
    /// Calls that resolve through an import to another module (entry points only), with the
    /// first site of each: how an entry point reaches training code in other files.
    pub imported_calls: Vec<(String, Site)>,
    /// Some call passes `worker_init_fn=` (a DataLoader that reseeds its workers).
    pub has_worker_init_fn: bool,
    /// Candidate findings of project rules with a per-file half (see `ProjectRule::candidates`).
    pub candidates: Vec<super::Candidate>,
    /// `torch.load(...)` calls with no `weights_only` argument.
    pub torch_loads_without_weights_only: Vec<Site>,
}

impl FileFacts {
    pub fn seeds(&self, rng: Rng) -> bool {
        self.seed_helper.is_some() || self.self_seeding_trainer || self.seeded.contains(&rng)
    }

    pub fn seeds_anything(&self) -> bool {
        self.seed_helper.is_some() || self.self_seeding_trainer || !self.seeded.is_empty()
    }

    pub fn stem(&self) -> Option<&str> {
        self.path.file_stem().and_then(|s| s.to_str())
    }
}

/// A site for `range` in the indexed file.
pub(crate) fn site(index: &SemanticIndex, range: TextRange) -> Site {
    let source = index.source;
    let first = source.lines.line_of(range.start());
    let last = source.lines.line_of(range.end());
    let location = location_of(index, range);
    let snippet = crate::engine::snippet(source, &location, first, last);
    Site {
        location,
        text: index.text(range).to_string(),
        label: index.text(range).to_string(),
        first_line_text: source.lines.line_text(&source.text, first).to_string(),
        last_line_text: source.lines.line_text(&source.text, last).to_string(),
        snippet,
    }
}

fn whole_file(index: &SemanticIndex) -> Site {
    let mut location = location_of(index, TextRange::default());
    location.span = None;
    location.cell = None;
    Site {
        location,
        text: String::new(),
        label: String::new(),
        first_line_text: String::new(),
        last_line_text: String::new(),
        snippet: None,
    }
}

pub fn is_test_path(path: &std::path::Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name.starts_with("test_")
        || name.ends_with("_test.py")
        || name == "conftest.py"
        // A `tests/` folder close above the file (not anywhere up to the filesystem root, where
        // it may be where the whole project lives).
        || path
            .parent()
            .into_iter()
            .flat_map(|p| p.components().rev().take(3))
            .any(|c| matches!(c.as_os_str().to_str(), Some("tests" | "test" | "testing")))
}

const LIGHTNING_TRAINERS: &[&str] = &[
    "lightning.Trainer",
    "lightning.pytorch.Trainer",
    "lightning.pytorch.trainer.Trainer",
    "pytorch_lightning.Trainer",
    "pytorch_lightning.trainer.Trainer",
];

/// NumPy generator functions that are not draws from the global generator.
const NUMPY_RANDOM_NOT_GLOBAL: &[&str] = &[
    "seed",
    "default_rng",
    "RandomState",
    "Generator",
    "PCG64",
    "SeedSequence",
    "get_state",
    "set_state",
];

pub fn collect(index: &SemanticIndex) -> FileFacts {
    let source = index.source;
    let path = source.path.clone();
    let is_notebook = source.kind == SourceKind::Notebook;
    let is_test = is_test_path(&path);

    let mut trains: Option<(TextRange, bool)> = None;
    let mut training_functions = Vec::new();
    for lp in &index.training_loops {
        let module_level = lp.function.is_none();
        let range = match lp.scope {
            TrainingScope::Loop(id) => index.loops[id].header,
            TrainingScope::Function(f) => index.functions[f].def.name.range(),
        };
        if trains.is_none() {
            trains = Some((range, module_level));
        }
        if let Some(f) = lp.function {
            // The outermost function: `main()` calling nothing else still names the loop.
            let mut f = f;
            training_functions.push(index.functions[f].name.to_string());
            while let Some(parent) = index.functions[f].parent {
                f = parent;
                training_functions.push(index.functions[f].name.to_string());
            }
        }
    }
    let mut seeded: Vec<Rng> = Vec::new();
    let mut seed_helper = None;
    let mut self_seeding_trainer = false;
    let mut numpy_random = None;
    let mut python_random = None;
    let mut torch_loads = Vec::new();
    let mut fit_call = None;
    for call in &index.calls {
        let resolved = call.resolved();
        if let Some(q) = resolved.as_deref() {
            if let Some(rngs) = seeded_by(q) {
                for rng in rngs {
                    if !seeded.contains(rng) {
                        seeded.push(*rng);
                    }
                }
                continue;
            }
            if SELF_SEEDING_TRAINERS.contains(&q) {
                self_seeding_trainer = true;
            }
            if let Some(rest) = q.strip_prefix("numpy.random.") {
                if numpy_random.is_none() && !NUMPY_RANDOM_NOT_GLOBAL.contains(&rest) {
                    numpy_random = Some(call.range());
                }
            }
            if let Some(rest) = q.strip_prefix("random.") {
                if python_random.is_none() && rest != "seed" && !rest.contains('.') {
                    python_random = Some(call.range());
                }
            }
            if q == "torch.load" && call.keyword("weights_only").is_none() {
                let mut load = site(index, call.range());
                load.label = crate::security::call_label(index, call.expr);
                torch_loads.push(load);
            }
            if call.method == Some("fit")
                && call
                    .receiver_type
                    .as_deref()
                    .is_some_and(|t| LIGHTNING_TRAINERS.contains(&t))
                && fit_call.is_none()
            {
                fit_call = Some(call.range());
            }
        }
        // A helper named for seeding (`set_seed`, `init_seeds`, `seed_all`, `fix_seed`).
        let name = call
            .method
            .or_else(|| match &*call.expr.func {
                ruff_python_ast::Expr::Name(n) => Some(n.id.as_str()),
                _ => None,
            })
            .unwrap_or_default();
        if seed_helper.is_none() && is_seed_helper_name(name) {
            seed_helper = Some(index.text(call.expr.func.range()).to_string());
        }
    }
    let module_level_training = trains.is_some_and(|(_, module_level)| module_level);
    let is_entry_point = !is_test && (index.has_main_guard || is_notebook || module_level_training);
    let trains = trains.map(|(r, _)| r).or(fit_call);
    let mut imported_calls: Vec<(String, Site)> = Vec::new();
    if is_entry_point {
        for call in &index.calls {
            let Some(q) = &call.qualified else { continue };
            if !q.contains('.') || imported_calls.iter().any(|(seen, _)| seen == q) {
                continue;
            }
            imported_calls.push((q.clone(), site(index, call.range())));
        }
    }
    FileFacts {
        whole_file: whole_file(index),
        trains: trains.map(|r| site(index, r)),
        training_functions,
        seeded,
        seed_helper,
        uses_lightning: index.imports_any(&["lightning", "pytorch_lightning"]),
        self_seeding_trainer,
        numpy_random: numpy_random.map(|r| site(index, r)),
        python_random: python_random.map(|r| site(index, r)),
        imported_calls,
        torch_loads_without_weights_only: torch_loads,
        has_worker_init_fn: index
            .calls
            .iter()
            .any(|c| c.keyword("worker_init_fn").is_some()),
        candidates: Vec::new(),
        path,
        is_notebook,
        is_test,
        is_entry_point,
    }
}

fn is_seed_helper_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.contains("seed") && !lower.starts_with("get_") && !lower.contains("worker")
}
