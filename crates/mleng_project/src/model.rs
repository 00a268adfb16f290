//! The project model: every reviewed file's summary, the module each file is, and name
//! resolution across files (imports, relative imports, package re-exports, aliases,
//! inheritance, factories, and the types callers pass to a function's parameters).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rayon::prelude::*;

use crate::summary::{Behaviour, CallSite, ClassSummary, Ending, FunctionSummary, ModuleSummary};

pub type ModuleId = usize;

/// A definition in the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Symbol {
    Module(ModuleId),
    Class(ModuleId, usize),
    Function(ModuleId, usize),
}

/// A name as written in a module (`Net`, `models.Net`, `nn.CrossEntropyLoss`): what a
/// caller passed, or what a factory returns. Resolve it with [`ProjectModel::resolve_in`] or
/// qualify it with [`ProjectModel::qualify_in`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub module: ModuleId,
    pub text: String,
}

/// How far resolution follows re-exports, aliases, bases and calls: real projects chain a few
/// (`models/__init__.py` -> `models/resnet.py`), and a cycle must end.
const MAX_DEPTH: usize = 8;

#[derive(Debug, Default)]
pub struct ProjectModel {
    modules: Vec<ModuleSummary>,
    /// Path without extension (`pkg/model`), and the folder for a package's `__init__.py`.
    by_module_path: HashMap<PathBuf, ModuleId>,
    /// Last component of that path -> modules (for absolute imports, matched by suffix).
    by_stem: HashMap<String, Vec<ModuleId>>,
    /// Function -> the call sites in the project that pass known types to it.
    callers: HashMap<Symbol, Vec<(ModuleId, usize)>>,
    /// Per module, per function: [`ProjectModel::behaviour`], computed on first use. Rules ask
    /// it for every call of every file that resolves to a project function, and each answer
    /// walks the callee's own calls a few levels deep: without the memo, the same helpers'
    /// behaviour was recomputed thousands of times (timm: a third of a review's instructions).
    behaviours: Vec<Vec<OnceLock<Behaviour>>>,
    /// Per module, [`module_path`] of its path (computed once: absolute imports compare it
    /// for every candidate module of every lookup).
    module_paths: Vec<Option<PathBuf>>,
    /// Per module, per class: [`ProjectModel::class_chain`], computed on first use.
    class_chains: Vec<Vec<OnceLock<Vec<Symbol>>>>,
    /// Per module, the classes and top-level functions by name ([`definition_in`]'s answers):
    /// every name a rule or a call site resolves is looked up here first, and transformers'
    /// modeling files define hundreds.
    definitions: Vec<HashMap<String, Symbol>>,
}

impl ProjectModel {
    pub fn new(modules: Vec<ModuleSummary>) -> ProjectModel {
        let behaviours = modules
            .iter()
            .map(|m| m.functions.iter().map(|_| OnceLock::new()).collect())
            .collect();
        let module_paths: Vec<Option<PathBuf>> =
            modules.iter().map(|m| module_path(&m.path)).collect();
        let definitions = modules
            .par_iter()
            .enumerate()
            .map(|(id, m)| definitions_of(id, m))
            .collect();
        let class_chains = modules
            .iter()
            .map(|m| m.classes.iter().map(|_| OnceLock::new()).collect())
            .collect();
        let mut model = ProjectModel {
            modules,
            behaviours,
            class_chains,
            definitions,
            ..ProjectModel::default()
        };
        for (id, key) in module_paths.iter().enumerate() {
            let Some(key) = key else {
                continue;
            };
            if let Some(stem) = key.file_name().and_then(|s| s.to_str()) {
                model.by_stem.entry(stem.to_string()).or_default().push(id);
            }
            model.by_module_path.insert(key.clone(), id);
        }
        model.module_paths = module_paths;
        // Resolving every call site is the model's largest cost: done per module in parallel.
        let resolved: Vec<(Symbol, (ModuleId, usize))> = model
            .modules
            .par_iter()
            .enumerate()
            .flat_map_iter(|(id, module)| {
                let model = &model;
                // A file calls the same helpers again and again: resolve each callee once.
                let mut memo: HashMap<&str, Option<Symbol>> = HashMap::new();
                module
                    .call_sites
                    .iter()
                    .enumerate()
                    .filter(|(_, call)| !call.callee.starts_with("self."))
                    .filter_map(move |(site, call)| {
                        let symbol = *memo
                            .entry(call.callee.as_str())
                            .or_insert_with(|| model.resolve_in(id, &call.callee));
                        match symbol {
                            Some(symbol @ Symbol::Function(..)) => Some((symbol, (id, site))),
                            _ => None,
                        }
                    })
            })
            .collect();
        let mut callers: HashMap<Symbol, Vec<(ModuleId, usize)>> = HashMap::new();
        for (symbol, site) in resolved {
            callers.entry(symbol).or_default().push(site);
        }
        model.callers = callers;
        model
    }

    pub fn modules(&self) -> &[ModuleSummary] {
        &self.modules
    }

    pub fn module(&self, id: ModuleId) -> &ModuleSummary {
        &self.modules[id]
    }

    pub fn module_of_path(&self, path: &Path) -> Option<ModuleId> {
        self.by_module_path.get(&module_path(path)?).copied()
    }

    pub fn class(&self, symbol: Symbol) -> Option<&ClassSummary> {
        match symbol {
            Symbol::Class(m, c) => self.modules[m].classes.get(c),
            _ => None,
        }
    }

    pub fn function(&self, symbol: Symbol) -> Option<&FunctionSummary> {
        match symbol {
            Symbol::Function(m, f) => self.modules[m].functions.get(f),
            _ => None,
        }
    }

    /// The path of the file a symbol is defined in.
    pub fn path_of(&self, symbol: Symbol) -> &Path {
        let (Symbol::Module(m) | Symbol::Class(m, _) | Symbol::Function(m, _)) = symbol;
        &self.modules[m].path
    }

    /// Resolves a name as written in module `from`: a class or function defined there, a
    /// module-level alias, or an import (followed into the project's files).
    pub fn resolve_in(&self, from: ModuleId, written: &str) -> Option<Symbol> {
        self.resolve_written(from, written, 0)
    }

    /// Resolves a callee as written inside a function of module `from`: `self.validate` in a
    /// method of class `class` is that class's method (or an inherited one from a project
    /// base); anything else as [`ProjectModel::resolve_in`].
    pub fn resolve_call(
        &self,
        from: ModuleId,
        class: Option<&str>,
        written: &str,
    ) -> Option<Symbol> {
        match (written.strip_prefix("self."), class) {
            (Some(method), Some(class)) if !method.contains('.') => {
                let c = self.modules[from]
                    .classes
                    .iter()
                    .position(|c| c.name == class)?;
                self.method_of(Symbol::Class(from, c), method)
            }
            (Some(_), _) => None,
            (None, _) => self.resolve_in(from, written),
        }
    }

    /// A method of a class, or of its nearest project base that defines it.
    pub fn method_of(&self, class: Symbol, method: &str) -> Option<Symbol> {
        self.chain(class).iter().copied().find_map(|s| {
            let (Symbol::Class(m, _), Some(summary)) = (s, self.class(s)) else {
                return None;
            };
            self.modules[m]
                .functions
                .iter()
                .position(|f| f.name == method && f.class.as_deref() == Some(summary.name.as_str()))
                .map(|f| Symbol::Function(m, f))
        })
    }

    /// Resolves a name that is already qualified through `from`'s imports (`models.Net` for
    /// `from models import Net`), as the index stores base classes and layer constructors.
    pub fn resolve_qualified_in(&self, from: ModuleId, qualified: &str) -> Option<Symbol> {
        self.resolve_qualified(from, qualified, 0)
    }

    /// The fully qualified name of something written in module `from`, through its imports
    /// (`nn.CrossEntropyLoss` -> `torch.nn.CrossEntropyLoss`), or the text itself when its
    /// head is not imported.
    pub fn qualify_in(&self, from: ModuleId, written: &str) -> String {
        let module = &self.modules[from];
        let (head, rest) = split_head(written);
        match module.imports.get(head) {
            Some(base) => match rest {
                Some(rest) => format!("{base}.{rest}"),
                None => base.clone(),
            },
            None => written.to_string(),
        }
    }

    fn resolve_written(&self, from: ModuleId, written: &str, depth: usize) -> Option<Symbol> {
        if depth > MAX_DEPTH || written.starts_with("self.") {
            return None;
        }
        let module = &self.modules[from];
        let (head, rest) = split_head(written);
        if rest.is_none() {
            if let Some(symbol) = self
                .defined_in(from, head)
                .or_else(|| self.nested_in(from, head))
            {
                return Some(symbol);
            }
        }
        if let Some(target) = module.aliases.get(head) {
            if target != head {
                let target = match rest {
                    Some(rest) => format!("{target}.{rest}"),
                    None => target.clone(),
                };
                return self.resolve_written(from, &target, depth + 1);
            }
        }
        let base = module.imports.get(head)?;
        let qualified = match rest {
            Some(rest) => format!("{base}.{rest}"),
            None => base.clone(),
        };
        self.resolve_qualified(from, &qualified, depth + 1)
    }

    /// A class or top-level function named `name` in module `id`.
    fn defined_in(&self, id: ModuleId, name: &str) -> Option<Symbol> {
        match self.definitions.get(id) {
            Some(names) => names.get(name).copied(),
            None => definition_in(id, &self.modules[id], name),
        }
    }

    /// A function nested in another function of module `id` (`def evaluate():` inside
    /// `main()`, called by its sibling `train()`), when exactly one nested function there has
    /// that name and no module-level name shadows it: the scripts that define their training
    /// and evaluation steps as closures. Only for calls written in the same module; imports
    /// never reach nested functions.
    fn nested_in(&self, id: ModuleId, name: &str) -> Option<Symbol> {
        let module = &self.modules[id];
        if module.imports.contains_key(name) || module.aliases.contains_key(name) {
            return None;
        }
        let mut nested = module
            .functions
            .iter()
            .enumerate()
            .filter(|(_, f)| f.name == name && f.class.is_none() && !f.top_level);
        let (first, _) = nested.next()?;
        if nested.next().is_some() {
            return None;
        }
        Some(Symbol::Function(id, first))
    }

    /// Looks a name up in a module, following its aliases and imports (package re-exports).
    fn lookup(&self, id: ModuleId, name: &str, depth: usize) -> Option<Symbol> {
        if let Some(symbol) = self.defined_in(id, name) {
            return Some(symbol);
        }
        let module = &self.modules[id];
        if module.aliases.contains_key(name) || module.imports.contains_key(name) {
            return self.resolve_written(id, name, depth + 1);
        }
        // `from pkg import sub` where `sub` is a module of the package.
        let dir = package_dir(&module.path)?;
        self.by_module_path
            .get(&dir.join(name))
            .map(|&m| Symbol::Module(m))
    }

    /// Resolves an import's qualified name (`.model.Net`, `pkg.models.Net`) seen from `from`.
    fn resolve_qualified(&self, from: ModuleId, qualified: &str, depth: usize) -> Option<Symbol> {
        if depth > MAX_DEPTH {
            return None;
        }
        let level = qualified.len() - qualified.trim_start_matches('.').len();
        let rest = &qualified[level..];
        let parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('.').collect()
        };
        if level > 0 {
            let mut base = self.modules[from].path.parent()?.to_path_buf();
            for _ in 1..level {
                base = base.parent()?.to_path_buf();
            }
            for split in (0..=parts.len()).rev() {
                let mut path = base.clone();
                path.extend(&parts[..split]);
                if let Some(&m) = self.by_module_path.get(&path) {
                    return self.walk(m, &parts[split..], depth);
                }
            }
            return None;
        }
        for split in (1..=parts.len()).rev() {
            if let Some(m) = self.find_module(&parts[..split], from) {
                if m == from && split == parts.len() {
                    continue;
                }
                return self.walk(m, &parts[split..], depth);
            }
        }
        None
    }

    /// From a module, the symbol at `rest` (`Net`, or `sub.Net` through a submodule).
    fn walk(&self, module: ModuleId, rest: &[&str], depth: usize) -> Option<Symbol> {
        let mut symbol = Symbol::Module(module);
        for name in rest {
            let Symbol::Module(m) = symbol else {
                return None;
            };
            symbol = self.lookup(m, name, depth + 1)?;
        }
        Some(symbol)
    }

    /// The project file for an absolute module name: the one whose path ends with it, nearest
    /// to the importing file when several do (`pkg/models.py` vs `other/models.py`).
    fn find_module(&self, parts: &[&str], from: ModuleId) -> Option<ModuleId> {
        // Most names are not the stem of any project file (`torch`, `nn`): look that up before
        // building the path to compare.
        let candidates = self.by_stem.get(*parts.last()?)?;
        let rel: PathBuf = parts.iter().collect();
        let from_path = &self.modules[from].path;
        candidates
            .iter()
            .copied()
            .filter(|&m| {
                self.module_paths[m]
                    .as_ref()
                    .is_some_and(|p| p.ends_with(&rel))
            })
            .max_by_key(|&m| common_prefix(&self.modules[m].path, from_path))
    }

    /// Whether a class is an `nn.Module`, itself or through its bases in the project.
    pub fn is_module_class(&self, symbol: Symbol) -> bool {
        self.chain(symbol)
            .iter()
            .any(|&s| self.class(s).is_some_and(|c| c.is_module))
    }

    /// The class and its project bases, nearest first (at most [`MAX_DEPTH`] deep).
    pub fn class_chain(&self, symbol: Symbol) -> Vec<Symbol> {
        self.chain(symbol).to_vec()
    }

    /// [`ProjectModel::class_chain`], computed once per class: every `self.method(...)` call
    /// a rule resolves walks it, and each walk resolves every base through the imports again
    /// (transformers' deep model hierarchies: an eighth of a review's instructions).
    fn chain(&self, symbol: Symbol) -> &[Symbol] {
        let Symbol::Class(m, c) = symbol else {
            return &[];
        };
        match self.class_chains.get(m).and_then(|cs| cs.get(c)) {
            Some(memo) => memo.get_or_init(|| self.compute_class_chain(symbol)),
            None => &[],
        }
    }

    fn compute_class_chain(&self, symbol: Symbol) -> Vec<Symbol> {
        let mut out = Vec::new();
        let mut queue = vec![(symbol, 0)];
        while let Some((s, depth)) = queue.pop() {
            if depth > MAX_DEPTH || out.contains(&s) {
                continue;
            }
            let (Symbol::Class(m, _), Some(class)) = (s, self.class(s)) else {
                continue;
            };
            out.push(s);
            for base in class.bases.iter().rev() {
                // Bases are stored qualified through the file's imports (`base.Net`).
                let resolved = self
                    .resolve_in(m, base)
                    .or_else(|| self.resolve_qualified(m, base, 0));
                if let Some(b @ Symbol::Class(..)) = resolved {
                    queue.push((b, depth + 1));
                }
            }
        }
        out
    }

    /// The activation a model class's `forward` ends in, looking through its project bases
    /// when it does not define `forward` itself.
    pub fn ending(&self, symbol: Symbol) -> Option<(Symbol, &Ending)> {
        for &s in self.chain(symbol) {
            let class = self.class(s)?;
            if class.has_forward {
                return class.ending.as_ref().map(|e| (s, e));
            }
        }
        None
    }

    /// The model class a name written in `from` stands for: the class itself, or the class a
    /// factory function returns (`build_model(cfg)` whose body does `return Net(cfg)`).
    pub fn class_of(&self, from: ModuleId, written: &str) -> Option<Symbol> {
        let mut symbol = self.resolve_in(from, written)?;
        for _ in 0..MAX_DEPTH {
            match symbol {
                Symbol::Class(..) => return Some(symbol),
                Symbol::Function(m, _) => {
                    let returns = self.function(symbol)?.returns.as_deref()?;
                    symbol = self.resolve_in(m, returns)?;
                }
                Symbol::Module(_) => return None,
            }
        }
        None
    }

    /// What a function does, itself or through the project functions it calls (methods of the
    /// same class included), a few calls deep.
    pub fn behaviour(&self, symbol: Symbol) -> Behaviour {
        // The model never changes once built, so a function's answer is the same every time.
        let memo = match symbol {
            Symbol::Function(m, f) => self.behaviours.get(m).and_then(|fs| fs.get(f)),
            _ => None,
        };
        let compute = || {
            let mut seen = HashSet::new();
            self.behaviour_rec(symbol, 0, &mut seen)
        };
        match memo {
            Some(memo) => *memo.get_or_init(compute),
            None => compute(),
        }
    }

    fn behaviour_rec(&self, symbol: Symbol, depth: usize, seen: &mut HashSet<Symbol>) -> Behaviour {
        let Some(function) = self.function(symbol) else {
            return Behaviour::default();
        };
        if depth > 4 || !seen.insert(symbol) {
            return function.behaviour;
        }
        let Symbol::Function(m, _) = symbol else {
            return function.behaviour;
        };
        let mut behaviour = function.behaviour;
        for callee in &function.calls {
            let target = self.resolve_call(m, function.class.as_deref(), callee);
            if let Some(target @ Symbol::Function(..)) = target {
                behaviour = behaviour.union(self.behaviour_rec(target, depth + 1, seen));
            }
        }
        behaviour
    }

    /// The function defined in module `module` at 1-based line `line` (its `def`).
    pub fn function_at(&self, module: ModuleId, line: u32) -> Option<Symbol> {
        self.modules[module]
            .functions
            .iter()
            .position(|f| f.line == line)
            .map(|f| Symbol::Function(module, f))
    }

    /// The function that makes a call site of module `module`: a `def`, or the module's
    /// top-level code ([`crate::summary::MODULE_CODE`]).
    pub fn caller_of(&self, module: ModuleId, site: &CallSite) -> Option<Symbol> {
        self.function_at(module, site.caller.unwrap_or(0))
    }

    /// The project's calls of a function (from any file, through any import).
    pub fn callers_of(&self, function: Symbol) -> impl Iterator<Item = (ModuleId, &CallSite)> {
        self.callers
            .get(&function)
            .into_iter()
            .flatten()
            .map(|&(m, site)| (m, &self.modules[m].call_sites[site]))
    }

    /// What the project's callers pass as parameter `param` of a function: the constructor
    /// as written in the caller, when every caller that says agrees on one.
    pub fn argument_type(&self, function: Symbol, param: &str) -> Option<Written> {
        let summary = self.function(function)?;
        let position = summary.params.iter().position(|p| p == param)?;
        let mut found: Option<Written> = None;
        for &(m, site) in self.callers.get(&function)? {
            let call = &self.modules[m].call_sites[site];
            let by_keyword = call
                .keywords
                .iter()
                .find(|(k, _)| k == param)
                .and_then(|(_, v)| v.clone());
            let by_position = call.args.get(position).cloned().flatten();
            let Some(text) = by_keyword.or(by_position) else {
                continue;
            };
            let written = Written { module: m, text };
            match &found {
                None => found = Some(written),
                Some(prev) if self.same_type(prev, &written) => {}
                Some(_) => return None,
            }
        }
        found
    }

    fn same_type(&self, a: &Written, b: &Written) -> bool {
        match (
            self.resolve_in(a.module, &a.text),
            self.resolve_in(b.module, &b.text),
        ) {
            (Some(x), Some(y)) => x == y,
            (None, None) => {
                self.qualify_in(a.module, &a.text) == self.qualify_in(b.module, &b.text)
            }
            _ => false,
        }
    }
}

/// A class (the first of that name) or else a top-level function named `name` in `module`.
fn definition_in(id: ModuleId, module: &ModuleSummary, name: &str) -> Option<Symbol> {
    if let Some(c) = module.classes.iter().position(|c| c.name == name) {
        return Some(Symbol::Class(id, c));
    }
    module
        .functions
        .iter()
        .position(|f| f.name == name && f.class.is_none() && f.top_level)
        .map(|f| Symbol::Function(id, f))
}

/// Every name [`definition_in`] answers for `module`, with its answer.
fn definitions_of(id: ModuleId, module: &ModuleSummary) -> HashMap<String, Symbol> {
    let mut names = HashMap::new();
    let candidates = module.classes.iter().map(|c| &c.name).chain(
        module
            .functions
            .iter()
            .filter(|f| f.class.is_none() && f.top_level)
            .map(|f| &f.name),
    );
    for name in candidates {
        if !names.contains_key(name.as_str()) {
            if let Some(symbol) = definition_in(id, module, name) {
                names.insert(name.clone(), symbol);
            }
        }
    }
    names
}

fn split_head(written: &str) -> (&str, Option<&str>) {
    match written.split_once('.') {
        Some((head, rest)) => (head, Some(rest)),
        None => (written, None),
    }
}

/// `pkg/model.py` -> `pkg/model`; `pkg/__init__.py` -> `pkg`; notebooks are not importable.
fn module_path(path: &Path) -> Option<PathBuf> {
    if path.extension().is_none_or(|e| e != "py") {
        return None;
    }
    if path.file_name().is_some_and(|n| n == "__init__.py") {
        return path.parent().map(Path::to_path_buf);
    }
    Some(path.with_extension(""))
}

/// The folder of a package's `__init__.py` (where `from pkg import sub` finds `sub`).
fn package_dir(path: &Path) -> Option<PathBuf> {
    path.file_name()
        .is_some_and(|n| n == "__init__.py")
        .then(|| path.parent().map(Path::to_path_buf))
        .flatten()
}

fn common_prefix(a: &Path, b: &Path) -> usize {
    a.components()
        .zip(b.components())
        .take_while(|(x, y)| x == y)
        .count()
}
