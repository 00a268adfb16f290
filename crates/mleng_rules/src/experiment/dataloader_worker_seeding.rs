use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::experiment::NUMPY_WORKER_RESEEDING_SINCE;
use mleng_python::index::{ClassId, FunctionId};
use mleng_python::SemanticIndex;
use ruff_python_ast::Expr;

use crate::context::Context;
use crate::project::ProjectContext;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "EXP006",
    name: "dataloader-worker-seeding",
    area: Area::Experiment,
    severity: Severity::Warning,
    fix: None,
    summary: "A Dataset draws augmentation randomness from a generator object it created in `__init__` (or from NumPy's global generator under PyTorch < 1.9): DataLoader workers replay the same numbers.",
    docs: r#"## What it does
Finds `Dataset` classes that create a random generator object in `__init__`
(`self.rng = np.random.default_rng(seed)`, `np.random.RandomState(...)`,
`random.Random(...)`) and draw from it in `__getitem__` / `__iter__` (or a method they call),
with no per-worker reseeding: no `worker_init_fn` anywhere in the reviewed project and no
`torch.utils.data.get_worker_info()` in the class.

Also, in a project whose requirement files pin PyTorch below 1.9 (`torch==1.8.1`,
`torch<1.9`), draws from NumPy's *global* generator (`np.random.rand()`,
`np.random.randint(...)`) in the data path of a `Dataset`, when the project creates a
`DataLoader` with `num_workers` other than 0 and passes no `worker_init_fn` anywhere.

## Why is this bad?
With `num_workers > 0`, each DataLoader worker receives a *copy* of the dataset, generator
state included. PyTorch reseeds `torch`, Python's global `random` and (since PyTorch 1.9)
NumPy's global generator in each worker, but it cannot know about a generator object stored
on the dataset. So:
- all workers draw the same sequence: worker 0's first sample and worker 1's first sample get
  the same crop, flip and noise;
- the dataset in the main process never draws, so its generator never advances: without
  `persistent_workers=True` the workers are re-created from it every epoch and the *same*
  augmentations repeat every epoch. Random augmentation silently becomes a fixed one.

Which PyTorch versions are affected: generator objects stored on the dataset, all versions.
NumPy's *global* generator (`np.random.rand` in `__getitem__`) was duplicated across workers
before PyTorch 1.9: each worker is a fork of the main process with the same NumPy state, and
the worker loop reseeded only `random` and `torch`, so all workers returned the same
"random" crops and noise (the widely reported bug of many public training repositories).
PyTorch 1.9 added NumPy seeding to the worker loop (pytorch/pytorch#56488, listed in the 1.9
release notes), so global `np.random` calls are only reported where the project pins an older
PyTorch. Python's global `random` has been reseeded per worker in all versions and is not
reported.

## Example
```python
class Noisy(Dataset):
    def __init__(self, x, seed=0):
        self.x = x
        self.rng = np.random.default_rng(seed)

    def __getitem__(self, i):
        return self.x[i] + self.rng.normal(0, 0.1, self.x[i].shape)

loader = DataLoader(Noisy(x), batch_size=32, num_workers=4)
```

## Use instead
```python
def seed_worker(worker_id):
    info = torch.utils.data.get_worker_info()
    # info.seed differs per worker and per epoch, and follows torch.manual_seed.
    info.dataset.rng = np.random.default_rng(info.seed)

loader = DataLoader(Noisy(x), batch_size=32, num_workers=4, worker_init_fn=seed_worker)
```
Or draw from `torch` (`torch.randn`, `torch.rand`), which each worker reseeds.

## Known problems
The rule does not know whether the dataset is used with `num_workers > 0`; with
`num_workers=0` the first problem does not arise but the generator still advances normally.

## References
- PyTorch, `torch.utils.data`, "Randomness in multi-process data loading": <https://pytorch.org/docs/stable/data.html#randomness-in-multi-process-data-loading>
- PyTorch FAQ, "My data loader workers return identical random numbers": <https://pytorch.org/docs/stable/notes/faq.html#my-data-loader-workers-return-identical-random-numbers>
- pytorch/pytorch#56488, "[DataLoader] Add Numpy seeding to worker of DataLoader" (PyTorch 1.9): <https://github.com/pytorch/pytorch/pull/56488>
- PyTorch, "Reproducibility: DataLoader": <https://pytorch.org/docs/stable/notes/randomness.html#dataloader>
- PyTorch 1.9.0 release notes ("DataLoader: add NumPy seeding to workers"): <https://github.com/pytorch/pytorch/releases/tag/v1.9.0>
"#,
    check: crate::project::no_file_check,
};

/// Confirms the per-file candidates unless some reviewed file passes a `worker_init_fn`.
pub(crate) fn check_project(ctx: &mut ProjectContext) {
    if ctx.facts.files.iter().any(|f| f.has_worker_init_fn) {
        return;
    }
    let candidates: Vec<_> = ctx.candidates().map(|(_, c)| c).collect();
    for candidate in candidates {
        ctx.confirm(candidate);
    }
    // NumPy's global generator in a Dataset, with workers, where the project pins a PyTorch
    // that did not reseed it per worker.
    let Some(loader) = ctx
        .facts
        .files
        .iter()
        .find_map(|f| f.multi_worker_loader.as_ref())
    else {
        return;
    };
    let loader_text = loader.text.split_whitespace().collect::<Vec<_>>().join(" ");
    let loader_where = format!(
        "{}:{}",
        loader
            .location
            .path
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().to_string()),
        loader.location.span.map_or(0, |s| s.start_line)
    );
    for file in &ctx.facts.files {
        let Some(draw) = file.dataset_numpy_draws.first() else {
            continue;
        };
        let Some(pin) = ctx
            .facts
            .requirements
            .torch_below(&file.path, NUMPY_WORKER_RESEEDING_SINCE)
        else {
            continue;
        };
        let pin_file = pin
            .file
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().to_string());
        let message = format!(
            "`{}` in `{}` draws from NumPy's global generator, and the project pins `{}` ({pin_file}): before PyTorch 1.9 DataLoader workers did not reseed NumPy, so every worker starts from the same NumPy state and workers (and, without persistent workers, epochs) repeat the same augmentations",
            draw.text.split_whitespace().collect::<Vec<_>>().join(" "),
            draw.label,
            pin.spec
        );
        let fix = Fix::new("Reseed NumPy in each worker with a `worker_init_fn` (or upgrade to PyTorch >= 1.9)")
            .with_example("def seed_worker(worker_id):\n    np.random.seed(torch.initial_seed() % 2**32)\n\nloader = DataLoader(dataset, num_workers=4, worker_init_fn=seed_worker)");
        let draw = draw.clone();
        let others = file.dataset_numpy_draws.len() - 1;
        let finding = ctx.report(file, &draw, message, Some(fix));
        finding
            .evidence
            .push(format!("workers: `{loader_text}` at {loader_where}"));
        if others > 0 {
            finding.evidence.push(format!(
                "{others} more global NumPy draw(s) in Datasets of this file"
            ));
        }
    }
}

/// Constructors of generator objects that workers do not reseed.
const GENERATOR_OBJECTS: &[&str] = &[
    "numpy.random.default_rng",
    "numpy.random.RandomState",
    "numpy.random.Generator",
    "random.Random",
];

/// Methods that are data-path entry points of a dataset.
const DATA_METHODS: &[&str] = &["__getitem__", "__getitems__", "__iter__"];

/// Methods that do not draw.
const NOT_DRAWS: &[&str] = &[
    "seed",
    "get_state",
    "set_state",
    "getstate",
    "setstate",
    "spawn",
];

pub(crate) fn candidates(ctx: &mut Context) {
    let index = ctx.index;
    if index
        .calls
        .iter()
        .any(|c| c.keyword("worker_init_fn").is_some())
    {
        return;
    }
    for (cid, class) in index.classes.iter().enumerate() {
        let is_dataset = class
            .bases
            .iter()
            .any(|b| b.rsplit('.').next().is_some_and(|n| n.ends_with("Dataset")));
        if !is_dataset || uses_worker_info(index, cid) {
            continue;
        }
        // `self.<attr>` bound to a generator object in this class.
        let generators: Vec<(String, String, ruff_text_size::TextRange)> = index
            .bindings
            .iter()
            .filter(|b| b.class == Some(cid) && b.target.starts_with("self."))
            .filter_map(|b| {
                let Expr::Call(call) = b.value else {
                    return None;
                };
                let q = index.qualified_name(&call.func)?;
                GENERATOR_OBJECTS
                    .contains(&q.as_str())
                    .then(|| (b.target.clone(), q, b.range))
            })
            .collect();
        if generators.is_empty() {
            continue;
        }
        let methods = data_path_methods(index, cid);
        for (attr, ctor, bound_at) in &generators {
            let draw = index.calls.iter().find(|c| {
                c.function.is_some_and(|f| methods.contains(&f))
                    && c.receiver.as_deref() == Some(attr.as_str())
                    && c.method.is_some_and(|m| !NOT_DRAWS.contains(&m))
            });
            let Some(draw) = draw else { continue };
            let draw_text = ctx.text(draw.range()).to_string();
            let short = ctor.rsplit('.').next().unwrap_or(ctor);
            let message = format!(
                "`{draw_text}` draws from `{attr}`, a `{short}` created once in `{}`: each DataLoader worker gets a copy with the same state, so workers repeat each other's random numbers, and without persistent workers every epoch replays the same ones",
                class.name
            );
            let fix = Fix::new(format!(
                "Reseed `{attr}` in each worker from `get_worker_info().seed` with a `worker_init_fn`, or draw from `torch`"
            ))
            .with_example(format!(
                "def seed_worker(worker_id):\n    info = torch.utils.data.get_worker_info()\n    info.dataset.{} = {}(info.seed)\n\nloader = DataLoader(dataset, num_workers=4, worker_init_fn=seed_worker)",
                attr.trim_start_matches("self."),
                match short {
                    "Random" => "random.Random",
                    "RandomState" => "np.random.RandomState",
                    _ => "np.random.default_rng",
                }
            ));
            let created = ctx.where_is(*bound_at);
            let finding = ctx.report(draw.range(), message, Some(fix));
            finding
                .evidence
                .push(format!("`{attr}` created at {created}"));
        }
    }
}

pub(crate) fn uses_worker_info(index: &SemanticIndex, class: ClassId) -> bool {
    index.calls.iter().any(|c| {
        c.class == Some(class)
            && c.qualified
                .as_deref()
                .is_some_and(|q| q.ends_with("get_worker_info"))
    })
}

/// `__getitem__`/`__iter__` of the class and the methods they call on `self` (one level).
pub(crate) fn data_path_methods(index: &SemanticIndex, class: ClassId) -> Vec<FunctionId> {
    let methods = &index.classes[class].methods;
    let mut out: Vec<FunctionId> = methods
        .iter()
        .copied()
        .filter(|&f| DATA_METHODS.contains(&index.functions[f].name))
        .collect();
    let roots = out.clone();
    for root in roots {
        for (_, call) in index.calls_in_function(root) {
            if call.receiver.as_deref() != Some("self") {
                continue;
            }
            let Some(name) = call.method else { continue };
            for &m in methods {
                if index.functions[m].name == name && !out.contains(&m) {
                    out.push(m);
                }
            }
        }
    }
    out
}
