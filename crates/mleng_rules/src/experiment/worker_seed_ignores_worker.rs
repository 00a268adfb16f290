use mleng_diagnostics::{Area, Fix, Severity};
use ruff_python_ast::Expr;
use ruff_text_size::Ranged;

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "EXP015",
    name: "worker-seed-ignores-worker",
    area: Area::Experiment,
    severity: Severity::Warning,
    fix: None,
    summary: "A DataLoader worker_init_fn seeds every worker with the same value.",
    docs: r#"## What it does
Finds a DataLoader worker initialisation function (`def worker_init_fn(worker_id, ...)`,
`def seed_worker(worker_id)`: a function whose name speaks of a worker and of init or seed,
whose first parameter is the worker id) that seeds `random`, NumPy or torch
(`random.seed`, `np.random.seed`, `torch.manual_seed`, `torch.cuda.manual_seed*`) with a value
that depends neither on the worker id nor on the per-worker seed PyTorch provides
(`torch.initial_seed()`, `get_worker_info().seed`), directly or through local variables.

## Why is this bad?
PyTorch gives each worker its own seed before calling `worker_init_fn` (and, since 1.9, seeds
NumPy from it). A `worker_init_fn` that then seeds every worker with the same value (the run's
seed, `rank + seed`) undoes that: all workers draw the same random numbers, so the samples that
workers prepare in parallel get the same crops, flips and noise, and the random augmentation
repeats with a period of `num_workers` samples. Nothing fails; augmentation is just much less
random than it looks.

## Example
```python
def worker_init_fn(worker_id, rank, seed):
    worker_seed = rank + seed
    random.seed(worker_seed)
    np.random.seed(worker_seed)
    torch.manual_seed(seed)
```

## Use instead
```python
def worker_init_fn(worker_id, rank, seed):
    worker_seed = rank * num_workers + worker_id + seed
    random.seed(worker_seed)
    np.random.seed(worker_seed)
    torch.manual_seed(worker_seed)
```
or, reproducible and distinct per worker: `np.random.seed(torch.initial_seed() % 2**32)`.
Not fixed automatically: how to mix rank, worker id and seed is the author's choice.

## References
- PyTorch, "Randomness in multi-process data loading" and the `seed_worker` recipe:
  <https://pytorch.org/docs/stable/data.html#randomness-in-multi-process-data-loading>,
  <https://pytorch.org/docs/stable/notes/randomness.html#dataloader>
- bubbliiiing/yolov4-pytorch, commit `9571c25`: `torch.manual_seed(seed)` in its
  `worker_init_fn` replaced by the per-worker seed.
"#,
    check,
};

/// Seeding calls, by qualified name.
const SEEDS: &[&str] = &[
    "random.seed",
    "numpy.random.seed",
    "torch.manual_seed",
    "torch.cuda.manual_seed",
    "torch.cuda.manual_seed_all",
];

fn is_worker_init_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.contains("worker") && (lower.contains("init") || lower.contains("seed"))
}

/// Is `expr` the same in every worker: literals, the other parameters, module-level names,
/// locals already known to be (`same`), their attributes and arithmetic on them?
fn same_in_every_worker(
    expr: &Expr,
    worker_param: &str,
    params: &[&str],
    locals: &[(&str, &Expr)],
    same: &[&str],
) -> bool {
    let recurse = |e: &Expr| same_in_every_worker(e, worker_param, params, locals, same);
    match expr {
        Expr::NumberLiteral(_) => true,
        Expr::Name(name) => {
            let id = name.id.as_str();
            id != worker_param
                && (params.contains(&id)
                    || same.contains(&id)
                    || !locals.iter().any(|(t, _)| *t == id))
        }
        Expr::Attribute(attr) => recurse(&attr.value),
        Expr::BinOp(op) => recurse(&op.left) && recurse(&op.right),
        Expr::UnaryOp(op) => recurse(&op.operand),
        _ => false,
    }
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    if !index.source.text.contains("worker") {
        return;
    }
    let mut reports = Vec::new();
    for (fid, function) in index.functions.iter().enumerate() {
        if !is_worker_init_name(function.name) {
            continue;
        }
        let Some(first) = function.def.parameters.args.first() else {
            continue;
        };
        let worker_param = first.parameter.name.as_str();
        if worker_param == "self" {
            continue;
        }
        // Locals whose value is the same in every worker: arithmetic on literals, on the other
        // parameters (the run's seed, the rank) and on module-level names, to a fixpoint. A
        // value from a call (`uuid.uuid4()`, `torch.initial_seed()`, `get_worker_info()`) or
        // from the worker id is not.
        let params: Vec<&str> = function
            .def
            .parameters
            .iter_non_variadic_params()
            .map(|p| p.parameter.name.as_str())
            .filter(|p| *p != worker_param)
            .collect();
        let locals: Vec<(&str, &Expr)> = index
            .bindings
            .iter()
            .filter(|b| b.function == Some(fid))
            .map(|b| (b.target.as_str(), b.value))
            .collect();
        let mut same: Vec<&str> = Vec::new();
        loop {
            let before = same.len();
            for (target, value) in &locals {
                if !same.contains(target)
                    && locals.iter().filter(|(t, _)| t == target).count() == 1
                    && same_in_every_worker(value, worker_param, &params, &locals, &same)
                {
                    same.push(target);
                }
            }
            if same.len() == before {
                break;
            }
        }
        let mut same_for_all = Vec::new();
        for (_, call) in index.calls_in_function(fid) {
            let Some(q) = call.qualified.as_deref() else {
                continue;
            };
            if !SEEDS.contains(&q) {
                continue;
            }
            let Some(arg) = call.arg(0).or_else(|| call.keyword("seed")) else {
                continue;
            };
            if matches!(arg, Expr::NumberLiteral(_))
                || !same_in_every_worker(arg, worker_param, &params, &locals, &same)
            {
                continue; // a literal is a deliberate choice; anything else may differ
            }
            let text = ctx.text(arg.range());
            same_for_all.push((call.range(), text));
        }
        // One function, one finding: at its first such call, the others related.
        let Some(&(first, text)) = same_for_all.first() else {
            continue;
        };
        let others = same_for_all.len() - 1;
        let more = match others {
            0 => String::new(),
            1 => " (and 1 more seeding call)".to_string(),
            n => format!(" (and {n} more seeding calls)"),
        };
        let message = format!(
            "`{}` in `{}` seeds every DataLoader worker with the same value (`{text}` does not depend on `{worker_param}`){more}: all workers draw the same random numbers, so their samples get the same augmentation",
            ctx.brief(first),
            function.name
        );
        let fix = Fix::new(format!(
            "Mix the worker id into the seed (`{text} + {worker_param}`), or seed from `torch.initial_seed() % 2**32`, which PyTorch sets per worker"
        ));
        let related: Vec<_> = same_for_all[1..]
            .iter()
            .map(|(range, text)| {
                (
                    ctx.location(*range),
                    format!("also the same for every worker: `{text}`"),
                )
            })
            .collect();
        reports.push((first, message, fix, related));
    }
    for (range, message, fix, related) in reports {
        let finding = ctx.report(range, message, Some(fix));
        for (location, note) in related {
            finding.relate(location, note);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_mentions() {
        assert!(is_worker_init_name("worker_init_fn"));
        assert!(is_worker_init_name("seed_worker"));
        assert!(!is_worker_init_name("init_weights"));
    }
}
