use mleng_diagnostics::{Area, Fix, Severity};
use mleng_python::index::literals::{dotted, number, string};
use mleng_python::index::{CallId, FunctionId};
use ruff_python_ast::visitor::{walk_expr, walk_stmt, Visitor};
use ruff_python_ast::{Expr, ExprContext, Operator, Stmt};
use ruff_text_size::{Ranged, TextRange, TextSize};

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "PRF006",
    name: "manual-attention",
    area: Area::Performance,
    severity: Severity::Info,
    fix: None,
    summary: "Attention written by hand (`softmax(q @ k.transpose(-2, -1) * scale) @ v`) where `F.scaled_dot_product_attention` computes the same with fused kernels.",
    docs: r#"## What it does
Finds scaled dot-product attention written out in a module: a softmax over the last dimension
of `q @ k.transpose(-2, -1)` (or `torch.matmul(q, k.transpose(...))`, `k.mT`,
`torch.einsum("b h i d, b h j d -> b h i j", q, k)`, with scaling,
masking by `masked_fill` or an added bias on the way), whose result (possibly through dropout)
multiplies the values: `attn @ v`. It is not reported where the attention weights are used for
anything else (returned, stored, logged: `scaled_dot_product_attention` does not return them),
nor in files that already call `scaled_dot_product_attention`, FlashAttention or xFormers.

## Why is this bad?
Written by hand, attention materializes the full `(batch, heads, L, S)` score matrix, its
softmax and its dropout mask in memory, each read and written by a separate kernel, and keeps
them for the backward pass. `torch.nn.functional.scaled_dot_product_attention` (PyTorch 2.0 and
later) computes the same result with fused FlashAttention or memory-efficient kernels that
never store the score matrix: memory grows linearly instead of quadratically with sequence
length, and the PyTorch SDPA tutorial reports several-fold speed-ups on long sequences. It
takes the mask (`attn_mask`, boolean or an additive bias), `dropout_p`, `is_causal` and
`scale`, so most hand-written attention maps onto one call.

The effect is documented (the SDPA tutorial and documentation, and the FlashAttention paper);
it was not measured here.

## Example
```python
def forward(self, x):
    q, k, v = self.qkv(x).chunk(3, dim=-1)  # (B, H, N, D) after reshaping
    attn = (q @ k.transpose(-2, -1)) * self.scale
    attn = attn.softmax(dim=-1)
    attn = self.attn_drop(attn)
    x = attn @ v
```

## Use instead
```python
def forward(self, x):
    q, k, v = self.qkv(x).chunk(3, dim=-1)
    x = F.scaled_dot_product_attention(
        q, k, v, dropout_p=self.attn_drop.p if self.training else 0.0, scale=self.scale
    )
```

## References
- `torch.nn.functional.scaled_dot_product_attention`: <https://pytorch.org/docs/stable/generated/torch.nn.functional.scaled_dot_product_attention.html>
- PyTorch tutorial, "(Beta) Implementing High-Performance Transformers with Scaled Dot Product Attention": <https://pytorch.org/tutorials/intermediate/scaled_dot_product_attention_tutorial.html>
- Dao et al., "FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness", NeurIPS 2022: <https://arxiv.org/abs/2205.14135>
"#,
    check,
};

/// Already uses a fused attention kernel somewhere in the file (often as the fast path next to
/// the hand-written fallback).
const FUSED: &[&str] = &[
    "scaled_dot_product_attention",
    "flash_attn",
    "xformers",
    "memory_efficient_attention",
];

const SOFTMAX: &[&str] = &[
    "torch.softmax",
    "torch.nn.functional.softmax",
    "torch.Tensor.softmax",
];

fn is_matmul_call(ctx: &Context, expr: &Expr) -> bool {
    matches!(expr, Expr::Call(c) if ctx.index.qualified_name(&c.func).is_some_and(|q| matches!(q.as_str(), "torch.matmul" | "torch.bmm" | "torch.einsum")))
}

/// The last dimension (`dim=-1`, or no dimension for a `nn.Softmax(dim=-1)` layer).
fn over_last_dim(ctx: &Context, call: CallId) -> bool {
    let c = &ctx.index.calls[call];
    let dim = c.keyword("dim").or_else(|| {
        // torch.softmax(x, -1) / F.softmax(x, -1); x.softmax(-1)
        if c.qualified.is_some() {
            c.arg(1)
        } else {
            c.arg(0)
        }
    });
    let is_last = |e: &Expr| number(e) == Some(-1.0);
    match dim {
        Some(e) => is_last(e),
        None => false,
    }
}

/// The softmax call's input, if the call is a softmax over the last dimension.
fn softmax_input<'a>(ctx: &Context<'_, 'a>, id: CallId) -> Option<&'a Expr> {
    let index = ctx.index;
    let c = &index.calls[id];
    if c.qualified.as_deref().is_some_and(|q| SOFTMAX.contains(&q)) {
        return over_last_dim(ctx, id).then(|| c.expr.arguments.args.first())?;
    }
    if c.qualified.is_none() && c.method == Some("softmax") {
        if let Expr::Attribute(attr) = c.expr.func.as_ref() {
            return over_last_dim(ctx, id).then_some(attr.value.as_ref());
        }
    }
    // `self.softmax(x)` where `self.softmax = nn.Softmax(dim=-1)`.
    let attr = dotted(&c.expr.func)?;
    let attr = attr.strip_prefix("self.")?;
    let layer = index.layer(c.class?, attr)?;
    if layer.constructor.as_deref() != Some("torch.nn.Softmax") {
        return None;
    }
    let dim = layer
        .call
        .arguments
        .keywords
        .iter()
        .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == "dim"))
        .map(|k| &k.value)
        .or_else(|| layer.call.arguments.args.first())?;
    (number(dim) == Some(-1.0)).then(|| c.expr.arguments.args.first())?
}

/// `k.transpose(-2, -1)`, `k.transpose(2, 3)`, `k.permute(...)`, `k.mT`, `k.T`.
fn transposed(
    ctx: &Context,
    function: Option<FunctionId>,
    expr: &Expr,
    at: TextSize,
    depth: u32,
) -> bool {
    match expr {
        Expr::Call(c) => {
            matches!(c.func.as_ref(), Expr::Attribute(a) if matches!(a.attr.as_str(), "transpose" | "permute" | "t"))
        }
        Expr::Attribute(a) => matches!(a.attr.as_str(), "mT" | "T"),
        Expr::Name(_) if depth < 3 => bound_value(ctx, function, expr, at)
            .is_some_and(|(v, at)| transposed(ctx, function, v, at, depth + 1)),
        _ => false,
    }
}

/// The value last bound to a plain name before `at` in the same function.
fn bound_value<'a>(
    ctx: &Context<'_, 'a>,
    function: Option<FunctionId>,
    name: &Expr,
    at: TextSize,
) -> Option<(&'a Expr, TextSize)> {
    let Expr::Name(n) = name else {
        return None;
    };
    ctx.index
        .binding_before(function, n.id.as_str(), at)
        .map(|b| (b.value, b.range.start()))
}

/// An einsum that contracts the last dimension of two operands into their second-to-last ones:
/// `"b h i d, b h j d -> b h i j"` (`q @ k^T` per head).
fn query_key_product(spec: &str) -> bool {
    let output = spec.split("->").nth(1).unwrap_or("");
    last_two(spec).is_some_and(|[[i, d], [j, d2], [oi, oj]]| {
        d == d2 && i != j && oi == i && oj == j && !output.contains(d)
    })
}

/// The last two letters of each operand and of the output of a two-operand einsum.
fn last_two(spec: &str) -> Option<[[char; 2]; 3]> {
    let spec: String = spec.chars().filter(|c| !c.is_whitespace()).collect();
    let (inputs, output) = spec.split_once("->")?;
    let (a, b) = inputs.split_once(',')?;
    let two = |s: &str| -> Option<[char; 2]> {
        let v: Vec<char> = s.chars().collect();
        match v.as_slice() {
            [.., x, y] => Some([*x, *y]),
            _ => None,
        }
    };
    Some([two(a)?, two(b)?, two(output)?])
}

/// A matrix product of the weights with the values: `attn @ v`, `torch.matmul(attn, v)`, or an
/// einsum that contracts the weights' last dimension (`"b h i j, b h j d -> b h i d"`).
fn value_product(call: &ruff_python_ast::ExprCall) -> bool {
    match call.arguments.args.first().and_then(string) {
        None => true,
        Some(spec) => last_two(spec).is_some_and(|[[i, j], [j2, d], [oi, od]]| {
            j == j2
                && oi == i
                && od == d
                && i != j
                && !spec.split("->").nth(1).is_some_and(|o| o.contains(j))
        }),
    }
}

/// Attention scores: `q @ k^T` (with a transposed operand), scaled, masked or biased.
fn scores(
    ctx: &Context,
    function: Option<FunctionId>,
    expr: &Expr,
    at: TextSize,
    depth: u32,
) -> bool {
    if depth > 4 {
        return false;
    }
    match expr {
        Expr::BinOp(b) if b.op == Operator::MatMult => transposed(ctx, function, &b.right, at, 0),
        Expr::BinOp(b)
            if matches!(
                b.op,
                Operator::Mult | Operator::Div | Operator::Add | Operator::Sub
            ) =>
        {
            scores(ctx, function, &b.left, at, depth + 1)
                || scores(ctx, function, &b.right, at, depth + 1)
        }
        Expr::Call(c) => {
            if let Some(q) = ctx.index.qualified_name(&c.func) {
                return match q.as_str() {
                    "torch.matmul" | "torch.bmm" => c
                        .arguments
                        .args
                        .get(1)
                        .is_some_and(|k| transposed(ctx, function, k, at, 0)),
                    "torch.einsum" => c
                        .arguments
                        .args
                        .first()
                        .and_then(string)
                        .is_some_and(query_key_product),
                    _ => false,
                };
            }
            match c.func.as_ref() {
                Expr::Attribute(a)
                    if matches!(
                        a.attr.as_str(),
                        "masked_fill"
                            | "masked_fill_"
                            | "float"
                            | "to"
                            | "type_as"
                            | "mul"
                            | "div"
                            | "add"
                    ) =>
                {
                    scores(ctx, function, &a.value, at, depth + 1)
                }
                _ => false,
            }
        }
        Expr::Name(_) => bound_value(ctx, function, expr, at)
            .is_some_and(|(v, at)| scores(ctx, function, v, at, depth + 1)),
        _ => false,
    }
}

/// Every read of a plain name in a function, and the left operands of matrix products.
#[derive(Default)]
struct Uses<'a> {
    reads: Vec<(&'a str, TextRange)>,
    /// `a @ b` and `torch.matmul(a, b)` / `torch.bmm(a, b)`: the left operand's range.
    matmul_lefts: Vec<TextRange>,
}

struct Walker<'c, 'i, 'a> {
    ctx: &'c Context<'i, 'a>,
    uses: Uses<'a>,
}

impl<'a> Visitor<'a> for Walker<'_, '_, 'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        walk_stmt(self, stmt);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Name(n) if n.ctx == ExprContext::Load => {
                self.uses.reads.push((n.id.as_str(), n.range))
            }
            Expr::BinOp(b) if b.op == Operator::MatMult => {
                self.uses.matmul_lefts.push(b.left.range())
            }
            Expr::Call(c) if is_matmul_call(self.ctx, expr) && value_product(c) => {
                if let Some(first) = c
                    .arguments
                    .args
                    .iter()
                    .find(|a| !matches!(a, Expr::StringLiteral(_)))
                {
                    self.uses.matmul_lefts.push(first.range());
                }
            }
            _ => {}
        }
        walk_expr(self, expr);
    }
}

/// `self.attn_drop(x)`, `F.dropout(x, p, training)`: the range of `x`.
fn dropout_input(value: &Expr) -> Option<TextRange> {
    let Expr::Call(c) = value else {
        return None;
    };
    let arg = c.arguments.args.first()?;
    dotted(&c.func)
        .is_some_and(|f| f.to_ascii_lowercase().contains("drop"))
        .then(|| arg.range())
}

/// A read of a weights name after it was bound to the weights.
fn is_weights_read(names: &[(&str, TextSize)], name: &str, range: TextRange) -> bool {
    names
        .iter()
        .any(|(n, bound)| *n == name && range.start() >= *bound)
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    let text = &index.source.text;
    if ctx.is_test_file() || !text.contains("softmax") || FUSED.iter().any(|w| text.contains(w)) {
        return;
    }
    let mut reported = Vec::new();
    for (id, call) in index.calls.iter().enumerate() {
        let Some(function) = call.function else {
            continue;
        };
        let in_module = call.class.is_some_and(|c| index.classes[c].is_module);
        let name = index.functions[function].name.to_ascii_lowercase();
        if !in_module && !name.contains("attn") && !name.contains("attention") {
            continue;
        }
        let Some(input) = softmax_input(ctx, id) else {
            continue;
        };
        if !scores(ctx, Some(function), input, call.start(), 0) {
            continue;
        }
        // The weights: the softmax call, or the names it flows into (`attn = softmax(...)`,
        // `attn = self.attn_drop(attn)`), must be used only to weight the values.
        let def = index.functions[function].def;
        let mut walker = Walker {
            ctx,
            uses: Uses::default(),
        };
        for stmt in &def.body {
            walker.visit_stmt(stmt);
        }
        let uses = walker.uses;
        let mut weights: Vec<TextRange> = vec![call.range()];
        // Names bound to the weights, with where that binding ends (reads before it are of
        // another value: `att = F.softmax(att, dim=-1)` reads the scores).
        let mut names: Vec<(&str, TextSize)> = Vec::new();
        // Follow `name = <weights>` and `name = dropout(<weights>)` a few times.
        for _ in 0..3 {
            for b in index
                .bindings
                .iter()
                .filter(|b| b.function == Some(function))
            {
                let value_range = b.value.range();
                let is_weights = weights.contains(&value_range)
                    || dropout_input(b.value).is_some_and(|r| weights.contains(&r));
                if is_weights
                    && !b.target.contains('.')
                    && !names.iter().any(|(n, _)| *n == b.target.as_str())
                {
                    names.push((b.target.as_str(), b.range.end()));
                }
            }
            for (name, range) in &uses.reads {
                if is_weights_read(&names, name, *range) && !weights.contains(range) {
                    weights.push(*range);
                }
            }
        }
        let weights_matmul = weights.iter().any(|w| uses.matmul_lefts.contains(w));
        if !weights_matmul {
            continue;
        }
        // Each read of a weights name is either the value matmul or a dropout's input.
        let other_use = uses.reads.iter().any(|(name, range)| {
            is_weights_read(&names, name, *range)
                && !uses.matmul_lefts.contains(range)
                && !index
                    .bindings
                    .iter()
                    .any(|b| dropout_input(b.value) == Some(*range))
        });
        if other_use || names.len() > 3 || reported.contains(&function) {
            continue;
        }
        reported.push(function);
        let message = "Attention written by hand: the full score matrix, its softmax and dropout are stored for backward; `F.scaled_dot_product_attention(q, k, v, attn_mask=..., dropout_p=..., scale=...)` (PyTorch >= 2.0) computes the same with fused kernels that do not";
        let fix = Fix::new("Use `torch.nn.functional.scaled_dot_product_attention`").with_example(
            "x = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout_p if self.training else 0.0, scale=self.scale)",
        );
        ctx.report(call.range(), message, Some(fix));
    }
}
