//! The static model map behind `mleng arch`: for each `nn.Module` subclass and each
//! module-level `nn.Sequential` in a file, its layers in forward order with their literal
//! arguments and parameter counts computed from those literals (formulas in
//! `mleng_knowledge::params`). A count that depends on a non-literal argument is `None`
//! ("unknown"), never a guess.

use std::collections::HashSet;

use mleng_knowledge::params::{self, Arg};
use mleng_python::index::literals;
use mleng_python::SemanticIndex;
use ruff_python_ast::{Expr, ExprCall};
use ruff_text_size::Ranged;

use crate::context::location_of;

/// A layer holding more than this share of a model's known parameters is a bottleneck.
pub const BOTTLENECK_SHARE: f64 = 0.5;
/// ... when the model has at least this many parameters (small models are not worth flagging).
pub const BOTTLENECK_MIN_PARAMS: u64 = 10_000;

#[derive(Debug, Clone, PartialEq)]
pub struct ModelMap {
    /// `SmallCNN`, or the variable holding a module-level `nn.Sequential`.
    pub name: String,
    /// `class` or `sequential`.
    pub kind: &'static str,
    /// `path:line` of the definition.
    pub location: String,
    pub layers: Vec<LayerRow>,
    /// Sum of the known counts.
    pub known_params: u64,
    /// Layers whose count is unknown.
    pub unknown_layers: usize,
    /// `__init__` defaults the counts assume (`num_classes=10`).
    pub defaults: Vec<String>,
}

impl ModelMap {
    /// The exact total, when every layer's count is known.
    pub fn total(&self) -> Option<u64> {
        (self.unknown_layers == 0).then_some(self.known_params)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LayerRow {
    /// `conv1`, `features.0`.
    pub name: String,
    /// `Conv2d`, or a local class name.
    pub layer_type: String,
    /// The constructor's arguments as written.
    pub args: String,
    /// Their values where literal (or computed from literal `__init__` arguments): keywords
    /// by name, positional arguments as `#0`, `#1`, ...
    pub values: Vec<(String, Arg)>,
    pub params: Option<u64>,
    /// Why the count is unknown (`in_features is not a literal`).
    pub unknown_reason: Option<String>,
    /// Applied in `forward` (always true for Sequential items).
    pub used_in_forward: bool,
    /// Share of the model's parameters (only when every layer's count is known).
    pub share: Option<f64>,
    pub bottleneck: bool,
}

/// Model maps of every module class and module-level `nn.Sequential` in the file, in source
/// order; `only` keeps the one with that name.
pub fn model_maps(index: &SemanticIndex, only: Option<&str>) -> Vec<ModelMap> {
    let mut maps: Vec<(u32, ModelMap)> = Vec::new();
    for (class_id, class) in index.classes.iter().enumerate() {
        if !class.is_module || only.is_some_and(|n| n != class.name) {
            continue;
        }
        // The class as constructed with its `__init__` defaults.
        let env = match index.method(class_id, "__init__") {
            Some(init) => defaults(index, init),
            None => Env::new(),
        };
        let rows = class_rows(index, class_id, &env, 0);
        let start = class.def.range().start();
        let mut map = finish(index, class.name.to_string(), "class", start, rows);
        map.defaults = env
            .iter()
            .filter_map(|(name, value)| match value {
                Arg::Number(v) => Some(format!("{name}={v}")),
                Arg::Bool(b) => Some(format!("{name}={}", if *b { "True" } else { "False" })),
                _ => None,
            })
            .collect();
        maps.push((u32::from(start), map));
    }
    for binding in &index.bindings {
        let Expr::Call(call) = binding.value else {
            continue;
        };
        if binding.function.is_some()
            || binding.class.is_some()
            || binding.target.contains('.')
            || !index.is_sequential(call)
            || only.is_some_and(|n| n != binding.target)
        {
            continue;
        }
        let rows = sequential_rows(index, &binding.target, call, &Env::new(), 0);
        let start = binding.range.start();
        maps.push((
            u32::from(start),
            finish(index, binding.target.clone(), "sequential", start, rows),
        ));
    }
    maps.sort_by_key(|(start, _)| *start);
    maps.into_iter().map(|(_, m)| m).collect()
}

fn finish(
    index: &SemanticIndex,
    name: String,
    kind: &'static str,
    start: ruff_text_size::TextSize,
    mut layers: Vec<LayerRow>,
) -> ModelMap {
    let known: u64 = layers.iter().filter_map(|l| l.params).sum();
    let unknown = layers.iter().filter(|l| l.params.is_none()).count();
    let weighted = layers
        .iter()
        .filter(|l| l.params.is_some_and(|p| p > 0))
        .count();
    // Shares and bottlenecks only when the total is exact: a share of a partial sum misleads.
    for layer in &mut layers {
        if let Some(p) = layer.params {
            if known > 0 && unknown == 0 {
                let share = p as f64 / known as f64;
                layer.share = Some(share);
                layer.bottleneck =
                    share > BOTTLENECK_SHARE && known >= BOTTLENECK_MIN_PARAMS && weighted >= 3;
            }
        }
    }
    let location = location_of(index, ruff_text_size::TextRange::empty(start)).display();
    ModelMap {
        name,
        kind,
        location,
        layers,
        known_params: known,
        unknown_layers: unknown,
        defaults: Vec::new(),
    }
}

/// A class's layers: those `forward` applies, in order of first use, then the others.
fn class_rows(index: &SemanticIndex, class: usize, env: &Env, depth: u32) -> Vec<LayerRow> {
    let mut order: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for layer_use in index.forward_uses(class) {
        if let Some(attr) = layer_use.attr {
            if seen.insert(attr.clone()) {
                order.push(attr);
            }
        }
    }
    let used: HashSet<String> = order.iter().cloned().collect();
    for layer in &index.classes[class].layers {
        if seen.insert(layer.attr.clone()) {
            order.push(layer.attr.clone());
        }
    }
    let mut rows = Vec::new();
    for attr in order {
        let Some(layer) = index.layer(class, &attr) else {
            continue;
        };
        // Only module-looking values: constructor calls of torch.nn layers, Sequential,
        // ModuleList or local module classes.
        if !is_module_call(index, layer.call) {
            continue;
        }
        if index.is_sequential(layer.call) {
            let mut items = sequential_rows(index, &attr, layer.call, env, depth);
            for item in &mut items {
                item.used_in_forward = used.contains(&attr);
            }
            rows.extend(items);
            continue;
        }
        let mut row = row_for(index, attr.clone(), layer.call, env, depth);
        row.used_in_forward = used.contains(&attr);
        rows.push(row);
    }
    rows
}

fn sequential_rows(
    index: &SemanticIndex,
    name: &str,
    call: &ExprCall,
    env: &Env,
    depth: u32,
) -> Vec<LayerRow> {
    call.arguments
        .args
        .iter()
        .enumerate()
        .map(|(i, arg)| match arg {
            Expr::Call(item) => row_for(index, format!("{name}.{i}"), item, env, depth),
            other => LayerRow {
                name: format!("{name}.{i}"),
                layer_type: "?".into(),
                args: index.text(other.range()).to_string(),
                values: Vec::new(),
                params: None,
                unknown_reason: Some("not a constructor call".into()),
                used_in_forward: true,
                share: None,
                bottleneck: false,
            },
        })
        .collect()
}

fn is_module_call(index: &SemanticIndex, call: &ExprCall) -> bool {
    if let Some(q) = index.qualified_name(&call.func) {
        if let Some(short) = q.strip_prefix("torch.nn.") {
            return short.starts_with(|c: char| c.is_ascii_uppercase())
                && !short.ends_with("Loss")
                && short != "Parameter";
        }
        return is_library_model(&q);
    }
    let name = literals::dotted(&call.func).unwrap_or_default();
    index.classes.iter().any(|c| c.is_module && c.name == name)
        || builder_function(index, &name).is_some()
}

/// torchvision / timm model constructors (shown as layers, counted as unknown).
fn is_library_model(qualified: &str) -> bool {
    (qualified.starts_with("torchvision.models.")
        && qualified
            .rsplit('.')
            .next()
            .is_some_and(|s| s.starts_with(|c: char| c.is_ascii_lowercase())))
        || qualified == "timm.create_model"
}

fn row_for(
    index: &SemanticIndex,
    name: String,
    call: &ExprCall,
    env: &Env,
    depth: u32,
) -> LayerRow {
    let layer_type = literals::dotted(&call.func)
        .map(|d| d.rsplit('.').next().unwrap_or(&d).to_string())
        .unwrap_or_else(|| "?".into());
    let args = index.text(call.arguments.range()).to_string();
    let positional = call.arguments.args.iter().enumerate().map(|(i, a)| {
        let value = match a {
            Expr::Starred(_) => Arg::Unknown,
            a => evaluate(a, env),
        };
        (format!("#{i}"), value)
    });
    let keywords = call.arguments.keywords.iter().filter_map(|k| {
        k.arg
            .as_ref()
            .map(|name| (name.to_string(), evaluate(&k.value, env)))
    });
    let values = positional.chain(keywords).collect();
    let (params, unknown_reason) = match count_call(index, call, env, depth) {
        Ok(p) => (Some(p), None),
        Err(reason) => (None, Some(reason)),
    };
    LayerRow {
        name,
        layer_type,
        args,
        values,
        params,
        unknown_reason,
        used_in_forward: true,
        share: None,
        bottleneck: false,
    }
}

/// Parameters of a constructor call, or why they are unknown. `env` holds the literal values
/// of the enclosing `__init__`'s or builder function's parameters.
pub fn count_call(
    index: &SemanticIndex,
    call: &ExprCall,
    env: &Env,
    depth: u32,
) -> Result<u64, String> {
    if depth > 6 {
        return Err("nested too deep".into());
    }
    if let Some(q) = index.qualified_name(&call.func) {
        let short = q.rsplit('.').next().unwrap_or(&q);
        let torch = q.starts_with("torch.nn.");
        if torch && index.is_sequential(call) {
            return sum(index, call.arguments.args.iter(), env, depth);
        }
        if torch && short == "ModuleList" {
            return match call.arguments.args.first() {
                Some(Expr::List(list)) => sum(index, list.elts.iter(), env, depth),
                Some(Expr::Tuple(tuple)) => sum(index, tuple.elts.iter(), env, depth),
                None => Ok(0),
                _ => Err("ModuleList contents are not a literal list".into()),
            };
        }
        if torch && params::is_parameter_free(short) {
            return Ok(0);
        }
        if torch {
            let Some(spec) = params::layer(short) else {
                return Err(format!("no formula for {short}"));
            };
            let get = |name: &str| arg_value(call, spec.positional, name, env);
            return spec.count(&get).map_err(|e| e.to_string());
        }
        if is_library_model(&q) {
            return Err(format!("{q}: a library model, not counted from source"));
        }
        return Err(format!("{short} is not a torch.nn layer"));
    }
    let name = literals::dotted(&call.func).unwrap_or_default();
    // A builder function in this file: `def block(c_in, c_out): return nn.Sequential(...)`.
    if let Some((function, returned)) = builder_function(index, &name) {
        let inner = bind_parameters(index, function, call, env);
        return count_call(index, returned, &inner, depth + 1);
    }
    // A module class defined in this file: the sum of its layers, when all are known.
    let Some(class) = index
        .classes
        .iter()
        .position(|c| c.is_module && c.name == name)
    else {
        return Err(format!("`{name}` is not defined in this file"));
    };
    let inner = match index.method(class, "__init__") {
        Some(init) => bind_parameters(index, init, call, env),
        None => Env::new(),
    };
    let rows = class_rows(index, class, &inner, depth + 1);
    if let Some(unknown) = rows.iter().find(|r| r.params.is_none()) {
        return Err(format!(
            "`{name}.{}`: {}",
            unknown.name,
            unknown.unknown_reason.as_deref().unwrap_or("unknown")
        ));
    }
    Ok(rows.iter().filter_map(|r| r.params).sum())
}

/// Literal values of a function's parameters for one call: passed arguments evaluated in the
/// caller's `env`, else the parameter's literal default.
pub type Env = Vec<(String, Arg)>;

fn bind_parameters(index: &SemanticIndex, function: usize, call: &ExprCall, env: &Env) -> Env {
    let def = index.functions[function].def;
    let params: Vec<_> = def
        .parameters
        .posonlyargs
        .iter()
        .chain(def.parameters.args.iter())
        .filter(|p| p.parameter.name.as_str() != "self")
        .collect();
    let mut out = Env::new();
    for (i, p) in params.iter().enumerate() {
        let name = p.parameter.name.as_str();
        let passed = call
            .arguments
            .keywords
            .iter()
            .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == name))
            .map(|k| &k.value)
            .or_else(|| call.arguments.args.get(i));
        let value = match passed {
            Some(Expr::Starred(_)) => Arg::Unknown,
            Some(expr) => evaluate(expr, env),
            None => p
                .default
                .as_deref()
                .map_or(Arg::Unknown, |d| evaluate(d, &Env::new())),
        };
        out.push((name.to_string(), value));
    }
    for p in &def.parameters.kwonlyargs {
        let name = p.parameter.name.as_str();
        let passed = call
            .arguments
            .keywords
            .iter()
            .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == name))
            .map(|k| &k.value);
        let value = match passed {
            Some(expr) => evaluate(expr, env),
            None => p
                .default
                .as_deref()
                .map_or(Arg::Unknown, |d| evaluate(d, &Env::new())),
        };
        out.push((name.to_string(), value));
    }
    out
}

/// Literal defaults of a function's parameters (`def __init__(self, num_classes=10)`).
fn defaults(index: &SemanticIndex, function: usize) -> Env {
    let def = index.functions[function].def;
    def.parameters
        .posonlyargs
        .iter()
        .chain(def.parameters.args.iter())
        .chain(def.parameters.kwonlyargs.iter())
        .filter(|p| p.parameter.name.as_str() != "self")
        .map(|p| {
            let value = p
                .default
                .as_deref()
                .map_or(Arg::Unknown, |d| evaluate(d, &Env::new()));
            (p.parameter.name.as_str().to_string(), value)
        })
        .collect()
}

/// A module-level function whose last statement returns a `torch.nn` constructor call.
fn builder_function<'a>(index: &SemanticIndex<'a>, name: &str) -> Option<(usize, &'a ExprCall)> {
    if name.is_empty() || name.contains('.') {
        return None;
    }
    let function = index
        .functions_named(name)
        .find(|&f| index.functions[f].class.is_none() && index.functions[f].parent.is_none())?;
    let def = index.functions[function].def;
    let ruff_python_ast::Stmt::Return(ret) = def.body.last()? else {
        return None;
    };
    let Some(Expr::Call(call)) = ret.value.as_deref() else {
        return None;
    };
    index
        .qualified_name(&call.func)
        .is_some_and(|q| q.starts_with("torch.nn."))
        .then_some((function, call))
}

/// A literal value, a name bound in `env`, or `+ - * //` of those.
fn evaluate(expr: &Expr, env: &Env) -> Arg {
    use ruff_python_ast::Operator;
    if let Expr::Name(name) = expr {
        return env
            .iter()
            .rev()
            .find(|(n, _)| n == name.id.as_str())
            .map_or(Arg::Unknown, |(_, v)| v.clone());
    }
    if let Expr::BinOp(op) = expr {
        let (Arg::Number(a), Arg::Number(b)) = (evaluate(&op.left, env), evaluate(&op.right, env))
        else {
            return literal(expr);
        };
        let value = match op.op {
            Operator::Add => a + b,
            Operator::Sub => a - b,
            Operator::Mult => a * b,
            Operator::FloorDiv if b != 0.0 => (a / b).floor(),
            Operator::Div if b != 0.0 => a / b,
            Operator::Pow => a.powf(b),
            _ => return Arg::Unknown,
        };
        return Arg::Number(value);
    }
    if let Expr::Tuple(tuple) = expr {
        let mut values = Vec::new();
        for e in &tuple.elts {
            match evaluate(e, env) {
                Arg::Number(v) => values.push(v),
                _ => return Arg::Unknown,
            }
        }
        return Arg::Numbers(values);
    }
    literal(expr)
}

fn sum<'e>(
    index: &SemanticIndex,
    items: impl Iterator<Item = &'e Expr>,
    env: &Env,
    depth: u32,
) -> Result<u64, String> {
    let mut total = 0;
    for item in items {
        match item {
            Expr::Call(call) => total += count_call(index, call, env, depth + 1)?,
            other => {
                return Err(format!(
                    "`{}` is not a constructor call",
                    index.text(other.range())
                ))
            }
        }
    }
    Ok(total)
}

/// The literal passed for parameter `name` (by keyword, or at its position).
fn arg_value(call: &ExprCall, positional: &[&str], name: &str, env: &Env) -> Arg {
    let args = &call.arguments;
    if let Some(kw) = args
        .keywords
        .iter()
        .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == name))
    {
        return evaluate(&kw.value, env);
    }
    let position = positional.iter().position(|p| *p == name);
    if let Some(value) = position.and_then(|i| args.args.get(i)) {
        if args.args[..=position.unwrap_or(0)]
            .iter()
            .any(|a| matches!(a, Expr::Starred(_)))
        {
            return Arg::Unknown;
        }
        return evaluate(value, env);
    }
    // `**kwargs` or `*args` may carry it.
    if args.keywords.iter().any(|k| k.arg.is_none())
        || args.args.iter().any(|a| matches!(a, Expr::Starred(_)))
    {
        return Arg::Unknown;
    }
    Arg::Missing
}

fn literal(expr: &Expr) -> Arg {
    // Conv2d(1, 32, 3.0) is not valid PyTorch; numbers are taken as written.
    if let Some(b) = literals::boolean(expr) {
        return Arg::Bool(b);
    }
    if literals::is_none(expr) {
        return Arg::None;
    }
    if let Some(v) = literals::number(expr) {
        return Arg::Number(v);
    }
    match expr {
        Expr::Tuple(_) | Expr::List(_) => {
            literals::numbers(expr).map_or(Arg::Unknown, Arg::Numbers)
        }
        _ => Arg::Unknown,
    }
}

/// The model maps of every Python file and notebook under `path` (walked as `mleng review`
/// walks it), in file order; `only` keeps the model of that name. Files that cannot be read
/// are returned with the reason instead of stopping the map.
pub fn map_path(
    path: &std::path::Path,
    only: Option<&str>,
) -> (Vec<ModelMap>, Vec<(std::path::PathBuf, String)>) {
    let files = mleng_python::discover::discover(
        std::slice::from_ref(&path.to_path_buf()),
        &globset::GlobSet::empty(),
    )
    .files;
    let mut maps = Vec::new();
    let mut skipped = Vec::new();
    for file in files {
        match mleng_python::SourceFile::load(&file) {
            Ok(source) => {
                let parsed = mleng_python::ParsedFile::parse(&source);
                let index = SemanticIndex::build(&source, parsed.module());
                maps.extend(model_maps(&index, only));
            }
            Err(err) => skipped.push((file, err.to_string())),
        }
    }
    (maps, skipped)
}

/// `mleng arch --format json`: `{"models": [...]}` with each layer's row.
pub fn maps_json(maps: &[ModelMap]) -> serde_json::Value {
    let models: Vec<_> = maps
        .iter()
        .map(|m| {
            let layers: Vec<_> = m
                .layers
                .iter()
                .map(|l| {
                    serde_json::json!({
                        "name": l.name,
                        "type": l.layer_type,
                        "args": l.args,
                        "params": l.params,
                        "unknown_reason": l.unknown_reason,
                        "share": l.share,
                        "used_in_forward": l.used_in_forward,
                        "bottleneck": l.bottleneck,
                    })
                })
                .collect();
            serde_json::json!({
                "name": m.name,
                "kind": m.kind,
                "location": m.location,
                "total_params": m.total(),
                "known_params": m.known_params,
                "unknown_layers": m.unknown_layers,
                "defaults": m.defaults,
                "layers": layers,
            })
        })
        .collect();
    serde_json::json!({ "models": models })
}
