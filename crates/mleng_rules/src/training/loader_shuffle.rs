use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_python::index::literals::boolean;
use ruff_python_ast::Expr;
use ruff_text_size::Ranged;

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "TRN019",
    name: "train-loader-not-shuffled",
    area: Area::Training,
    severity: Severity::Warning,
    fix: Some(Applicability::Unsafe),
    summary: "A training DataLoader without shuffle=True or a sampler (warning); an evaluation DataLoader with shuffle=True (info).",
    docs: r#"## What it does
Finds `torch.utils.data.DataLoader(...)` assigned to a name that says it is for training
(`train_loader`, `train_dl`, `trainloader`) that neither passes `shuffle` nor a `sampler` /
`batch_sampler`, so the default `shuffle=False` applies; and, as info, loaders named for
evaluation (`val_loader`, `test_loader`, `eval_dataloader`) with `shuffle=True`. It also
reports (as an error) a `shuffle=` that is true only when the sampler passed as `sampler=` is
not None (`shuffle=cfg.SHUFFLE and sampler is not None`): with a sampler DataLoader raises
`ValueError`, without one the loader never shuffles.

## Why is this bad?
Without shuffling, every epoch presents the batches in the same order, and datasets stored by
class or by source (ImageFolder sorts by class) produce batches of one class at a time: the
gradient then points at "predict this class" for hundreds of steps, BatchNorm statistics swing
with it, and SGD's convergence assumptions (independent samples) do not hold. Training is slower
and ends worse. Shuffling an evaluation loader changes nothing in the metrics but makes per-batch
outputs (saved predictions, plots) impossible to match to inputs across runs.

## Example
```python
train_loader = DataLoader(train_set, batch_size=64, num_workers=4)
```

## Use instead
```python
train_loader = DataLoader(train_set, batch_size=64, shuffle=True, num_workers=4)
```

## Known problems
An explicit `shuffle=False` is taken as deliberate and not reported. Files that use an
`IterableDataset`, streaming datasets or WebDataset (which the loader cannot shuffle) are
skipped; an iterable dataset defined in another module is not recognised.

## Fix
Unsafe: `shuffle=True` is added to (or replaces `shuffle=False` in) the training loader. The
data order changes, and an `IterableDataset` or a custom sampler cannot be combined with
`shuffle=True`.

## References
- PyTorch `DataLoader` (`shuffle` default False): <https://pytorch.org/docs/stable/data.html#torch.utils.data.DataLoader>
- Bottou, *Stochastic Gradient Descent Tricks* (shuffle the examples), 2012: <https://leon.bottou.org/publications/pdf/tricks-2012.pdf>
"#,
    check,
};

fn words(target: &str) -> Vec<String> {
    let last = target
        .rsplit('.')
        .next()
        .unwrap_or(target)
        .to_ascii_lowercase();
    last.split('_').map(str::to_string).collect()
}

fn is_train_name(target: &str) -> bool {
    let w = words(target);
    w.iter()
        .any(|p| p == "train" || p == "trainloader" || p == "training")
        && !w
            .iter()
            .any(|p| matches!(p.as_str(), "val" | "valid" | "eval" | "test"))
}

fn is_eval_name(target: &str) -> bool {
    let w = words(target);
    w.iter().any(|p| {
        matches!(
            p.as_str(),
            "val" | "valid" | "validation" | "eval" | "test" | "testloader" | "valloader"
        )
    }) && !w.iter().any(|p| p == "train")
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    if !index.source.text.contains("DataLoader") {
        return;
    }
    let text = &index.source.text;
    let iterable = [
        "IterableDataset",
        "streaming=True",
        "WebDataset",
        "webdataset",
        "IterDataPipe",
    ];
    if ctx.is_test_file() || iterable.iter().any(|m| text.contains(m)) {
        return;
    }
    for binding in &index.bindings {
        let Expr::Call(call) = binding.value else {
            continue;
        };
        if !index
            .qualified_name(&call.func)
            .is_some_and(|q| mleng_knowledge::experiment::DATA_LOADERS.contains(&q.as_str()))
        {
            continue;
        }
        let kw = |name: &str| {
            call.arguments
                .keywords
                .iter()
                .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == name))
                .map(|k| &k.value)
        };
        // `**kwargs` may carry `shuffle` or a sampler; an explicit `shuffle=True` it cannot
        // override (a repeated keyword is a TypeError).
        let splat = call.arguments.keywords.iter().any(|k| k.arg.is_none());
        // DataLoader(dataset, batch_size, shuffle, sampler, batch_sampler, ...)
        let shuffle = kw("shuffle").or_else(|| call.arguments.args.get(2));
        let has_sampler = kw("sampler").is_some()
            || kw("batch_sampler").is_some()
            || call.arguments.args.len() > 3;
        let target = &binding.target;
        let call_range = call.range();
        // `shuffle=cfg.SHUFFLE and sampler is not None` with `sampler=sampler` (HRNet's
        // train.py before its fix): shuffle is on exactly when a sampler is given, which
        // DataLoader rejects, and off when none is: the single-GPU run never shuffles.
        let sampler = kw("sampler").and_then(mleng_python::index::literals::dotted);
        if let (Some(shuffle), Some(sampler)) = (shuffle, sampler.as_deref()) {
            if let Some(test) = true_when_present(shuffle, sampler) {
                let message = format!(
                    "`shuffle={}` is true only when `{sampler}` is not None, and `{sampler}` is also passed as `sampler=`: with a sampler DataLoader raises ValueError (sampler and shuffle are mutually exclusive), without one `{target}` never shuffles",
                    ctx.brief(shuffle.range())
                );
                let fix = Fix::new(format!(
                    "Shuffle when there is no sampler: `{sampler} is None` (the sampler shuffles otherwise)"
                ))
                .with_replacement(ctx.text(test).replacen("is not None", "is None", 1));
                ctx.report_with_severity(test, Severity::Error, message, Some(fix));
                continue;
            }
        }
        if is_train_name(target) && shuffle.is_none() && !has_sampler && !splat {
            let message = format!(
                "`{target}` is a training DataLoader without `shuffle=True` or a sampler: every epoch sees the batches in the same order"
            );
            // Insert `shuffle=True` after the last argument.
            let call_text = ctx.text(call_range);
            let fix = match call_text.rfind(')') {
                Some(close) if !call_text.contains('\n') => {
                    let inner = call_text[..close].trim_end();
                    let sep = if inner.ends_with('(') {
                        ""
                    } else if inner.ends_with(',') {
                        " "
                    } else {
                        ", "
                    };
                    Fix::new("Shuffle the training data")
                        .with_replacement(format!("{inner}{sep}shuffle=True)"))
                }
                _ => Fix::new("Shuffle the training data").with_example(format!(
                    "{target} = DataLoader(dataset, batch_size=..., shuffle=True)"
                )),
            };
            ctx.report(call_range, message, Some(fix));
        } else if is_eval_name(target) && shuffle.and_then(boolean) == Some(true) {
            let message = format!(
                "`{target}` is an evaluation DataLoader with `shuffle=True`: metrics do not change, but outputs cannot be matched to inputs across runs"
            );
            let fix = Fix::new("Keep evaluation order fixed: `shuffle=False`");
            ctx.report_with_severity(call_range, Severity::Info, message, Some(fix));
        }
    }
}

/// The `sampler is not None` test inside a `shuffle=` expression (alone, or an operand of
/// `and`), for the name passed as `sampler=`.
fn true_when_present(shuffle: &Expr, sampler: &str) -> Option<ruff_text_size::TextRange> {
    match shuffle {
        Expr::BoolOp(b) if b.op == ruff_python_ast::BoolOp::And => {
            b.values.iter().find_map(|v| true_when_present(v, sampler))
        }
        Expr::Compare(c)
            if matches!(c.ops.as_ref(), [ruff_python_ast::CmpOp::IsNot])
                && matches!(c.comparators.as_ref(), [Expr::NoneLiteral(_)])
                && mleng_python::index::literals::dotted(&c.left).as_deref() == Some(sampler) =>
        {
            Some(c.range())
        }
        _ => None,
    }
}
