use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::vision::name_words;
use mleng_python::index::literals::{dotted, number};
use ruff_python_ast::visitor::{walk_stmt, Visitor};
use ruff_python_ast::{Expr, Operator, Stmt};
use ruff_text_size::{Ranged, TextRange};

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "CV015",
    name: "box-flip-without-swap",
    area: Area::Cv,
    severity: Severity::Warning,
    fix: None,
    summary: "A horizontal (or vertical) flip reflects x1 and x2 of corner-format boxes in place without swapping them: every flipped box has x1 > x2.",
    docs: r#"## What it does
Finds flips of corner-format (`x1, y1, x2, y2`) boxes that reflect each coordinate in place:
- `boxes[:, 0] = w - boxes[:, 0]` and `boxes[:, 2] = w - boxes[:, 2]` in the same function
  (also `W - 1 - boxes[:, 0]`, `img.shape[1] - ...`, `1 - ...` for normalized boxes, and the
  same for `y1`/`y2`, columns 1 and 3, with a vertical flip);
- `boxes[:, 0::2] = w - boxes[:, 0::2]` or `boxes[:, [0, 2]] = w - boxes[:, [0, 2]]`;
- `x1, x2 = w - x1, w - x2`, or `xmin = w - xmin` followed by `xmax = w - xmax`,
with no swap of the two coordinates before or afterwards. Only variables named like boxes
(`boxes`, `bbox`, `gt_boxes`, ...) are considered for the indexed forms, or annotation rows
(`targets[:, 1]` and `targets[:, 3]` of `[class, x1, y1, x2, y2]`) with explicit column indices;
never polygons, segments or keypoints, whose points are reflected one by one on purpose; and
only pairs of corner names (`x1`/`x2`, `xmin`/`xmax`, `left`/`right`, ...) for the name forms. A single reflected column (`cx = w - cx`,
`labels[:, 1] = 1 - labels[:, 1]` for center-format boxes) is correct and not reported.

## Why is this bad?
Reflecting `x` maps the left edge to the right edge: after the flip the old `x2` is the new left
edge. Reflecting both coordinates in place leaves `x1 > x2`, so every flipped box has a negative
width. Nothing crashes: IoU with a negative-width box is clamped to 0, box losses (GIoU, L1 on
`log(w)`) get garbage or NaN, and anchor matching drops the flipped objects, so half of the
augmented training set silently teaches "no object here". Maintainers fix it by swapping the
columns, e.g. fredzzhang/pocket#23 ("did not switch `x_min` and `x_max` after the flip") and
Nota-NetsPresso/netspresso-trainer#196 (`bbox[..., 0:4:2] = w - bbox[..., 0:4:2]` "produces
impossible box cases").

## Example
```python
if random.random() < 0.5:
    image = image[:, ::-1]
    boxes[:, 0] = w - boxes[:, 0]
    boxes[:, 2] = w - boxes[:, 2]
```

## Use instead
```python
if random.random() < 0.5:
    image = image[:, ::-1]
    boxes[:, [0, 2]] = w - boxes[:, [2, 0]]   # or boxes[:, 0::2] = w - boxes[:, 2::-2]
```
and `x1, x2 = w - x2, w - x1` for scalars. The fix spans two statements, so it is shown, not
applied.

## References
- torchvision reference detection transforms, `RandomHorizontalFlip`: `boxes[:, [0, 2]] = width - boxes[:, [2, 0]]`: <https://github.com/pytorch/vision/blob/main/references/detection/transforms.py>
- fredzzhang/pocket#23, "Horizontal flip on bounding boxes implemented incorrectly": <https://github.com/fredzzhang/pocket/issues/23>
- Nota-NetsPresso/netspresso-trainer#196, "Logic error on random flip augmentation bounding box coordinates": <https://github.com/Nota-NetsPresso/netspresso-trainer/issues/196>
"#,
    check,
};

/// Corner-name pairs (min, max) and the axis they are on.
const NAME_PAIRS: &[(&str, &str, char)] = &[
    ("x1", "x2", 'x'),
    ("xmin", "xmax", 'x'),
    ("x_min", "x_max", 'x'),
    ("left", "right", 'x'),
    ("y1", "y2", 'y'),
    ("ymin", "ymax", 'y'),
    ("y_min", "y_max", 'y'),
    ("top", "bottom", 'y'),
];

/// Column pairs of a corner-format box, with their axis.
const COLUMN_PAIRS: &[(i64, i64, char)] = &[(0, 2, 'x'), (1, 3, 'y')];

/// One in-place reflection `target = left - target`.
#[derive(Debug)]
struct Reflection {
    /// The assignment statement.
    stmt: TextRange,
    function: Option<usize>,
    /// `boxes` for `boxes[:, 0]`; the name itself for `xmin`.
    base: String,
    /// The index text before the column (`:, ` in `boxes[:, 0]`), empty for names.
    prefix: String,
    /// What is reflected about (`w`, `W - 1`, `img.shape[1]`), as written.
    about: String,
    /// The columns reflected (for indexed forms), in order.
    columns: Vec<i64>,
}

/// Every assignment statement of the file, with the function it is in.
struct Assignments<'a> {
    stmts: Vec<&'a Stmt>,
}

impl<'a> Visitor<'a> for Assignments<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if matches!(stmt, Stmt::Assign(_)) {
            self.stmts.push(stmt);
        }
        walk_stmt(self, stmt);
    }
}

/// The columns an index selects at its last position: `0`, `[0, 2]`, `0::2`, `0:4:2`. `None` for
/// anything else (a variable, a negative step).
fn columns(index: &Expr) -> Option<(Vec<i64>, &Expr)> {
    let last = match index {
        Expr::Tuple(t) => t.elts.last()?,
        other => other,
    };
    let int = |e: &Expr| number(e).filter(|v| v.fract() == 0.0).map(|v| v as i64);
    let cols = match last {
        Expr::List(list) => list.elts.iter().map(int).collect::<Option<Vec<_>>>()?,
        Expr::Slice(slice) => {
            let start = match &slice.lower {
                Some(e) => int(e)?,
                None => 0,
            };
            let stop = match &slice.upper {
                Some(e) => int(e)?,
                None => 4,
            };
            let step = match &slice.step {
                Some(e) => int(e)?,
                None => 1,
            };
            if step <= 0 || start < 0 || stop > 4 {
                return None;
            }
            (start..stop).step_by(step as usize).collect()
        }
        other => vec![int(other)?],
    };
    Some((cols, last))
}

/// A name for boxes (`boxes`, `gt_bboxes`, `box`), not for polygons, points or keypoints.
fn is_box_name(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    let words = name_words(last);
    words.iter().any(|w| {
        matches!(
            w.as_str(),
            "box" | "boxes" | "bbox" | "bboxes" | "bb" | "bbs" | "rois" | "gtboxes"
        )
    }) && !words.iter().any(|w| {
        w.starts_with("poly")
            || w.starts_with("quad")
            || w.starts_with("point")
            || w.starts_with("keypoint")
            || w.starts_with("kp")
            || w.starts_with("landmark")
            || w.starts_with("corner")
            || w.starts_with("rbox")
            || w.starts_with("obb")
    })
}

/// Rows of annotations that may hold boxes (`targets[:, 1]` in `[class, x1, y1, x2, y2]`).
fn is_annotation_name(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    name_words(last).iter().any(|w| {
        matches!(
            w.as_str(),
            "target"
                | "targets"
                | "label"
                | "labels"
                | "annot"
                | "annots"
                | "annotation"
                | "annotations"
                | "anns"
                | "gt"
                | "gts"
                | "truths"
        )
    }) && is_box_name_free(last)
}

/// Not a name for polygons, points or keypoints.
fn is_box_name_free(name: &str) -> bool {
    !name_words(name).iter().any(|w| {
        w.starts_with("poly")
            || w.starts_with("seg")
            || w.starts_with("point")
            || w.starts_with("keypoint")
            || w.starts_with("kp")
            || w.starts_with("landmark")
    })
}

/// `left - target` where the subtracted expression is the target itself.
fn reflection(
    ctx: &Context,
    target: &Expr,
    value: &Expr,
) -> Option<(String, String, Vec<i64>, String)> {
    let Expr::BinOp(binop) = value else {
        return None;
    };
    // `W - boxes[:, 0] - 1`: a reflection about `W - 1`.
    if matches!(binop.op, Operator::Sub | Operator::Add) && number(&binop.right).is_some() {
        if let Expr::BinOp(inner) = binop.left.as_ref() {
            if inner.op == Operator::Sub {
                let op = if binop.op == Operator::Sub { "-" } else { "+" };
                return reflection(ctx, target, &binop.left).map(|(base, prefix, cols, about)| {
                    let constant = ctx.text(binop.right.range());
                    (base, prefix, cols, format!("{about} {op} {constant}"))
                });
            }
        }
    }
    if binop.op != Operator::Sub {
        return None;
    }
    let about = ctx.text(binop.left.range()).to_string();
    match (target, binop.right.as_ref()) {
        (Expr::Subscript(t), Expr::Subscript(v)) => {
            let base = dotted(&t.value)?;
            if dotted(&v.value)? != base
                || !matches!(t.value.as_ref(), Expr::Name(_) | Expr::Attribute(_))
                || !matches!(v.value.as_ref(), Expr::Name(_) | Expr::Attribute(_))
            {
                return None;
            }
            // `targets` / `labels` rows may hold polygons, whose open slices (`1::2`) reflect
            // every point: for those names only explicit columns count.
            let explicit_columns = !matches!(
                match t.slice.as_ref() {
                    Expr::Tuple(tuple) => tuple.elts.last(),
                    other => Some(other),
                },
                Some(Expr::Slice(_))
            );
            let annotation = explicit_columns && is_annotation_name(&base);
            if !(is_box_name(&base) || annotation) {
                return None;
            }
            let squash = |e: &Expr| ctx.text(e.range()).replace(' ', "");
            if squash(&t.slice) != squash(&v.slice) {
                return None;
            }
            let (cols, last) = columns(&t.slice)?;
            let slice_text = ctx.text(t.slice.range());
            let last_start = usize::from(last.range().start() - t.slice.range().start());
            let prefix = slice_text.get(..last_start).unwrap_or("").to_string();
            Some((base, prefix, cols, about))
        }
        (Expr::Name(t), Expr::Name(v)) if t.id == v.id => {
            let name = t.id.to_string();
            NAME_PAIRS
                .iter()
                .any(|(a, b, _)| name.eq_ignore_ascii_case(a) || name.eq_ignore_ascii_case(b))
                .then(|| (name, String::new(), Vec::new(), about))
        }
        _ => None,
    }
}

fn function_of(ctx: &Context, range: TextRange) -> Option<usize> {
    ctx.index
        .functions
        .iter()
        .enumerate()
        .filter(|(_, f)| f.def.range().contains_range(range))
        .min_by_key(|(_, f)| f.def.range().len())
        .map(|(id, _)| id)
}

fn reflections(ctx: &Context, stmts: &[&Stmt]) -> Vec<Reflection> {
    let mut out = Vec::new();
    for stmt in stmts {
        let Stmt::Assign(assign) = stmt else {
            continue;
        };
        let [target] = assign.targets.as_slice() else {
            continue;
        };
        let pairs: Vec<(&Expr, &Expr)> = match (target, assign.value.as_ref()) {
            (Expr::Tuple(t), Expr::Tuple(v)) if t.elts.len() == v.elts.len() => {
                t.elts.iter().zip(v.elts.iter()).collect()
            }
            (t, v) => vec![(t, v)],
        };
        let function = function_of(ctx, assign.range);
        for (t, v) in pairs {
            if let Some((base, prefix, columns, about)) = reflection(ctx, t, v) {
                out.push(Reflection {
                    stmt: assign.range,
                    function,
                    base,
                    prefix,
                    about,
                    columns,
                });
            }
        }
    }
    out
}

/// Does a statement after `after` (in the same function) write the base again at one of the
/// columns, or rebind one of the names (a swap: `boxes[:, [0, 2]] = boxes[:, [2, 0]]`,
/// `xmin, xmax = xmax, xmin`)?
fn swapped_later(
    ctx: &Context,
    stmts: &[&Stmt],
    flips: &[&Reflection],
    function: Option<usize>,
    after: TextRange,
) -> bool {
    let flip_stmts: Vec<TextRange> = flips.iter().map(|f| f.stmt).collect();
    let names: Vec<&str> = flips.iter().map(|f| f.base.as_str()).collect();
    stmts.iter().any(|stmt| {
        let Stmt::Assign(assign) = stmt else {
            return false;
        };
        if assign.range.start() <= after.start()
            || flip_stmts.contains(&assign.range)
            || function_of(ctx, assign.range) != function
        {
            return false;
        }
        let mut targets: Vec<&Expr> = Vec::new();
        for t in &assign.targets {
            match t {
                Expr::Tuple(tuple) => targets.extend(tuple.elts.iter()),
                other => targets.push(other),
            }
        }
        targets.iter().any(|t| {
            let base = match t {
                Expr::Subscript(s) => dotted(&s.value),
                other => dotted(other),
            };
            base.is_some_and(|b| names.contains(&b.as_str()))
        })
    })
}

/// The axis a reflection is about, when its expression names it: `w`, `width`, `img.shape[1]`
/// are horizontal; `h`, `height`, `img.shape[0]` vertical.
fn about_axis(about: &str) -> Option<char> {
    let squashed: String = about.chars().filter(|c| !c.is_whitespace()).collect();
    if ["shape[1]", "shape[-1]", ".width", "size[0]"]
        .iter()
        .any(|p| squashed.contains(p))
    {
        return Some('x');
    }
    if ["shape[0]", "shape[-2]", ".height", "size[1]"]
        .iter()
        .any(|p| squashed.contains(p))
    {
        return Some('y');
    }
    let words: Vec<String> = about
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .map(|w| w.to_ascii_lowercase())
        .collect();
    let any = |names: &[&str]| words.iter().any(|w| names.contains(&w.as_str()));
    let horizontal = any(&[
        "w",
        "width",
        "img_w",
        "im_w",
        "image_width",
        "net_w",
        "cols",
        "iw",
        "ow",
    ]);
    let vertical = any(&[
        "h",
        "height",
        "img_h",
        "im_h",
        "image_height",
        "net_h",
        "rows",
        "ih",
        "oh",
    ]);
    match (horizontal, vertical) {
        (true, false) => Some('x'),
        (false, true) => Some('y'),
        _ => None,
    }
}

/// `boxes = boxes[:, [2, 1, 0, 3]]` before the reflections: the columns were swapped first.
fn reordered_before(
    ctx: &Context,
    stmts: &[&Stmt],
    base: &str,
    function: Option<usize>,
    before: TextRange,
) -> bool {
    stmts.iter().any(|stmt| {
        let Stmt::Assign(assign) = stmt else {
            return false;
        };
        if assign.range.start() >= before.start() || function_of(ctx, assign.range) != function {
            return false;
        }
        let targets_base = assign.targets.iter().any(|t| {
            matches!(t, Expr::Name(_) | Expr::Attribute(_)) && dotted(t).as_deref() == Some(base)
        });
        let Expr::Subscript(sub) = assign.value.as_ref() else {
            return false;
        };
        let last = match sub.slice.as_ref() {
            Expr::Tuple(t) => t.elts.last(),
            other => Some(other),
        };
        targets_base && matches!(last, Some(Expr::List(_)))
    })
}

fn check(ctx: &mut Context) {
    if ctx.is_test_file() {
        return;
    }
    let mut visitor = Assignments { stmts: Vec::new() };
    for stmt in &ctx.index.module.body {
        visitor.visit_stmt(stmt);
    }
    let stmts = visitor.stmts;
    let flips = reflections(ctx, &stmts);
    let mut reported: Vec<TextRange> = Vec::new();
    let mut findings: Vec<(TextRange, String, String)> = Vec::new();
    for (i, first) in flips.iter().enumerate() {
        if reported.contains(&first.stmt) {
            continue;
        }
        // The partner reflection: the other column of the pair (the same statement for
        // `boxes[:, 0::2]`), or the other corner name.
        let mut found: Option<(&Reflection, char)> = None;
        if first.prefix.is_empty() && first.columns.is_empty() {
            for second in &flips[i..] {
                if second.function != first.function
                    || second.about != first.about
                    || !second.columns.is_empty()
                {
                    continue;
                }
                if let Some((_, _, axis)) = NAME_PAIRS.iter().find(|(a, b, _)| {
                    first.base.eq_ignore_ascii_case(a) && second.base.eq_ignore_ascii_case(b)
                        || first.base.eq_ignore_ascii_case(b) && second.base.eq_ignore_ascii_case(a)
                }) {
                    found = Some((second, *axis));
                    break;
                }
            }
        } else {
            for second in &flips[i..] {
                if second.function != first.function
                    || second.about != first.about
                    || second.base != first.base
                {
                    continue;
                }
                let mut cols = first.columns.clone();
                if second.stmt != first.stmt {
                    cols.extend(&second.columns);
                }
                if let Some((_, _, axis)) = COLUMN_PAIRS
                    .iter()
                    .find(|(a, b, _)| cols.contains(a) && cols.contains(b))
                {
                    found = Some((second, *axis));
                    break;
                }
            }
        }
        let Some((second, axis)) = found else {
            continue;
        };
        let later = if second.stmt.start() > first.stmt.start() {
            second.stmt
        } else {
            first.stmt
        };
        if swapped_later(ctx, &stmts, &[first, second], first.function, later)
            || reordered_before(ctx, &stmts, &first.base, first.function, first.stmt)
        {
            continue;
        }
        let about = &first.about;
        // `[cls, x1, y1, x2, y2]` rows reflect columns 1 and 3 about the width: name the
        // coordinates by what they are reflected about when that says it.
        let coordinate = about_axis(about).unwrap_or(axis);
        let (lo, hi) = (format!("{coordinate}1"), format!("{coordinate}2"));
        let extent = if coordinate == 'x' { "width" } else { "height" };
        let (what, example) = if first.columns.is_empty() {
            let (a, b) = if NAME_PAIRS
                .iter()
                .any(|(a, _, _)| first.base.eq_ignore_ascii_case(a))
            {
                (&first.base, &second.base)
            } else {
                (&second.base, &first.base)
            };
            (
                format!("`{a}` and `{b}` are each reflected in place"),
                format!("{a}, {b} = {about} - {b}, {about} - {a}"),
            )
        } else {
            let (c1, c2) = if axis == 'x' { (0, 2) } else { (1, 3) };
            let base = &first.base;
            let prefix = &first.prefix;
            (
                format!("columns {c1} and {c2} of `{base}` are each reflected in place"),
                format!("{base}[{prefix}[{c1}, {c2}]] = {about} - {base}[{prefix}[{c2}, {c1}]]"),
            )
        };
        let message = format!(
            "{what} (`{about} - ...`) without swapping them: after the flip every box has {lo} > {hi} (negative {extent}), so IoU, matching and box losses treat the flipped objects as garbage"
        );
        reported.push(first.stmt);
        reported.push(second.stmt);
        findings.push((later, message, example));
    }
    for (range, message, example) in findings {
        let fix = Fix::new("Swap the two coordinates while reflecting them").with_example(example);
        ctx.report(range, message, Some(fix));
    }
}
