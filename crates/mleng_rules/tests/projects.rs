//! Project fixtures: a project rule's cases (and a per-file rule's cross-file cases) are small
//! project folders,
//! `tests/fixtures/<CODE>/positive_<case>/` and `negative_<case>/`, reviewed together through
//! `review_files` (the per-file pass and the project pass). Expected findings are marked with
//! `# expect: CODE` on their lines, in Python files and requirement files alike; negative
//! folders must produce none. All findings are snapshotted per rule.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mleng_python::SourceFile;
use mleng_rules::{registry, review_files, Settings};

fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixture dir")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// (path, cell, line, code) expected from `# expect: CODE` comments.
fn expectations(path: &Path) -> BTreeSet<(PathBuf, u32, u32, String)> {
    let mut out = BTreeSet::new();
    let is_code = path.extension().is_some_and(|e| e == "py" || e == "ipynb");
    if is_code {
        let source = SourceFile::load(path).expect("fixture loads");
        for line in 1..=source.lines.line_count() {
            let text = source.lines.line_text(&source.text, line);
            if let Some(pos) = text.find("# expect:") {
                for code in text[pos + "# expect:".len()..].split(',') {
                    let (cell, row) = source.cell_of_line(line).unwrap_or((0, line));
                    out.insert((path.to_path_buf(), cell, row, code.trim().to_string()));
                }
            }
        }
    } else {
        let text = std::fs::read_to_string(path).expect("fixture reads");
        for (i, line) in text.lines().enumerate() {
            if let Some(pos) = line.find("# expect:") {
                for code in line[pos + "# expect:".len()..].split(',') {
                    out.insert((path.to_path_buf(), 0, i as u32 + 1, code.trim().to_string()));
                }
            }
        }
    }
    out
}

#[test]
fn project_fixtures_produce_exactly_the_expected_findings() {
    let mut failures = Vec::new();
    for rule in registry::all() {
        let code = rule.code;
        // Project rules need project folders; a per-file rule may have some too, for what it
        // asks the project model (a model defined in one file and trained in another).
        let is_project_rule = registry::project_rules()
            .iter()
            .any(|p| p.rule.code == code);
        let dir = fixtures_root().join(code);
        let mut cases: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .map(|e| e.expect("entry").path())
                .filter(|p| p.is_dir())
                .collect(),
            Err(_) if is_project_rule => panic!("{code} has no fixture folder"),
            Err(_) => Vec::new(),
        };
        if cases.is_empty() && !is_project_rule {
            continue;
        }
        cases.sort();
        let name = |p: &PathBuf| p.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            cases.iter().any(|p| name(p).starts_with("positive")),
            "{code} has no positive project folder"
        );
        assert!(
            cases.iter().any(|p| name(p).starts_with("negative")),
            "{code} has no negative project folder"
        );
        let settings = Settings::from_selection(Some(&[code.to_string()]), &[], &[]).unwrap();
        let mut snapshot = String::new();
        for case in cases {
            let mut files = Vec::new();
            walk(&case, &mut files);
            let mut expected = BTreeSet::new();
            if name(&case).starts_with("positive") {
                for f in &files {
                    expected.extend(expectations(f));
                }
                expected.retain(|(_, _, _, c)| c == code);
            }
            let outcomes = review_files(&files, &settings);
            let mut findings: Vec<_> = outcomes
                .into_iter()
                .flat_map(|o| o.findings)
                .filter(|f| f.code == code)
                .collect();
            findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
            for f in &findings {
                let rel = f
                    .location
                    .path
                    .strip_prefix(fixtures_root())
                    .unwrap_or(&f.location.path)
                    .display()
                    .to_string();
                let cell = f.location.cell.unwrap_or(0);
                let (start, end, col) = f
                    .location
                    .span
                    .map_or((0, 0, 0), |s| (s.start_line, s.end_line, s.start_column));
                let hit = expected
                    .iter()
                    .find(|(p, c, line, _)| {
                        *p == f.location.path && *c == cell && (start..=end).contains(line)
                    })
                    .cloned();
                match hit {
                    Some(key) => {
                        expected.remove(&key);
                    }
                    None => failures.push(format!(
                        "{rel}:{cell}:{start}: unexpected finding {}",
                        f.message
                    )),
                }
                let cell_text = f
                    .location
                    .cell
                    .map(|c| format!("cell {c}:"))
                    .unwrap_or_default();
                snapshot.push_str(&format!(
                    "{rel}:{cell_text}{start}:{col} {} [{}] {}\n",
                    f.code, f.severity, f.message
                ));
                for e in &f.evidence {
                    snapshot.push_str(&format!("    evidence: {e}\n"));
                }
                for r in &f.related {
                    let path = r
                        .location
                        .path
                        .strip_prefix(fixtures_root())
                        .unwrap_or(&r.location.path)
                        .display();
                    let line = r.location.span.map_or(0, |s| s.start_line);
                    snapshot.push_str(&format!("    note: {path}:{line}: {}\n", r.message));
                }
                if let Some(fix) = &f.fix {
                    snapshot.push_str(&format!("    help: {}\n", fix.message));
                    for line in fix
                        .replacement
                        .iter()
                        .chain(fix.example.iter())
                        .flat_map(|t| t.lines())
                    {
                        snapshot.push_str(&format!("    | {line}\n"));
                    }
                }
            }
            for (path, cell, line, c) in expected {
                failures.push(format!(
                    "{}: missed {c} at cell {cell} line {line}",
                    path.display()
                ));
            }
        }
        insta::assert_snapshot!(code, snapshot);
    }
    assert!(
        failures.is_empty(),
        "project fixture mismatches:\n{}",
        failures.join("\n")
    );
}

#[test]
fn a_folder_of_projects_gives_one_project_model_each() {
    // `corpus/a` and `corpus/b` are two packages without markers, side by side: `b` imports a
    // `model` module it does not have, so nothing of `a` may answer for it.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("corpus");
    let net = "import torch.nn as nn\nimport torch.nn.functional as F\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 2)\n\n    def forward(self, x):\n        return F.softmax(self.fc(x), dim=1)\n";
    let train = "import torch.nn as nn\nfrom model import Net\n\nmodel = Net()\ncriterion = nn.CrossEntropyLoss()\n\ndef step(x, y):\n    return criterion(model(x), y)\n";
    for (path, text) in [
        ("a/model.py", net),
        ("a/train.py", train),
        ("b/train.py", train),
    ] {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    }
    let files = vec![
        root.join("a/model.py"),
        root.join("a/train.py"),
        root.join("b/train.py"),
    ];
    let settings = Settings::from_selection(Some(&["ARC011".to_string()]), &[], &[]).unwrap();
    let found: Vec<PathBuf> = review_files(&files, &settings)
        .into_iter()
        .flat_map(|o| o.findings)
        .filter(|f| f.code == "ARC011")
        .map(|f| f.location.path)
        .collect();
    assert_eq!(found, vec![root.join("a/train.py")], "{found:?}");
}

/// The incremental review (the language server's) finds exactly what a review from scratch
/// finds: on every project fixture folder, one after the other with one cache, and after two
/// edits of each of its Python files: a comment appended (nothing other files see: the kept
/// model and results are reused) and a line inserted at the top (every line moves: the model
/// is rebuilt).
#[test]
fn incremental_reviews_of_the_project_fixtures_match_reviews_from_scratch() {
    use mleng_rules::incremental::{review_project_cached, ReviewCache};
    use mleng_rules::{review_project_with, Overlay};

    let settings = Settings::from_selection(Some(&["ALL".to_string()]), &[], &[]).unwrap();
    let flat = |outcomes: Vec<mleng_rules::FileOutcome>| -> Vec<_> {
        outcomes.into_iter().map(|o| (o.path, o.findings)).collect()
    };
    let mut cases = Vec::new();
    for rule in registry::all() {
        if let Ok(entries) = std::fs::read_dir(fixtures_root().join(rule.code)) {
            cases.extend(
                entries
                    .map(|e| e.expect("entry").path())
                    .filter(|p| p.is_dir()),
            );
        }
    }
    cases.sort();
    let mut cache = ReviewCache::default();
    let mut failures = Vec::new();
    let mut reused = 0;
    for case in cases {
        let mut files = Vec::new();
        walk(&case, &mut files);
        let mut edits = vec![("first review".to_string(), Overlay::default())];
        for file in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "py"))
        {
            let text = std::fs::read_to_string(file).expect("fixture reads");
            for (what, edited) in [
                ("a comment appended", format!("{text}\n# edited\n")),
                ("a line inserted at the top", format!("\n{text}")),
            ] {
                let overlay = Overlay::from([(file.clone(), edited)]);
                edits.push((format!("{what} in {}", file.display()), overlay));
            }
        }
        for (what, overlay) in edits {
            let fresh = review_project_with(&files, &overlay, &settings, false);
            let incremental = review_project_cached(&files, &overlay, &settings, false, &mut cache);
            if cache.last_review().models_built == 0 {
                reused += 1;
            }
            if flat(fresh.outcomes) != flat(incremental.outcomes) {
                failures.push(format!("{}: {what}", case.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "incremental != from scratch:\n{}",
        failures.join("\n")
    );
    // The kept model served some edits (the comments).
    assert!(reused > 0);
}
