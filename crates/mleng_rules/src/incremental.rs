//! Whole-project reviews that reuse what the previous review of the same files computed: the
//! language server reviews the same project after every edit.
//!
//! Data still flows one way (load -> parse -> index -> summary -> project model -> rules ->
//! project rules); what is kept between reviews is each stage's output for the files whose
//! content did not change:
//!
//! - per file, keyed by path and content stamp (a hash of an in-memory buffer's text, the size
//!   and modification time of a file on disk): the loaded source, and its summary for the
//!   project model (a function of the file alone);
//! - per project, the model and what each file's rules found (findings and project facts): those
//!   depend on the model, so they are reused only while the model is the same.
//!
//! After an edit, the changed files are parsed, indexed and summarized again. When every new
//! summary equals the old one (an edit that changes nothing other files see, such as most edits
//! inside a function), the model is the same: only the changed files' rules run. Otherwise the
//! model is rebuilt from the kept summaries and the new ones, and every file of that project is
//! parsed (from the kept source, not re-read) and checked again. The project rules always run
//! again, over every file's facts. The findings are those of a review from scratch.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use mleng_project::{ModuleSummary, ProjectModel};
use mleng_python::SourceFile;
use rayon::prelude::*;

use crate::engine::{
    check_sources, enabled_project_rules, finish, free_in_parallel, index_sources, load,
    on_review_threads, parse_sources, prepare, project_groups, split_requirements,
    summarize_sources, FileOutcome, FileResult, Loaded, Overlay, Prepared, ProjectReview, Settings,
};
use crate::project::{ProjectFacts, ProjectRule};

/// What the last review kept for the next. One cache serves one [`Settings`] (the kept
/// findings were computed with them): a new configuration needs a new cache (mleng_review's
/// `Reviewer` owns one). It holds the files of the last review only.
#[derive(Default)]
pub struct ReviewCache {
    files: HashMap<PathBuf, CachedFile>,
    projects: HashMap<PathBuf, CachedProject>,
    last: Reuse,
}

/// How much of the last review was done again.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reuse {
    /// Python files and notebooks in the review.
    pub files: usize,
    /// Files read again (new, or changed in their buffer or on disk).
    pub loaded: usize,
    /// Files whose rules ran.
    pub checked: usize,
    /// Projects whose model was (re)built.
    pub models_built: usize,
}

impl std::fmt::Debug for ReviewCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReviewCache")
            .field("files", &self.files.len())
            .field("projects", &self.projects.len())
            .field("last", &self.last)
            .finish()
    }
}

impl ReviewCache {
    /// How much the last review did again.
    pub fn last_review(&self) -> Reuse {
        self.last
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        *self = ReviewCache::default();
    }
}

/// What identifies a file's content without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stamp {
    /// An in-memory text: its length and hash.
    Text(usize, u64),
    /// A file on disk: its size and modification time.
    Disk(u64, SystemTime),
}

/// `None`: unknown (the file could not be looked at), never the same as anything.
fn stamp(path: &Path, overlay: &Overlay) -> Option<Stamp> {
    if let Some(text) = overlay.get(path) {
        let mut hasher = DefaultHasher::new();
        text.hash(&mut hasher);
        return Some(Stamp::Text(text.len(), hasher.finish()));
    }
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp::Disk(meta.len(), meta.modified().ok()?))
}

fn same(a: Option<Stamp>, b: Option<Stamp>) -> bool {
    a.is_some() && a == b
}

struct CachedFile {
    stamp: Option<Stamp>,
    loaded: Loaded,
}

/// One project as last reviewed: its files (module `i` is `paths[i]`), their stamps, the model,
/// and each file's rule results under that model.
struct CachedProject {
    with_facts: bool,
    paths: Vec<PathBuf>,
    stamps: Vec<Option<Stamp>>,
    model: ProjectModel,
    results: Vec<FileResult>,
}

/// [`crate::engine::review_project_with`], reusing what `cache` kept from the previous review (with
/// the same settings) for files that did not change, and keeping this review's for the next.
pub fn review_project_cached(
    paths: &[PathBuf],
    overlay: &Overlay,
    settings: &Settings,
    keep_facts: bool,
    cache: &mut ReviewCache,
) -> ProjectReview {
    on_review_threads(|| review_cached_inner(paths, overlay, settings, keep_facts, cache))
}

fn review_cached_inner(
    paths: &[PathBuf],
    overlay: &Overlay,
    settings: &Settings,
    keep_facts: bool,
    cache: &mut ReviewCache,
) -> ProjectReview {
    let project_rules = enabled_project_rules(settings);
    let with_facts = !project_rules.is_empty() || keep_facts;
    let (requirement_paths, code_paths) = split_requirements(paths);
    let ReviewCache {
        files,
        projects,
        last,
    } = cache;
    let stamps: Vec<Option<Stamp>> = code_paths.par_iter().map(|p| stamp(p, overlay)).collect();
    let stale: Vec<usize> = (0..code_paths.len())
        .filter(|&i| {
            !files
                .get(&code_paths[i])
                .is_some_and(|f| same(f.stamp, stamps[i]))
        })
        .collect();
    let fresh: Vec<Loaded> = stale
        .par_iter()
        .map(|&i| load(&code_paths[i], overlay))
        .collect();
    let mut reuse = Reuse {
        files: code_paths.len(),
        loaded: stale.len(),
        ..Reuse::default()
    };
    for (&i, loaded) in stale.iter().zip(fresh) {
        let file = CachedFile {
            stamp: stamps[i],
            loaded,
        };
        files.insert(code_paths[i].clone(), file);
    }
    // Memory stays bounded: only the files of this review are kept.
    let wanted: HashSet<&Path> = code_paths.iter().map(PathBuf::as_path).collect();
    files.retain(|path, _| wanted.contains(path.as_path()));

    let mut outcomes = Vec::with_capacity(code_paths.len());
    let mut sources: Vec<(&SourceFile, Option<Stamp>)> = Vec::with_capacity(code_paths.len());
    for path in &code_paths {
        match files.get(path) {
            Some(CachedFile {
                stamp,
                loaded: Ok(source),
            }) => sources.push((source, *stamp)),
            Some(CachedFile {
                loaded: Err(findings),
                ..
            }) => outcomes.push(FileOutcome {
                path: path.clone(),
                findings: findings.clone(),
            }),
            None => {}
        }
    }
    let source_paths: Vec<&Path> = sources.iter().map(|(s, _)| s.path.as_path()).collect();
    let mut facts = ProjectFacts::default();
    let mut kept = HashMap::new();
    for (key, members) in project_groups(&source_paths) {
        let group: Vec<(&SourceFile, Option<Stamp>)> = members
            .iter()
            .filter_map(|&i| sources.get(i).copied())
            .collect();
        let previous = projects.remove(&key);
        let project = review_project_group(
            &group,
            previous,
            settings,
            &project_rules,
            with_facts,
            &mut reuse,
        );
        for ((source, _), (findings, file_facts)) in group.iter().zip(&project.results) {
            outcomes.push(FileOutcome {
                path: source.path.clone(),
                findings: findings.clone(),
            });
            facts.files.extend(file_facts.clone());
        }
        kept.insert(key, project);
    }
    *projects = kept;
    *last = reuse;
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

/// Reviews one project's files (in module order), from what `previous` kept where it can.
fn review_project_group(
    group: &[(&SourceFile, Option<Stamp>)],
    previous: Option<CachedProject>,
    settings: &Settings,
    project_rules: &[&ProjectRule],
    with_facts: bool,
    reuse: &mut Reuse,
) -> CachedProject {
    let previous = previous.filter(|p| p.with_facts == with_facts);
    let paths: Vec<PathBuf> = group.iter().map(|(s, _)| s.path.clone()).collect();
    let stamps: Vec<Option<Stamp>> = group.iter().map(|(_, s)| *s).collect();
    // Where each unchanged file was in the previous review.
    let before: Vec<Option<usize>> = match &previous {
        Some(p) => {
            let at: HashMap<&Path, usize> = p
                .paths
                .iter()
                .enumerate()
                .map(|(j, path)| (path.as_path(), j))
                .collect();
            group
                .iter()
                .map(|(source, stamp)| {
                    at.get(source.path.as_path())
                        .copied()
                        .filter(|&j| same(p.stamps.get(j).copied().flatten(), *stamp))
                })
                .collect()
        }
        None => vec![None; group.len()],
    };
    let (changed, unchanged): (Vec<usize>, Vec<usize>) =
        (0..group.len()).partition(|&i| before[i].is_none());
    let changed_sources: Vec<&SourceFile> = changed.iter().map(|&i| group[i].0).collect();
    let parsed = parse_sources(&changed_sources);
    let indexes = index_sources(&changed_sources, &parsed);
    let summaries = summarize_sources(&changed_sources, &parsed, &indexes);
    let changed_files = prepare(&changed_sources, &parsed, &indexes);

    // The same files in the same order, and no summary changed: the same model.
    let same_model = previous.as_ref().is_some_and(|p| {
        p.paths == paths
            && changed
                .iter()
                .zip(&summaries)
                .all(|(&i, summary)| p.model.modules().get(i) == Some(summary))
    });
    let project = match previous {
        Some(previous) if same_model => {
            let checked = check_sources(
                &changed_files,
                &changed,
                &previous.model,
                settings,
                project_rules,
                with_facts,
            );
            let mut results = previous.results;
            for (&i, result) in changed.iter().zip(checked) {
                if let Some(slot) = results.get_mut(i) {
                    *slot = result;
                }
            }
            reuse.checked += changed.len();
            CachedProject {
                with_facts,
                paths,
                stamps,
                model: previous.model,
                results,
            }
        }
        previous => {
            // The model changed (or there was none): rebuild it from the kept summaries and
            // the new ones, and check every file with it.
            let mut new_summaries = summaries.into_iter();
            let all_summaries: Vec<ModuleSummary> = before
                .iter()
                .map(|j| {
                    let kept = j.and_then(|j| previous.as_ref()?.model.modules().get(j));
                    match kept {
                        Some(summary) => summary.clone(),
                        None => new_summaries.next().unwrap_or_default(),
                    }
                })
                .collect();
            let model = ProjectModel::new(all_summaries);
            let unchanged_sources: Vec<&SourceFile> =
                unchanged.iter().map(|&i| group[i].0).collect();
            let parsed_rest = parse_sources(&unchanged_sources);
            let indexes_rest = index_sources(&unchanged_sources, &parsed_rest);
            let rest_files = prepare(&unchanged_sources, &parsed_rest, &indexes_rest);
            // Changed files first, then the others; each with its module.
            let files: Vec<Prepared> = changed_files.iter().chain(&rest_files).copied().collect();
            let modules: Vec<usize> = changed.iter().chain(&unchanged).copied().collect();
            let checked = check_sources(
                &files,
                &modules,
                &model,
                settings,
                project_rules,
                with_facts,
            );
            let mut results: Vec<FileResult> = vec![(Vec::new(), None); group.len()];
            for (&i, result) in modules.iter().zip(checked) {
                if let Some(slot) = results.get_mut(i) {
                    *slot = result;
                }
            }
            drop(files);
            free_in_parallel(indexes_rest);
            free_in_parallel(parsed_rest);
            reuse.checked += group.len();
            reuse.models_built += 1;
            CachedProject {
                with_facts,
                paths,
                stamps,
                model,
                results,
            }
        }
    };
    drop(changed_files);
    free_in_parallel(indexes);
    free_in_parallel(parsed);
    project
}
