//! Snapshot tests for every output format over one small set of hand-built findings that
//! covers the awkward cases: notebooks, no span, errors, characters that need escaping,
//! multi-byte text and tabs.

use mleng_diagnostics::render::{github_escape_property, render, Format, RenderOptions};
use mleng_diagnostics::{Area, Finding, Fix, Location, RuleInfo, Severity, Snippet, Span};

fn span(start_line: u32, start_column: u32, end_line: u32, end_column: u32) -> Span {
    Span {
        start_line,
        start_column,
        end_line,
        end_column,
    }
}

fn at(path: &str, cell: Option<u32>, span: Option<Span>) -> Location {
    Location {
        path: path.into(),
        cell,
        span,
    }
}

fn snippet(first_line: u32, text: &str) -> Option<Snippet> {
    Some(Snippet {
        first_line,
        text: text.to_string(),
    })
}

fn findings() -> Vec<Finding> {
    let mut unsafe_load = Finding::new(
        "SEC001",
        "unsafe-torch-load",
        Severity::Warning,
        Area::Security,
        at("src/train.py", None, Some(span(12, 13, 12, 29))),
        "`torch.load` without `weights_only=True` can run arbitrary code",
    )
    .with_evidence("the checkpoint path comes from a command-line argument")
    .with_related(
        at("src/cli.py", None, Some(span(40, 9, 40, 9))),
        "`restore()` is called here",
    )
    .with_related(
        at("notebooks/explore.ipynb", Some(2), Some(span(4, 1, 4, 1))),
        "`restore()` is called here",
    )
    .with_fix(
        Fix::new("pass `weights_only=True`")
            .with_replacement("torch.load(path, weights_only=True)"),
    );
    unsafe_load.snippet = snippet(
        11,
        "def restore(path):\n    state = torch.load(path)\n    return state\n",
    );

    let mut no_clipping = Finding::new(
        "TRN001",
        "missing-gradient-clipping",
        Severity::Info,
        Area::Training,
        at("notebooks/explore.ipynb", Some(3), Some(span(2, 5, 3, 21))),
        "optimizer steps without gradient clipping",
    )
    .with_fix(Fix::new("clip gradients between `backward()` and `step()`").with_example(
        "loss.backward()\ntorch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)\noptimizer.step()",
    ));
    no_clipping.snippet = snippet(
        1,
        "for batch in loader:\n    loss.backward()\n    optimizer.step()\n",
    );

    let parse_error = Finding::new(
        "E000",
        "parse-error",
        Severity::Error,
        Area::Input,
        Location::file("scripts/broken file.py"),
        "could not parse: unexpected indent",
    );

    let mut mode_mismatch = Finding::new(
        "ARC002",
        "batchnorm-after-dropout",
        Severity::Error,
        Area::Architecture,
        at("src/model.py", None, Some(span(40, 19, 40, 37))),
        "BatchNorm2d right after Dropout shifts the variance between train and eval",
    )
    .with_fix(Fix::new("put the dropout after the normalisation"));
    mode_mismatch.snippet = snippet(
        39,
        "        self.drop = nn.Dropout(0.5)\n        self.bn = nn.BatchNorm2d(64)\n",
    );

    let escaping = Finding::new(
        "EXP003",
        "unlogged-hyperparameter",
        Severity::Warning,
        Area::Experiment,
        at("src/config.py", None, Some(span(7, 1, 7, 3))),
        "lr | momentum: 100% of runs, see a,b\nsecond line",
    )
    .with_evidence("values: 0.1 | 0.01");

    let mut unicode = Finding::new(
        "CV004",
        "resize-before-augment",
        Severity::Warning,
        Area::Cv,
        at("data/数据 set.py", None, Some(span(5, 16, 5, 22))),
        "resize \"模型\" images once, before the random crop",
    );
    unicode.snippet = snippet(5, "\tname = \"模型\" + t(img)  # é\n");

    vec![
        unsafe_load,
        no_clipping,
        parse_error,
        mode_mismatch,
        escaping,
        unicode,
    ]
}

fn rules() -> Vec<RuleInfo> {
    let rule = |code: &str, name: &str, area, severity, summary: &str| RuleInfo {
        code: code.into(),
        name: name.into(),
        area,
        default_severity: severity,
        summary: summary.into(),
        docs_markdown: format!("## {name}\n\n{summary}\n"),
        fix: None,
    };
    // E000 is left out on purpose: results for unknown rules must carry no ruleIndex.
    vec![
        rule(
            "ARC002",
            "batchnorm-after-dropout",
            Area::Architecture,
            Severity::Error,
            "BatchNorm directly after Dropout.",
        ),
        rule(
            "CV004",
            "resize-before-augment",
            Area::Cv,
            Severity::Warning,
            "Resizing after augmentation.",
        ),
        rule(
            "EXP003",
            "unlogged-hyperparameter",
            Area::Experiment,
            Severity::Warning,
            "Hyperparameters that are never logged.",
        ),
        rule(
            "SEC001",
            "unsafe-torch-load",
            Area::Security,
            Severity::Warning,
            "torch.load without weights_only=True.",
        ),
        rule(
            "TRN001",
            "missing-gradient-clipping",
            Area::Training,
            Severity::Info,
            "Training loops without gradient clipping.",
        ),
    ]
}

fn output(format: Format, findings: &[Finding]) -> String {
    let rules = rules();
    let options = RenderOptions {
        rules: &rules,
        color: false,
        tool_version: "0.1.0",
        files_reviewed: 7,
    };
    render(format, findings, &options)
}

#[test]
fn text() {
    insta::assert_snapshot!(output(Format::Text, &findings()));
}

#[test]
fn concise() {
    insta::assert_snapshot!(output(Format::Concise, &findings()));
}

#[test]
fn json() {
    insta::assert_snapshot!(output(Format::Json, &findings()));
}

#[test]
fn sarif() {
    insta::assert_snapshot!(output(Format::Sarif, &findings()));
}

#[test]
fn github() {
    insta::assert_snapshot!(output(Format::Github, &findings()));
}

#[test]
fn markdown() {
    insta::assert_snapshot!(output(Format::Markdown, &findings()));
}

#[test]
fn empty_findings_in_every_format() {
    let all: Vec<String> = Format::ALL
        .into_iter()
        .map(|format| format!("--- {format}\n{}", output(format, &[])))
        .collect();
    insta::assert_snapshot!(all.join(""));
}

#[test]
fn json_round_trips() {
    let findings = findings();
    let parsed: Vec<Finding> = serde_json::from_str(&output(Format::Json, &findings)).unwrap();
    // The snippet is not serialized; everything else is.
    let without_snippets: Vec<Finding> = findings
        .into_iter()
        .map(|mut f| {
            f.snippet = None;
            f
        })
        .collect();
    assert_eq!(parsed, without_snippets);
}

#[test]
fn sarif_is_2_1_0_and_rule_indexes_point_at_the_right_rule() {
    let findings = findings();
    let log: serde_json::Value = serde_json::from_str(&output(Format::Sarif, &findings)).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), self::rules().len());
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), findings.len());
    for (result, finding) in results.iter().zip(&findings) {
        assert_eq!(result["ruleId"], finding.code.as_str());
        match result.get("ruleIndex") {
            Some(index) => {
                let index = usize::try_from(index.as_u64().unwrap()).unwrap();
                assert_eq!(rules[index]["id"], finding.code.as_str());
            }
            None => assert_eq!(finding.code, "E000"),
        }
        let location = &result["locations"][0]["physicalLocation"];
        assert_eq!(location["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        if let Some(region) = location.get("region") {
            let start = (region["startLine"].as_u64(), region["startColumn"].as_u64());
            let end = (region["endLine"].as_u64(), region["endColumn"].as_u64());
            assert!(start.0 >= Some(1) && start.1 >= Some(1) && end >= start);
        }
    }
}

#[test]
fn github_escapes_properties_and_messages() {
    let out = output(Format::Github, &findings());
    let line = out.lines().find(|l| l.contains("EXP003")).unwrap();
    assert_eq!(
        line,
        "::warning file=src/config.py,line=7,col=1,endLine=7,endColumn=3,\
         title=EXP003 unlogged-hyperparameter::lr | momentum: 100%25 of runs, see a,b%0Asecond line"
    );
    assert_eq!(github_escape_property("a:b,c%"), "a%3Ab%2Cc%25");
    // Every finding is exactly one command line.
    assert_eq!(out.lines().count(), findings().len());
}

#[test]
fn hostile_input_does_not_panic() {
    let mut weird = Finding::new(
        "X1",
        "",
        Severity::Info,
        Area::Input,
        at("", Some(0), Some(span(0, 0, u32::MAX, 0))),
        "",
    )
    .with_fix(Fix::new("").with_replacement("").with_example("```"));
    weird.snippet = snippet(u32::MAX, "\u{1b}[2J\r\n\t\t\u{0}");
    let mut reversed = weird.clone();
    reversed.location.span = Some(span(9, 9, 2, 1));
    reversed.snippet = snippet(0, "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n");
    let mut long = reversed.clone();
    long.location.span = Some(span(1, 1, 10, 2));
    let findings = [weird, reversed, long];
    for format in Format::ALL {
        let out = output(format, &findings);
        // JSON and SARIF escape control characters themselves.
        assert!(!out.contains('\u{1b}'), "{format} passed an escape through");
    }
    insta::assert_snapshot!(output(Format::Text, &findings));
}

#[test]
fn color_only_when_asked() {
    let rules = rules();
    let options = |color| RenderOptions {
        rules: &rules,
        color,
        tool_version: "0.1.0",
        files_reviewed: 1,
    };
    let findings = findings();
    for format in [Format::Text, Format::Concise] {
        let plain = render(format, &findings, &options(false));
        let colored = render(format, &findings, &options(true));
        assert!(!plain.contains('\u{1b}'));
        assert!(
            colored.contains("\u{1b}[1;31m"),
            "{format} has no red for errors"
        );
        assert_eq!(strip_ansi(&colored), plain, "{format} differs beyond color");
    }
    for format in [
        Format::Json,
        Format::Sarif,
        Format::Github,
        Format::Markdown,
    ] {
        assert!(!render(format, &findings, &options(true)).contains('\u{1b}'));
    }
}

/// Removes `ESC [ ... m` sequences.
fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
