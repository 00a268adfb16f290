use mleng_diagnostics::{Area, Fix, Severity};
use mleng_python::index::literals::{dotted, number};
use ruff_python_ast::visitor::{walk_expr, walk_stmt, Visitor};
use ruff_python_ast::{Expr, Operator, Stmt};
use ruff_text_size::{Ranged, TextRange};

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "CV019",
    name: "divided-by-255-twice",
    area: Area::Cv,
    severity: Severity::Warning,
    fix: None,
    summary: "An image already divided by 255 is divided by 255 again: pixel values end up in [0, 0.004].",
    docs: r#"## What it does
Follows, inside one function (or a script's top level), the names that hold a value divided by
255 (`img / 255.0`, `x.div(255)`, `x /= 255`, and what is computed from them:
`torch.from_numpy(img).float()`, a transpose, a slice) and finds a second division by 255 of
such a value. Divisions in exclusive branches (`if ...: x = x / 255` / `else:`) and values
multiplied by 255 again in between are left alone.

## Why is this bad?
The model then sees pixels in `[0, 1/255]` instead of `[0, 1]`: almost constant inputs for
a network trained (or pretrained) on the usual range. Nothing fails; detection and
classification quality collapse, or a pretrained model seems to "not work" on your data. The
usual shape is a preprocessing helper that scales with NumPy and a second line, written later,
that scales again with `torch`.

## Example
```python
img_ = img[:, :, ::-1].transpose((2, 0, 1))
img_ = img_[np.newaxis, :, :, :] / 255.0
img_ = torch.from_numpy(img_).float().div(255.0).unsqueeze(0)
```

## Use instead
```python
img_ = img[:, :, ::-1].transpose((2, 0, 1)).copy()
img_ = torch.from_numpy(img_).float().div(255.0).unsqueeze(0)
```

## Fix
None: which of the two scalings to keep (the NumPy one or the `torch` one) is the author's
choice; the finding names both lines.

## References
- pytorch-yolo-v3's `prep_image` fix ("division with 255 twice instead of once", ayooshkathuria/pytorch-yolo-v3 commit c4b7841).
- torchvision models expect inputs "loaded in to a range of [0, 1]": <https://pytorch.org/vision/0.8/models.html>
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    let text = &index.source.text;
    if !text.contains("255") {
        return;
    }
    let mut scopes: Vec<&[Stmt]> = vec![&index.module.body];
    scopes.extend(index.functions.iter().map(|f| f.def.body.as_slice()));
    let mut found = Vec::new();
    for body in scopes {
        let mut steps = Steps::default();
        for stmt in body {
            steps.visit_stmt(stmt);
        }
        found.extend(twice(ctx, &steps.steps));
    }
    for (second, first, name) in found {
        let message = format!(
            "`{name}` was already divided by 255 ({}) and is divided by 255 again here: the pixels end up in [0, 0.004] instead of [0, 1]",
            ctx.where_is(first)
        );
        let fix = Fix::new("Divide by 255 once (keep one of the two scalings)");
        ctx.report(second, message, Some(fix));
    }
}

/// An assignment of a function's body, in source order.
struct Step<'a> {
    /// The names it binds (`img_`, `x`); a tuple target binds each name.
    targets: Vec<String>,
    /// What is assigned (the right-hand side; for `x /= 255`, the augmented statement).
    value: Option<&'a Expr>,
    /// `x /= 255`: divides its target by 255 in place.
    divides_in_place: bool,
    range: TextRange,
}

#[derive(Default)]
struct Steps<'a> {
    steps: Vec<Step<'a>>,
}

impl<'a> Visitor<'a> for Steps<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            // Another scope: judged on its own.
            Stmt::FunctionDef(_) | Stmt::ClassDef(_) => {}
            Stmt::Assign(assign) => {
                let mut targets = Vec::new();
                for target in &assign.targets {
                    collect_targets(target, &mut targets);
                }
                self.steps.push(Step {
                    targets,
                    value: Some(&assign.value),
                    divides_in_place: false,
                    range: assign.range,
                });
            }
            Stmt::AugAssign(aug) => {
                let mut targets = Vec::new();
                collect_targets(&aug.target, &mut targets);
                let divides = aug.op == Operator::Div && is_255(&aug.value);
                self.steps.push(Step {
                    targets,
                    value: (!divides).then_some(aug.value.as_ref()),
                    divides_in_place: divides,
                    range: aug.range,
                });
            }
            // `return x / 255.0`: a division that binds nothing.
            Stmt::Return(ret) => {
                if let Some(value) = &ret.value {
                    self.steps.push(Step {
                        targets: Vec::new(),
                        value: Some(value),
                        divides_in_place: false,
                        range: ret.range,
                    });
                }
            }
            _ => walk_stmt(self, stmt),
        }
    }
}

fn collect_targets(target: &Expr, out: &mut Vec<String>) {
    match target {
        Expr::Tuple(t) => t.elts.iter().for_each(|e| collect_targets(e, out)),
        Expr::List(l) => l.elts.iter().for_each(|e| collect_targets(e, out)),
        Expr::Name(_) | Expr::Attribute(_) => out.extend(dotted(target)),
        // `trains[0] /= 255`: one element of a container (MultiBench scales `trains[0]` and
        // `trains[1]` separately); not followed.
        _ => {}
    }
}

fn is_255(expr: &Expr) -> bool {
    number(expr) == Some(255.0)
}

/// The second divisions by 255 of a value already divided: (the second division, the first,
/// the name that carried the scaled value).
fn twice(ctx: &Context, steps: &[Step]) -> Vec<(TextRange, TextRange, String)> {
    // Name -> where it was divided by 255.
    let mut scaled: Vec<(String, TextRange)> = Vec::new();
    let mut out = Vec::new();
    for step in steps {
        if step.divides_in_place {
            for target in &step.targets {
                if let Some(&(_, first)) = scaled.iter().find(|(n, _)| n == target) {
                    if !super::super::training::exclusive_ranges(ctx, first, step.range) {
                        out.push((step.range, first, target.clone()));
                    }
                }
                scaled.retain(|(n, _)| n != target);
                scaled.push((target.clone(), step.range));
            }
            continue;
        }
        let Some(value) = step.value else {
            continue;
        };
        let mut finder = Finder::default();
        finder.visit_expr(value);
        // A scaled name divided again.
        for (division, dividend) in &finder.divisions {
            let names = names_in(dividend);
            if let Some((name, first)) = scaled
                .iter()
                .find(|(n, _)| names.contains(n))
                .map(|(n, r)| (n.clone(), *r))
            {
                if !super::super::training::exclusive_ranges(ctx, first, step.range) {
                    out.push((*division, first, name));
                }
            }
        }
        let reads_scaled = names_in(value)
            .iter()
            .find_map(|n| scaled.iter().find(|(s, _)| s == n).map(|(_, r)| *r));
        let new_scale = if finder.rescaled {
            None
        } else if let Some(&(division, _)) = finder.divisions.first() {
            Some(division)
        } else {
            reads_scaled
        };
        for target in &step.targets {
            scaled.retain(|(n, _)| n != target);
            if let Some(at) = new_scale {
                scaled.push((target.clone(), at));
            }
        }
    }
    out
}

#[derive(Default)]
struct Finder<'a> {
    /// (the division, its dividend)
    divisions: Vec<(TextRange, &'a Expr)>,
    /// `* 255` somewhere: the value is brought back to 0-255.
    rescaled: bool,
}

impl<'a> Visitor<'a> for Finder<'a> {
    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::BinOp(b) if b.op == Operator::Div && is_255(&b.right) => {
                self.divisions.push((b.range, &b.left));
            }
            Expr::BinOp(b) if b.op == Operator::Mult && (is_255(&b.right) || is_255(&b.left)) => {
                self.rescaled = true;
            }
            // `x.div(255)`, `x.div_(255.0)`, `x.true_divide(255)`.
            Expr::Call(c) => {
                if let Expr::Attribute(a) = c.func.as_ref() {
                    if matches!(a.attr.as_str(), "div" | "div_" | "true_divide")
                        && c.arguments.args.first().is_some_and(is_255)
                    {
                        self.divisions.push((c.range(), &a.value));
                    }
                    if matches!(a.attr.as_str(), "mul" | "mul_")
                        && c.arguments.args.first().is_some_and(is_255)
                    {
                        self.rescaled = true;
                    }
                }
            }
            _ => {}
        }
        walk_expr(self, expr);
    }
}

/// Every dotted name read in `expr`.
fn names_in(expr: &Expr) -> Vec<String> {
    #[derive(Default)]
    struct Names(Vec<String>);
    impl<'a> Visitor<'a> for Names {
        fn visit_expr(&mut self, expr: &'a Expr) {
            match expr {
                Expr::Name(_) | Expr::Attribute(_) => {
                    if let Some(d) = dotted(expr) {
                        self.0.push(d);
                    }
                    if let Expr::Attribute(a) = expr {
                        self.visit_expr(&a.value);
                    }
                }
                _ => walk_expr(self, expr),
            }
        }
    }
    let mut names = Names::default();
    names.visit_expr(expr);
    names.0
}
