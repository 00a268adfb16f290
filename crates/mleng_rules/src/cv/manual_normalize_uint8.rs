use mleng_diagnostics::{Area, Fix, Severity};
use mleng_python::index::literals::{dotted, numbers};
use ruff_python_ast::visitor::{walk_expr, Visitor};
use ruff_python_ast::{Expr, Operator};
use ruff_text_size::{Ranged, TextRange};

use super::transforms::format_stats;
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "CV016",
    name: "manual-normalize-uint8",
    area: Area::Cv,
    severity: Severity::Warning,
    fix: None,
    summary: "Hand-written `(img - mean) / std` with 0-1 statistics (ImageNet's 0.485, ...) on a uint8 image that was never divided by 255.",
    docs: r#"## What it does
Finds hand-written normalization `(img - mean) / std` where
- `mean` and `std` are literal statistics on the 0-1 scale (every value at most 1, such as
  ImageNet's `[0.485, 0.456, 0.406]` / `[0.229, 0.224, 0.225]` or `0.5`), written inline or bound
  to a name (`mean = np.array([...])`, `self.std = torch.tensor([...]).view(3, 1, 1)`), and
- `img` was read in the same function as 8-bit pixels: `cv2.imread`, `np.array(Image.open(...))`,
  `np.asarray(pil_image)`, `imageio.imread`, `skimage.io.imread`, `torchvision.io.read_image`,
  possibly through `cv2.resize`, `cv2.cvtColor`, `astype(np.float32)`, a transpose or a channel
  flip, and
- nothing in between divides it by 255 (`/ 255.`, `/= 255`, `ToTensor`, ...).

Statistics on the 0-255 scale (`[123.675, 116.28, 103.53]`), images whose origin is not visible
in the function, and any `255` between the read and the normalization are left alone.

## Why is this bad?
The statistics assume pixels in `[0, 1]`; the image holds `[0, 255]`. The "normalized" input is
then `(200 - 0.485) / 0.229 ≈ 871` instead of about `1.4`: activations are hundreds of times too
large for the pretrained weights, BatchNorm statistics are dominated by the first batches and
fine-tuning starts from a broken network. `astype(np.float32)` changes the type, not the range.
Nothing crashes, so it shows up only as poor accuracy.

## Example
```python
img = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB).astype(np.float32)
img = (img - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
```

## Use instead
```python
img = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
img = (img - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
```
or statistics on the 0-255 scale (`mean * 255`, `std * 255`), or `ToTensor()` followed by
`Normalize(mean, std)`. The fix is shown, not applied: where to divide (at the read, or with
`astype(np.float32) / 255.0`) is the author's choice.

## References
- torchvision models expect "images loaded in to a range of [0, 1] and then normalized using mean = [0.485, 0.456, 0.406] and std = [0.229, 0.224, 0.225]": <https://pytorch.org/vision/0.8/models.html>
- OpenCV `cv2.imread` returns 8-bit images for the default flags: <https://docs.opencv.org/4.x/d4/da8/group__imgcodecs.html#ga288b8b3da0892bd651fce07b3bbd3a56>
- `torchvision.io.read_image` returns a `uint8` tensor: <https://pytorch.org/vision/stable/generated/torchvision.io.read_image.html>
"#,
    check,
};

/// Calls that return 8-bit pixels.
const READERS: &[&str] = &[
    "cv2.imread",
    "imageio.imread",
    "imageio.v2.imread",
    "imageio.v3.imread",
    "skimage.io.imread",
    "torchvision.io.read_image",
    "torchvision.io.decode_image",
    "torchvision.io.decode_jpeg",
    "PIL.Image.open",
];

/// Calls and methods that keep an image's value range (and dtype or just the type).
const KEEPS_RANGE: &[&str] = &[
    "cv2.resize",
    "cv2.cvtColor",
    "cv2.copyMakeBorder",
    "cv2.flip",
    "numpy.array",
    "numpy.asarray",
    "numpy.ascontiguousarray",
    "numpy.float32",
    "numpy.transpose",
    "numpy.fliplr",
    "numpy.flipud",
    "torch.from_numpy",
    "torch.tensor",
    "torch.as_tensor",
];

const KEEPS_RANGE_METHODS: &[&str] = &[
    "astype",
    "float",
    "double",
    "transpose",
    "permute",
    "copy",
    "convert",
    "to",
    "unsqueeze",
    "contiguous",
];

/// Literal statistics in an expression: `[0.485, ...]`, `np.array([...])`,
/// `torch.tensor([...]).view(3, 1, 1)`, `np.array([...], dtype=np.float32).reshape(1, 1, 3)`.
fn literal_stats(expr: &Expr) -> Option<Vec<f64>> {
    match expr {
        Expr::Call(call) => match call.func.as_ref() {
            Expr::Attribute(attr)
                if matches!(
                    attr.attr.as_str(),
                    "view" | "reshape" | "to" | "float" | "astype" | "cuda" | "unsqueeze"
                ) && !matches!(attr.value.as_ref(), Expr::Name(_)) =>
            {
                literal_stats(&attr.value)
            }
            _ => {
                let name = dotted(&call.func)?;
                let last = name.rsplit('.').next().unwrap_or(&name);
                if !matches!(
                    last,
                    "array" | "asarray" | "tensor" | "as_tensor" | "Tensor" | "float32"
                ) {
                    return None;
                }
                literal_stats(call.arguments.args.first()?)
            }
        },
        // `np.array([...])[:, None, None]`
        Expr::Subscript(sub) if !matches!(sub.value.as_ref(), Expr::Name(_)) => {
            literal_stats(&sub.value)
        }
        Expr::List(_) | Expr::Tuple(_) | Expr::NumberLiteral(_) | Expr::BinOp(_) => numbers(expr),
        _ => None,
    }
}

/// The 0-1 statistics an operand stands for: a literal, or a name bound only to such literals.
fn unit_stats(
    ctx: &Context,
    expr: &Expr,
    function: Option<usize>,
    at: TextRange,
) -> Option<Vec<f64>> {
    let stats = match literal_stats(expr) {
        Some(stats) => stats,
        None => {
            let name = dotted(expr)?;
            let bindings = &ctx.index.bindings;
            // A local name: its last binding before the use in the same function. Otherwise
            // (a module constant, `self.mean`): every binding in the file, which must agree.
            let local = bindings.iter().rev().find(|b| {
                b.target == name
                    && function.is_some()
                    && b.function == function
                    && b.range.end() <= at.start()
            });
            match local {
                Some(b) => literal_stats(b.value)?,
                None => {
                    let mut found: Option<Vec<f64>> = None;
                    for b in bindings.iter().filter(|b| {
                        b.target == name && (b.function.is_none() || name.contains('.'))
                    }) {
                        let stats = literal_stats(b.value)?;
                        if found.as_ref().is_some_and(|f| f != &stats) {
                            return None;
                        }
                        found = Some(stats);
                    }
                    found?
                }
            }
        }
    };
    (!stats.is_empty()
        && stats.iter().all(|v| (0.0..=1.0).contains(v))
        && stats.iter().any(|v| *v > 0.0))
    .then_some(stats)
}

/// `(img - mean) / std` expressions of the file.
struct Divisions<'a> {
    found: Vec<&'a ruff_python_ast::ExprBinOp>,
}

impl<'a> Visitor<'a> for Divisions<'a> {
    fn visit_expr(&mut self, expr: &'a Expr) {
        if let Expr::BinOp(binop) = expr {
            if binop.op == Operator::Div {
                if let Expr::BinOp(inner) = binop.left.as_ref() {
                    if inner.op == Operator::Sub {
                        self.found.push(binop);
                    }
                }
            }
        }
        walk_expr(self, expr);
    }
}

/// The image variable behind `img`, `img.astype(np.float32)`, `img.float()`.
fn image_variable(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Name(_) | Expr::Attribute(_) => dotted(expr),
        Expr::Call(call) => match call.func.as_ref() {
            Expr::Attribute(attr)
                if matches!(attr.attr.as_str(), "astype" | "float" | "double") =>
            {
                image_variable(&attr.value)
            }
            _ => None,
        },
        _ => None,
    }
}

/// Where an image value comes from, along its spine of range-keeping steps.
enum Origin {
    Reader(String),
    Variable(String),
    Unknown,
}

fn origin(ctx: &Context, expr: &Expr, arrayed: &mut bool) -> Origin {
    match expr {
        Expr::Name(_) | Expr::Attribute(_) => match dotted(expr) {
            Some(name) => Origin::Variable(name),
            None => Origin::Unknown,
        },
        Expr::Subscript(sub) => origin(ctx, &sub.value, arrayed),
        Expr::Call(call) => {
            let q = ctx.index.qualified_name(&call.func);
            if let Some(q) = q.as_deref() {
                if READERS.contains(&q) {
                    return Origin::Reader(q.to_string());
                }
                if KEEPS_RANGE.contains(&q) {
                    if matches!(q, "numpy.array" | "numpy.asarray") {
                        *arrayed = true;
                    }
                    return match call.arguments.args.first() {
                        Some(arg) => origin(ctx, arg, arrayed),
                        None => Origin::Unknown,
                    };
                }
                return Origin::Unknown;
            }
            match call.func.as_ref() {
                Expr::Attribute(attr) if KEEPS_RANGE_METHODS.contains(&attr.attr.as_str()) => {
                    origin(ctx, &attr.value, arrayed)
                }
                _ => Origin::Unknown,
            }
        }
        _ => Origin::Unknown,
    }
}

/// Walks back through the bindings of `name` before `at` in the same function: the reader
/// call that produced 8-bit pixels, if every step in between keeps the value range.
fn read_as_uint8(
    ctx: &Context,
    name: &str,
    function: Option<usize>,
    at: TextRange,
) -> Option<String> {
    let index = ctx.index;
    let mut name = name.to_string();
    let mut before = at.start();
    let mut arrayed = false;
    for _ in 0..8 {
        let binding = index
            .bindings
            .iter()
            .rev()
            .find(|b| b.target == name && b.function == function && b.range.end() <= before)?;
        // `img /= 255` is a binding too; any 255 on the way means the image was scaled.
        let text = ctx.text(binding.range);
        if text.contains("255") {
            return None;
        }
        match origin(ctx, binding.value, &mut arrayed) {
            Origin::Reader(reader) => {
                // `img /= 255` (an augmented assignment) or any other 255 between the read
                // and the normalization: the image may have been scaled.
                // Comments do not count: `# img = img / 255.` left commented out is the bug.
                let between = ctx.text(TextRange::new(binding.range.start(), at.start()));
                if between
                    .lines()
                    .any(|line| line.split('#').next().unwrap_or("").contains("255"))
                {
                    return None;
                }
                // `Image.open` gives 8-bit pixels only once turned into an array.
                return (reader != "PIL.Image.open" || arrayed).then_some(reader);
            }
            Origin::Variable(next) => {
                name = next;
                before = binding.range.start();
            }
            Origin::Unknown => return None,
        }
    }
    None
}

fn check(ctx: &mut Context) {
    if ctx.is_test_file() {
        return;
    }
    let mut visitor = Divisions { found: Vec::new() };
    for stmt in &ctx.index.module.body {
        visitor.visit_stmt(stmt);
    }
    for division in visitor.found {
        let Expr::BinOp(sub) = division.left.as_ref() else {
            continue;
        };
        let function = ctx
            .index
            .functions
            .iter()
            .enumerate()
            .filter(|(_, f)| f.def.range().contains_range(division.range()))
            .min_by_key(|(_, f)| f.def.range().len())
            .map(|(id, _)| id);
        let Some(std) = unit_stats(ctx, &division.right, function, division.range()) else {
            continue;
        };
        let Some(mean) = unit_stats(ctx, &sub.right, function, division.range()) else {
            continue;
        };
        let Some(image) = image_variable(&sub.left) else {
            continue;
        };
        let Some(reader) = read_as_uint8(ctx, &image, function, division.range()) else {
            continue;
        };
        let reader_short = match reader.as_str() {
            "PIL.Image.open" => "np.array(Image.open(...))".to_string(),
            r => {
                let parts: Vec<&str> = r.rsplit('.').take(2).collect();
                format!("{}.{}", parts[1], parts[0])
            }
        };
        let text = ctx.text(division.range());
        let what = if text.len() <= 60 {
            format!("`{text}`")
        } else {
            format!("`({image} - mean) / std` here")
        };
        let message = format!(
            "{what} normalizes `{image}` with statistics on the 0-1 scale (mean={}, std={}), but `{image}` holds 0-255 pixels from `{reader_short}` and was never divided by 255: the input comes out about 255 times too large",
            format_stats(&mean),
            format_stats(&std),
        );
        let example = format!("{image} = {image} / 255.0  # before the normalization");
        let fix = Fix::new("Scale the pixels to 0-1 first (or use statistics multiplied by 255)")
            .with_example(example);
        ctx.report(division.range(), message, Some(fix));
    }
}
