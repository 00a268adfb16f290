use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_knowledge::layers::{kind, LayerKind};
use ruff_text_size::Ranged;

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "ARC015",
    name: "functional-dropout-always-on",
    area: Area::Architecture,
    severity: Severity::Warning,
    fix: Some(Applicability::Safe),
    summary: "F.dropout in a module's forward without training=self.training, or an nn.Dropout built inside forward: dropout stays on in eval mode.",
    docs: r#"## What it does
Finds dropout in an `nn.Module`'s methods that `model.eval()` cannot switch off:
- `F.dropout(x, p)` (also `dropout1d/2d/3d`, `alpha_dropout`, `feature_alpha_dropout`) called
  without `training=`: the functional form's `training` argument defaults to `True`;
- `nn.Dropout(p)(x)`: a layer built inside `forward` is a fresh module in training mode on every
  call, not registered with the model, so `model.eval()` never reaches it.

A call that passes `training=...` (any value: `self.training`, a flag) is left alone, and so is
a method that looks at the mode itself (`if self.training and p > 0: x = F.dropout(x, p)`).

## Why is this bad?
Evaluation and inference stay stochastic: every prediction drops a random part of the
activations (and scales the rest by 1/(1-p)), so validation metrics are noisy and pessimistic,
predictions differ from run to run, and early stopping picks epochs by noise. Nothing fails;
the model just looks worse than it is. Maintainers fix exactly this (rixwew/pytorch-fm's
attentional factorization machine passed `training=self.training` to its two `F.dropout`
calls).

## Example
```python
def forward(self, x):
    x = F.relu(self.fc1(x))
    x = F.dropout(x, p=0.5)
    return self.fc2(x)
```

## Use instead
```python
def forward(self, x):
    x = F.relu(self.fc1(x))
    x = F.dropout(x, p=0.5, training=self.training)  # or a registered self.drop = nn.Dropout(0.5)
    return self.fc2(x)
```

## Fix
Safe: `--fix` adds `training=self.training`. It changes nothing in training mode and turns the
dropout off in eval mode, which is what `model.eval()` promises.

## References
- `torch.nn.functional.dropout` (signature `dropout(input, p=0.5, training=True, inplace=False)`): <https://pytorch.org/docs/stable/generated/torch.nn.functional.dropout.html>
- `nn.Module.eval` ("This has any effect only on certain modules ... Dropout, BatchNorm"): <https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.eval>
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    for call in &index.calls {
        let Some(class) = call.class else {
            continue;
        };
        if !index.classes[class].is_module || call.function.is_none() {
            continue;
        }
        let Some(q) = call.qualified.as_deref() else {
            // `nn.Dropout(p)(x)`: the callee is itself a call to a dropout constructor.
            if let ruff_python_ast::Expr::Call(inner) = call.expr.func.as_ref() {
                let built = index
                    .qualified_name(&inner.func)
                    .is_some_and(|q| kind(&q) == LayerKind::Dropout && is_module_form(&q));
                let in_forward = call
                    .function
                    .is_some_and(|f| index.functions[f].name == "forward");
                if built && in_forward {
                    let layer = ctx.text(inner.range()).to_string();
                    let message = format!(
                        "`{}` builds a new `{layer}` on every call: the layer is not registered with the model and is always in training mode, so `model.eval()` never turns this dropout off",
                        ctx.text(call.range())
                    );
                    let fix = Fix::new(
                        "Create the layer once in __init__ (`self.drop = nn.Dropout(p)`) and call `self.drop(x)` in forward",
                    );
                    ctx.report(call.range(), message, Some(fix));
                }
            }
            continue;
        };
        if kind(q) != LayerKind::Dropout || is_module_form(q) {
            continue;
        }
        if call.keyword("training").is_some() || call.arg(2).is_some() {
            continue;
        }
        // `if self.training and p > 0: x = F.dropout(x, p)` (kuangliu's EfficientNet), or an
        // early `if not self.training: return x`: the method already looks at the mode.
        let method = call.function.map(|f| index.functions[f].def.range);
        if method.is_some_and(|r| ctx.text(r).contains("training")) {
            continue;
        }
        if call.expr.arguments.keywords.iter().any(|k| k.arg.is_none())
            || call
                .expr
                .arguments
                .args
                .iter()
                .any(|a| matches!(a, ruff_python_ast::Expr::Starred(_)))
        {
            continue; // **kwargs / *args may pass it
        }
        let text = ctx.text(call.range()).to_string();
        let message = format!(
            "`{text}` has no `training=` argument, which defaults to True: this dropout stays on after `model.eval()`, so evaluation and inference are random"
        );
        let fix = Fix::new("Pass `training=self.training`").with_replacement(with_training(&text));
        ctx.report(call.range(), message, Some(fix));
    }
}

/// `nn.Dropout` (a module class) rather than `F.dropout` (a function).
fn is_module_form(qualified: &str) -> bool {
    qualified
        .rsplit('.')
        .next()
        .is_some_and(|s| s.starts_with(|c: char| c.is_ascii_uppercase()))
}

/// The call with `training=self.training` added before its closing parenthesis.
fn with_training(call: &str) -> String {
    crate::context::with_keyword(call, "training=self.training")
}

#[cfg(test)]
mod tests {
    use super::with_training;

    #[test]
    fn adds_the_keyword() {
        assert_eq!(
            with_training("F.dropout(x, p=0.5)"),
            "F.dropout(x, p=0.5, training=self.training)"
        );
        assert_eq!(
            with_training("F.dropout(\n    x,\n)"),
            "F.dropout(\n    x,\n    training=self.training,\n)"
        );
    }
}
