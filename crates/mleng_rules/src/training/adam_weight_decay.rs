use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_python::index::literals::number;
use ruff_python_ast::Expr;
use ruff_text_size::Ranged;

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "TRN018",
    name: "adam-weight-decay",
    area: Area::Training,
    severity: Severity::Info,
    fix: Some(Applicability::Unsafe),
    summary: "torch.optim.Adam with weight_decay > 0 applies L2 regularisation, not decoupled weight decay; AdamW was almost certainly meant.",
    docs: r#"## What it does
Finds `torch.optim.Adam(..., weight_decay=w)` with a literal `w > 0`, or with a value read from a
config or the command line (`cfg["opt"]["decay"]`, `args.wd`): that one may be 0, so the
finding says "whenever that value is nonzero".

## Why is this bad?
`Adam`'s `weight_decay` adds `w * param` to the *gradient*, which Adam then divides by the running
RMS of the gradient: parameters with large gradients are barely regularised, those with small
gradients very strongly, and the effective decay changes with the learning-rate schedule.
Loshchilov & Hutter (2019) showed this L2 form is not equivalent to weight decay for adaptive
optimizers and generalises worse; `AdamW` applies the decay directly to the weights. Values tuned
for AdamW (0.01-0.1) are far too strong as Adam's L2 term.

## Example
```python
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-2)
```

## Use instead
```python
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
```

## Known problems
Reproducing a paper that used Adam with L2 on purpose is a legitimate reason to keep it; suppress
the finding there.

## Fix
Unsafe: `Adam` becomes `AdamW` with the same arguments. Decoupled weight decay is what the code
most likely means, but it changes the optimisation, and the best `weight_decay` for AdamW is
usually larger: retune it.

## References
- Loshchilov & Hutter, *Decoupled Weight Decay Regularization*, ICLR 2019: <https://arxiv.org/abs/1711.05101>
- PyTorch `AdamW`: <https://pytorch.org/docs/stable/generated/torch.optim.AdamW.html>
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    if !index.source.text.contains("Adam") {
        return;
    }
    for call in &index.calls {
        if call.qualified.as_deref() != Some("torch.optim.Adam")
            && call.qualified.as_deref() != Some("torch.optim.adam.Adam")
        {
            continue;
        }
        // Adam(params, lr, betas, eps, weight_decay, ...)
        let Some(wd_expr) = call.arg_or_keyword(4, "weight_decay") else {
            continue;
        };
        // A literal is judged by its value; a value from a config or the command line
        // (`cfg["opt"]["decay"]`, `args.wd`) is unknown, not absent: said conditionally.
        let wd = match number(wd_expr) {
            Some(wd) if wd <= 0.0 => continue,
            Some(wd) => wd.to_string(),
            None if matches!(
                wd_expr,
                Expr::Name(_) | Expr::Attribute(_) | Expr::Subscript(_) | Expr::Call(_)
            ) =>
            {
                ctx.brief(wd_expr.range())
            }
            None => continue,
        };
        let known = number(wd_expr).is_some();
        let func = &call.expr.func;
        let func_text = ctx.text(func.range());
        let Some(prefix) = func_text.strip_suffix("Adam") else {
            continue;
        };
        let message = if known {
            format!(
                "`{func_text}(..., weight_decay={wd})` adds L2 to the gradient, which Adam rescales per parameter: use AdamW for decoupled weight decay (Loshchilov & Hutter 2019)"
            )
        } else {
            format!(
                "`{func_text}(..., weight_decay={wd})`: whenever that value is nonzero, Adam adds it as L2 to the gradient and then rescales per parameter, so parameters are decayed unevenly; AdamW decouples it (Loshchilov & Hutter 2019)"
            )
        };
        let fix = Fix::new("Use AdamW (same arguments)").with_replacement(format!("{prefix}AdamW"));
        // The replacement covers the callee only.
        let finding = ctx.report(func.range(), message, Some(fix));
        finding
            .evidence
            .push(format!("weight_decay={wd} on torch.optim.Adam"));
    }
}
