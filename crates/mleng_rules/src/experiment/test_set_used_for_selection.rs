use mleng_diagnostics::{Area, Fix, Severity};
use mleng_python::index::{literals, Binding};
use mleng_python::SemanticIndex;
use ruff_python_ast::Expr;

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "EXP013",
    name: "test-set-used-for-selection",
    area: Area::Experiment,
    severity: Severity::Warning,
    fix: None,
    summary: "The best model or epoch is chosen with a metric computed on the test split (`best_acc = test_acc` from `test_loader`).",
    docs: r#"## What it does
Finds a "best so far" variable (`best_acc`, `best_loss`, `self.best_metric`) updated from a
metric that was computed on the *test* split in the same function: the metric's value comes
from a call that receives a test loader or dataset (`test_loader`, `testloader`,
`test_iterator`, `test_ds`), or the update happens in a function that loops over a test loader
(`def test(epoch): for x, y in testloader: ...`), and nothing named for validation is
involved. Only this clear data flow is reported.

## Why is this bad?
Choosing the epoch, checkpoint or hyperparameters that score best on the test set makes the
test set part of training: the reported test score is the maximum over many noisy evaluations
and is biased upwards, sometimes by more than the differences being compared. The test split
must be used once, after every choice has been made on a validation split.

## Example
```python
test_acc = evaluate(model, test_loader)
if test_acc > best_acc:
    best_acc = test_acc
    torch.save(model.state_dict(), "best.pt")
```

## Use instead
```python
val_acc = evaluate(model, val_loader)
if val_acc > best_val_acc:
    best_val_acc = val_acc
    torch.save(model.state_dict(), "best.pt")
...
model.load_state_dict(torch.load("best.pt", weights_only=True))
test_acc = evaluate(model, test_loader)  # once, at the end
```

## Known problems
Datasets whose "test" split is really a validation split (the true test set is held
elsewhere) are reported; rename the split or suppress with `# noqa: EXP013`.

## References
- Hastie, Tibshirani, Friedman, *The Elements of Statistical Learning*, section 7.2 (train/validation/test): <https://hastie.su.domains/ElemStatLearn/>
- Cawley & Talbot, "On Over-fitting in Model Selection and Subsequent Selection Bias in Performance Evaluation", JMLR 2010: <https://jmlr.org/papers/v11/cawley10a.html>
- scikit-learn, "Cross-validation: evaluating estimator performance": <https://scikit-learn.org/stable/modules/cross_validation.html>
"#,
    check,
};

fn last_segment(dotted: &str) -> &str {
    dotted.rsplit('.').next().unwrap_or(dotted)
}

fn is_best(name: &str) -> bool {
    last_segment(name).to_ascii_lowercase().starts_with("best")
}

fn names_test(name: &str) -> bool {
    let lower = last_segment(name).to_ascii_lowercase();
    (lower.starts_with("test") || lower.contains("_test"))
        && !lower.contains("val")
        && !lower.contains("dev")
}

fn names_validation(name: &str) -> bool {
    let lower = last_segment(name).to_ascii_lowercase();
    lower.contains("val") || lower.contains("dev")
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    for best in index.bindings.iter().filter(|b| is_best(&b.target)) {
        // `best = metric` or `best = max(best, metric)`.
        let candidates: Vec<&Expr> = match best.value {
            Expr::Call(call)
                if matches!(literals::dotted(&call.func).as_deref(), Some("max" | "min")) =>
            {
                call.arguments.args.iter().collect()
            }
            other => vec![other],
        };
        for metric in candidates {
            let Some(metric_name) = literals::dotted(metric) else {
                continue;
            };
            if is_best(&metric_name) || names_validation(&metric_name) {
                continue;
            }
            let Some(source) =
                test_source(index, best, &metric_name).or_else(|| test_loop_source(index, best))
            else {
                continue;
            };
            let best_text = best.target.clone();
            let message = format!(
                "`{best_text}` keeps the best `{metric_name}`, which is computed on `{source}`: choosing the epoch/checkpoint on the test split makes the reported test score optimistic"
            );
            let fix = Fix::new(format!(
                "Select on a validation split; evaluate on `{source}` once, after selection"
            ))
            .with_example(format!(
                "val_metric = evaluate(model, val_loader)\nif val_metric > {best_text}:\n    {best_text} = val_metric\n    torch.save(model.state_dict(), \"best.pt\")"
            ));
            ctx.report(best.range, message, Some(fix));
            break;
        }
    }
}

/// `def test(epoch): for x, y in testloader: ...; acc = ...; if acc > best_acc: best_acc = acc`:
/// the best value is updated in a function whose loop runs over a test loader, and no loop
/// of that function runs over a validation loader.
fn test_loop_source(index: &SemanticIndex, best: &Binding) -> Option<String> {
    let function = best.function?;
    let loops: Vec<&str> = index
        .loops
        .iter()
        .filter(|l| l.function == Some(function))
        .filter_map(|l| l.iterates_over.as_deref())
        .collect();
    if loops.iter().any(|l| names_validation(l)) {
        return None;
    }
    loops
        .into_iter()
        .find(|l| names_test(l))
        .map(str::to_string)
}

/// The test loader/dataset that `metric` was computed from, in the function of `best`,
/// before it: `metric = f(..., test_loader, ...)` or `_, metric = f(test_loader)`.
fn test_source(index: &SemanticIndex, best: &Binding, metric: &str) -> Option<String> {
    let producer = index
        .bindings
        .iter()
        .filter(|b| {
            b.function == best.function && b.target == metric && b.range.end() <= best.range.start()
        })
        .max_by_key(|b| b.range.start())?;
    let Expr::Call(call) = producer.value else {
        return None;
    };
    let mut args: Vec<String> = call
        .arguments
        .args
        .iter()
        .chain(call.arguments.keywords.iter().map(|k| &k.value))
        .filter_map(literals::dotted)
        .collect();
    if let Expr::Attribute(attr) = &*call.func {
        if let Some(receiver) = literals::dotted(&attr.value) {
            args.push(receiver);
        }
    }
    if args.iter().any(|a| names_validation(a)) {
        return None;
    }
    args.into_iter().find(|a| names_test(a))
}
