use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_knowledge::experiment::Rng;
use ruff_text_size::Ranged;

use crate::context::Context;
use crate::project::{EntryPoint, ProjectContext};
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "EXP009",
    name: "nondeterministic-setup",
    area: Area::Experiment,
    severity: Severity::Info,
    fix: Some(Applicability::Unsafe),
    summary: "Seeds are set for reproducibility but cuDNN benchmarking / nondeterministic kernels stay on, or `random_split` / shuffling samplers draw from the global generator.",
    docs: r#"## What it does
Two things that make seeded runs differ anyway:
- In a training entry point that seeds torch *and says runs must be reproducible* (a comment
  mentioning reproducibility or determinism), `torch.backends.cudnn.benchmark = True`, or no
  `torch.use_deterministic_algorithms(True)` / `torch.backends.cudnn.deterministic = True`
  anywhere in the files it runs. Reported once per entry point.
- `torch.utils.data.random_split(dataset, lengths)` without `generator=`: the split draws
  from the global torch generator, anywhere.
- In a training entry point that seeds torch and states that runs must be reproducible (a
  comment, or deterministic algorithms turned on), shuffling without a seeded generator of its
  own: `RandomSampler`, `SubsetRandomSampler`, `WeightedRandomSampler` without `generator=`, or
  `DataLoader(..., shuffle=True)` without `generator=`, in the entry point or the files it
  calls into. Reported once per entry point, at the first one, with the others as evidence.

## Why is this bad?
Seeding fixes the random numbers, not the arithmetic. With `cudnn.benchmark = True` cuDNN
times several convolution algorithms on the first batch and keeps the fastest, which can
differ from run to run; many CUDA kernels (`index_add_`, `scatter_add_`, the backward of
`F.interpolate` and of embedding bags) use atomic adds whose order varies. Two seeded runs
then diverge after a few hundred steps. PyTorch's reproducibility notes list
`torch.use_deterministic_algorithms(True)` and `cudnn.benchmark = False` as the required
settings.

`random_split` without its own generator takes whatever state the global generator is in:
initialising a different model, or adding one random augmentation before the split, changes
which samples land in the validation set, so two runs being compared are evaluated on
different data. Shuffling samplers do the same every epoch: `RandomSampler.__iter__` draws its
seed from the global generator when it has no `generator`, so the data order of a seeded run
changes as soon as anything before it draws one more random number (a layer added to the
model, a different initialisation). Ablations then differ in data order as well as in the
change being measured. PyTorch's reproducibility notes pass a seeded `generator` to the
`DataLoader` for this reason.

## Example
```python
# seed everything for reproducibility
torch.manual_seed(0)
torch.backends.cudnn.benchmark = True
train_set, val_set = random_split(dataset, [0.9, 0.1])
loader = DataLoader(train_set, batch_size=64, shuffle=True)
```

## Use instead
```python
# seed everything for reproducibility
torch.manual_seed(0)
torch.backends.cudnn.benchmark = False
torch.use_deterministic_algorithms(True)  # needs CUBLAS_WORKSPACE_CONFIG=:4096:8 on CUDA
train_set, val_set = random_split(
    dataset, [0.9, 0.1], generator=torch.Generator().manual_seed(42)
)
loader = DataLoader(
    train_set, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(42)
)
```

## Known problems
Deterministic algorithms are slower, and some operations raise an error in deterministic mode;
the rule only asks for them where the code says reproducibility is the goal.

## Fix
Unsafe: a seeded `generator=torch.Generator().manual_seed(42)` is added (or `cudnn.benchmark`
turned off). The split or order changes once, and `torch` must be imported under that name; pick
your own seed.

## References
- PyTorch, "Reproducibility" (cuDNN benchmarking, `use_deterministic_algorithms`): <https://pytorch.org/docs/stable/notes/randomness.html>
- `torch.use_deterministic_algorithms` (list of nondeterministic operations): <https://pytorch.org/docs/stable/generated/torch.use_deterministic_algorithms.html>
- `torch.utils.data.random_split` (the `generator` argument): <https://pytorch.org/docs/stable/data.html#torch.utils.data.random_split>
- PyTorch, "Reproducibility: DataLoader" (seeded `generator` for the loader): <https://pytorch.org/docs/stable/notes/randomness.html#dataloader>
- `torch.utils.data` samplers (`RandomSampler`, `SubsetRandomSampler`, `WeightedRandomSampler`): <https://pytorch.org/docs/stable/data.html#data-loading-order-and-sampler>
"#,
    check,
};

const RANDOM_SPLIT: &[&str] = &[
    "torch.utils.data.random_split",
    "torch.utils.data.dataset.random_split",
];

/// The per-file half: `random_split` without a generator.
fn check(ctx: &mut Context) {
    let index = ctx.index;
    for call in index.calls_resolving(|q| RANDOM_SPLIT.contains(&q)) {
        if call.keyword("generator").is_some() || call.arg(2).is_some() {
            continue;
        }
        let text = ctx.text(call.range()).to_string();
        let func = ctx.text(call.expr.func.range()).to_string();
        let message = format!(
            "`{func}(...)` has no `generator=`: the split depends on how many random numbers were drawn before it (model init, augmentations), so compared runs can validate on different samples"
        );
        let fix = Fix::new("Give the split its own seeded generator").with_replacement(
            crate::context::with_keyword(&text, "generator=torch.Generator().manual_seed(42)"),
        );
        ctx.report(call.range(), message, Some(fix));
    }
}
/// The project half: reproducibility stated, seeds set, determinism not; and shuffling that
/// does not have its own seeded generator where reproducibility is stated.
pub(crate) fn check_project(ctx: &mut ProjectContext) {
    for entry in ctx.facts.training_entry_points() {
        unseeded_shuffles(ctx, &entry);
    }
    for entry in ctx.facts.training_entry_points() {
        let files = &entry.reached;
        let Some(statement) = files.iter().find_map(|f| f.states_reproducible.as_ref()) else {
            continue;
        };
        if !files.iter().any(|f| f.seeds(Rng::Torch)) {
            continue;
        }
        let deterministic = files.iter().any(|f| f.determinism.is_some());
        let benchmark = files.iter().find_map(|f| f.cudnn_benchmark.as_ref());
        let statement_text = statement.text.trim().to_string();
        match (deterministic, benchmark) {
            (_, Some(site)) if !deterministic => {
                let message = format!(
                    "`{}` lets cuDNN pick the fastest kernels per run although the code asks for reproducibility (`{statement_text}`): seeded runs can still differ",
                    site.text.trim()
                );
                let fix = Fix::new("Turn benchmarking off and deterministic algorithms on")
                    .with_replacement("torch.backends.cudnn.benchmark = False");
                ctx.report(entry.file, site, message, Some(fix));
            }
            (false, None) => {
                let message = format!(
                    "the code asks for reproducibility (`{statement_text}`) and seeds torch, but nondeterministic CUDA kernels stay allowed (no `torch.use_deterministic_algorithms(True)` or `cudnn.deterministic = True`): seeded GPU runs can still differ"
                );
                let fix = Fix::new("Enable deterministic algorithms next to the seeding")
                    .with_example("torch.use_deterministic_algorithms(True)\ntorch.backends.cudnn.benchmark = False\n# and set CUBLAS_WORKSPACE_CONFIG=:4096:8 in the environment on CUDA");
                ctx.report(entry.file, statement, message, Some(fix));
            }
            _ => {}
        }
    }
}

/// Samplers and `DataLoader(shuffle=True)` with no generator of their own, in an entry point
/// that seeds torch and states that runs must be reproducible (a comment, or deterministic
/// algorithms turned on). Reported once per entry point, at the first one.
fn unseeded_shuffles(ctx: &mut ProjectContext, entry: &EntryPoint) {
    let files = &entry.reached;
    if !files.iter().any(|f| f.seeds(Rng::Torch)) {
        return;
    }
    let Some(statement) = files
        .iter()
        .find_map(|f| f.states_reproducible.as_ref().or(f.determinism.as_ref()))
    else {
        return;
    };
    let mut sites = files.iter().flat_map(|f| f.unseeded_shuffles.iter());
    let Some(first) = sites.next() else { return };
    let others: Vec<String> = sites
        .map(|s| format!("also `{}` at {}", s.label, where_of(s)))
        .collect();
    let text = first.label.clone();
    let is_loader = !text.contains("Sampler");
    let what = if is_loader {
        "shuffles with a `RandomSampler` that has"
    } else {
        "has"
    };
    let message = format!(
        "`{text}` {what} no seeded `generator=`: each epoch's order is drawn from the global torch generator, so it shifts with every random draw before it (model init, augmentation, a changed layer); the run is marked reproducible (`{}`), but two variants being compared see their data in different orders",
        crate::context::one_line(&statement.text, 80)
    );
    let fix = Fix::new("Give the shuffling its own seeded generator").with_replacement(
        crate::context::with_keyword(&first.text, "generator=torch.Generator().manual_seed(42)"),
    );
    let first = first.clone();
    let finding = ctx.report(entry.file, &first, message, Some(fix));
    finding.evidence.extend(others);
}

fn where_of(site: &crate::project::Site) -> String {
    let file = site
        .location
        .path
        .file_name()
        .map_or(String::new(), |n| n.to_string_lossy().to_string());
    match (site.location.cell, site.location.span) {
        (Some(cell), Some(span)) => format!("{file} cell {cell}, line {}", span.start_line),
        (None, Some(span)) => format!("{file}:{}", span.start_line),
        _ => file,
    }
}
