use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_python::index::literals::{dotted, number, string};
use mleng_python::index::{FunctionId, LoopId};
use ruff_python_ast::Expr;
use ruff_text_size::Ranged;

use super::loaders::{
    argument, dataset_of, iterating_loops, keyword, loaders, parameters, passed_to, Loader,
    NUM_WORKERS_POSITION,
};
use crate::context::{with_keyword, Context};
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "PRF008",
    name: "loader-workers-restarted-every-epoch",
    area: Area::Performance,
    severity: Severity::Info,
    fix: Some(Applicability::Unsafe),
    summary: "A DataLoader with worker processes is iterated once per epoch without `persistent_workers=True`: its workers are started again, and the dataset copied to them, every epoch.",
    docs: r#"## What it does
Finds a `DataLoader` built in the project with `num_workers` above 0 and no
`persistent_workers` argument (a number, a name bound only to positive counts such as
`NUM_WORKERS = os.cpu_count()`, or `args.workers` whose `--workers` option is declared in the
file with a positive default), iterated once per iteration of an outer loop (an epoch loop):
a `for batch in loader:` loop nested in another loop of the same file, or the loader passed,
inside a loop, to a function of the project that trains or evaluates (`train_one_epoch(model,
loader, ...)` in another file). A loader built inside that outer loop (a new loader every
epoch gains nothing from persistent workers), one whose dataset the outer loop changes
(`train_set.set_epoch(epoch)`, `loader.dataset.resample()`, an attribute assigned), an outer
loop that does not repeat (`for i in range(1):`), and a `num_workers` whose value is not
visible (a configuration, a function parameter) are not reported.

## Why is this bad?
Each `iter(loader)` (each epoch's `for` loop) of a loader with `persistent_workers=False`, the
default, starts `num_workers` new processes, which import the modules again under the `spawn`
start method, receive a copy of the dataset object (pickled, with `spawn`) and must each
prefetch their first batches before the first step of the epoch can run; at the end of the
epoch they are shut down. With `persistent_workers=True` the workers stay alive between
epochs and the next epoch starts from warm workers. The cost is per epoch, so it matters most
for short epochs, many workers, large dataset objects or the `spawn` start method (Windows,
macOS); Lightning prints a warning for the same case.

The effect is documented (the `DataLoader` reference); it was not measured here (no GPU).

## Example
```python
train_loader = DataLoader(train_set, batch_size=64, shuffle=True, num_workers=8)
for epoch in range(epochs):
    for images, labels in train_loader:
        ...
```

## Use instead
```python
train_loader = DataLoader(train_set, batch_size=64, shuffle=True, num_workers=8,
                          persistent_workers=True)
```

## Fix
Unsafe: `persistent_workers=True` is added to the `DataLoader(...)` call
(`persistent_workers=args.workers > 0` when the count is an option, since
`persistent_workers=True` with 0 workers raises). The workers then
keep their copy of the dataset across epochs: changes the main process makes to the dataset
object between epochs no longer reach them (use a sampler, or recreate the loader, for
per-epoch changes), and their memory stays held between epochs, during evaluation too.

## References
- `torch.utils.data.DataLoader` (`persistent_workers`: "If True, the data loader will not shut down the worker processes after a dataset has been consumed once"): <https://pytorch.org/docs/stable/data.html#torch.utils.data.DataLoader>
- `torch.utils.data`, "Multi-process data loading": <https://pytorch.org/docs/stable/data.html#multi-process-data-loading>
- PyTorch Performance Tuning Guide, "Enable async data loading and augmentation": <https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html>
"#,
    check,
};

/// The outer loop `lid` changes the loader's dataset: a method called on it, or an attribute
/// assigned (`train_set.set_epoch(epoch)`, `loader.dataset.resample()`).
fn changes_dataset(ctx: &Context, loader: &Loader, lid: LoopId) -> bool {
    let index = ctx.index;
    let dataset = dataset_of(loader)
        .and_then(dotted)
        .unwrap_or_else(|| "\0".to_string());
    let through_loader = format!("{}.dataset", loader.target);
    let touches = |dotted: &str| {
        dotted == through_loader
            || dotted.starts_with(&format!("{through_loader}."))
            || dotted == dataset
            || dotted.starts_with(&format!("{dataset}."))
    };
    let range = index.loops[lid].range;
    index.calls.iter().any(|c| {
        c.loops.contains(&lid) && c.method.is_some() && c.receiver.as_deref().is_some_and(touches)
    }) || index
        .bindings
        .iter()
        .any(|b| range.contains_range(b.range) && b.target.contains('.') && touches(&b.target))
}

/// `for i in range(0):` / `range(1)`: an outer loop that does not repeat.
fn runs_at_most_once(ctx: &Context, lid: LoopId) -> bool {
    let header: String = ctx
        .text(ctx.index.loops[lid].header)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    header.ends_with("inrange(0)") || header.ends_with("inrange(1)")
}

/// How many workers a loader starts, when we can tell it is more than zero.
enum Workers {
    /// `num_workers=8`.
    Literal(f64),
    /// `num_workers=args.workers` with `--workers` defaulting to 8 in this file, or a name
    /// bound only to positive counts (`NUM_WORKERS = os.cpu_count()`).
    Variable { text: String, value: String },
}

/// Calls that return a positive count of CPUs.
const CPU_COUNTS: &[&str] = &["os.cpu_count", "multiprocessing.cpu_count"];

/// A positive worker count: a number above zero, or the machine's CPU count.
fn positive(ctx: &Context, value: &Expr) -> Option<String> {
    if let Some(n) = number(value) {
        return (n > 0.0).then(|| n.to_string());
    }
    let Expr::Call(call) = value else {
        return None;
    };
    ctx.index
        .qualified_name(&call.func)
        .filter(|q| CPU_COUNTS.contains(&q.as_str()))
        .map(|q| format!("`{q}()`"))
}

/// The default of the command-line option `--<attr>` (or `--<attr with dashes>`) declared in
/// this file with `add_argument`.
fn option_default(ctx: &Context, attr: &str) -> Option<String> {
    let dashed = attr.replace('_', "-");
    ctx.index.calls.iter().find_map(|c| {
        if c.method != Some("add_argument") {
            return None;
        }
        let names_it = c.expr.arguments.args.iter().filter_map(string).any(|s| {
            let s = s.trim_start_matches('-');
            s == attr || s == dashed
        }) || c.keyword("dest").and_then(string) == Some(attr);
        if !names_it {
            return None;
        }
        positive(ctx, c.keyword("default")?)
    })
}

fn is_parameter(ctx: &Context, function: Option<FunctionId>, name: &str) -> bool {
    function.is_some_and(|f| parameters(ctx.index.functions[f].def).any(|p| p == name))
}

fn worker_count(ctx: &Context, loader: &Loader, value: &Expr) -> Option<Workers> {
    if let Some(n) = number(value) {
        return (n > 0.0).then_some(Workers::Literal(n));
    }
    let text = ctx.text(value.range()).to_string();
    let default = match value {
        Expr::Name(name) => {
            // A parameter of the loader's function: the caller decides.
            if is_parameter(ctx, loader.function, name.id.as_str()) {
                return None;
            }
            // Every binding of the name in the loader's function and at module level.
            let values: Vec<&Expr> = ctx
                .index
                .bindings
                .iter()
                .filter(|b| {
                    b.target == name.id.as_str()
                        && (b.function == loader.function || b.function.is_none())
                })
                .map(|b| b.value)
                .collect();
            let counts: Option<Vec<String>> = values.iter().map(|v| positive(ctx, v)).collect();
            format!("= {}", counts.and_then(|c| c.into_iter().next())?)
        }
        Expr::Attribute(attr) => format!("{} by default", option_default(ctx, attr.attr.as_str())?),
        _ => return None,
    };
    Some(Workers::Variable {
        text,
        value: default,
    })
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    if ctx.is_test_file() {
        return;
    }
    for loader in loaders(ctx) {
        let call = loader.call;
        let Some(workers) = argument(call, "num_workers", NUM_WORKERS_POSITION)
            .and_then(|w| worker_count(ctx, &loader, w))
        else {
            continue;
        };
        if keyword(call, "persistent_workers").is_some() {
            continue;
        }
        let target = loader.target;
        // The outer loop that iterates the loader once per iteration, and the line that does.
        let outer_of = |lid: LoopId| {
            let outer = index.loops[lid].parent?;
            (!index.loops[outer].range.contains_range(loader.range)).then_some(outer)
        };
        let site = iterating_loops(ctx, &loader)
            .into_iter()
            .find_map(|lid| Some((outer_of(lid)?, index.loops[lid].header)))
            .or_else(|| {
                passed_to(ctx, &loader).into_iter().find_map(|(id, b)| {
                    let c = &index.calls[id];
                    let outer = *c.loops.last()?;
                    let works = b.trains() || b.disables_grad || b.moves_batches;
                    (works && !index.loops[outer].range.contains_range(loader.range))
                        .then_some((outer, c.range()))
                })
            });
        let Some((outer, at)) = site else {
            continue;
        };
        if changes_dataset(ctx, &loader, outer) || runs_at_most_once(ctx, outer) {
            continue;
        }
        let (count, added) = match &workers {
            Workers::Literal(n) => (format!("{n}"), "persistent_workers=True".to_string()),
            // `persistent_workers=True` with 0 workers raises: keep it off when the option is 0.
            Workers::Variable { text, value } => (
                format!("`{text}` ({value})"),
                format!("persistent_workers={text} > 0"),
            ),
        };
        let message = format!(
            "`{target}` starts its {count} worker processes again on every iteration of the loop at {} (it is iterated at {}): without `persistent_workers=True` they are shut down and restarted, and the dataset copied to them, every epoch",
            ctx.where_is(index.loops[outer].header),
            ctx.where_is(at),
        );
        let fix = Fix::new("Keep the workers alive between epochs")
            .with_replacement(with_keyword(ctx.text(call.range()), &added));
        ctx.report(call.range(), message, Some(fix));
    }
}
