use std::collections::HashSet;

use mleng_diagnostics::{Area, Fix, Severity};
use mleng_python::index::training::{helper_targets, TrainingScope};
use mleng_python::index::FunctionId;
use ruff_text_size::Ranged;

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "TRN013",
    name: "distributed-sampler-without-set-epoch",
    area: Area::Training,
    severity: Severity::Warning,
    fix: None,
    summary: "A DistributedSampler is used across epochs but sampler.set_epoch(epoch) is never called: every epoch sees the same order.",
    docs: r#"## What it does
Finds files that build a `torch.utils.data.distributed.DistributedSampler` and train over several
epochs (a loop around the batch loop, or around a call to a local training function) but never
call `set_epoch` on anything.

## Why is this bad?
`DistributedSampler` shuffles with a generator seeded by `seed + epoch`. Without
`sampler.set_epoch(epoch)` the epoch stays 0, so every epoch uses the *same* permutation, and each
rank sees the same shard in the same order every epoch. The model trains on a fixed ordering, which
hurts generalisation the way disabling shuffling does.

## Example
```python
sampler = DistributedSampler(dataset)
loader = DataLoader(dataset, batch_size=64, sampler=sampler)
for epoch in range(epochs):
    for x, y in loader:
        ...
```

## Use instead
```python
sampler = DistributedSampler(dataset)
loader = DataLoader(dataset, batch_size=64, sampler=sampler)
for epoch in range(epochs):
    sampler.set_epoch(epoch)
    for x, y in loader:
        ...
```

## Known problems
Frameworks that call `set_epoch` for you (Lightning, Accelerate, Ignite, composer) are skipped
when the file imports them. A `set_epoch` call in another module is not seen; a sampler (or
its loader) handed to a function inside the epoch loop is assumed to be set there.

## References
- PyTorch `DistributedSampler` ("calling the set_epoch() method at the beginning of each epoch before creating the DataLoader iterator is necessary to make shuffling work properly across multiple epochs"): <https://pytorch.org/docs/stable/data.html#torch.utils.data.distributed.DistributedSampler>
"#,
    check,
};

const SAMPLERS: &[&str] = &[
    "torch.utils.data.distributed.DistributedSampler",
    "torch.utils.data.DistributedSampler",
];

fn check(ctx: &mut Context) {
    let index = ctx.index;
    if !index.source.text.contains("DistributedSampler") {
        return;
    }
    if ctx.is_test_file()
        || index.imports_any(&[
            "lightning",
            "pytorch_lightning",
            "accelerate",
            "ignite",
            "composer",
        ])
        || index.source.text.contains("set_epoch")
    {
        return;
    }
    let Some(sampler) = index.calls.iter().find(|c| {
        c.qualified
            .as_deref()
            .is_some_and(|q| SAMPLERS.contains(&q))
            && c.keyword("shuffle")
                .and_then(mleng_python::index::literals::boolean)
                != Some(false)
    }) else {
        return;
    };
    let Some(epoch_loop) = epoch_loop(ctx) else {
        return;
    };
    let name = index
        .bindings
        .iter()
        .find(|b| b.range.contains_range(sampler.range()))
        .map(|b| {
            if b.value.range() == sampler.range() || matches!(b.value, ruff_python_ast::Expr::If(_))
            {
                b.target.clone()
            } else {
                format!("{}.sampler", b.target)
            }
        })
        .unwrap_or_else(|| "sampler".into());
    // The sampler handed to a function in the epoch loop (`train(..., sampler=sampler1)`,
    // pytorch/examples' FSDP T5 script, whose `train` calls `sampler.set_epoch(epoch)` in
    // another file): that function may set the epoch.
    let loop_range = index.loops[epoch_loop].range;
    let sampler_var = name.strip_suffix(".sampler").unwrap_or(&name).to_string();
    // (A DataLoader rebuilt in the loop with `sampler=` sets no epoch: bubbliiiing's YOLOv4
    // re-creates its loaders when it unfreezes the backbone.)
    let handed = index.calls.iter().any(|c| {
        loop_range.contains_range(c.range())
            && !c
                .qualified
                .as_deref()
                .is_some_and(|q| mleng_knowledge::experiment::DATA_LOADERS.contains(&q))
            && c.argument_values().any(|a| {
                mleng_python::index::literals::dotted(a)
                    .is_some_and(|d| d == name || d == sampler_var)
            })
    });
    if handed {
        return;
    }
    let header = ctx.brief(index.loops[epoch_loop].header);
    let message = format!(
        "the epoch loop `{header}` never calls `{name}.set_epoch(...)` on its DistributedSampler (built {}): every epoch replays the same shuffled order",
        ctx.where_is(sampler.range())
    );
    let fix = Fix::new(format!(
        "Call `{name}.set_epoch(epoch)` at the start of every epoch"
    ))
    .with_example(format!("{header}:\n    {name}.set_epoch(epoch)\n    ..."));
    // Where the fix goes: the epoch loop, before the loader is iterated (the epoch's training
    // call, or the batch loop): in a long epoch loop that is far from its header.
    let loaders: Vec<&str> = index
        .bindings
        .iter()
        .filter(|b| {
            matches!(b.value, ruff_python_ast::Expr::Call(c) if c
                .arguments
                .keywords
                .iter()
                .any(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == "sampler")
                    && mleng_python::index::literals::dotted(&k.value).as_deref()
                        == Some(sampler_var.as_str())))
        })
        .map(|b| b.target.as_str())
        .collect();
    let first_use = index
        .calls
        .iter()
        .filter(|c| loop_range.contains_range(c.range()))
        .filter(|c| {
            !c.qualified
                .as_deref()
                .is_some_and(|q| mleng_knowledge::experiment::DATA_LOADERS.contains(&q))
        })
        .filter(|c| {
            c.argument_values().any(|a| {
                mleng_python::index::literals::dotted(a)
                    .is_some_and(|d| loaders.contains(&d.as_str()))
            })
        })
        .map(|c| c.range())
        .chain(
            index
                .loops
                .iter()
                .filter(|l| loop_range.contains_range(l.range) && l.range != loop_range)
                .filter(|l| {
                    l.iterates_over
                        .as_deref()
                        .is_some_and(|it| loaders.contains(&it))
                })
                .map(|l| l.header),
        )
        .min_by_key(|r| r.start());
    let use_location = first_use.map(|r| ctx.location(r));
    let finding = ctx.report(index.loops[epoch_loop].header, message, Some(fix));
    if let Some(location) = use_location {
        finding.relate(
            location,
            format!(
                "the epoch first uses the loader here: `{name}.set_epoch(epoch)` goes before this"
            ),
        );
    }
}

/// A loop that contains a batch training loop, or calls a local function that trains.
fn epoch_loop(ctx: &Context) -> Option<usize> {
    let index = ctx.index;
    let training_functions: HashSet<FunctionId> = index
        .training_loops
        .iter()
        .filter_map(|lp| lp.function)
        .collect();
    for tl in &index.training_loops {
        if let TrainingScope::Loop(lid) = tl.scope {
            if let Some(parent) = index.loops[lid].parent {
                return Some(parent);
            }
        }
    }
    for (id, call) in index.calls.iter().enumerate() {
        let Some(&lid) = call.loops.last() else {
            continue;
        };
        let class = call.function.and_then(|f| index.functions[f].class);
        if helper_targets(index, id, class)
            .iter()
            .any(|f| training_functions.contains(f))
        {
            return Some(lid);
        }
    }
    // A training function of another file (`fit_one_epoch` from `utils/utils_fit.py`), as the
    // project model summarises it.
    for (id, call) in index.calls.iter().enumerate() {
        let Some(&lid) = call.loops.last() else {
            continue;
        };
        if let Some(symbol @ mleng_project::Symbol::Function(..)) = ctx.resolve_call(id) {
            if ctx.project.behaviour(symbol).trains() {
                return Some(lid);
            }
        }
    }
    None
}
