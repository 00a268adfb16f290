//! Fixture tests: every rule has `tests/fixtures/<CODE>/positive*.{py,ipynb}` whose expected
//! findings are marked on their lines with `# expect: CODE`, and `negative*` files where it
//! must stay silent. All findings of a rule's fixtures are also snapshotted (reviewed by eye).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mleng_python::SourceFile;
use mleng_rules::{registry, review_source, Settings};

fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn settings_for(code: &str) -> Settings {
    Settings::from_selection(Some(&[code.to_string()]), &[], &[]).expect("known code")
}

/// (cell, line, code) expected from `# expect: CODE` comments.
fn expectations(source: &SourceFile) -> BTreeSet<(u32, u32, String)> {
    let mut out = BTreeSet::new();
    for line in 1..=source.lines.line_count() {
        let text = source.lines.line_text(&source.text, line);
        if let Some(pos) = text.find("# expect:") {
            for code in text[pos + "# expect:".len()..].split(',') {
                let (cell, row) = source.cell_of_line(line).unwrap_or((0, line));
                out.insert((cell, row, code.trim().to_string()));
            }
        }
    }
    out
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixture dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "py" || e == "ipynb"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_rule_has_positive_and_negative_fixtures() {
    for rule in registry::all()
        .iter()
        .filter(|r| !r.code.starts_with("INP"))
    {
        let dir = fixtures_root().join(rule.code);
        let mut files = if dir.is_dir() {
            files_in(&dir)
        } else {
            Vec::new()
        };
        // Project rules have a folder per case (a small project), checked by tests/projects.rs.
        if dir.is_dir() {
            files.extend(
                std::fs::read_dir(&dir)
                    .expect("fixture dir")
                    .map(|e| e.expect("entry").path())
                    .filter(|p| p.is_dir()),
            );
        }
        let name = |p: &PathBuf| p.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            files.iter().any(|p| name(p).starts_with("positive")),
            "{} has no positive fixture",
            rule.code
        );
        assert!(
            files.iter().any(|p| name(p).starts_with("negative")),
            "{} has no negative fixture",
            rule.code
        );
    }
}

#[test]
fn fixtures_produce_exactly_the_expected_findings() {
    let mut failures = Vec::new();
    for rule in registry::all()
        .iter()
        .filter(|r| !r.code.starts_with("INP"))
    {
        let dir = fixtures_root().join(rule.code);
        if !dir.is_dir() {
            continue;
        }
        let settings = settings_for(rule.code);
        let mut snapshot = String::new();
        for path in files_in(&dir) {
            let source = SourceFile::load(&path).expect("fixture loads");
            let findings = review_source(&source, &settings);
            let mut expected = expectations(&source);
            expected.retain(|(_, _, code)| code == rule.code);
            let is_negative = path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("negative");
            if is_negative {
                expected.clear();
            }
            let mut unexpected = Vec::new();
            for f in &findings {
                let span = f.location.span.expect("rule findings have spans");
                let cell = f.location.cell.unwrap_or(0);
                let hit = expected
                    .iter()
                    .find(|(c, line, code)| {
                        *c == cell
                            && (span.start_line..=span.end_line).contains(line)
                            && code == &f.code
                    })
                    .cloned();
                match hit {
                    Some(key) => {
                        expected.remove(&key);
                    }
                    None => unexpected.push(format!("{}:{}: {}", cell, span.start_line, f.message)),
                }
            }
            let rel = path
                .strip_prefix(fixtures_root())
                .unwrap()
                .display()
                .to_string();
            for miss in &expected {
                failures.push(format!(
                    "{rel}: missed {} at cell {} line {}",
                    miss.2, miss.0, miss.1
                ));
            }
            for extra in unexpected {
                failures.push(format!("{rel}: unexpected finding at {extra}"));
            }
            for f in &findings {
                let span = f.location.span.unwrap();
                let cell = f
                    .location
                    .cell
                    .map(|c| format!("cell {c}:"))
                    .unwrap_or_default();
                snapshot.push_str(&format!(
                    "{rel}:{cell}{}:{} {} [{}] {}\n",
                    span.start_line, span.start_column, f.code, f.severity, f.message
                ));
                for r in &f.related {
                    let at = r.location.span.map_or(0, |s| s.start_line);
                    let cell = r
                        .location
                        .cell
                        .map(|c| format!("cell {c}:"))
                        .unwrap_or_default();
                    snapshot.push_str(&format!("    note: {cell}{at}: {}\n", r.message));
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
        }
        insta::assert_snapshot!(rule.code, snapshot);
    }
    assert!(
        failures.is_empty(),
        "fixture mismatches:\n{}",
        failures.join("\n")
    );
}
