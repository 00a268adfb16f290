//! The review engine: for each file, load -> parse -> index -> run the enabled rules ->
//! drop suppressed findings -> apply severity overrides -> attach snippets. Files are reviewed
//! in parallel; a file that cannot be read or parsed yields one input finding and never
//! stops the run, and even a bug of ours in one file is contained to that file.

use mleng_python::contained::contain;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use globset::GlobSet;
use mleng_diagnostics::{Finding, Location, Severity, Snippet};
use mleng_python::parse::ParsedFile;
use mleng_python::{SemanticIndex, SourceFile};
use rayon::prelude::*;

use mleng_project::{summarize, ModuleId, ModuleSummary, ProjectModel};

use crate::context::{location_of, Context};
use crate::input;
use crate::project::{self, FileFacts, ProjectContext, ProjectFacts, ProjectRule};
use crate::registry;
use crate::rule::Rule;

#[derive(Debug, thiserror::Error)]
pub enum SelectionError {
    #[error("unknown rule code or prefix `{0}` (see `mleng rules`)")]
    UnknownCode(String),
}

/// Which rules run and how loud they are. Built from configuration and flags.
#[derive(Debug, Clone)]
pub struct Settings {
    pub enabled: HashSet<&'static str>,
    pub severity_overrides: HashMap<&'static str, Severity>,
    /// Glob -> codes ignored in matching files.
    pub per_file_ignores: Vec<(GlobSet, HashSet<&'static str>)>,
    /// Counts files as their rules finish, for a progress line (`None`: nobody is watching).
    pub progress: Option<Arc<Progress>>,
}

/// How far a review is: files whose rules have run, of how many. Shared with whoever shows it.
#[derive(Debug, Default)]
pub struct Progress {
    pub done: AtomicUsize,
    pub total: AtomicUsize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            enabled: registry::default_enabled().map(|r| r.code).collect(),
            severity_overrides: HashMap::new(),
            per_file_ignores: Vec::new(),
            progress: None,
        }
    }
}

/// Expands a selector (`ALL`, a code `TRN001`, a prefix `TRN`, or a rule name
/// `missing-gradient-clipping`) into rule codes.
pub fn expand_selector(selector: &str) -> Result<Vec<&'static str>, SelectionError> {
    let selector = selector.trim();
    if selector.eq_ignore_ascii_case("ALL") {
        return Ok(registry::all().iter().map(|r| r.code).collect());
    }
    let codes: Vec<&'static str> = registry::all()
        .iter()
        .filter(|r| r.code.starts_with(&selector.to_ascii_uppercase()) || r.name == selector)
        .map(|r| r.code)
        .collect();
    if codes.is_empty() {
        return Err(SelectionError::UnknownCode(selector.to_string()));
    }
    Ok(codes)
}

impl Settings {
    /// `select` replaces the default set when given; `extend_select` adds; `ignore` removes.
    pub fn from_selection(
        select: Option<&[String]>,
        extend_select: &[String],
        ignore: &[String],
    ) -> Result<Settings, SelectionError> {
        let mut enabled: HashSet<&'static str> = match select {
            Some(selectors) => {
                let mut set = HashSet::new();
                for s in selectors {
                    set.extend(expand_selector(s)?);
                }
                set
            }
            None => registry::default_enabled().map(|r| r.code).collect(),
        };
        for s in extend_select {
            enabled.extend(expand_selector(s)?);
        }
        for s in ignore {
            for code in expand_selector(s)? {
                enabled.remove(code);
            }
        }
        // Input problems are always reported: silently skipping a file is worse than noise.
        enabled.extend(input::RULES.iter().map(|r| r.code));
        Ok(Settings {
            enabled,
            ..Settings::default()
        })
    }

    fn ignored_in(&self, path: &Path, code: &str) -> bool {
        self.per_file_ignores.iter().any(|(glob, codes)| {
            codes.contains(code)
                && (glob.is_match(path)
                    || glob.is_match(path.strip_prefix("./").unwrap_or(path))
                    || path
                        .file_name()
                        .is_some_and(|n| glob.is_match(Path::new(n))))
        })
    }
}

pub struct FileOutcome {
    pub path: PathBuf,
    pub findings: Vec<Finding>,
}

/// Reviews files: Python files and notebooks in parallel, each on its own, collecting the
/// facts the project pass needs; then the project rules over all facts and the requirement
/// files among `paths` (`requirements*.txt`, `pyproject.toml`, `environment.yml`).
pub fn review_files(paths: &[PathBuf], settings: &Settings) -> Vec<FileOutcome> {
    review_project(paths, settings, false).outcomes
}

/// What [`review_project`] returns: the findings per file and, when collected, the project
/// facts (for the reproducibility scorecard).
pub struct ProjectReview {
    pub outcomes: Vec<FileOutcome>,
    pub facts: Option<ProjectFacts>,
}

/// [`review_files`], optionally keeping the project facts (`keep_facts`) even when no project
/// rule is enabled.
///
/// Data flows one way: load every file, parse each once, index each (in parallel); distil the
/// indexes into the project model; run the rules on each file with the project model beside
/// its index (in parallel); then the project rules over the collected facts. All of it runs on
/// threads with a large stack (see [`STACK_SIZE`]), so deep but ordinary code never overflows.
pub fn review_project(paths: &[PathBuf], settings: &Settings, keep_facts: bool) -> ProjectReview {
    review_project_with(paths, &Overlay::default(), settings, keep_facts)
}

/// In-memory contents that replace files on disk: an editor's unsaved buffer, a file piped on
/// stdin. Keyed by the path as it appears in the reviewed paths.
pub type Overlay = HashMap<PathBuf, String>;

/// [`review_project`] with some files' contents taken from `overlay` instead of the disk.
pub fn review_project_with(
    paths: &[PathBuf],
    overlay: &Overlay,
    settings: &Settings,
    keep_facts: bool,
) -> ProjectReview {
    on_review_threads(|| review_project_inner(paths, overlay, settings, keep_facts))
}

/// A file's source: the overlay's text when it has one, else the file on disk.
fn load_source(path: &Path, overlay: &Overlay) -> Result<SourceFile, mleng_python::LoadError> {
    let Some(text) = overlay.get(path) else {
        return SourceFile::load(path);
    };
    let is_notebook = path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("ipynb"));
    if is_notebook {
        SourceFile::from_notebook_bytes(path, text.as_bytes())
    } else {
        SourceFile::from_python_bytes(path, text.clone().into_bytes())
    }
}

/// A file loaded, or the input findings that say why not (none for a notebook in another
/// language).
pub(crate) type Loaded = Result<SourceFile, Vec<Finding>>;

pub(crate) fn load(path: &Path, overlay: &Overlay) -> Loaded {
    match contain(|| load_source(path, overlay)) {
        Ok(Ok(source)) => Ok(source),
        // An R or Julia notebook next to the Python code is not a problem to report.
        Ok(Err(mleng_python::LoadError::NotPython)) => Err(Vec::new()),
        Ok(Err(err)) => Err(vec![input::load_error(path, &err)]),
        Err(detail) => Err(vec![input::internal_error(path, &detail)]),
    }
}

/// The project rules `settings` enable.
pub(crate) fn enabled_project_rules(settings: &Settings) -> Vec<&'static ProjectRule> {
    registry::project_rules()
        .iter()
        .copied()
        .filter(|p| settings.enabled.contains(p.rule.code))
        .collect()
}

/// The requirement files among `paths` (`requirements*.txt`, `pyproject.toml`,
/// `environment.yml`), and the code files.
pub(crate) fn split_requirements(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<PathBuf>) {
    paths
        .iter()
        .cloned()
        .partition(|p| project::is_requirements_file(p))
}

fn review_project_inner(
    paths: &[PathBuf],
    overlay: &Overlay,
    settings: &Settings,
    keep_facts: bool,
) -> ProjectReview {
    let project_rules = enabled_project_rules(settings);
    let with_facts = !project_rules.is_empty() || keep_facts;
    let (requirement_paths, code_paths) = split_requirements(paths);
    let loaded: Vec<Loaded> = code_paths.par_iter().map(|p| load(p, overlay)).collect();
    let mut outcomes = Vec::with_capacity(loaded.len());
    let mut sources = Vec::with_capacity(loaded.len());
    for (path, result) in code_paths.iter().zip(loaded) {
        match result {
            Ok(source) => sources.push(Some(source)),
            Err(findings) => outcomes.push(FileOutcome {
                path: path.clone(),
                findings,
            }),
        }
    }
    // One project model per project: reviewing a folder of several projects (a corpus, a
    // monorepo of independent packages) keeps one project's syntax trees in memory at a time.
    let paths_of: Vec<&Path> = sources.iter().flatten().map(|s| s.path.as_path()).collect();
    let groups = project_groups(&paths_of);
    let mut facts = ProjectFacts::default();
    for (_, members) in groups {
        let project: Vec<SourceFile> = members
            .iter()
            .filter_map(|&i| sources.get_mut(i).and_then(Option::take))
            .collect();
        let reviewed = review_sources(&project, settings, &project_rules, with_facts);
        for (source, (findings, file_facts)) in project.iter().zip(reviewed) {
            outcomes.push(FileOutcome {
                path: source.path.clone(),
                findings,
            });
            facts.files.extend(file_facts);
        }
    }
    let facts = with_facts.then_some(facts);
    finish(
        outcomes,
        &code_paths,
        facts,
        &requirement_paths,
        &project_rules,
        settings,
    )
}

/// The end of a review: the outcomes in the order of the input paths, then (when facts were
/// collected) the project rules over the facts and the requirement files, their findings
/// added to the files they are about.
pub(crate) fn finish(
    mut outcomes: Vec<FileOutcome>,
    code_paths: &[PathBuf],
    facts: Option<ProjectFacts>,
    requirement_paths: &[PathBuf],
    project_rules: &[&ProjectRule],
    settings: &Settings,
) -> ProjectReview {
    // Keep the order of the input paths.
    let order: HashMap<&Path, usize> = code_paths
        .iter()
        .enumerate()
        .map(|(i, p)| (p.as_path(), i))
        .collect();
    outcomes.sort_by_key(|o| order.get(o.path.as_path()).copied().unwrap_or(usize::MAX));
    let Some(mut facts) = facts else {
        return ProjectReview {
            outcomes,
            facts: None,
        };
    };
    facts.requirements = project::Requirements::load(requirement_paths);
    for finding in run_project_rules(&facts, project_rules, settings) {
        match outcomes
            .iter_mut()
            .find(|o| o.path == finding.location.path)
        {
            Some(outcome) => outcome.findings.push(finding),
            None => outcomes.push(FileOutcome {
                path: finding.location.path.clone(),
                findings: vec![finding],
            }),
        }
    }
    for outcome in &mut outcomes {
        outcome
            .findings
            .sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    }
    ProjectReview {
        outcomes,
        facts: Some(facts),
    }
}

/// Files that mark a project's root.
const PROJECT_MARKERS: &[&str] = &[".git", "pyproject.toml", "setup.py", "setup.cfg"];

/// The files of `paths` grouped by project (see [`project_keys`]): each project's key and the
/// positions of its files in `paths`, in order; projects sorted by key.
pub(crate) fn project_groups(paths: &[&Path]) -> Vec<(PathBuf, Vec<usize>)> {
    let keys = project_keys(paths);
    let mut order: Vec<usize> = (0..paths.len()).collect();
    order.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
    let mut groups: Vec<(PathBuf, Vec<usize>)> = Vec::new();
    for i in order {
        match groups.last_mut() {
            Some((key, members)) if *key == keys[i] => members.push(i),
            _ => groups.push((keys[i].clone(), vec![i])),
        }
    }
    groups
}

/// The project each file belongs to: the outermost folder, at or below the folder all files
/// share, that holds a project marker (`.git`, `pyproject.toml`, `setup.py`, `setup.cfg`).
/// Files outside any such folder share one project (the common folder), unless no file sits in
/// the common folder itself: then each of its subfolders is one. Reviewing one repository gives
/// one project; reviewing a folder of packages gives one per package.
fn project_keys(paths: &[&Path]) -> Vec<PathBuf> {
    let dirs: Vec<&Path> = paths
        .iter()
        .map(|p| p.parent().unwrap_or(Path::new("")))
        .collect();
    let Some(first) = dirs.first() else {
        return Vec::new();
    };
    let common = dirs.iter().fold(first.to_path_buf(), |acc, d| {
        acc.components()
            .zip(d.components())
            .take_while(|(a, b)| a == b)
            .map(|(a, _)| a)
            .collect()
    });
    let mut marked: HashMap<PathBuf, bool> = HashMap::new();
    let mut is_marked = |dir: &Path| -> bool {
        *marked
            .entry(dir.to_path_buf())
            .or_insert_with(|| PROJECT_MARKERS.iter().any(|m| dir.join(m).exists()))
    };
    // A folder of projects without markers (a corpus of unpacked packages): no file sits
    // directly in the common folder, so each of its subfolders is a project.
    let split_children = !is_marked(&common) && !dirs.contains(&common.as_path());
    dirs.iter()
        .map(|dir| {
            let below: Vec<&Path> = dir
                .ancestors()
                .take_while(|a| a.starts_with(&common))
                .collect();
            // Outermost first.
            let marked = below.iter().rev().find(|a| is_marked(a));
            match marked {
                Some(a) => a.to_path_buf(),
                None if split_children => below
                    .iter()
                    .rev()
                    .nth(1)
                    .map_or_else(|| common.clone(), |a| a.to_path_buf()),
                None => common.clone(),
            }
        })
        .collect()
}

/// Stack of each review thread. Walking a syntax tree recurses once per nesting level; real
/// code nests a few dozen levels, generated code can nest hundreds of thousands (a 200,000-term
/// sum). The memory is reserved, not used: only the pages a deep file touches are committed.
pub const STACK_SIZE: usize = 1 << 30;

/// Deeper than this (brackets in the text, or statements and expressions in the tree), a file
/// is reported as `INP004` and skipped. With [`STACK_SIZE`] the index and the rules walk
/// about 10x deeper than this without overflowing (measured with generated sums and brackets).
pub const MAX_NESTING: usize = 250_000;

/// Runs `f` on the review thread pool (large stacks; see [`STACK_SIZE`]). Falls back to the
/// calling thread if the pool cannot be created (the limits then are the caller's).
pub(crate) fn on_review_threads<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    let pool = POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .stack_size(STACK_SIZE)
            .thread_name(|i| format!("mleng-review-{i}"))
            .build()
            .ok()
    });
    match pool {
        Some(pool) => pool.install(f),
        None => f(),
    }
}

/// A file parsed once, or why it was not.
pub(crate) enum Parsed {
    Tree(ParsedFile),
    TooDeep,
    Failed(String),
}

/// What the rules found in one file, and (when collected) its project facts.
pub(crate) type FileResult = (Vec<Finding>, Option<FileFacts>);

/// Reviews loaded files as one project: parse and index each (in parallel), build the project
/// model from all indexes, run the rules on each file with the model (in parallel). Returns,
/// per source, its findings and (when `with_facts`) its project facts.
pub fn review_sources(
    sources: &[SourceFile],
    settings: &Settings,
    project_rules: &[&ProjectRule],
    with_facts: bool,
) -> Vec<(Vec<Finding>, Option<FileFacts>)> {
    on_review_threads(|| review_sources_inner(sources, settings, project_rules, with_facts))
}

fn review_sources_inner(
    sources: &[SourceFile],
    settings: &Settings,
    project_rules: &[&ProjectRule],
    with_facts: bool,
) -> Vec<FileResult> {
    let sources: Vec<&SourceFile> = sources.iter().collect();
    let parsed = parse_sources(&sources);
    let indexes = index_sources(&sources, &parsed);
    let model = ProjectModel::new(summarize_sources(&sources, &parsed, &indexes));
    let files = prepare(&sources, &parsed, &indexes);
    let modules: Vec<ModuleId> = (0..files.len()).collect();
    let results = check_sources(
        &files,
        &modules,
        &model,
        settings,
        project_rules,
        with_facts,
    );
    drop(files);
    free_in_parallel(indexes);
    free_in_parallel(parsed);
    results
}

/// Parses each source (in parallel); a file nested too deep is not kept.
pub(crate) fn parse_sources(sources: &[&SourceFile]) -> Vec<Parsed> {
    sources
        .par_iter()
        .map(|source| {
            if mleng_python::depth::bracket_depth(&source.text) > MAX_NESTING {
                return Parsed::TooDeep;
            }
            match contain(|| ParsedFile::parse(source)) {
                Ok(tree) if mleng_python::depth::tree_deeper_than(tree.module(), MAX_NESTING) => {
                    // Dropping the tree recurses as deep as it nests: leave it to the process's end.
                    std::mem::forget(tree);
                    Parsed::TooDeep
                }
                Ok(tree) => Parsed::Tree(tree),
                Err(detail) => Parsed::Failed(detail),
            }
        })
        .collect()
}

/// Indexes each parsed source (in parallel).
pub(crate) fn index_sources<'a>(
    sources: &[&'a SourceFile],
    parsed: &'a [Parsed],
) -> Vec<Option<SemanticIndex<'a>>> {
    sources
        .par_iter()
        .zip(parsed)
        .map(|(source, parsed)| match parsed {
            Parsed::Tree(tree) => contain(|| SemanticIndex::build(source, tree.module())).ok(),
            _ => None,
        })
        .collect()
}

/// Each file's summary for the project model (an empty one for a file that did not parse).
pub(crate) fn summarize_sources(
    sources: &[&SourceFile],
    parsed: &[Parsed],
    indexes: &[Option<SemanticIndex>],
) -> Vec<ModuleSummary> {
    indexes
        .par_iter()
        .zip(parsed)
        .zip(sources)
        .map(|((index, parsed), source)| match (index, parsed) {
            (Some(index), Parsed::Tree(tree)) if tree.syntax_errors().is_empty() => {
                contain(|| summarize(index)).unwrap_or_else(|_| empty_summary(source))
            }
            _ => empty_summary(source),
        })
        .collect()
}

/// One file ready for its rules: its source, parse and index.
#[derive(Clone, Copy)]
pub(crate) struct Prepared<'r, 'a> {
    pub source: &'a SourceFile,
    pub parsed: &'r Parsed,
    pub index: Option<&'r SemanticIndex<'a>>,
}

/// The files of `sources`, with their parses and indexes, ready for their rules.
pub(crate) fn prepare<'r, 'a>(
    sources: &[&'a SourceFile],
    parsed: &'r [Parsed],
    indexes: &'r [Option<SemanticIndex<'a>>],
) -> Vec<Prepared<'r, 'a>> {
    sources
        .iter()
        .zip(parsed)
        .zip(indexes)
        .map(|((source, parsed), index)| Prepared {
            source,
            parsed,
            index: index.as_ref(),
        })
        .collect()
}

/// Runs the rules on each file (in parallel), file `i` being module `modules[i]` of `model`.
pub(crate) fn check_sources(
    files: &[Prepared],
    modules: &[ModuleId],
    model: &ProjectModel,
    settings: &Settings,
    project_rules: &[&ProjectRule],
    with_facts: bool,
) -> Vec<FileResult> {
    files
        .par_iter()
        .zip(modules)
        .map(|(file, &module)| {
            let path = &file.source.path;
            match (file.parsed, file.index) {
                (Parsed::TooDeep, _) => (vec![input::too_deep(path, MAX_NESTING)], None),
                (Parsed::Failed(detail), _) => (vec![input::internal_error(path, detail)], None),
                (Parsed::Tree(_), None) => (
                    vec![input::internal_error(path, "the semantic index failed")],
                    None,
                ),
                (Parsed::Tree(tree), Some(index)) => {
                    let file = FileUnderReview {
                        index,
                        tree,
                        project: model,
                        module,
                    };
                    let result =
                        contain(|| review_indexed(&file, settings, project_rules, with_facts));
                    if let Some(progress) = &settings.progress {
                        progress.done.fetch_add(1, Ordering::Relaxed);
                    }
                    match result {
                        Ok(result) => result,
                        Err(detail) => (vec![input::internal_error(path, &detail)], None),
                    }
                }
            }
        })
        .collect()
}

/// Frees indexes or syntax trees in parallel: freeing a project's trees on one thread costs
/// as much as a rule pass.
pub(crate) fn free_in_parallel<T: Send>(items: Vec<T>) {
    items.into_par_iter().for_each(drop);
}

fn empty_summary(source: &SourceFile) -> ModuleSummary {
    ModuleSummary {
        path: source.path.clone(),
        ..ModuleSummary::default()
    }
}

/// One file's parse and index, with the project model it is reviewed in.
struct FileUnderReview<'r, 'a> {
    index: &'r SemanticIndex<'a>,
    tree: &'r ParsedFile,
    project: &'r ProjectModel,
    module: ModuleId,
}

/// Runs the project rules over the collected facts, applying suppression comments, per-file
/// ignores and severity overrides like the per-file pass. A bug of ours in one project rule
/// drops that rule's findings and is reported, never the run.
pub fn run_project_rules(
    facts: &ProjectFacts,
    rules: &[&ProjectRule],
    settings: &Settings,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for project_rule in rules {
        let rule = project_rule.rule;
        let result = contain(|| {
            let mut ctx = ProjectContext::new(facts, rule);
            (project_rule.check)(&mut ctx);
            ctx.findings
        });
        let found = match result {
            Ok(found) => found,
            Err(_) => {
                let path = facts
                    .files
                    .first()
                    .map(|f| f.path.clone())
                    .unwrap_or_default();
                findings.push(input::internal_error(
                    &path,
                    &format!("project rule {} failed", rule.code),
                ));
                continue;
            }
        };
        for (mut finding, first, last) in found {
            let path = finding.location.path.clone();
            if settings.ignored_in(&path, rule.code)
                || line_suppresses(&first, rule)
                || line_suppresses(&last, rule)
            {
                continue;
            }
            if let Some(&severity) = settings.severity_overrides.get(rule.code) {
                finding.severity = severity;
            }
            // A finding several entry points reported got their evidence several times.
            let mut seen = HashSet::new();
            finding.evidence.retain(|line| seen.insert(line.clone()));
            findings.push(finding);
        }
    }
    findings
}

/// Reviews one file from disk, as a project of one file. Never panics: a bug of ours becomes
/// an `INP900` finding.
pub fn review_path(path: &Path, settings: &Settings) -> Vec<Finding> {
    review_files(&[path.to_path_buf()], settings)
        .into_iter()
        .flat_map(|o| o.findings)
        .collect()
}

/// Reviews an already loaded file as a project of one file (also used by tests on in-memory
/// sources).
pub fn review_source(source: &SourceFile, settings: &Settings) -> Vec<Finding> {
    review_source_with_facts(source, settings, &[], false).0
}

/// [`review_source`], also collecting the file's project facts (and the candidates of
/// `project_rules`) when `with_facts`. Files with syntax errors contribute no facts.
pub fn review_source_with_facts(
    source: &SourceFile,
    settings: &Settings,
    project_rules: &[&ProjectRule],
    with_facts: bool,
) -> (Vec<Finding>, Option<FileFacts>) {
    let sources = std::slice::from_ref(source);
    review_sources(sources, settings, project_rules, with_facts)
        .pop()
        .unwrap_or_default()
}

/// Runs the enabled rules on one indexed file.
fn review_indexed(
    file: &FileUnderReview,
    settings: &Settings,
    project_rules: &[&ProjectRule],
    with_facts: bool,
) -> (Vec<Finding>, Option<FileFacts>) {
    let index = file.index;
    let source = index.source;
    let errors = file.tree.syntax_errors();
    if !errors.is_empty() {
        // Rules on a broken tree would guess; report the syntax errors and stop here.
        return (input::syntax_errors(index, &errors), None);
    }
    let facts = with_facts.then(|| {
        project::collect_facts_and_candidates(index, file.project, file.module, project_rules)
    });
    let mut findings = Vec::new();
    let test_code = crate::test_code::is_test_code(&source.path);
    for rule in registry::all() {
        if !settings.enabled.contains(rule.code) || settings.ignored_in(&source.path, rule.code) {
            continue;
        }
        if test_code && rule.area != mleng_diagnostics::Area::Input {
            continue;
        }
        let mut context = Context::new(index, file.project, file.module, rule);
        (rule.check)(&mut context);
        for (mut finding, (first, last)) in context.findings.into_iter().zip(context.text_lines) {
            if is_suppressed(source, first, last, rule) {
                continue;
            }
            if let Some(&severity) = settings.severity_overrides.get(rule.code) {
                finding.severity = severity;
            }
            finding.snippet = snippet(source, &finding.location, first, last);
            findings.push(finding);
        }
    }
    drop_superseded(&mut findings);
    findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    (findings, facts)
}

/// Keeps one finding per mistake where two rules report it at the same spot
/// ([`registry::SUPERSEDES`]).
fn drop_superseded(findings: &mut Vec<Finding>) {
    let spot = |f: &Finding| {
        (
            f.location.cell,
            f.location.span.map(|s| (s.start_line, s.start_column)),
        )
    };
    for (winner, losers) in registry::SUPERSEDES {
        let spots: Vec<_> = findings
            .iter()
            .filter(|f| f.code == *winner)
            .map(spot)
            .collect();
        if !spots.is_empty() {
            findings.retain(|f| !(losers.contains(&f.code.as_str()) && spots.contains(&spot(f))));
        }
    }
}

/// `# noqa`, `# noqa: TRN001, ARC001`, `# mleng: ignore`, `# mleng: ignore[TRN001]` on the
/// first or last line of the finding. Selectors may be codes, prefixes or rule names.
fn is_suppressed(source: &SourceFile, first: u32, last: u32, rule: &Rule) -> bool {
    [first, last]
        .iter()
        .any(|&line| line_suppresses(source.lines.line_text(&source.text, line), rule))
}

/// Whether a line's comment suppresses `rule`.
pub(crate) fn line_suppresses(text: &str, rule: &Rule) -> bool {
    let Some(hash) = text.find('#') else {
        return false;
    };
    let comment = &text[hash..];
    suppression_codes(comment).is_some_and(|codes| match codes {
        None => true,
        Some(list) => list
            .iter()
            .any(|c| rule.code.starts_with(c.as_str()) || rule.name == c.as_str()),
    })
}

/// `Some(None)`: blanket suppression; `Some(Some(codes))`: these codes; `None`: no directive.
fn suppression_codes(comment: &str) -> Option<Option<Vec<String>>> {
    let lower = comment.to_ascii_lowercase();
    if let Some(pos) = lower.find("noqa") {
        let rest = comment[pos + 4..].trim_start();
        return Some(
            rest.strip_prefix(':')
                .map(|list| split_codes(list.split('#').next().unwrap_or(""))),
        );
    }
    if let Some(pos) = lower.find("mleng: ignore") {
        let rest = &comment[pos + "mleng: ignore".len()..];
        return Some(
            rest.strip_prefix('[')
                .map(|list| split_codes(list.split(']').next().unwrap_or(""))),
        );
    }
    None
}

fn split_codes(list: &str) -> Vec<String> {
    list.split([',', ' '])
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect()
}

const SNIPPET_MAX_LINES: u32 = 6;

pub(crate) fn snippet(
    source: &SourceFile,
    location: &Location,
    first: u32,
    last: u32,
) -> Option<Snippet> {
    let span = location.span?;
    let last = last.min(first + SNIPPET_MAX_LINES - 1);
    let text: Vec<&str> = (first..=last)
        .map(|line| source.lines.line_text(&source.text, line))
        .collect();
    Some(Snippet {
        first_line: span.start_line,
        text: text.join("\n"),
    })
}

/// Location of a whole file (for findings that are about the file, not a line).
pub fn file_location(index: &SemanticIndex) -> Location {
    let mut loc = location_of(index, ruff_text_size::TextRange::default());
    loc.span = None;
    loc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_suppression_comments() {
        assert_eq!(suppression_codes("# noqa"), Some(None));
        assert_eq!(
            suppression_codes("# noqa: TRN001, ARC001"),
            Some(Some(vec!["TRN001".to_string(), "ARC001".to_string()]))
        );
        assert_eq!(
            suppression_codes("# mleng: ignore[CV001]"),
            Some(Some(vec!["CV001".to_string()]))
        );
        assert_eq!(suppression_codes("# mleng: ignore"), Some(None));
        assert_eq!(suppression_codes("# a comment"), None);
    }

    #[test]
    fn unknown_selectors_are_errors() {
        assert!(expand_selector("TRN").is_ok());
        assert!(expand_selector("XYZ123").is_err());
    }
}
