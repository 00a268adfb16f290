use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_knowledge::losses::{activation, activation_method, Activation};
use mleng_python::index::literals::number;
use ruff_python_ast::visitor::{walk_expr, Visitor};
use ruff_python_ast::{CmpOp, Expr};
use ruff_text_size::{Ranged, TextRange};

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "TRN024",
    name: "probability-compared-with-zero",
    area: Area::Training,
    severity: Severity::Error,
    fix: Some(Applicability::Unsafe),
    summary: "The output of sigmoid or softmax compared with 0: probabilities are always above 0, so the test is always true.",
    docs: r#"## What it does
Finds a comparison of a probability with zero: `torch.sigmoid(x) > 0`, `probs >= 0` where
`probs = F.softmax(logits, dim=1)`, `0 < x.sigmoid()`. The threshold meant for logits (0) is
applied after the activation, whose output lies in (0, 1).

## Why is this bad?
Sigmoid and softmax outputs are strictly positive (they reach 0.0 only by underflowing for
logits below about -88 in float32), so `sigmoid(x) > 0` is true for every element: every pixel is
foreground, every label is predicted. Metrics computed on such masks (Dice, IoU, F1, accuracy)
are wrong in a way that still looks plausible, so the error survives until someone looks at
the predictions. The two consistent forms are `logits > 0` and `sigmoid(logits) > 0.5`, which
select the same elements.

## Example
```python
mask_pred = (torch.sigmoid(mask_pred) > 0).float()
```

## Use instead
```python
mask_pred = (torch.sigmoid(mask_pred) > 0.5).float()
```

## Fix
Unsafe: `--unsafe-fixes` changes the threshold to 0.5 (the probability that corresponds to
logit 0). Right when the comparison is a decision threshold, which is what a comparison with
zero after an activation almost always is; if a different operating point was meant, choose
it yourself.

## References
- `torch.sigmoid` (output in (0, 1)): <https://pytorch.org/docs/stable/generated/torch.sigmoid.html>
- Pytorch-UNet's evaluation fix, `(F.sigmoid(mask_pred) > 0)` to `> 0.5` (milesial/Pytorch-UNet commit 2b649bc).
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    let mut finder = Finder {
        ctx,
        found: Vec::new(),
    };
    for stmt in &index.module.body {
        ruff_python_ast::visitor::walk_stmt(&mut finder, stmt);
    }
    let found = std::mem::take(&mut finder.found);
    for (zero, probability, activation) in found {
        let (name, meant, fix) = match activation {
            Activation::Softmax => (
                "softmax",
                "for a decision take the argmax, or compare with a probability threshold",
                Fix::new("Take the argmax over the class dimension, or compare with a probability threshold"),
            ),
            _ => (
                "sigmoid",
                "the logit threshold 0 is probability 0.5",
                Fix::new("Compare the probability with 0.5 (or the logits with 0)")
                    .with_replacement("0.5".to_string()),
            ),
        };
        let message = format!(
            "`{}` is compared with 0 after {name}, whose outputs are always above 0: the test is true for every element ({meant})",
            ctx.brief(probability)
        );
        ctx.report(zero, message, Some(fix));
    }
}

struct Finder<'c, 'i, 'a> {
    ctx: &'c Context<'i, 'a>,
    /// (the literal 0, the probability compared, its activation)
    found: Vec<(TextRange, TextRange, Activation)>,
}

impl<'a> Visitor<'a> for Finder<'_, '_, 'a> {
    fn visit_expr(&mut self, expr: &'a Expr) {
        if let Expr::Compare(cmp) = expr {
            if let ([op], [right]) = (cmp.ops.as_ref(), cmp.comparators.as_ref()) {
                // `p > 0`, `p >= 0`, and the mirrored `0 < p`, `0 <= p`.
                let (probability, zero) = match op {
                    CmpOp::Gt | CmpOp::GtE => (cmp.left.as_ref(), right),
                    CmpOp::Lt | CmpOp::LtE => (right, cmp.left.as_ref()),
                    _ => (right, right),
                };
                if !std::ptr::eq(probability, zero) && number(zero) == Some(0.0) {
                    if let Some(activation) = probability_activation(self.ctx, probability) {
                        self.found
                            .push((zero.range(), probability.range(), activation));
                    }
                }
            }
        }
        walk_expr(self, expr);
    }
}

/// The activation whose output `expr` is: a sigmoid or softmax call, or a name bound to one
/// in the same function before the comparison.
fn probability_activation(ctx: &Context, expr: &Expr) -> Option<Activation> {
    let index = ctx.index;
    let call = match expr {
        Expr::Call(c) => c,
        Expr::Name(_) => {
            let function = index
                .functions
                .iter()
                .enumerate()
                .filter(|(_, f)| f.def.range.contains_range(expr.range()))
                .min_by_key(|(_, f)| f.def.range.len())
                .map(|(id, _)| id);
            let id = index.producer(function, expr, expr.range().start())?;
            index.calls[id].expr
        }
        _ => return None,
    };
    let by_name = index
        .qualified_name(&call.func)
        .and_then(|q| activation(&q));
    let by_method = match call.func.as_ref() {
        Expr::Attribute(a) if index.qualified_name(&call.func).is_none() => {
            activation_method(a.attr.as_str())
        }
        _ => None,
    };
    by_name
        .or(by_method)
        .filter(|a| matches!(a, Activation::Sigmoid | Activation::Softmax))
}
