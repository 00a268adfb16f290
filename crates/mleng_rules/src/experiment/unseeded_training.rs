use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::experiment::Rng;
use std::path::Path;

use crate::project::{EntryPoint, FileFacts, ProjectContext};
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "EXP002",
    name: "unseeded-training",
    area: Area::Experiment,
    severity: Severity::Warning,
    fix: None,
    summary: "A training entry point seeds none of torch, random and NumPy (or seeds torch but draws from an unseeded NumPy/random).",
    docs: r#"## What it does
Looks at each *training entry point*: a script run as `python train.py` (it has
`if __name__ == "__main__":` or trains at module level) or a notebook, that trains itself or
calls a training function of another reviewed file. It reports, once per entry point, when
neither the entry point, nor the file with the training loop, nor the files it calls into
seed any generator (`torch.manual_seed`, `random.seed`, `np.random.seed`,
`lightning.seed_everything`, `transformers.set_seed`, `accelerate.utils.set_seed`, or a helper
whose name says it seeds, such as `set_seed(42)`). It also reports (as info) *partial*
seeding: torch is seeded but NumPy's or Python's global generator is used without a seed
outside a `Dataset` (draws inside a `Dataset` run in DataLoader workers, which PyTorch reseeds
from the torch seed: Python's `random` always, NumPy since PyTorch 1.9).

Loops that optimize plain tensors rather than a model (`optim.Adam([target])`: style
transfer, adversarial inputs) learn nothing random and are not reported. Hugging Face
`Trainer` seeds every run itself (`TrainingArguments.seed`, default 42) and
is not reported.

Three or more unseeded entry points side by side (one folder's scripts, or copies in sibling
folders: PyTorch-GAN's 32 `implementations/*/*.py`) are one habit and one finding, at the
first, with the others as related locations.

## Why is this bad?
Weight initialisation, data shuffling, dropout masks and random augmentations all draw from
these generators. Unseeded, two runs of the same code and data differ: a 0.5-point change
after a code edit cannot be told apart from run-to-run noise, and a bug cannot be replayed.
PyTorch's reproducibility notes list seeding all three generators as the first step; NumPy's
generator must be seeded separately because `torch.manual_seed` does not touch it.

## Example
```python
import numpy as np
import torch

model = Net()
for epoch in range(10):
    for x, y in loader:
        x = x + np.random.normal(0, 0.1, x.shape)
        ...
```

## Use instead
```python
import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds CUDA too


seed_everything(42)
model = Net()
```
With Lightning, `L.seed_everything(42, workers=True)`; with Accelerate,
`accelerate.utils.set_seed(42)`.

Seeding counts only where it runs on every run: a seeding call under an `if` (other than the
main guard or a test about the seed itself, `if args.seed is not None:`) does not, and
`torch.cuda.manual_seed(...)` seeds only the CUDA generators (the CPU generator initialises the
weights and shuffles the loader). Such a call is named in the evidence.

## Known problems
Seeding done in a file that is not reviewed, or through a helper whose name does not mention
"seed", is not seen. Seeding from a configuration file (`cfg.seed`) counts only when the call
that applies it is visible.

## References
- PyTorch, "Reproducibility": <https://pytorch.org/docs/stable/notes/randomness.html>
- `torch.manual_seed`: <https://pytorch.org/docs/stable/generated/torch.manual_seed.html>
- Lightning, "Reproducibility" (`seed_everything`): <https://lightning.ai/docs/pytorch/stable/common/trainer.html#reproducibility>
- Bouthillier et al., "Accounting for Variance in Machine Learning Benchmarks", MLSys 2021: <https://arxiv.org/abs/2103.03098>
"#,
    check: crate::project::no_file_check,
};

/// At least this many unseeded entry points side by side (one folder's scripts, or sibling
/// folders' copies: PyTorch-GAN's 32 `implementations/*/x.py`, modded-nanogpt's records) are
/// one habit: one finding at the first, the others as its related locations.
const GROUP_AT: usize = 3;

pub(crate) fn check_project(ctx: &mut ProjectContext) {
    let entries = ctx.facts.training_entry_points();
    let mut groups: Vec<(&Path, Vec<&EntryPoint>)> = Vec::new();
    for entry in &entries {
        if !unseeded(entry) {
            continue;
        }
        let key = sibling_root(&entry.file.path);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(entry),
            None => groups.push((key, vec![entry])),
        }
    }
    let mut grouped: Vec<&Path> = Vec::new();
    for (root, members) in groups.iter().filter(|(_, m)| m.len() >= GROUP_AT) {
        report_group(ctx, root, members);
        grouped.extend(members.iter().map(|e| e.file.path.as_path()));
    }
    for entry in &entries {
        if !grouped.contains(&entry.file.path.as_path()) {
            check_entry(ctx, entry);
        }
    }
}

/// The entry point trains and nothing it reaches seeds any generator.
fn unseeded(entry: &EntryPoint) -> bool {
    !entry.training_file.optimizes_inputs_only && !entry.reached.iter().any(|f| f.seeds_anything())
}

/// Where copies of a script sit side by side: the folder above the script's folder
/// (`implementations/` for `implementations/dcgan/dcgan.py`).
fn sibling_root(path: &Path) -> &Path {
    let folder = path.parent().unwrap_or(path);
    folder.parent().unwrap_or(folder)
}

fn report_group(ctx: &mut ProjectContext, root: &Path, members: &[&EntryPoint]) {
    let [first, rest @ ..] = members else {
        return;
    };
    let uses_lightning = members
        .iter()
        .any(|e| e.reached.iter().any(|f| f.uses_lightning));
    // The folder's own name: the project root's path is not known here, and a bare name
    // reads well in every output.
    let under = root
        .file_name()
        .map(|name| format!(" under `{}/`", name.to_string_lossy()))
        .unwrap_or_default();
    let message = format!(
        "{} training entry points{under} train without seeding torch, random or NumPy on every run (the first: `{}`; the others are listed as related locations): weight init, shuffling, dropout and augmentation differ from run to run",
        members.len(),
        display_name(first.file)
    );
    let fix = Fix::new("Seed every generator once, at the start of each entry point (a shared `seed_everything` helper)")
        .with_example(seed_example(uses_lightning));
    let finding = ctx.report(first.file, first.site, message, Some(fix));
    for entry in rest {
        finding.relate(
            entry.site.location.clone(),
            format!("`{}` trains here, unseeded too", display_name(entry.file)),
        );
    }
}

fn seeds(files: &[&FileFacts], rng: Rng) -> bool {
    files.iter().any(|f| f.seeds(rng))
}

fn check_entry(ctx: &mut ProjectContext, entry: &EntryPoint) {
    let files = &entry.reached;
    if entry.training_file.optimizes_inputs_only {
        return;
    }
    let name = display_name(entry.file);
    let where_trains = if entry.training_file.path == entry.file.path {
        String::new()
    } else {
        format!(" (through `{}`)", display_name(entry.training_file))
    };
    let uses_lightning = files.iter().any(|f| f.uses_lightning);
    if !files.iter().any(|f| f.seeds_anything()) {
        let message = format!(
            "training entry point `{name}` trains{where_trains} without seeding torch, random or NumPy on every run: weight init, shuffling, dropout and augmentation differ from run to run"
        );
        let fix = Fix::new("Seed every generator once, at the start of the entry point")
            .with_example(seed_example(uses_lightning));
        let partial: Vec<String> = files
            .iter()
            .filter_map(|f| {
                let (site, why) = f.partial_seeding.as_ref()?;
                Some(format!(
                    "`{}` in `{}`{} {why}",
                    site.label.lines().next().unwrap_or_default(),
                    display_name(f),
                    site.location
                        .span
                        .map(|s| format!(" line {}", s.start_line))
                        .unwrap_or_default()
                ))
            })
            .collect();
        let finding = ctx.report(entry.file, entry.site, message, Some(fix));
        finding.evidence.extend(partial);
        finding.evidence.push(format!(
            "looked for seeding in {}",
            files
                .iter()
                .map(|f| format!("`{}`", display_name(f)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return;
    }
    if !seeds(files, Rng::Torch) {
        return;
    }
    // Torch is seeded: is an unseeded NumPy or Python generator drawn from?
    let mut missing = Vec::new();
    if !seeds(files, Rng::Numpy) {
        if let Some((file, site)) = files
            .iter()
            .find_map(|f| f.numpy_random.as_ref().map(|s| (f, s)))
        {
            missing.push(("NumPy", "np.random.seed(seed)", *file, site));
        }
    }
    if !seeds(files, Rng::Python) {
        if let Some((file, site)) = files
            .iter()
            .find_map(|f| f.python_random.as_ref().map(|s| (f, s)))
        {
            missing.push(("random", "random.seed(seed)", *file, site));
        }
    }
    if missing.is_empty() {
        return;
    }
    let names: Vec<&str> = missing.iter().map(|m| m.0).collect();
    let calls: Vec<&str> = missing.iter().map(|m| m.1).collect();
    let message = format!(
        "training entry point `{name}` seeds torch but not {}, which it draws from: those random values still differ on every run",
        names.join(" or ")
    );
    let fix = Fix::new(format!(
        "Seed the other generators next to `torch.manual_seed`: {}",
        calls
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let finding = ctx.report_with_severity(entry.site, Severity::Info, message, Some(fix));
    for (lib, _, file, site) in missing {
        finding.evidence.push(format!(
            "{lib}: `{}` in `{}`{}",
            site.label.lines().next().unwrap_or_default(),
            display_name(file),
            site.location
                .span
                .map(|s| format!(" line {}", s.start_line))
                .unwrap_or_default()
        ));
    }
}

pub(crate) fn display_name(file: &FileFacts) -> String {
    file.path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

fn seed_example(lightning: bool) -> String {
    if lightning {
        return "import lightning as L\n\nL.seed_everything(42, workers=True)".to_string();
    }
    "import random\n\nimport numpy as np\nimport torch\n\n\ndef seed_everything(seed: int) -> None:\n    random.seed(seed)\n    np.random.seed(seed)\n    torch.manual_seed(seed)  # seeds CUDA too\n\n\nseed_everything(42)".to_string()
}
