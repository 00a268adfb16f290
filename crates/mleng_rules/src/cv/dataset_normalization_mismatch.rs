use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::datasets::{stats_matching, stats_of};
use mleng_python::index::literals::{dotted, numbers};

use super::transforms::{format_stats, normalize_calls};
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "CV018",
    name: "dataset-normalization-mismatch",
    area: Area::Cv,
    severity: Severity::Warning,
    fix: None,
    summary: "Normalize uses the published statistics of another dataset than the one the file loads (CIFAR-100's with CIFAR10, MNIST's with FashionMNIST).",
    docs: r#"## What it does
Finds a `Normalize(mean, std)` whose mean is, to three decimals, the published mean of one
small `torchvision.datasets` dataset (MNIST, Fashion-MNIST, CIFAR-10, CIFAR-100, SVHN) in a file
that loads exactly one of those datasets, and a different one: CIFAR-100's statistics on
`datasets.CIFAR10`, MNIST's on `datasets.FashionMNIST`. A file that loads several datasets (or
picks one from a command-line argument) is not judged. ImageNet statistics are `CV001`'s
business (they belong to pretrained weights, not to a dataset).

## Why is this bad?
The statistics were copied from another script. Inputs are then not centred and scaled as
intended: a small shift for CIFAR-10/100, a large one for MNIST's 0.1307 on Fashion-MNIST
(mean 0.2860). Training still works, so nothing points to it; but any comparison with published
numbers, and any model shared with code that normalizes correctly, is off. Maintainers fix
exactly this (gpleiss/efficient_densenet_pytorch normalized CIFAR-10 with CIFAR-100's mean).

## Example
```python
train_set = datasets.CIFAR10("data", train=True, transform=T.Compose([
    T.ToTensor(),
    T.Normalize((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),  # CIFAR-100's
]))
```

## Use instead
```python
train_set = datasets.CIFAR10("data", train=True, transform=T.Compose([
    T.ToTensor(),
    T.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
]))
```

## Fix
The dataset's own mean is shown; the standard deviation should be its own too (the table in
`mleng_knowledge::datasets` has the means and their sources). Shown, not applied: an existing
checkpoint was trained with the old values.

## References
- pytorch/examples, MNIST normalization (0.1307, 0.3081): <https://github.com/pytorch/examples/blob/main/mnist/main.py>
- torchvision datasets: <https://pytorch.org/vision/stable/datasets.html>
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    // The datasets this file loads, by torchvision class name.
    let mut loaded: Vec<&str> = index
        .calls
        .iter()
        .filter_map(|c| {
            c.qualified
                .as_deref()?
                .strip_prefix("torchvision.datasets.")
        })
        .filter_map(|short| stats_of(short).map(|_| short))
        .collect();
    loaded.sort_unstable();
    loaded.dedup();
    let [dataset] = loaded.as_slice() else {
        return;
    };
    let Some(own) = stats_of(dataset) else {
        return;
    };
    for normalize in normalize_calls(index) {
        let call = &index.calls[normalize.call];
        // `Normalize(mean=mean, std=stdv)` with `mean = [...]` bound once in the file.
        let named = || {
            let arg = call.arg_or_keyword(0, "mean")?;
            let name = dotted(arg)?;
            let mut values = index
                .bindings
                .iter()
                .filter(|b| b.target == name)
                .map(|b| numbers(b.value));
            let first = values.next()??;
            values.all(|v| v.as_ref() == Some(&first)).then_some(first)
        };
        let Some(mean) = normalize.mean.clone().or_else(named) else {
            continue;
        };
        let mean = mean.as_slice();
        let Some(matched) = stats_matching(mean) else {
            continue;
        };
        if matched.datasets.contains(dataset) || std::ptr::eq(matched, own) {
            continue;
        }
        let message = format!(
            "`Normalize` uses {}'s mean {} but this file loads `{dataset}` ({}, mean {}): the statistics were copied from another dataset",
            matched.name,
            format_stats(mean),
            own.name,
            format_stats(own.mean)
        );
        let fix = Fix::new(format!(
            "Use {}'s own statistics (mean {}, and its std)",
            own.name,
            format_stats(own.mean)
        ));
        ctx.report(call.range(), message, Some(fix));
    }
}
