use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::vision::is_eval_name;
use mleng_knowledge::vision::{ALBUMENTATIONS_RANDOM, TORCHVISION_RANDOM};
use mleng_python::index::literals::{boolean, dotted, number, string};
use mleng_python::index::CallId;
use ruff_python_ast::{Expr, ExprCall};
use ruff_text_size::{Ranged, TextRange};

use super::roles::{eval_dataset, eval_use, is_train_name};
use super::transforms::{library_of, Library};
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "CV004",
    name: "augmentation-in-eval-transform",
    area: Area::Cv,
    severity: Severity::Warning,
    fix: None,
    summary: "Random augmentation in a transform used for validation or test data.",
    docs: r#"## What it does
Finds random transforms (`RandomResizedCrop`, `RandomCrop`, `RandomHorizontalFlip`, `ColorJitter`,
`RandAugment`, albumentations `HorizontalFlip`, `ShiftScaleRotate`, `RandomBrightnessContrast`, ...)
in a torchvision or albumentations `Compose` that transforms evaluation data. A pipeline counts as
evaluation when it is passed to a dataset built with `train=False` or `split="val"`/`"test"`, when
it is assigned to a name such as `val_transform` / `test_tf`, when it is the `"val"` entry of a
`{"train": ..., "val": ...}` dict, or when it is built in a function such as `get_val_transforms()`.
Names with `tta` are test-time augmentation and are left alone.

It also finds a training pipeline handed to an evaluation dataset: `transform=train_transform`
(a name with `train`, bound to a pipeline with random steps) on a dataset built with
`train=False`, `split="val"`/`"test"`, a `val`/`test` folder, or bound to a name such as
`val_set`, while the same file defines an evaluation pipeline (`val_transform`, `test_tf`,
`eval_transforms`, ...) that was meant there; and one random pipeline shared by the training
and the evaluation dataset (`transform=transform` on both `CIFAR10(train=True)` and
`CIFAR10(train=False)`), reported where the evaluation dataset takes it.

## Why is this bad?
Validation and test metrics are supposed to be a deterministic function of the weights. With a
random crop or flip in the evaluation pipeline, every evaluation sees different inputs: the
metric gets noise of its own (often a few tenths of a point of accuracy, more for small sets),
checkpoint selection and early stopping follow that noise, and the reported number is measured on
a distribution the model is not deployed on. Standard ImageNet evaluation is deterministic:
resize, then center crop.

## Example
```python
val_tf = T.Compose([
    T.RandomResizedCrop(224),
    T.RandomHorizontalFlip(),
    T.ToTensor(),
    T.Normalize(mean, std),
])
val_set = datasets.ImageFolder("data/val", transform=val_tf)
```

and

```python
train_tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor()])
test_tf = T.Compose([T.ToTensor()])
test_set = datasets.CIFAR10("data", train=False, transform=train_tf)
```

## Use instead
```python
val_tf = T.Compose([
    T.Resize(256),
    T.CenterCrop(224),
    T.ToTensor(),
    T.Normalize(mean, std),
])
```
and `datasets.CIFAR10("data", train=False, transform=test_tf)`. Neither fix is applied
automatically: the suggested pipeline (the closest `val_*`/`test_*` one) is shown for review.

## Known problems
Deliberate test-time augmentation that is not named `tta` is reported; rename the pipeline or
suppress the finding with `# noqa: CV004`.

## References
- torchvision, the reference evaluation transform (`Resize` + `CenterCrop`) of every classification weight: <https://pytorch.org/vision/stable/models.html#using-the-pre-trained-models>
- PyTorch transfer-learning tutorial, separate `train` and `val` transforms: <https://pytorch.org/tutorials/beginner/transfer_learning_tutorial.html>
- PyTorch CIFAR-10 training in kuangliu/pytorch-cifar: `transform_train` for the training set, `transform_test` for `train=False`: <https://github.com/kuangliu/pytorch-cifar/blob/master/main.py>
- albumentations, "validation pipeline without random augmentations": <https://albumentations.ai/docs/examples/pytorch_classification/>
"#,
    check,
};

pub(crate) fn is_random_step(ctx: &Context, step: &ExprCall) -> Option<String> {
    let q = ctx.index.qualified_name(&step.func)?;
    let short = q.rsplit('.').next().unwrap_or(&q);
    let random = match library_of(&q)? {
        Library::TorchvisionV1 | Library::TorchvisionV2 => TORCHVISION_RANDOM.contains(&short),
        Library::Albumentations => ALBUMENTATIONS_RANDOM.contains(&short),
        Library::Functional => false,
    };
    if !random {
        return None;
    }
    // `p=0` disables a transform.
    let p = step
        .arguments
        .keywords
        .iter()
        .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == "p"))
        .and_then(|k| number(&k.value));
    if p == Some(0.0) {
        return None;
    }
    Some(short.to_string())
}

/// The pipeline without its random steps; random crops become a `CenterCrop` of the same size.
fn deterministic_pipeline(
    ctx: &Context,
    compose: &ExprCall,
    elts: &[ruff_python_ast::Expr],
) -> String {
    let mut steps = Vec::new();
    for e in elts {
        let text = ctx.text(e.range()).to_string();
        let ruff_python_ast::Expr::Call(c) = e else {
            steps.push(text);
            continue;
        };
        let Some(name) = is_random_step(ctx, c) else {
            steps.push(text);
            continue;
        };
        if matches!(name.as_str(), "RandomResizedCrop" | "RandomCrop") {
            let func = ctx.text(c.func.range());
            let prefix = func.strip_suffix(name.as_str()).unwrap_or("");
            if let Some(size) = c.arguments.args.first() {
                let size = ctx.text(size.range());
                let torchvision = ctx
                    .index
                    .qualified_name(&c.func)
                    .is_some_and(|q| q.starts_with("torchvision"));
                if name == "RandomResizedCrop" && torchvision {
                    steps.push(format!("{prefix}Resize(int({size} / 0.875))"));
                }
                steps.push(format!("{prefix}CenterCrop({size})"));
            }
        }
    }
    format!("{}([{}])", ctx.text(compose.func.range()), steps.join(", "))
}

fn check(ctx: &mut Context) {
    if ctx.is_test_file() {
        return;
    }
    let index = ctx.index;
    for (id, call) in index.calls.iter().enumerate() {
        let Some(q) = call.qualified.as_deref() else {
            continue;
        };
        if !q.ends_with(".Compose") || library_of(q).is_none() {
            continue;
        }
        let Some(list) = call.arg(0).or_else(|| call.keyword("transforms")) else {
            continue;
        };
        let elts = match list {
            ruff_python_ast::Expr::List(l) => &l.elts,
            ruff_python_ast::Expr::Tuple(t) => &t.elts,
            _ => continue,
        };
        let random: Vec<(&ExprCall, String)> = elts
            .iter()
            .filter_map(|e| match e {
                ruff_python_ast::Expr::Call(c) => Some(c),
                _ => None,
            })
            .filter_map(|c| is_random_step(ctx, c).map(|n| (c, n)))
            .collect();
        let Some((first, first_name)) = random.first() else {
            continue;
        };
        let Some(eval) = eval_use(index, id) else {
            continue;
        };
        let steps: Vec<String> = random
            .iter()
            .map(|(c, _)| format!("`{}`", ctx.text(c.range())))
            .collect();
        let message = format!(
            "`{}` is random augmentation in an evaluation transform ({}): validation metrics become noisy and are measured on augmented images",
            ctx.text(first.range()),
            eval.reason
        );
        let fix = Fix::new(format!(
            "Make the evaluation pipeline deterministic: drop `{first_name}` and the other random steps (random crops become a center crop)"
        ))
        .with_example(deterministic_pipeline(ctx, call.expr, elts));
        let range = first.range();
        let finding = ctx.report(range, message, Some(fix));
        if steps.len() > 1 {
            finding
                .evidence
                .push(format!("random steps: {}", steps.join(", ")));
        }
    }
    let reported = train_pipeline_in_eval_dataset(ctx);
    shared_pipeline_in_eval_dataset(ctx, &reported);
}

/// The random steps of a pipeline expression: an inline `Compose([...])` or random transform,
/// or a name bound to one.
pub(crate) fn random_steps_of(ctx: &Context, expr: &Expr) -> Vec<String> {
    let call = match expr {
        Expr::Call(call) => Some(call),
        Expr::Name(_) | Expr::Attribute(_) => dotted(expr).and_then(|name| {
            // Only a name bound once: a name rebound to different pipelines is ambiguous.
            let mut values = ctx.index.bindings.iter().filter(|b| b.target == name);
            let first = values.next()?;
            if values.next().is_some() {
                return None;
            }
            match first.value {
                Expr::Call(call) => Some(call),
                _ => None,
            }
        }),
        _ => None,
    };
    let Some(call) = call else {
        return Vec::new();
    };
    if let Some(name) = is_random_step(ctx, call) {
        return vec![name];
    }
    let is_compose = ctx
        .index
        .qualified_name(&call.func)
        .is_some_and(|q| q.ends_with(".Compose") && library_of(&q).is_some());
    if !is_compose {
        return Vec::new();
    }
    let list = call.arguments.args.first().or_else(|| {
        call.arguments
            .keywords
            .iter()
            .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == "transforms"))
            .map(|k| &k.value)
    });
    let elts = match list {
        Some(Expr::List(l)) => &l.elts,
        Some(Expr::Tuple(t)) => &t.elts,
        _ => return Vec::new(),
    };
    elts.iter()
        .filter_map(|e| match e {
            Expr::Call(c) => is_random_step(ctx, c),
            _ => None,
        })
        .collect()
}

/// A folder path argument naming a validation or test split (`"data/val"`, `os.path.join(root,
/// "test")`).
fn eval_folder(ctx: &Context, expr: &Expr) -> Option<String> {
    let text = ctx.text(expr.range());
    let mut parts = text.split(['"', '\'']);
    parts.next();
    let literals: Vec<&str> = parts.step_by(2).collect();
    literals
        .iter()
        .flat_map(|l| l.split(['/', '\\']))
        .find(|segment| {
            matches!(
                segment.to_ascii_lowercase().as_str(),
                "val" | "valid" | "validation" | "test" | "eval" | "dev"
            )
        })
        .map(|s| s.to_string())
}

/// `val_set = ImageFolder(valdir, transform=train_transform)` while `val_transform` exists.
/// Returns the ranges reported.
fn train_pipeline_in_eval_dataset(ctx: &mut Context) -> Vec<TextRange> {
    let index = ctx.index;
    // The evaluation pipelines the file defines, with the function they are built in.
    let eval_pipelines: Vec<(&str, Option<usize>)> = index
        .bindings
        .iter()
        .filter(|b| {
            let last = b.target.rsplit('.').next().unwrap_or(&b.target);
            is_eval_name(last)
                && !is_train_name(last)
                && !last.to_ascii_lowercase().contains("tta")
                && matches!(b.value, Expr::Call(c) if index
                    .qualified_name(&c.func)
                    .is_some_and(|q| q.ends_with(".Compose") && library_of(&q).is_some()))
        })
        .map(|b| (b.target.as_str(), b.function))
        .collect();
    if eval_pipelines.is_empty() {
        return Vec::new();
    }
    let mut reports = Vec::new();
    for (id, call) in index.calls.iter().enumerate() {
        let Some(transform) = call.keyword("transform") else {
            continue;
        };
        let Some(name) = dotted(transform) else {
            continue;
        };
        let last = name.rsplit('.').next().unwrap_or(&name);
        if !is_train_name(last) || last.to_ascii_lowercase().contains("tta") {
            continue;
        }
        // The evaluation pipeline closest to the call: same function, module level, anywhere.
        let Some(eval_pipeline) = eval_pipelines
            .iter()
            .find(|(_, f)| *f == call.function)
            .or_else(|| eval_pipelines.iter().find(|(_, f)| f.is_none()))
            .or_else(|| eval_pipelines.first())
            .map(|(name, _)| *name)
        else {
            continue;
        };
        let random = random_steps_of(ctx, transform);
        if random.is_empty() {
            continue;
        }
        if call.keyword("train").and_then(boolean) == Some(true) {
            continue;
        }
        let why = match eval_dataset(index, id) {
            Some(why) => why,
            None => {
                let Some(folder) = call.arg(0).and_then(|a| eval_folder(ctx, a)) else {
                    continue;
                };
                // A folder named `val` for a dataset bound to a training name is a choice.
                let bound = index
                    .bindings
                    .iter()
                    .find(|b| b.value.range() == call.range());
                if bound.is_some_and(|b| is_train_name(&b.target)) {
                    continue;
                }
                format!("a dataset read from the `{folder}` folder")
            }
        };
        let message = format!(
            "`{name}` (random: {}) transforms {why}, although `{eval_pipeline}` is defined: the evaluation images are augmented, so metrics are noisy and measured on a different distribution",
            random.join(", ")
        );
        let fix = Fix::new(format!(
            "Pass the evaluation pipeline: transform={eval_pipeline}"
        ))
        .with_example(format!("transform={eval_pipeline}"));
        let range = call
            .expr
            .arguments
            .keywords
            .iter()
            .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == "transform"))
            .map(|k| k.range())
            .unwrap_or(call.range());
        reports.push((range, message, fix));
    }
    let ranges = reports.iter().map(|(range, ..)| *range).collect();
    for (range, message, fix) in reports {
        ctx.report(range, message, Some(fix));
    }
    ranges
}

/// Is this call a dataset constructed for training (`train=True`, `split="train"`, or bound to
/// `train_set`)?
fn train_dataset(ctx: &Context, id: CallId) -> bool {
    let index = ctx.index;
    let call = &index.calls[id];
    if let Some(train) = call.keyword("train").and_then(boolean) {
        return train;
    }
    for key in ["split", "image_set", "subset", "mode", "phase"] {
        if let Some(value) = call.keyword(key).and_then(string) {
            return is_train_name(value) && !is_eval_name(value);
        }
    }
    index
        .bindings
        .iter()
        .find(|b| b.value.range() == call.expr.range())
        .is_some_and(|b| is_train_name(&b.target) && !is_eval_name(&b.target))
}

/// One random pipeline, bound once, handed to a training dataset and to an evaluation dataset
/// (kuangliu/pytorch-cifar before its fix: `transform` with `RandomCrop` for both CIFAR-10
/// splits). Reported at the evaluation dataset's `transform=`, where the fix goes.
fn shared_pipeline_in_eval_dataset(ctx: &mut Context, reported: &[TextRange]) {
    let index = ctx.index;
    let mut reports = Vec::new();
    for binding in &index.bindings {
        let target = binding.target.as_str();
        let last = target.rsplit('.').next().unwrap_or(target);
        if is_eval_name(last) || last.to_ascii_lowercase().contains("tta") {
            continue;
        }
        let Expr::Call(_) = binding.value else {
            continue;
        };
        let uses: Vec<(CallId, &ruff_python_ast::Keyword)> = index
            .calls
            .iter()
            .enumerate()
            .filter_map(|(id, c)| {
                let k = c.expr.arguments.keywords.iter().find(|k| {
                    k.arg.as_ref().is_some_and(|a| a.as_str() == "transform")
                        && dotted(&k.value).as_deref() == Some(target)
                })?;
                Some((id, k))
            })
            .collect();
        let Some((train_use, _)) = uses.iter().find(|(id, _)| train_dataset(ctx, *id)) else {
            continue;
        };
        let eval_uses: Vec<(String, TextRange)> = uses
            .iter()
            .filter_map(|(id, k)| eval_dataset(index, *id).map(|why| (why, k.range())))
            .filter(|(_, range)| !reported.contains(range))
            .collect();
        if eval_uses.is_empty() {
            continue;
        }
        // The name as the training dataset reads it: the pipeline's random steps, if bound once.
        let random = random_steps_of(ctx, &uses[0].1.value);
        if random.is_empty() {
            continue;
        }
        let train_location = ctx.location(index.calls[*train_use].expr.range());
        for (why, range) in eval_uses {
            let message = format!(
                "`{target}` (random: {}) transforms {why} and also the training data: the evaluation images are augmented like the training ones, so metrics are noisy and measured on a different distribution",
                random.join(", ")
            );
            let fix = Fix::new(
                "Give the evaluation dataset its own deterministic pipeline (resize or center crop, `ToTensor`, `Normalize`), without the random steps",
            );
            reports.push((range, message, fix, train_location.clone()));
        }
    }
    for (range, message, fix, train_location) in reports {
        ctx.report(range, message, Some(fix)).relate(
            train_location,
            "the training dataset takes the same pipeline here",
        );
    }
}
