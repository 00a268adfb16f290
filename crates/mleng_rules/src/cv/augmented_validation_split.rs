use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::vision::is_eval_name;
use mleng_python::index::literals::dotted;
use mleng_python::index::Call;
use ruff_python_ast::{Expr, ExprCall};
use ruff_text_size::{Ranged, TextRange};

use super::augmentation_in_eval_transform::random_steps_of;
use super::roles::is_train_name;
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "CV017",
    name: "augmented-validation-split",
    area: Area::Cv,
    severity: Severity::Warning,
    fix: None,
    summary: "A validation (or test) split carved out of a Dataset built with random training augmentation: the validation images are augmented too.",
    docs: r#"## What it does
Finds validation or test data taken from a dataset object whose `transform` has random steps
(`RandomResizedCrop`, `RandomHorizontalFlip`, `ColorJitter`, ... written inline or bound to a
name):
- `train_part, val_part = random_split(train_set, [...])`;
- `val_set = Subset(train_set, val_idx)`;
- `val_loader = DataLoader(train_set, sampler=SubsetRandomSampler(val_idx))` (or a sampler
  named `val_sampler`).

It stays silent when the file gives the split its own transform afterwards
(`val_part.dataset.transform = ...` after a `deepcopy`, or a wrapper called with the subset and a
`transform`), and when the dataset's transform is not visibly random.

## Why is this bad?
`random_split` and `Subset` return views of the same dataset object: indexing the validation
subset calls the training dataset's `__getitem__`, with its random crops, flips and color
jitter. Validation metrics get noise of their own, are measured on a distribution the model is
not deployed on, and early stopping and checkpoint selection follow that noise. Setting
`val_part.dataset.transform = val_tf` without copying changes the transform of the training
subset as well, since both share `dataset`: that assignment is reported too (at the
assignment), unless `val_part = copy.deepcopy(val_part)` comes first.

## Example
```python
full = datasets.ImageFolder(root, transform=train_tf)
train_set, val_set = random_split(full, [n_train, n_val])
val_loader = DataLoader(val_set, batch_size=256)
```

## Use instead
```python
train_full = datasets.ImageFolder(root, transform=train_tf)
val_full = datasets.ImageFolder(root, transform=val_tf)
train_idx, val_idx = random_split(range(len(train_full)), [n_train, n_val])
train_set, val_set = Subset(train_full, train_idx), Subset(val_full, val_idx)
```
The fix is shown, not applied: it adds a dataset instance and changes how the split is built.

## References
- PyTorch `torch.utils.data.Subset` / `random_split` return subsets of the same dataset: <https://pytorch.org/docs/stable/data.html#torch.utils.data.random_split>
- PyTorch forums, "Changing transforms after creating a dataset" (separate dataset instances per split): <https://discuss.pytorch.org/t/changing-transforms-after-creating-a-dataset/64929>
- bentrevett/pytorch-image-classification, `valid_data = copy.deepcopy(valid_data); valid_data.dataset.transform = test_transforms` after `random_split`: <https://github.com/bentrevett/pytorch-image-classification/blob/master/2_lenet.ipynb>
"#,
    check,
};

/// The dataset constructor call bound to `name` last before `before` (in the same function, or
/// at module level), with the random steps of its transform.
fn augmented_dataset<'a>(
    ctx: &Context<'_, 'a>,
    name: &str,
    function: Option<usize>,
    before: TextRange,
) -> Option<(&'a ExprCall, String, Vec<String>)> {
    let binding = ctx.index.bindings.iter().rev().find(|b| {
        b.target == name
            && (b.function == function || b.function.is_none())
            && b.range.end() <= before.start()
    })?;
    let Expr::Call(call) = binding.value else {
        return None;
    };
    let transform = call
        .arguments
        .keywords
        .iter()
        .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == "transform"))
        .map(|k| &k.value)
        .or_else(|| {
            // `ImageFolder(root, train_tf)`: torchvision's folder datasets take it second.
            let q = ctx.index.qualified_name(&call.func)?;
            matches!(
                q.as_str(),
                "torchvision.datasets.ImageFolder" | "torchvision.datasets.DatasetFolder"
            )
            .then(|| call.arguments.args.get(1))?
        })?;
    let random = random_steps_of(ctx, transform);
    if random.is_empty() {
        return None;
    }
    Some((call, ctx.text(transform.range()).to_string(), random))
}

/// Does the file give `subset` its own transform: `subset.dataset.transform = ...`, or a call
/// such as `TransformedSubset(subset, transform=val_tf)`?
fn retransformed(ctx: &Context, subsets: &[String], dataset: &str) -> bool {
    let index = ctx.index;
    let assigned = index.bindings.iter().any(|b| {
        (b.target.ends_with(".transform") || b.target.ends_with(".transforms"))
            && subsets
                .iter()
                .map(String::as_str)
                .chain([dataset])
                .any(|s| b.target.starts_with(&format!("{s}.")))
    });
    let wrapped = index.calls.iter().any(|c| {
        let args: Vec<&Expr> = c.argument_values().collect();
        args.iter()
            .any(|a| dotted(a).is_some_and(|d| subsets.contains(&d)))
            && (c.keyword("transform").is_some()
                || c.keyword("transforms").is_some()
                || args.iter().any(|a| {
                    dotted(a).is_some_and(|d| {
                        let last = d.rsplit('.').next().unwrap_or(&d).to_ascii_lowercase();
                        is_eval_name(&last)
                            && ["tf", "transform", "trans", "aug"]
                                .iter()
                                .any(|w| last.contains(w))
                    })
                }))
    });
    assigned || wrapped
}

/// `valid_data.dataset.transform = test_transforms` right after
/// `train_data, valid_data = random_split(full, ...)`, without `copy.deepcopy(valid_data)`
/// first: both subsets share `full`, so the training subset loses its augmentation too
/// (bentrevett/pytorch-image-classification's notebooks, fixed by adding the deepcopy).
fn shared_dataset_retransformed(ctx: &Context, reports: &mut Vec<Report>) {
    let index = ctx.index;
    for assign in &index.bindings {
        let Some(subset) = assign
            .target
            .strip_suffix(".dataset.transform")
            .or_else(|| assign.target.strip_suffix(".dataset.transforms"))
        else {
            continue;
        };
        // The split that bound `subset`, before the assignment.
        let Some(split) = index
            .bindings
            .iter()
            .filter(|b| b.target == subset && b.range.end() <= assign.range.start())
            .max_by_key(|b| b.range.start())
        else {
            continue;
        };
        let Expr::Call(call) = split.value else {
            continue;
        };
        let is_split = index
            .qualified_name(&call.func)
            .is_some_and(|q| q.starts_with("torch.utils.data") && q.ends_with("random_split"));
        if !is_split {
            continue;
        }
        let others: Vec<&str> = index
            .bindings
            .iter()
            .filter(|b| b.value.range() == call.range() && b.target != subset)
            .map(|b| b.target.as_str())
            .collect();
        let Some(&train) = others.iter().find(|n| !eval_target(n)) else {
            continue;
        };
        let copied = index.bindings.iter().any(|b| {
            b.target == subset
                && b.range.start() > split.range.end()
                && b.range.end() <= assign.range.start()
                && matches!(b.value, Expr::Call(c) if index
                    .qualified_name(&c.func)
                    .is_some_and(|q| q.ends_with("deepcopy") || q.ends_with("copy")))
        });
        if copied {
            continue;
        }
        let assigned = ctx.text(assign.range);
        let assigned = if assigned.len() > 60 {
            format!("{}.dataset.transform = ...", subset)
        } else {
            assigned.to_string()
        };
        let message = format!(
            "`{assigned}` changes the transform of `{train}` as well: both come from the same `random_split` and share one dataset object, so training loses its augmentation"
        );
        let example = format!("{subset} = copy.deepcopy({subset})\n{assigned}");
        reports.push((
            assign.range,
            message,
            "Copy the validation subset (and its dataset) before giving it its own transform",
            example,
        ));
    }
}

fn eval_target(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    is_eval_name(last) && !is_train_name(last)
}

/// The names bound to the result of `call` (tuple targets bind each name to the whole call).
fn bound_names(ctx: &Context, call: &Call) -> Vec<String> {
    ctx.index
        .bindings
        .iter()
        .filter(|b| b.value.range() == call.range())
        .map(|b| b.target.clone())
        .collect()
}

/// A finding to report: where, the message, the fix's help and its example.
type Report = (TextRange, String, &'static str, String);

fn check(ctx: &mut Context) {
    if ctx.is_test_file() {
        return;
    }
    let index = ctx.index;
    let mut reports: Vec<Report> = Vec::new();
    for call in &index.calls {
        let Some(q) = call.qualified.as_deref() else {
            continue;
        };
        let short = q.rsplit('.').next().unwrap_or(q);
        if !q.starts_with("torch.utils.data") {
            continue;
        }
        let (dataset, subsets, how) = match short {
            "random_split" | "Subset" => {
                let Some(dataset) = call.arg_or_keyword(0, "dataset").and_then(dotted) else {
                    continue;
                };
                let subsets: Vec<String> = bound_names(ctx, call)
                    .into_iter()
                    .filter(|n| eval_target(n))
                    .collect();
                if subsets.is_empty() {
                    continue;
                }
                (dataset, subsets, format!("`{short}`"))
            }
            "DataLoader" => {
                let Some(dataset) = call.arg_or_keyword(0, "dataset").and_then(dotted) else {
                    continue;
                };
                let Some(sampler) = call.keyword("sampler") else {
                    continue;
                };
                // The sampler: `SubsetRandomSampler(val_idx)` inline or bound to a name.
                let sampler_call = match sampler {
                    Expr::Call(c) => Some(c),
                    other => dotted(other).and_then(|n| index.constructor_call_of(&n)),
                };
                let is_subset_sampler = sampler_call
                    .and_then(|c| index.qualified_name(&c.func))
                    .is_some_and(|q| q.ends_with("SubsetRandomSampler"));
                if !is_subset_sampler {
                    continue;
                }
                let sampler_text = ctx.text(sampler.range());
                let loader_names = bound_names(ctx, call);
                let for_eval = eval_target(sampler_text)
                    || sampler_call.is_some_and(|c| {
                        c.arguments
                            .args
                            .first()
                            .and_then(dotted)
                            .is_some_and(|a| eval_target(&a))
                    })
                    || loader_names.iter().any(|n| eval_target(n));
                if !for_eval {
                    continue;
                }
                (
                    dataset,
                    loader_names,
                    format!("`SubsetRandomSampler` (`{sampler_text}`)"),
                )
            }
            _ => continue,
        };
        // A dataset built for evaluation (`val_base = ImageFolder(..., transform=train_tf)`):
        // the mistake is its transform, which CV004 reports at the dataset.
        if eval_target(&dataset) {
            continue;
        }
        let Some((ctor, transform, random)) =
            augmented_dataset(ctx, &dataset, call.function, call.range())
        else {
            continue;
        };
        if retransformed(ctx, &subsets, &dataset) {
            continue;
        }
        let subset = subsets.first().cloned().unwrap_or_default();
        let transform = if transform.len() <= 40 {
            format!("the training transform `{transform}`")
        } else {
            "a training transform".to_string()
        };
        let message = format!(
            "`{subset}` is taken from `{dataset}` with {how}, but `{dataset}` applies {transform} (random: {}): the validation images are augmented too, since the split shares the dataset object",
            random.join(", ")
        );
        let ctor = ctx.text(ctor.func.range());
        let example = if short == "DataLoader" {
            let sampler = call
                .keyword("sampler")
                .map(|s| ctx.text(s.range()))
                .unwrap_or("");
            format!(
                "val_base = {ctor}(..., transform=val_transform)  # a second instance, deterministic\n{subset} = DataLoader(val_base, sampler={sampler}, ...)"
            )
        } else {
            format!(
                "val_base = {ctor}(..., transform=val_transform)  # a second instance, deterministic\n{subset} = torch.utils.data.Subset(val_base, val_indices)  # the same indices as the split"
            )
        };
        reports.push((
            call.range(),
            message,
            "Build a second dataset instance with the evaluation transform over the validation indices",
            example,
        ));
    }
    shared_dataset_retransformed(ctx, &mut reports);
    for (range, message, help, example) in reports {
        let fix = Fix::new(help).with_example(example);
        ctx.report(range, message, Some(fix));
    }
}
