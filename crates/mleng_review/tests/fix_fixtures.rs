//! `--fix` on every rule fixture (files, notebooks and project folders), with all rules and
//! unsafe fixes: every fixed file parses, the fixes that were offered are applied, and a second
//! run has nothing left to fix.

use std::path::{Path, PathBuf};

use mleng_diagnostics::Applicability;
use mleng_review::{ReviewOptions, Reviewer};

fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../mleng_rules/tests/fixtures")
}

/// A copy of the fixtures, so fixes can be written.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn all_rules() -> ReviewOptions {
    ReviewOptions {
        select: Some(vec!["ALL".into()]),
        ..ReviewOptions::default()
    }
}

#[test]
fn fixing_every_fixture_keeps_code_parsing_and_converges() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("fixtures");
    copy_dir(&fixtures_root(), &root);
    let mut fixed_files = 0;
    let mut applied = 0;
    let mut rules_fixed = std::collections::BTreeSet::new();
    // Each rule's folder is reviewed on its own, as the rule's tests do.
    for entry in std::fs::read_dir(&root).unwrap() {
        let folder = entry.unwrap().path();
        let reviewer = Reviewer::new(&folder, &all_rules()).unwrap();
        let paths = vec![folder.clone()];
        let first = reviewer.fix(&paths, &[], Applicability::Unsafe, false);
        assert!(
            first.problems.is_empty(),
            "{}: {:?}",
            folder.display(),
            first.problems
        );
        for file in &first.files {
            applied += file.applied.len();
            rules_fixed.extend(file.applied.iter().map(|(code, _)| code.clone()));
        }
        fixed_files += first.files.len();
        assert!(first.write(&[]).is_empty());
        let second = reviewer.fix(&paths, &[], Applicability::Unsafe, false);
        let again: Vec<String> = second
            .files
            .iter()
            .flat_map(|f| {
                f.applied
                    .iter()
                    .map(move |(code, _)| format!("{} {code}", f.path.display()))
            })
            .collect();
        assert!(again.is_empty(), "fixes again after fixing: {again:?}");
    }
    // The fixtures hold positive cases of every fixable rule: a fix model that silently
    // applied nothing would pass the checks above.
    assert!(
        fixed_files >= 20 && applied >= 25,
        "{fixed_files} files, {applied} fixes"
    );
    eprintln!("{applied} fixes in {fixed_files} files; rules: {rules_fixed:?}");
}
