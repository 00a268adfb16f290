//! The project-level pass. While files are reviewed in parallel, each file's index is
//! distilled into [`FileFacts`] (does it train, is it run as a script, what does it seed,
//! which `torch.load` calls lack `weights_only`, ...). Requirement files are read as
//! [`Requirements`]. Once every file is done, project rules see all facts together and report
//! once, at the file where the problem is (the training entry point, the requirement file),
//! instead of on every file that imports torch.
//!
//! A project rule is an ordinary [`Rule`] (code, docs, selection, severity overrides,
//! suppression comments all work the same) plus a [`ProjectRule`] entry that gives its
//! project check. An area lists them in its `PROJECT_RULES`; the registry collects them.
//! A rule may have both halves (`SEC001` checks explicit `weights_only=False` per file and
//! the missing argument against the project's PyTorch pin).

mod facts;
pub mod module_modes;
pub mod requirements;
pub mod scorecard;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use mleng_diagnostics::{Finding, Fix, Location, Severity, Snippet};

use crate::context::Context;
use crate::rule::Rule;

pub(crate) use facts::site;
pub use facts::{collect as collect_facts, FileFacts};

/// Facts of one file plus the candidates of the enabled project rules that have a per-file half.
pub fn collect_facts_and_candidates(
    index: &mleng_python::SemanticIndex,
    model: &mleng_project::ProjectModel,
    module: mleng_project::ModuleId,
    rules: &[&ProjectRule],
) -> FileFacts {
    let mut facts = collect_facts(index);
    if !facts.is_test
        && rules
            .iter()
            .any(|r| r.rule.area == mleng_diagnostics::Area::Cv)
    {
        facts.cv = crate::cv::task_advice::collect(index);
    }
    for project_rule in rules {
        let Some(check) = project_rule.candidates else {
            continue;
        };
        // As for per-file rules: advice in test code is noise.
        if facts.is_test && project_rule.rule.area != mleng_diagnostics::Area::Input {
            continue;
        }
        let mut ctx = Context::new(index, model, module, project_rule.rule);
        check(&mut ctx);
        let source = index.source;
        let subjects = ctx.subjects;
        for (i, (mut finding, (first, last))) in
            ctx.findings.into_iter().zip(ctx.text_lines).enumerate()
        {
            finding.snippet = crate::engine::snippet(source, &finding.location, first, last);
            facts.candidates.push(Candidate {
                code: project_rule.rule.code,
                subject: subjects.get(i).cloned().flatten(),
                finding,
                first_line_text: source.lines.line_text(&source.text, first).to_string(),
                last_line_text: source.lines.line_text(&source.text, last).to_string(),
            });
        }
    }
    facts
}
pub use requirements::Requirements;

/// A rule's project half.
pub struct ProjectRule {
    pub rule: &'static Rule,
    pub check: fn(&mut ProjectContext),
    /// A per-file check whose findings are only *candidates*: it runs in the parallel phase
    /// on each file's index, its findings are kept in [`FileFacts::candidates`], and the
    /// project check decides which to report (for rules whose answer depends on other files,
    /// such as a `worker_init_fn` defined elsewhere).
    pub candidates: Option<fn(&mut Context)>,
}

/// A finding found in one file, waiting for the project check to confirm it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub code: &'static str,
    /// What the project check needs to decide, if the per-file check named it (the class of
    /// the model a finding is about).
    pub subject: Option<String>,
    pub finding: Finding,
    pub first_line_text: String,
    pub last_line_text: String,
}

/// The per-file check of a rule that only has a project half.
pub(crate) fn no_file_check(_: &mut Context) {}

/// A place in a reviewed file, captured while its index was alive: where it is, its text,
/// and the text of its first and last lines (for `# noqa` comments and snippets).
#[derive(Debug, Clone)]
pub struct Site {
    pub location: Location,
    pub text: String,
    /// A short name for messages (`torch.load(path, ...)`); the text when not set.
    pub label: String,
    pub first_line_text: String,
    pub last_line_text: String,
    pub snippet: Option<Snippet>,
}

/// Everything the project rules see.
#[derive(Debug, Default)]
pub struct ProjectFacts {
    pub files: Vec<FileFacts>,
    pub requirements: Requirements,
    /// Module stem (`engine` for `engine.py`, `pkg` for `pkg/__init__.py`) -> files.
    by_stem: OnceLock<HashMap<String, Vec<usize>>>,
    /// Per file, the files its imported calls resolve to (computed once: entry points walk it
    /// several imports deep).
    callees: OnceLock<Vec<Vec<usize>>>,
}

impl ProjectFacts {
    /// The reviewed file that is `module` (`engine` -> `engine.py`, `pkg.engine` ->
    /// `pkg/engine.py`, `.engine` -> `engine.py`), the one nearest to `from` when several match.
    pub fn file_for_module(&self, module: &str, from: &Path) -> Option<&FileFacts> {
        let module = module.trim_start_matches('.');
        if module.is_empty() {
            return None;
        }
        let rel: PathBuf = module.split('.').collect();
        let stem = module.rsplit('.').next().unwrap_or(module);
        let by_stem = self.by_stem.get_or_init(|| {
            let mut map: HashMap<String, Vec<usize>> = HashMap::new();
            for (i, f) in self.files.iter().enumerate() {
                let stem = if f.path.file_name().is_some_and(|n| n == "__init__.py") {
                    f.path.parent().and_then(|d| d.file_name())
                } else {
                    f.path.file_stem()
                };
                if let Some(stem) = stem.and_then(|s| s.to_str()) {
                    map.entry(stem.to_string()).or_default().push(i);
                }
            }
            map
        });
        by_stem
            .get(stem)?
            .iter()
            .map(|&i| &self.files[i])
            .filter(|f| {
                f.path.with_extension("").ends_with(&rel)
                    || (f.path.file_name().is_some_and(|n| n == "__init__.py")
                        && f.path.parent().is_some_and(|d| d.ends_with(&rel)))
            })
            .max_by_key(|f| common_prefix(&f.path, from))
    }

    /// The project file that defines the callee of an imported call (`engine.train` ->
    /// `engine.py`, with `train`), trying the longest module path first.
    pub fn callee_file(&self, qualified: &str, from: &Path) -> Option<(&FileFacts, String)> {
        let parts: Vec<&str> = qualified.split('.').collect();
        for split in (1..parts.len()).rev() {
            let module = parts[..split].join(".");
            if let Some(file) = self.file_for_module(&module, from) {
                if file.path != from {
                    return Some((file, parts[split].to_string()));
                }
            }
        }
        None
    }

    /// The position in [`ProjectFacts::files`] of a reference into it (address arithmetic:
    /// the lookups above hand out references into the vector).
    fn index_of(&self, file: &FileFacts) -> Option<usize> {
        let size = std::mem::size_of::<FileFacts>().max(1);
        let base = self.files.as_ptr() as usize;
        let at = (file as *const FileFacts as usize).checked_sub(base)?;
        let index = at / size;
        (at % size == 0 && index < self.files.len()).then_some(index)
    }

    /// The files an entry point reaches through its imported calls (itself first), and the
    /// files those reach in turn, a few imports deep: DINOv2's `linear.py` seeds through
    /// `setup_and_build_model` -> `setup` -> `default_setup` -> `fix_random_seeds`, three files
    /// away.
    pub fn reached_from<'s>(&'s self, entry: &'s FileFacts) -> Vec<&'s FileFacts> {
        const MAX_DEPTH: usize = 4;
        let Some(start) = self.index_of(entry) else {
            return vec![entry];
        };
        let callees = self.callees.get_or_init(|| {
            self.files
                .iter()
                .map(|from| {
                    let mut to: Vec<usize> = from
                        .imported_calls
                        .iter()
                        .filter_map(|(qualified, _)| self.callee_file(qualified, &from.path))
                        .filter_map(|(file, _)| self.index_of(file))
                        .collect();
                    to.sort_unstable();
                    to.dedup();
                    to
                })
                .collect()
        });
        let mut seen = vec![false; self.files.len()];
        seen[start] = true;
        let mut out = vec![start];
        let mut frontier = vec![start];
        for _ in 0..MAX_DEPTH {
            let mut next = Vec::new();
            for from in frontier {
                for &to in &callees[from] {
                    if !seen[to] {
                        seen[to] = true;
                        out.push(to);
                        next.push(to);
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        out.into_iter().map(|i| &self.files[i]).collect()
    }
}

/// A file that is run (script with a main guard, notebook, module-level training) and trains,
/// itself or by calling a training function of another reviewed file.
pub struct EntryPoint<'p> {
    pub file: &'p FileFacts,
    /// Where it trains: its own training loop, or its call into the training function.
    pub site: &'p Site,
    /// The file with the training loop (the entry point itself, or the callee's file).
    pub training_file: &'p FileFacts,
    /// The entry point and every reviewed file its imported calls reach (a few levels deep).
    pub reached: Vec<&'p FileFacts>,
}

impl ProjectFacts {
    pub fn training_entry_points(&self) -> Vec<EntryPoint<'_>> {
        let mut out = Vec::new();
        for file in self.files.iter().filter(|f| f.is_entry_point) {
            let found = match &file.trains {
                Some(site) => Some((site, file)),
                None => file.imported_calls.iter().find_map(|(qualified, site)| {
                    let (callee, name) = self.callee_file(qualified, &file.path)?;
                    callee
                        .training_functions
                        .contains(&name)
                        .then_some((site, callee))
                }),
            };
            if let Some((site, training_file)) = found {
                out.push(EntryPoint {
                    file,
                    site,
                    training_file,
                    reached: self.reached_from(file),
                });
            }
        }
        out
    }
}

fn common_prefix(a: &Path, b: &Path) -> usize {
    a.components()
        .zip(b.components())
        .take_while(|(x, y)| x == y)
        .count()
}

pub struct ProjectContext<'p> {
    pub facts: &'p ProjectFacts,
    pub(crate) rule: &'static Rule,
    pub(crate) findings: Vec<(Finding, String, String)>,
}

impl<'p> ProjectContext<'p> {
    pub fn new(facts: &'p ProjectFacts, rule: &'static Rule) -> Self {
        ProjectContext {
            facts,
            rule,
            findings: Vec::new(),
        }
    }

    /// Reports a candidate found in the per-file phase as it is.
    pub fn confirm(&mut self, candidate: &Candidate) -> &mut Finding {
        self.findings.push((
            candidate.finding.clone(),
            candidate.first_line_text.clone(),
            candidate.last_line_text.clone(),
        ));
        let last = self.findings.len() - 1;
        &mut self.findings[last].0
    }

    /// Candidates of the current rule, with the file they were found in.
    pub fn candidates(&self) -> impl Iterator<Item = (&'p FileFacts, &'p Candidate)> + '_ {
        let code = self.rule.code;
        self.facts.files.iter().flat_map(move |f| {
            f.candidates
                .iter()
                .filter(move |c| c.code == code)
                .map(move |c| (f, c))
        })
    }

    /// Reports a finding of the current rule at a site, for the training entry point (or file)
    /// `file`. A site in a module that several entry points reach (a shared `data.py`) is one
    /// finding that names them all, not one unnamed copy per entry point.
    pub fn report(
        &mut self,
        file: &FileFacts,
        site: &Site,
        message: impl Into<String>,
        fix: Option<Fix>,
    ) -> &mut Finding {
        let message = message.into();
        let elsewhere = file.path != site.location.path;
        let existing = self
            .findings
            .iter()
            .position(|(f, _, _)| f.location == site.location && f.message == message);
        let index = match existing {
            Some(index) => index,
            None => {
                self.report_with_severity(site, self.rule.severity, message, fix);
                self.findings.len() - 1
            }
        };
        if elsewhere {
            let name = file.path.file_name().map_or_else(
                || file.path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            add_entry_point(&mut self.findings[index].0, &name);
        }
        &mut self.findings[index].0
    }

    pub fn report_with_severity(
        &mut self,
        site: &Site,
        severity: Severity,
        message: impl Into<String>,
        fix: Option<Fix>,
    ) -> &mut Finding {
        let mut finding = Finding::new(
            self.rule.code,
            self.rule.name,
            severity,
            self.rule.area,
            site.location.clone(),
            message,
        );
        finding.fix =
            fix.map(|fix| crate::context::fix_with_edits(self.rule, fix, &finding.location, false));
        finding.snippet = site.snippet.clone();
        self.findings.push((
            finding,
            site.first_line_text.clone(),
            site.last_line_text.clone(),
        ));
        let last = self.findings.len() - 1;
        &mut self.findings[last].0
    }
}

const REACHED_FROM: &str = "reached from the training entry point";

/// Names one more entry point in the finding's "reached from" evidence line.
fn add_entry_point(finding: &mut Finding, name: &str) {
    let quoted = format!("`{name}`");
    match finding
        .evidence
        .iter_mut()
        .find(|e| e.starts_with(REACHED_FROM))
    {
        Some(line) if line.contains(&quoted) => {}
        Some(line) => {
            let names = line
                .split_once(": ")
                .map_or(String::new(), |(_, names)| names.to_string());
            *line = format!("{REACHED_FROM}s: {names}, {quoted}");
        }
        None => finding.evidence.push(format!("{REACHED_FROM}: {quoted}")),
    }
}

/// Whether `path` is a requirement file the project pass reads.
pub fn is_requirements_file(path: &Path) -> bool {
    requirements::is_requirements_file(path)
}
