//! `--fix`: apply findings' edits, never writing code that does not parse.
//!
//! A pass reviews, takes every fix at or above the threshold, applies those that do not
//! overlap a fix already taken in the same file, and checks that each changed file still
//! parses (a notebook: every cell). Overlapping fixes wait for the next pass, which reviews
//! the changed text again (in memory) so their edits are recomputed. Passes stop when nothing
//! changes, or after [`MAX_PASSES`].

mod diff;
pub(crate) mod edits;
mod notebook;
mod write;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use mleng_diagnostics::{Applicability, Finding};
use mleng_python::parse::ParsedFile;
use mleng_python::SourceFile;

pub use diff::unified_diff;

use crate::{Buffer, Review, ReviewError, Reviewer};

/// Enough for fixes that wait on each other a few levels deep; a fix that keeps coming back
/// (a bug of ours) cannot loop for ever.
pub const MAX_PASSES: usize = 6;

/// A file the fixes changed, in memory (see [`FixRun::write`]).
#[derive(Debug, Clone)]
pub struct FixedFile {
    pub path: PathBuf,
    /// The file as it was read (for a notebook, its JSON).
    pub original: String,
    pub fixed: String,
    /// Each fix applied: rule code and the fix's message.
    pub applied: Vec<(String, String)>,
}

/// Why a file was left as it was.
#[derive(Debug, Clone)]
pub struct FixProblem {
    pub path: PathBuf,
    pub message: String,
}

/// What a `--fix` run did.
pub struct FixRun {
    pub files: Vec<FixedFile>,
    pub problems: Vec<FixProblem>,
    /// The review of the fixed code: what is left.
    pub review: Review,
}

impl FixRun {
    pub fn applied_count(&self) -> usize {
        self.files.iter().map(|f| f.applied.len()).sum()
    }

    /// Writes every changed file atomically, except the `skip` paths (a buffer the caller
    /// prints instead). A file that cannot be written is reported, the others still are.
    pub fn write(&self, skip: &[PathBuf]) -> Vec<ReviewError> {
        self.files
            .iter()
            .filter(|f| !skip.contains(&f.path))
            .filter_map(|f| {
                write::atomic_write(&f.path, &f.fixed)
                    .err()
                    .map(|err| ReviewError::File {
                        path: f.path.clone(),
                        message: format!("cannot write the fixed file: {err}"),
                    })
            })
            .collect()
    }

    /// The unified diff of every changed file.
    pub fn diff(&self) -> String {
        self.files
            .iter()
            .map(|f| unified_diff(&f.path, &f.original, &f.fixed))
            .collect()
    }
}

/// One file's text through the passes.
struct Working {
    original: String,
    current: String,
    applied: Vec<(String, String)>,
    syntax_errors_before: usize,
}

impl Reviewer {
    /// Reviews, applies the fixes at or above `threshold` (`Safe` for `--fix`, `Unsafe` for
    /// `--unsafe-fixes`) in memory, and reviews the result. Nothing is written: see
    /// [`FixRun::write`].
    pub fn fix(
        &self,
        paths: &[PathBuf],
        buffers: &[Buffer],
        threshold: Applicability,
        keep_facts: bool,
    ) -> FixRun {
        let mut files: BTreeMap<PathBuf, Working> = BTreeMap::new();
        let mut frozen: HashSet<PathBuf> = HashSet::new();
        let mut problems = Vec::new();
        let given: BTreeMap<&Path, &str> = buffers
            .iter()
            .map(|b| (b.path.as_path(), b.text.as_str()))
            .collect();
        let mut review = self.review(paths, buffers, keep_facts);
        for _ in 0..MAX_PASSES {
            let mut changed = false;
            for (path, fixes) in fixes_by_file(&review.findings, threshold) {
                if frozen.contains(&path) {
                    continue;
                }
                if !files.contains_key(&path) {
                    let text = match given.get(path.as_path()) {
                        Some(text) => text.to_string(),
                        None => match std::fs::read_to_string(&path) {
                            Ok(text) => text,
                            Err(err) => {
                                problems.push(FixProblem {
                                    path: path.clone(),
                                    message: format!("cannot read the file to fix it: {err}"),
                                });
                                frozen.insert(path);
                                continue;
                            }
                        },
                    };
                    let syntax_errors_before = syntax_errors(&path, &text).unwrap_or(usize::MAX);
                    files.insert(
                        path.clone(),
                        Working {
                            current: text.clone(),
                            original: text,
                            applied: Vec::new(),
                            syntax_errors_before,
                        },
                    );
                }
                let Some(working) = files.get_mut(&path) else {
                    continue;
                };
                let outcome = apply_to_file(&path, &working.current, &fixes);
                let (text, applied) = match outcome {
                    Ok(result) => result,
                    Err(message) => {
                        problems.push(FixProblem {
                            path: path.clone(),
                            message,
                        });
                        frozen.insert(path);
                        continue;
                    }
                };
                if applied.is_empty() {
                    continue;
                }
                // Never write code that does not parse: a file with fewer or as many syntax
                // errors as before (none, for a file that parsed) is kept, anything else is not.
                match syntax_errors(&path, &text) {
                    Some(after) if after == 0 || after <= working.syntax_errors_before => {
                        working.current = text;
                        working.applied.extend(applied);
                        changed = true;
                    }
                    _ => {
                        let codes: Vec<&str> = applied.iter().map(|(c, _)| c.as_str()).collect();
                        problems.push(FixProblem {
                            path: path.clone(),
                            message: format!(
                                "the fixes of {} would leave code that does not parse; the file is left unchanged by them (please report this)",
                                codes.join(", ")
                            ),
                        });
                        frozen.insert(path);
                    }
                }
            }
            if !changed {
                break;
            }
            let mut current: Vec<Buffer> = files
                .iter()
                .map(|(path, w)| Buffer {
                    path: path.clone(),
                    text: w.current.clone(),
                })
                .collect();
            for buffer in buffers {
                if !files.contains_key(&buffer.path) {
                    current.push(buffer.clone());
                }
            }
            review = self.review(paths, &current, keep_facts);
        }
        let files = files
            .into_iter()
            .filter(|(_, w)| w.current != w.original)
            .map(|(path, w)| FixedFile {
                path,
                original: w.original,
                fixed: w.current,
                applied: w.applied,
            })
            .collect();
        FixRun {
            files,
            problems,
            review,
        }
    }
}

/// The findings with a fix to apply, by file, in file order.
fn fixes_by_file(
    findings: &[Finding],
    threshold: Applicability,
) -> BTreeMap<PathBuf, Vec<&Finding>> {
    let mut by_file: BTreeMap<PathBuf, Vec<&Finding>> = BTreeMap::new();
    for finding in findings {
        if finding
            .fix
            .as_ref()
            .is_some_and(|f| f.applies_at(threshold))
        {
            by_file
                .entry(finding.location.path.clone())
                .or_default()
                .push(finding);
        }
    }
    by_file
}

fn is_notebook(path: &Path) -> bool {
    path.extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("ipynb"))
}

/// Applies the non-overlapping fixes among `fixes` to one file's text. Returns the new text
/// and the fixes applied; a fix whose edits no longer fit the text is skipped.
fn apply_to_file(
    path: &Path,
    text: &str,
    fixes: &[&Finding],
) -> Result<(String, Vec<(String, String)>), String> {
    if is_notebook(path) {
        return apply_to_notebook(path, text, fixes);
    }
    // A byte-order mark is not part of the code the columns count.
    let (bom, code) = match text.strip_prefix('\u{feff}') {
        Some(rest) => ("\u{feff}", rest),
        None => ("", text),
    };
    let (fixed, applied) = apply_fixes(code, fixes);
    Ok((format!("{bom}{fixed}"), applied))
}

fn apply_fixes(text: &str, fixes: &[&Finding]) -> (String, Vec<(String, String)>) {
    let mut accepted: Vec<edits::ByteEdit> = Vec::new();
    let mut applied = Vec::new();
    for finding in fixes {
        let Some(fix) = &finding.fix else { continue };
        let Some(resolved) = edits::resolve(text, &fix.edits) else {
            continue;
        };
        // The same edit from two findings (one problem reported twice) is applied once.
        if resolved.iter().all(|e| accepted.contains(e)) {
            continue;
        }
        if edits::overlaps(&accepted, &resolved) {
            continue; // next pass
        }
        accepted.extend(resolved);
        applied.push((finding.code.clone(), fix.message.clone()));
    }
    (edits::apply(text, &accepted), applied)
}

fn apply_to_notebook(
    path: &Path,
    json: &str,
    fixes: &[&Finding],
) -> Result<(String, Vec<(String, String)>), String> {
    let source = SourceFile::from_notebook_bytes(path, json.as_bytes())
        .map_err(|err| format!("cannot read the notebook to fix it: {err}"))?;
    let cells = source
        .notebook
        .as_ref()
        .map(|n| n.cells.clone())
        .unwrap_or_default();
    let mut by_cell: BTreeMap<u32, Vec<&Finding>> = BTreeMap::new();
    for finding in fixes {
        if let Some(cell) = finding.location.cell {
            by_cell.entry(cell).or_default().push(finding);
        }
    }
    let mut json = json.to_string();
    let mut applied = Vec::new();
    for (number, cell_fixes) in by_cell {
        let Some(reviewed) = cells.iter().find(|c| c.number == number) else {
            continue;
        };
        let cell = notebook::cell_source(&json, number)?;
        // Edits count lines and columns in the code as reviewed; they apply only where that
        // is the cell's source exactly.
        if reviewed.dedented || source.slice(reviewed.range) != cell.text {
            continue;
        }
        let (fixed, cell_applied) = apply_fixes(&cell.text, &cell_fixes);
        if cell_applied.is_empty() {
            continue;
        }
        json = notebook::replace_source(&json, &cell, &fixed);
        applied.extend(cell_applied);
    }
    Ok((json, applied))
}

/// Syntax errors in a file's text (`None`: it cannot be read as Python or a notebook).
fn syntax_errors(path: &Path, text: &str) -> Option<usize> {
    let source = if is_notebook(path) {
        SourceFile::from_notebook_bytes(path, text.as_bytes()).ok()?
    } else {
        SourceFile::from_python_bytes(path, text.as_bytes().to_vec()).ok()?
    };
    let parsed = mleng_python::contained::contain(|| ParsedFile::parse(&source)).ok()?;
    Some(parsed.syntax_errors().len())
}
