use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::vision::{is_eval_name, name_words};
use mleng_python::index::literals::boolean;
use ruff_python_ast::Expr;
use ruff_text_size::Ranged;

use super::roles::is_train_name;
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "CV020",
    name: "eval-pipeline-on-training-data",
    area: Area::Cv,
    severity: Severity::Warning,
    fix: None,
    summary: "The training dataset gets the evaluation pipeline while the training pipeline next to it is never used.",
    docs: r#"## What it does
Finds a training dataset (bound to a name such as `train_dataset`, or built with `train=True`)
handed an evaluation pipeline (`tf_val`, `val_transform`, `transform_test`) while the same
file builds the matching training pipeline (`tf_train`, `train_transform`, `transform_train`:
the same name with `train` for `val`/`test`) and never uses it anywhere. Both names must be
bound in the file to a call (a `Compose`, a project transform class, a factory): the pair and
the unused training pipeline are what make the mix-up visible. Only in a file that trains (calls
`backward()` or steps an optimizer).

## Why is this bad?
The training pipeline is where the augmentation is (random crops, flips, color jitter); handed
the evaluation pipeline, the model trains on un-augmented images. Nothing fails: the training
loss falls faster, the gap to validation opens earlier, and the final model is worse than the
recipe promises. The unused `tf_train` shows that this was not the intent.

## Example
```python
tf_train = JointTransform2D(crop=crop, p_flip=0.5)
tf_val = JointTransform2D(crop=crop, p_flip=0)
train_dataset = ImageToImage2D(args.train_dataset, tf_val)
val_dataset = ImageToImage2D(args.val_dataset, tf_val)
```

## Use instead
```python
train_dataset = ImageToImage2D(args.train_dataset, tf_train)
val_dataset = ImageToImage2D(args.val_dataset, tf_val)
```
Not fixed automatically: which pipeline the training data should get is the author's choice.

## References
- PyTorch transfer-learning tutorial, separate `train` and `val` transforms and which dataset
  gets which: <https://pytorch.org/tutorials/beginner/transfer_learning_tutorial.html>
- jeya-maria-jose/Medical-Transformer, commit `da3b020`: the training dataset was given `tf_val`
  while `tf_train` (with flips) went unused.
"#,
    check,
};

/// The training twin of an evaluation name: `tf_val` -> words `tf train`.
fn training_twin_words(eval_name: &str) -> Option<Vec<String>> {
    let mut words = name_words(eval_name);
    let mut swapped = false;
    for w in &mut words {
        if matches!(
            w.as_str(),
            "val" | "valid" | "validation" | "test" | "eval" | "evaluation"
        ) {
            *w = "train".to_string();
            swapped = true;
        }
    }
    swapped.then_some(words)
}

/// How many times `name` occurs as a whole identifier in the source text.
fn occurrences(text: &str, name: &str) -> usize {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(name)
        .filter(|(at, _)| {
            let before = text[..*at].chars().next_back();
            let after = text[at + name.len()..].chars().next();
            !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
        })
        .count()
}

fn check(ctx: &mut Context) {
    if ctx.is_test_file() {
        return;
    }
    let index = ctx.index;
    // Only where this file trains: an evaluation script that builds the training set (and
    // never trains on it) with the evaluation pipeline is harmless (Medical-Transformer's
    // `test.py`, a copy of `train.py`'s data setup).
    if index
        .calls
        .iter()
        .all(|c| c.kind == mleng_python::index::CallKind::Other)
    {
        return;
    }
    let text = index.source.text.as_str();
    let mut reports = Vec::new();
    for call in &index.calls {
        // A training dataset: `train=True`, or bound to a training name.
        let bound = index
            .bindings
            .iter()
            .find(|b| b.value.range() == call.expr.range());
        let training = match call.keyword("train").and_then(boolean) {
            Some(train) => train,
            None => bound.is_some_and(|b| {
                let last = b.target.rsplit('.').next().unwrap_or(&b.target);
                is_train_name(last) && !is_eval_name(last)
            }),
        };
        if !training {
            continue;
        }
        let handed = call
            .expr
            .arguments
            .args
            .iter()
            .chain(call.expr.arguments.keywords.iter().map(|k| &k.value));
        for arg in handed {
            let Expr::Name(name) = arg else {
                continue;
            };
            let eval_name = name.id.as_str();
            if !is_eval_name(eval_name) || is_train_name(eval_name) {
                continue;
            }
            let Some(twin_words) = training_twin_words(eval_name) else {
                continue;
            };
            // Both pipelines are built here by a call, each bound once.
            let pipeline = |name: &str| {
                let mut values = index.bindings.iter().filter(|b| b.target == name);
                let first = values.next()?;
                (values.next().is_none() && matches!(first.value, Expr::Call(_))).then_some(first)
            };
            if pipeline(eval_name).is_none() {
                continue;
            }
            let Some(twin) = index.bindings.iter().find(|b| {
                !b.target.contains('.')
                    && name_words(&b.target) == twin_words
                    && matches!(b.value, Expr::Call(_))
            }) else {
                continue;
            };
            if pipeline(&twin.target).is_none() || occurrences(text, &twin.target) != 1 {
                continue;
            }
            let dataset = bound
                .map(|b| format!("`{}`", b.target))
                .unwrap_or_else(|| "the training dataset".to_string());
            let twin_name = twin.target.clone();
            let message = format!(
                "{dataset} is built with the evaluation pipeline `{eval_name}`, while the training pipeline `{twin_name}` next to it is never used: the model trains without the training augmentation"
            );
            let fix = Fix::new(format!("Hand the training dataset `{twin_name}`"))
                .with_example(twin_name.clone());
            let twin_at = ctx.location(twin.range);
            reports.push((arg.range(), message, fix, twin_at, twin_name));
        }
    }
    for (range, message, fix, twin_at, twin_name) in reports {
        ctx.report(range, message, Some(fix)).relate(
            twin_at,
            format!("`{twin_name}` is built here and never used"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twins_and_occurrences() {
        assert_eq!(
            training_twin_words("tf_val"),
            Some(vec!["tf".to_string(), "train".to_string()])
        );
        assert_eq!(training_twin_words("transform"), None);
        assert_eq!(
            occurrences("tf_train = 1\ntf_train2 = tf_val", "tf_train"),
            1
        );
        assert_eq!(occurrences("a = tf_train; f(tf_train)", "tf_train"), 2);
    }
}
