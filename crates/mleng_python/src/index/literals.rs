//! Reading literal values out of expressions: numbers, tuples of numbers, strings, booleans.
//! Anything that is not a literal is `None`: rules must not guess a value they cannot see.

use ruff_python_ast::{Expr, ExprCall, Number, UnaryOp};

pub fn number(expr: &Expr) -> Option<f64> {
    match expr {
        Expr::NumberLiteral(lit) => match &lit.value {
            Number::Int(int) => int.as_i64().map(|v| v as f64),
            Number::Float(value) => Some(*value),
            Number::Complex { .. } => None,
        },
        Expr::UnaryOp(op) if op.op == UnaryOp::USub => number(&op.operand).map(|v| -v),
        Expr::UnaryOp(op) if op.op == UnaryOp::UAdd => number(&op.operand),
        _ => None,
    }
}

/// `(0.485, 0.456, 0.406)` or `[0.5] * 3` style sequences of numbers.
pub fn numbers(expr: &Expr) -> Option<Vec<f64>> {
    match expr {
        Expr::Tuple(tuple) => tuple.elts.iter().map(number).collect(),
        Expr::List(list) => list.elts.iter().map(number).collect(),
        Expr::BinOp(binop) if binop.op == ruff_python_ast::Operator::Mult => {
            let items = numbers(&binop.left)?;
            let times = number(&binop.right)?;
            if !(1.0..=16.0).contains(&times) || times.fract() != 0.0 {
                return None;
            }
            Some(
                items
                    .iter()
                    .copied()
                    .cycle()
                    .take(items.len() * times as usize)
                    .collect(),
            )
        }
        _ => number(expr).map(|v| vec![v]),
    }
}

pub fn string(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::StringLiteral(lit) => Some(lit.value.to_str()),
        _ => None,
    }
}

pub fn boolean(expr: &Expr) -> Option<bool> {
    match expr {
        Expr::BooleanLiteral(lit) => Some(lit.value),
        _ => None,
    }
}

pub fn is_none(expr: &Expr) -> bool {
    matches!(expr, Expr::NoneLiteral(_))
}

/// Dotted text of a name/attribute chain (`self.model.fc`), looking through subscripts
/// (`self.optimizers[0]` -> `self.optimizers`). `None` for anything else.
pub fn dotted(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Name(name) => Some(name.id.as_str().to_string()),
        Expr::Attribute(attr) => {
            let mut base = dotted(&attr.value)?;
            base.push('.');
            base.push_str(attr.attr.as_str());
            Some(base)
        }
        Expr::Subscript(sub) => dotted(&sub.value),
        _ => None,
    }
}

/// The first part of [`dotted`]'s name (the name the chain starts from), without building it.
pub fn head_name(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Name(name) => Some(name.id.as_str()),
        Expr::Attribute(attr) => head_name(&attr.value),
        Expr::Subscript(sub) => head_name(&sub.value),
        _ => None,
    }
}

/// Methods of `nn.Module` (and of tensors) that return the object itself, so that
/// `Net(cfg).to(device)` is still a `Net` and `nn.CrossEntropyLoss().cuda()` still the loss.
const RETURNS_SELF: &[&str] = &[
    "to",
    "cuda",
    "cpu",
    "float",
    "half",
    "double",
    "bfloat16",
    "train",
    "eval",
    "requires_grad_",
    "share_memory",
    "to_empty",
];

/// The constructor call under a chain of self-returning methods: `Net(cfg).to(device).train()`
/// -> `Net(cfg)`. The call itself when there is no such chain.
pub fn unchain(call: &ExprCall) -> &ExprCall {
    let mut call = call;
    while let Expr::Attribute(attr) = call.func.as_ref() {
        match attr.value.as_ref() {
            Expr::Call(inner) if RETURNS_SELF.contains(&attr.attr.as_str()) => call = inner,
            _ => break,
        }
    }
    call
}
