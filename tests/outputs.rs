//! Output formats, end to end: the real binary over `tests/fixtures/outputs/` (a small
//! Alembic project with real defects), snapshotted per format, plus SARIF validity
//! against the official schema and GitHub code scanning's ingestion requirements.

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use assert_cmd::Command;
use serde_json::Value;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/outputs")
}

/// Runs `migverify check alembic/versions --format <format> <extra>` in `dir`; returns
/// stdout and the exit code.
fn run_in(dir: &Path, format: &str, extra: &[&str]) -> (String, i32) {
    let out = Command::cargo_bin("migverify")
        .expect("binary")
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("MIGVERIFY_DATABASE_URL")
        // No cache: the fixture lives in the source tree, and a cache left there
        // by an older build would answer for it.
        .args([
            "check",
            "--no-cache",
            "alembic/versions",
            "--format",
            format,
        ])
        .args(extra)
        .output()
        .expect("run migverify");
    let stdout = String::from_utf8(out.stdout).expect("utf-8 output");
    assert!(
        out.stderr.is_empty(),
        "unexpected stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (stdout, out.status.code().expect("exit code"))
}

fn run(format: &str, extra: &[&str]) -> String {
    let (stdout, code) = run_in(&fixture(), format, extra);
    assert_eq!(code, 1, "the fixture has errors, so the exit code is 1");
    stdout
}

/// Makes machine-specific parts stable: the absolute fixture path and the version.
fn stabilise(s: &str, root: &Path) -> String {
    let root = root.display().to_string();
    // SARIF's `%SRCROOT%` is a percent-encoded URI: cover a checkout path with spaces.
    s.replace(&root.replace(' ', "%20"), "[FIXTURE]")
        .replace(&root, "[FIXTURE]")
        .replace(
            &format!("\"{}\"", env!("CARGO_PKG_VERSION")),
            "\"[VERSION]\"",
        )
}

fn snapshot(name: &str, output: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_path("snapshots");
    settings.bind(|| insta::assert_snapshot!(name, stabilise(output, &fixture())));
}

#[test]
fn human() {
    snapshot("human", &run("human", &[]));
}

#[test]
fn human_verbose() {
    snapshot("human_verbose", &run("human", &["--verbose"]));
}

#[test]
fn human_quiet_prints_diagnostics_only() {
    let quiet = run("human", &["--quiet"]);
    let full = run("human", &[]);
    assert!(!quiet.contains("Head revision(s)"), "{quiet}");
    assert!(!quiet.contains("✗"), "{quiet}");
    assert!(
        full.starts_with(&quiet),
        "quiet output is the diagnostics part"
    );
    assert!(full.contains("Head revision(s)"));
}

#[test]
fn human_without_color_has_no_escape_codes() {
    // Not a terminal and NO_COLOR: never colour.
    assert!(!run("human", &[]).contains('\u{1b}'));
}

#[test]
fn concise() {
    snapshot("concise", &run("concise", &[]));
}

#[test]
fn json() {
    let out = run("json", &[]);
    let v: Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(v["version"], 1);
    for d in v["diagnostics"].as_array().unwrap() {
        for key in [
            "code", "name", "severity", "message", "path", "span", "related", "help",
        ] {
            assert!(d.get(key).is_some(), "diagnostic lacks {key}: {d}");
        }
    }
    assert_eq!(v["summary"]["errors"], 3);
    snapshot("json", &out);
}

#[test]
fn github() {
    let out = run("github", &[]);
    for line in out.lines() {
        assert!(
            line.starts_with("::error file=")
                || line.starts_with("::warning file=")
                || line.starts_with("::notice file="),
            "{line}"
        );
        assert!(line.contains(",title=MV"), "{line}");
    }
    snapshot("github", &out);
}

#[test]
fn sarif() {
    // Rule documentation is owned by the rules (and checked below); keep it out of the
    // snapshot so that editing a rule's docs does not churn this file.
    let mut log: Value = serde_json::from_str(&run("sarif", &[])).expect("SARIF is JSON");
    for rule in log["runs"][0]["tool"]["driver"]["rules"]
        .as_array_mut()
        .expect("rules[]")
    {
        rule["help"] = Value::from("[rule documentation]");
        rule["fullDescription"] = Value::from("[rule documentation]");
    }
    snapshot("sarif", &serde_json::to_string_pretty(&log).unwrap());
}

// ---- SARIF validity ---------------------------------------------------------------

fn schema_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas/sarif-schema-2.1.0.json")
}

/// The official schema, with the `language` pattern fixed as in the errata (the shipped
/// pattern has a stray `]` the Rust validator rejects as a regex).
fn sarif_validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(schema_path()).expect("vendored schema");
    let mut schema: Value = serde_json::from_str(&text).expect("schema JSON");
    for def in ["run", "toolComponent"] {
        schema["definitions"][def]["properties"]["language"]["pattern"] =
            Value::from("^[a-zA-Z]{2}(-[a-zA-Z]{2})?$");
    }
    jsonschema::validator_for(&schema).expect("schema compiles")
}

fn schema_errors(validator: &jsonschema::Validator, log: &Value) -> Vec<String> {
    validator
        .iter_errors(log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn sarif_log() -> Value {
    serde_json::from_str(&run("sarif", &[])).expect("SARIF is JSON")
}

/// A copy of a valid log with a few deliberate schema violations.
fn broken(log: &Value) -> Value {
    let mut bad = log.clone();
    bad["version"] = Value::from("3.0");
    bad["runs"][0]["results"][0]["level"] = Value::from("fatal");
    bad["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] =
        Value::from(0);
    bad["runs"][0]["tool"]["driver"]
        .as_object_mut()
        .unwrap()
        .remove("name");
    bad
}

#[test]
fn sarif_validates_against_the_official_schema() {
    let validator = sarif_validator();
    let log = sarif_log();
    let errors = schema_errors(&validator, &log);
    assert!(
        errors.is_empty(),
        "SARIF schema errors:\n{}",
        errors.join("\n")
    );
}

#[test]
fn sarif_schema_test_rejects_a_broken_log() {
    let validator = sarif_validator();
    let errors = schema_errors(&validator, &broken(&sarif_log()));
    assert!(
        errors.len() >= 4,
        "the validator must catch every seeded error, got: {errors:?}"
    );
}

#[test]
fn sarif_meets_github_code_scanning_requirements() {
    let log = sarif_log();
    assert_eq!(log["version"], "2.1.0");
    assert!(log["$schema"].is_string());
    let run = &log["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "migverify");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    assert!(driver["informationUri"].is_string());
    let rules = driver["rules"].as_array().expect("rules[]");
    assert!(!rules.is_empty());
    for rule in rules {
        let id = rule["id"].as_str().expect("rule id");
        assert!(rule["name"].is_string(), "{id}: name");
        assert!(rule["shortDescription"]["text"].is_string(), "{id}");
        assert!(rule["fullDescription"]["text"].is_string(), "{id}");
        assert!(rule["help"]["text"].is_string(), "{id}: help.text");
        let markdown = rule["help"]["markdown"].as_str().expect("help.markdown");
        assert!(markdown.contains("## What it does"), "{id}: {markdown}");
        assert!(
            rule["helpUri"]
                .as_str()
                .is_some_and(|u| u.starts_with("https://") && u.ends_with(&format!("{id}.md"))),
            "{id}: helpUri"
        );
        assert!(
            matches!(
                rule["defaultConfiguration"]["level"].as_str(),
                Some("error" | "warning" | "note")
            ),
            "{id}: defaultConfiguration.level"
        );
    }
    assert_eq!(run["invocations"][0]["executionSuccessful"], true);
    let base = run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
        .as_str()
        .expect("%SRCROOT%");
    assert!(
        base.starts_with("file:///") && base.ends_with('/'),
        "{base}"
    );

    let results = run["results"].as_array().expect("results[]");
    assert_eq!(results.len(), 5);
    for r in results {
        let id = r["ruleId"].as_str().expect("ruleId");
        let index = r["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[index]["id"], id, "ruleIndex points at the rule");
        assert!(matches!(
            r["level"].as_str(),
            Some("error" | "warning" | "note")
        ));
        assert!(r["message"]["text"].is_string());
        let loc = &r["locations"][0]["physicalLocation"];
        let uri = loc["artifactLocation"]["uri"].as_str().expect("uri");
        assert!(
            !uri.starts_with('/') && !uri.contains("://"),
            "relative uri: {uri}"
        );
        assert_eq!(loc["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        assert!(loc["region"]["startLine"].as_u64().expect("startLine") >= 1);
        assert!(
            r["partialFingerprints"]["primaryLocationLineHash"]
                .as_str()
                .is_some_and(|h| !h.is_empty()),
            "fingerprint"
        );
        for rel in r["relatedLocations"].as_array().into_iter().flatten() {
            assert!(rel["id"].is_u64() && rel["message"]["text"].is_string());
        }
    }
    // Multiple heads point at the other head and the fork.
    assert!(results.iter().any(|r| {
        r["relatedLocations"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    }));
}

/// `(ruleId, uri, fingerprint, startLine)` of every result.
fn fingerprints(log: &Value) -> Vec<(String, String, String, u64)> {
    let mut v: Vec<_> = log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let loc = &r["locations"][0]["physicalLocation"];
            (
                r["ruleId"].as_str().unwrap().to_string(),
                loc["artifactLocation"]["uri"].as_str().unwrap().to_string(),
                r["partialFingerprints"]["primaryLocationLineHash"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                loc["region"]["startLine"].as_u64().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn sarif_fingerprints_are_stable_across_runs_and_line_shifts() {
    let first = fingerprints(&sarif_log());
    assert_eq!(first, fingerprints(&sarif_log()), "identical across runs");
    let unique: std::collections::HashSet<_> = first.iter().map(|f| &f.2).collect();
    assert_eq!(unique.len(), first.len(), "one fingerprint per result");

    // A copy of the fixture with a blank line inserted above the findings of one file.
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixture(), tmp.path());
    let shifted_file = "alembic/versions/c3d4e5f6a1b2_add_users_phone.py";
    let path = tmp.path().join(shifted_file);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("\n{text}")).unwrap();
    let (out, code) = run_in(tmp.path(), "sarif", &[]);
    assert_eq!(code, 1);
    let shifted = fingerprints(&serde_json::from_str(&out).unwrap());

    assert_eq!(first.len(), shifted.len());
    let mut moved = 0;
    for (a, b) in first.iter().zip(&shifted) {
        assert_eq!(
            (&a.0, &a.1, &a.2),
            (&b.0, &b.1, &b.2),
            "fingerprint changed"
        );
        if a.1.ends_with("c3d4e5f6a1b2_add_users_phone.py") {
            assert_eq!(b.3, a.3 + 1, "the finding moved down a line");
            moved += 1;
        }
    }
    assert!(moved > 0, "the shifted file has findings");
}

/// Python's `jsonschema` (Draft 7, unpatched schema) as a second opinion, when installed.
#[test]
fn sarif_validates_with_python_jsonschema_when_available() {
    let python_ok = StdCommand::new("python3")
        .args(["-c", "import jsonschema"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !python_ok {
        println!("skipped: python3 with the jsonschema module is not available");
        return;
    }
    let log = sarif_log();
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good.sarif");
    let bad = tmp.path().join("bad.sarif");
    std::fs::write(&good, serde_json::to_vec(&log).unwrap()).unwrap();
    std::fs::write(&bad, serde_json::to_vec(&broken(&log)).unwrap()).unwrap();
    let script = r#"
import json, sys
from jsonschema import Draft7Validator, FormatChecker
schema = json.load(open(sys.argv[1]))
validator = Draft7Validator(schema, format_checker=FormatChecker())
for path in sys.argv[2:]:
    errors = list(validator.iter_errors(json.load(open(path))))
    print(path.rsplit("/", 1)[-1], len(errors))
    for e in errors:
        print("  ", e.message, list(e.absolute_path), file=sys.stderr)
"#;
    let out = StdCommand::new("python3")
        .arg("-c")
        .arg(script)
        .arg(schema_path())
        .arg(&good)
        .arg(&bad)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("good.sarif 0"), "{stderr}");
    let bad_count: usize = lines
        .next()
        .and_then(|l| l.strip_prefix("bad.sarif "))
        .and_then(|n| n.parse().ok())
        .expect("bad count");
    assert!(bad_count >= 4, "python jsonschema found {bad_count} errors");
}
