//! Input problems: files that cannot be reviewed. They are reported like rules so that every
//! output format (SARIF included) shows them, and they are always on.

use std::path::Path;

use mleng_diagnostics::{Area, Finding, Location, Severity};
use mleng_python::parse::SyntaxError;
use mleng_python::{LoadError, SemanticIndex};

use crate::context::location_of;
use crate::rule::Rule;

pub(crate) const RULES: &[&Rule] = &[
    &UNREADABLE_FILE,
    &SYNTAX_ERROR,
    &INVALID_NOTEBOOK,
    &TOO_DEEP,
    &INTERNAL_ERROR,
];

fn no_check(_: &mut crate::Context) {}

pub(crate) static UNREADABLE_FILE: Rule = Rule {
    code: "INP001",
    name: "unreadable-file",
    area: Area::Input,
    severity: Severity::Error,
    fix: None,
    summary: "A file could not be read as Python source (I/O error, binary, not UTF-8, too large).",
    docs: r#"## What it does
Reports a file that mleng was asked to review but could not read as Python text: an I/O error,
a binary file, a file that is not UTF-8, or a file above the 20 MB size limit.

## Why is this bad?
A file that is silently skipped is a file nobody reviewed. The rest of the files are still reviewed.

## Example
A `model.py` saved in Latin-1 with a non-ASCII comment.

## Use instead
Save Python sources as UTF-8 (PEP 3120 makes UTF-8 the default source encoding), or exclude
generated files with `exclude = [...]` in `[tool.mleng]`.

## References
- PEP 3120, Using UTF-8 as the default source encoding: <https://peps.python.org/pep-3120/>
"#,
    check: no_check,
};

pub(crate) static SYNTAX_ERROR: Rule = Rule {
    code: "INP002",
    name: "syntax-error",
    area: Area::Input,
    severity: Severity::Error,
    fix: None,
    summary: "A file (or notebook cell) does not parse as Python; its rules are skipped.",
    docs: r#"## What it does
Reports Python syntax errors found by ruff's parser, with their position (cell and line for
notebooks): one finding per file (per cell in a notebook), at the first error, with the count
of the others (one missing colon often makes several parser errors on one line). Rules do not
run on a file with syntax errors, because they would have to guess. A notebook cell indented as
a whole is not an error: IPython removes the first line's indentation before running a cell.
A file whose first error is Python 2 syntax (`print x`, `exec code`, `except E, e:`) is
reported as info, not as an error: it is legacy code that runs under Python 2, not a broken
file, and mleng (which reads Python 3) only says it skipped it. So is a course notebook's
exercise cell whose error comes from a placeholder left for the student (`<your code here>`,
`loss = <the loss>`, `x = ` with nothing after it, a `# TODO` or "YOUR CODE" in the cell, a
function whose body is only a comment): a template, incomplete on purpose.

## Why is this bad?
The file cannot run, and mleng cannot review it.

## Example
```python
for batch in loader
    loss.backward()
```

## Use instead
```python
for batch in loader:
    loss.backward()
```

## References
- The Python grammar: <https://docs.python.org/3/reference/grammar.html>
"#,
    check: no_check,
};

pub(crate) static INVALID_NOTEBOOK: Rule = Rule {
    code: "INP003",
    name: "invalid-notebook",
    area: Area::Input,
    severity: Severity::Error,
    fix: None,
    summary: "An .ipynb file is not a valid Jupyter (nbformat 4) notebook.",
    docs: r#"## What it does
Reports an `.ipynb` file that is not valid JSON or does not follow the nbformat 4 schema. A
valid notebook whose kernel runs another language (its `language_info`, `kernelspec.language`
or kernel name says R, Julia, C++...) is skipped without a finding; a kernelspec with only a
Python name, as Colab writes it, is Python.

## Why is this bad?
Jupyter cannot open it either; it is often a merge conflict or a truncated save.

## Example
A notebook with `<<<<<<< HEAD` conflict markers in its JSON.

## Use instead
Resolve the conflict (`nbdime` helps) or re-save the notebook from Jupyter.

## References
- The nbformat 4 schema: <https://nbformat.readthedocs.io/en/latest/format_description.html>
"#,
    check: no_check,
};

pub(crate) static TOO_DEEP: Rule = Rule {
    code: "INP004",
    name: "nesting-too-deep",
    area: Area::Input,
    severity: Severity::Warning,
    fix: None,
    summary:
        "A file nests expressions or brackets too deeply to review (generated code); it is skipped.",
    docs: r#"## What it does
Reports a file whose syntax tree is nested deeper than mleng reviews: tens of thousands of
levels, as generated code has (`y = a + a + ... + a` with 200,000 terms, a deeply nested
literal). The file is skipped; every other file is still reviewed.

## Why is this bad?
Nothing is wrong with the code as such; it is simply not reviewed. mleng reviews on threads
with a large stack, so ordinary code never comes near the limit, and it checks the depth before
walking the tree so that one generated file can never crash the whole review.

## Example
A 2 MB generated file with one expression of 200,000 terms.

## Use instead
Exclude generated files (`exclude = ["generated/"]` in `[tool.mleng]`), or keep generated
expressions flat (build a list and call `sum(...)`).

## References
- Python's own parser refuses such input too ("too many nested parentheses", `RecursionError`): <https://docs.python.org/3/library/sys.html#sys.setrecursionlimit>
"#,
    check: no_check,
};

pub(crate) fn too_deep(path: &Path, limit: usize) -> Finding {
    input_finding(
        &TOO_DEEP,
        Location::file(path),
        format!(
            "{}: expressions or brackets nested more than {limit} levels deep (generated code?); the file was not reviewed",
            path.display()
        ),
    )
}

pub(crate) static INTERNAL_ERROR: Rule = Rule {
    code: "INP900",
    name: "internal-error",
    area: Area::Input,
    severity: Severity::Error,
    fix: None,
    summary: "mleng hit a bug while reviewing this file; other files were still reviewed.",
    docs: r#"## What it does
Reports that mleng itself failed on this file. The failure is contained to the file.

## Why is this bad?
It is our bug, not yours: the file was not reviewed.

## Example
Any file that triggers the bug.

## Use instead
Please report it with the file (or a reduced version) attached.

## References
- mleng's README, "Reporting problems".
"#,
    check: no_check,
};

fn input_finding(rule: &Rule, location: Location, message: String) -> Finding {
    Finding::new(
        rule.code,
        rule.name,
        rule.severity,
        rule.area,
        location,
        message,
    )
}

pub(crate) fn load_error(path: &Path, err: &LoadError) -> Finding {
    let rule = match err {
        LoadError::Notebook(_) => &INVALID_NOTEBOOK,
        _ => &UNREADABLE_FILE,
    };
    input_finding(
        rule,
        Location::file(path),
        format!("{}: {err}", path.display()),
    )
}

pub(crate) fn internal_error(path: &Path, detail: &str) -> Finding {
    input_finding(
        &INTERNAL_ERROR,
        Location::file(path),
        format!(
            "internal error while reviewing {}: {detail}",
            path.display()
        ),
    )
}

/// One finding per file (per cell in a notebook), at the first error, as a person reads a
/// broken file: one mistake often cascades into several parser errors on the same line, and
/// the first is the one to fix. The others are counted in the message.
pub(crate) fn syntax_errors(index: &SemanticIndex, errors: &[SyntaxError]) -> Vec<Finding> {
    let source = index.source;
    let mut groups: Vec<(Option<u32>, &SyntaxError, usize)> = Vec::new();
    for err in errors {
        let line = source.lines.line_of(err.range.start());
        let cell = source.cell_of_line(line).map(|(cell, _)| cell);
        match groups.iter_mut().find(|(c, _, _)| *c == cell) {
            Some(group) => group.2 += 1,
            None => groups.push((cell, err, 0)),
        }
    }
    groups
        .into_iter()
        .map(|(cell, err, more)| {
            let line = source.lines.line_of(err.range.start());
            let line_text = source.lines.line_text(&source.text, line);
            let at_error = source
                .text
                .get(err.range.start().to_usize()..)
                .unwrap_or("");
            // A notebook cell is the student's unit of work: a placeholder anywhere in it
            // explains its errors.
            let context = source
                .notebook
                .as_ref()
                .and_then(|nb| nb.cells.iter().find(|c| Some(c.number) == cell))
                .map_or(line_text, |c| &source.text[c.range]);
            let hint = match python2_hint(line_text) {
                "" => placeholder_hint(context, line_text, at_error, cell.is_some(), &err.message),
                hint => hint,
            };
            let others = match (more, cell) {
                (0, _) => String::new(),
                (1, Some(_)) => " (and 1 more syntax error in this cell)".to_string(),
                (1, None) => " (and 1 more syntax error in this file)".to_string(),
                (n, Some(_)) => format!(" (and {n} more syntax errors in this cell)"),
                (n, None) => format!(" (and {n} more syntax errors in this file)"),
            };
            let mut finding = input_finding(
                &SYNTAX_ERROR,
                location_of(index, err.range),
                format!("syntax error: {}{hint}{others}", err.message),
            );
            // Legacy Python 2 code in an old repository is not broken, only unreviewed; an
            // exercise template is incomplete on purpose.
            if !hint.is_empty() {
                finding.severity = Severity::Info;
            }
            finding
        })
        .collect()
}

/// What course notebooks leave for the student to write, in place of code: `<your code here>`,
/// `x = ###YOUR CODE`, `loss = <logistic loss of ...>`, `mse = ` with nothing after it.
const PLACEHOLDER_WORDS: &[&str] = &[
    "your code",
    "your_code",
    "student",
    "fill in",
    "fill me",
    "fill this",
    "todo",
    "???",
];

/// An exercise template's placeholder is a common reason for a syntax error in course
/// notebooks: say so. `context` is the error's notebook cell (or its line in a file), `line`
/// the error's line and `at_error` the text from the error on.
fn placeholder_hint(
    context: &str,
    line: &str,
    at_error: &str,
    in_notebook: bool,
    message: &str,
) -> &'static str {
    let code = line.split('#').next().unwrap_or(line).trim_end();
    let empty_assignment =
        code.ends_with('=') && !["==", "!=", "<=", ">="].iter().any(|op| code.ends_with(op));
    let angle = |text: &str| {
        text.strip_prefix('<').is_some_and(|rest| {
            rest.trim_start()
                .starts_with(|c: char| c.is_alphabetic() || c == '.')
        })
    };
    // `<your code here>` on a line of its own, or where the error is (`x = <the loss>`).
    let angle_placeholder = angle(at_error)
        || context
            .lines()
            .any(|l| angle(l.trim()) && l.trim_end().ends_with('>'));
    let lower = context.to_ascii_lowercase();
    let words = PLACEHOLDER_WORDS.iter().any(|w| lower.contains(w));
    // `def loss(x):` followed only by comments: the body is the exercise.
    let empty_function = in_notebook && message.contains("indented block after function");
    if empty_assignment || angle_placeholder || words || empty_function {
        " (a placeholder left for the student to fill in: an exercise template)"
    } else {
        ""
    }
}

/// Python 2 code is a common reason for a syntax error in old training scripts; say so.
fn python2_hint(line: &str) -> &'static str {
    let t = line.trim_start();
    let statement = |kw: &str| {
        t.strip_prefix(kw).is_some_and(|rest| {
            rest.starts_with([' ', '"', '\'']) && !rest.trim_start().starts_with('(')
        })
    };
    if statement("print") || statement("exec") {
        " (a Python 2 `print`/`exec` statement: mleng reads Python 3)"
    } else if t.starts_with("except ") && t.contains(", ") && !t.contains(" as ") {
        " (Python 2 `except E, e:`: mleng reads Python 3)"
    } else {
        ""
    }
}
