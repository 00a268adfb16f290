//! Model structure: which classes are `nn.Module`s (or `LightningModule`s), the layers their
//! methods assign to `self`, the order `forward` applies them in, and the flattened contents
//! of `nn.Sequential(...)` calls.

use std::collections::HashMap;

use ruff_python_ast::{Expr, ExprCall, StmtClassDef};
use ruff_text_size::{Ranged, TextRange, TextSize};

use super::{Binding, CallId, FunctionId, SemanticIndex};

/// Base classes that make a class a PyTorch module.
const MODULE_BASES: &[&str] = &[
    "torch.nn.Module",
    "torch.nn.modules.module.Module",
    "torch.nn.Sequential",
    "torch.nn.ModuleList",
    "lightning.LightningModule",
    "lightning.pytorch.LightningModule",
    "lightning.pytorch.core.LightningModule",
    "pytorch_lightning.LightningModule",
    "pytorch_lightning.core.LightningModule",
];

#[derive(Debug)]
pub struct Class<'a> {
    pub def: &'a StmtClassDef,
    pub name: &'a str,
    /// Bases, qualified where they resolve through imports, else as written.
    pub bases: Vec<String>,
    pub methods: Vec<FunctionId>,
    pub is_module: bool,
    pub is_lightning: bool,
    pub layers: Vec<Layer<'a>>,
}

impl<'a> Class<'a> {
    pub(super) fn new(def: &'a StmtClassDef) -> Class<'a> {
        Class {
            def,
            name: def.name.as_str(),
            bases: Vec::new(),
            methods: Vec::new(),
            is_module: false,
            is_lightning: false,
            layers: Vec::new(),
        }
    }
}

/// `self.<attr> = <constructor>(...)` inside a module's method.
#[derive(Debug)]
pub struct Layer<'a> {
    pub attr: String,
    /// Qualified constructor (`torch.nn.Dropout`) or the local class name.
    pub constructor: Option<String>,
    pub call: &'a ExprCall,
}

/// One application of a layer or functional op inside `forward`, in evaluation order.
#[derive(Debug, Clone)]
pub struct LayerUse {
    pub call: CallId,
    /// Qualified layer constructor (for `self.bn(x)`) or functional op (`torch.nn.functional.dropout`).
    pub op: String,
    /// The attribute name for module layers (`bn`).
    pub attr: Option<String>,
}

pub(super) fn analyze(index: &mut SemanticIndex) {
    let bases: Vec<Vec<String>> = index
        .classes
        .iter()
        .map(|class| {
            class
                .def
                .arguments
                .as_ref()
                .map(|args| {
                    args.args
                        .iter()
                        .filter_map(|base| {
                            index
                                .qualified_name(base)
                                .or_else(|| super::literals::dotted(base))
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect();
    for (class, bases) in index.classes.iter_mut().zip(bases) {
        class.bases = bases;
    }
    // A class is a module if a base is, including local classes defined anywhere in the file.
    let mut changed = true;
    while changed {
        changed = false;
        let module_names: Vec<(String, bool)> = index
            .classes
            .iter()
            .filter(|c| c.is_module)
            .map(|c| (c.name.to_string(), c.is_lightning))
            .collect();
        for class in index.classes.iter_mut().filter(|c| !c.is_module) {
            for base in &class.bases {
                let lightning = base.ends_with("LightningModule");
                let local = module_names.iter().find(|(name, _)| name == base);
                if MODULE_BASES.contains(&base.as_str()) || lightning || local.is_some() {
                    class.is_module = true;
                    class.is_lightning = lightning || local.is_some_and(|(_, l)| *l);
                    changed = true;
                }
            }
        }
    }
    // Layers: `self.x = Ctor(...)` in any method of a module class.
    let mut layers: HashMap<usize, Vec<Layer>> = HashMap::new();
    for binding in &index.bindings {
        let (Some(class), Expr::Call(call)) = (binding.class, binding.value) else {
            continue;
        };
        let Some(attr) = binding.target.strip_prefix("self.") else {
            continue;
        };
        if attr.contains('.') || !index.classes[class].is_module {
            continue;
        }
        let constructor = index
            .qualified_name(&call.func)
            .or_else(|| super::literals::dotted(&call.func));
        layers.entry(class).or_default().push(Layer {
            attr: attr.to_string(),
            constructor,
            call,
        });
    }
    for (class, list) in layers {
        index.classes[class].layers = list;
    }
}

impl<'a> SemanticIndex<'a> {
    pub fn method(&self, class: usize, name: &str) -> Option<FunctionId> {
        self.classes[class]
            .methods
            .iter()
            .copied()
            .find(|&f| self.functions[f].name == name)
    }

    pub fn layer(&self, class: usize, attr: &str) -> Option<&Layer<'a>> {
        self.classes[class]
            .layers
            .iter()
            .rev()
            .find(|l| l.attr == attr)
    }

    /// Layer and functional applications in `forward`, in evaluation order. Calls on `self.x`
    /// where `x` is not a layer we know are left out.
    pub fn forward_uses(&self, class: usize) -> Vec<LayerUse> {
        let Some(forward) = self.method(class, "forward") else {
            return Vec::new();
        };
        let mut uses = Vec::new();
        for (id, call) in self.calls_in_function(forward) {
            if let Some(attr) = super::literals::dotted(&call.expr.func)
                .as_deref()
                .and_then(|d| d.strip_prefix("self."))
            {
                if let Some(layer) = self.layer(class, attr) {
                    if let Some(ctor) = &layer.constructor {
                        uses.push(LayerUse {
                            call: id,
                            op: ctor.clone(),
                            attr: Some(attr.to_string()),
                        });
                    }
                    continue;
                }
            }
            if let Some(q) = &call.qualified {
                uses.push(LayerUse {
                    call: id,
                    op: q.clone(),
                    attr: None,
                });
            }
        }
        uses
    }

    /// The last binding of `name` in `function` (module level: `None`) that ends before
    /// `before`: what the name holds at that point, read linearly (branches not told apart).
    pub fn binding_before(
        &self,
        function: Option<FunctionId>,
        name: &str,
        before: TextSize,
    ) -> Option<&Binding<'a>> {
        self.bindings
            .iter()
            .filter(|b| b.function == function && b.target == name && b.range.end() <= before)
            .max_by_key(|b| b.range.start())
    }

    /// The call whose result `expr` is, looking through names assigned earlier in the same
    /// function (`x = self.drop(x)` then `self.bn(x)`): a small, linear data-flow answer.
    pub fn producer(
        &self,
        function: Option<FunctionId>,
        expr: &Expr,
        before: TextSize,
    ) -> Option<CallId> {
        match expr {
            Expr::Call(call) => self.call_id_at(call.range()),
            Expr::Name(name) => {
                let binding = self.binding_before(function, name.id.as_str(), before)?;
                match binding.value {
                    Expr::Call(call) => self.call_id_at(call.range()),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    pub fn call_id_at(&self, range: TextRange) -> Option<CallId> {
        // The first call with that range, as a scan in call order would find.
        let key = (range.start().to_u32(), range.end().to_u32());
        let at = self
            .call_ranges
            .partition_point(|&(start, end, _)| (start, end) < key);
        match self.call_ranges.get(at) {
            Some(&(start, end, id)) if (start, end) == key => Some(id),
            _ => None,
        }
    }

    /// Elements of an `nn.Sequential(...)` call, nested `Sequential`s and `OrderedDict`
    /// forms expanded in order. `None` marks an element we cannot see (a variable, `*layers`).
    pub fn sequential_items(&self, call: &'a ExprCall) -> Vec<Option<&'a ExprCall>> {
        let mut out = Vec::new();
        self.push_sequential_items(call, &mut out, 0);
        out
    }

    fn push_sequential_items(
        &self,
        call: &'a ExprCall,
        out: &mut Vec<Option<&'a ExprCall>>,
        depth: u32,
    ) {
        for arg in call.arguments.args.iter() {
            match arg {
                Expr::Call(inner) if depth < 8 && self.is_sequential(inner) => {
                    self.push_sequential_items(inner, out, depth + 1)
                }
                Expr::Call(inner)
                    if self
                        .qualified_name(&inner.func)
                        .is_some_and(|q| q.ends_with("OrderedDict")) =>
                {
                    // OrderedDict([("name", layer), ...])
                    let Some(Expr::List(list)) = inner.arguments.args.first() else {
                        out.push(None);
                        continue;
                    };
                    for elt in &list.elts {
                        match elt {
                            Expr::Tuple(pair) => match pair.elts.get(1) {
                                Some(Expr::Call(layer))
                                    if depth < 8 && self.is_sequential(layer) =>
                                {
                                    self.push_sequential_items(layer, out, depth + 1)
                                }
                                Some(Expr::Call(layer)) => out.push(Some(layer)),
                                _ => out.push(None),
                            },
                            _ => out.push(None),
                        }
                    }
                }
                Expr::Call(inner) => self.push_item(inner, out, depth),
                // `nn.Sequential(*layers)`: the list as the code built it.
                Expr::Starred(starred) if depth < 8 => match starred.value.as_ref() {
                    Expr::Name(name) => self.push_list_items(name.id.as_str(), call, out, depth),
                    _ => out.push(None),
                },
                _ => out.push(None),
            }
        }
    }

    /// One element: a nested `Sequential` (also one a local factory returns, `make_block(...)`
    /// whose body ends in `return nn.Sequential(...)`) is expanded; any other call is a layer.
    fn push_item(&self, item: &'a ExprCall, out: &mut Vec<Option<&'a ExprCall>>, depth: u32) {
        if depth < 8 && self.is_sequential(item) {
            return self.push_sequential_items(item, out, depth + 1);
        }
        if depth < 8 {
            if let Expr::Name(name) = item.func.as_ref() {
                let factory = self
                    .functions_named(name.id.as_str())
                    .find(|&f| self.functions[f].class.is_none());
                if let Some(f) = factory {
                    if let [Expr::Call(ret)] = self.returns_of(f).as_slice() {
                        if self.is_sequential(ret) {
                            return self.push_sequential_items(ret, out, depth + 1);
                        }
                    }
                }
            }
        }
        out.push(Some(item));
    }

    /// The items of a list built by ordinary code before `nn.Sequential(*name)` in the same
    /// function: `layers = [a, b]`, then `layers.append(c)`, `layers.extend([d, e])`,
    /// `layers += [f]`, in the order written. Items added in a loop or under an `if` are
    /// framed by `None` ("something may be around them"): only neighbours in the same block
    /// are sure neighbours, and what ends the list is sure only when it is added last,
    /// unconditionally. Anything else done to the list (`insert`, a reassignment from a call)
    /// makes it unknown.
    fn push_list_items(
        &self,
        name: &str,
        sequential: &'a ExprCall,
        out: &mut Vec<Option<&'a ExprCall>>,
        depth: u32,
    ) {
        let Some(at) = self.call_id_at(sequential.range()) else {
            return out.push(None);
        };
        let function = self.calls[at].function;
        let before = sequential.range().start();
        // The list's last (re)binding before the call, in the same function.
        let Some(start) = self.binding_before(function, name, before) else {
            return out.push(None);
        };
        let initial: Vec<&'a Expr> = match start.value {
            Expr::List(list) => list.elts.iter().collect(),
            _ => return out.push(None),
        };
        // (position, block, items) for each change after the binding.
        let mut events: Vec<(TextSize, Option<TextRange>, Vec<&'a Expr>)> = Vec::new();
        for call in &self.calls {
            let r = call.expr.range();
            if call.function != function
                || r.start() < start.range.end()
                || r.end() > before
                || call.receiver.as_deref() != Some(name)
            {
                continue;
            }
            let items = match (call.method, call.expr.arguments.args.first()) {
                (Some("append"), Some(item)) => vec![item],
                (Some("extend"), Some(Expr::List(l))) => l.elts.iter().collect(),
                (Some("extend"), Some(Expr::Tuple(t))) => t.elts.iter().collect(),
                (Some("pop" | "copy" | "index" | "count"), _) => continue,
                _ => return out.push(None),
            };
            events.push((r.start(), self.block_of(function, r), items));
        }
        for aug in &self.evaluation.aug_assigns {
            if aug.target != name
                || aug.range.start() < start.range.end()
                || aug.range.end() > before
            {
                continue;
            }
            match (aug.op, aug.value) {
                (ruff_python_ast::Operator::Add, Expr::List(l)) => events.push((
                    aug.range.start(),
                    self.block_of(function, aug.range),
                    l.elts.iter().collect(),
                )),
                _ => return out.push(None),
            }
        }
        events.sort_by_key(|(at, _, _)| *at);
        let push_items = |items: &[&'a Expr], out: &mut Vec<Option<&'a ExprCall>>| {
            for item in items {
                match item {
                    Expr::Call(c) => self.push_item(c, out, depth + 1),
                    _ => out.push(None),
                }
            }
        };
        push_items(&initial, out);
        let mut previous: Option<TextRange> = None;
        let unknown = |out: &mut Vec<Option<&'a ExprCall>>| {
            if out.last() != Some(&None) {
                out.push(None);
            }
        };
        for (_, block, items) in &events {
            // Entering or leaving a loop or a branch: what lies between is not sure.
            if *block != previous && (block.is_some() || previous.is_some()) {
                unknown(out);
            }
            push_items(items, out);
            previous = *block;
        }
        if previous.is_some() {
            unknown(out);
        }
    }

    /// The innermost loop or `if` branch of `function` that contains `range` (`None`: the
    /// function's straight-line body).
    fn block_of(&self, function: Option<FunctionId>, range: TextRange) -> Option<TextRange> {
        let loops = self
            .loops
            .iter()
            .filter(|l| l.function == function)
            .map(|l| l.range);
        let branches = self
            .flow
            .ifs
            .iter()
            .flat_map(|b| std::iter::once(b.body).chain(b.orelse));
        loops
            .chain(branches)
            .filter(|r| r.contains_range(range))
            .filter(|r| match function {
                Some(f) => self.functions[f].def.range.contains_range(*r),
                None => true,
            })
            .min_by_key(|r| r.len())
    }

    pub fn is_sequential(&self, call: &ExprCall) -> bool {
        let is_sequential =
            |q: &str| q == "torch.nn.Sequential" || q == "torch.nn.modules.container.Sequential";
        // Asked of every call the layer walks meet: decide without building the qualified name
        // where the name as written already rules it out. A dotted name keeps its last part
        // when qualified (`nn.Sequential` -> `torch.nn.Sequential`); a bare one is its import.
        match last_part(&call.func) {
            None => false,
            Some((name, false)) => self.imports.get(name).is_some_and(|q| is_sequential(q)),
            Some(("Sequential", true)) => self
                .qualified_name(&call.func)
                .is_some_and(|q| is_sequential(&q)),
            Some(_) => false,
        }
    }
}

/// The last part of a name as [`super::literals::dotted`] writes it, and whether it is dotted (has an
/// attribute access), without building the name; `None` where `dotted` gives none.
fn last_part(expr: &Expr) -> Option<(&str, bool)> {
    match expr {
        Expr::Name(name) => Some((name.id.as_str(), false)),
        Expr::Attribute(attr) => {
            // `dotted` gives none when the chain does not start with a name.
            last_part(&attr.value)?;
            Some((attr.attr.as_str(), true))
        }
        Expr::Subscript(sub) => last_part(&sub.value),
        _ => None,
    }
}
