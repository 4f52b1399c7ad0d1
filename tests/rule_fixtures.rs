//! Rule fixtures: `tests/fixtures/rules/<CODE>/<case>/` holds real Alembic migration
//! files; each case directory is linted as one version location with every rule
//! enabled (MV012 included), and the diagnostics must equal the case's expectations
//! exactly: `# expect: MV003` (or `# expect: MV001, MV006`) on the line a diagnostic
//! points at, `# expect-file: MV009` for a diagnostic with no line, and `[[expect]]`
//! entries in an optional `expect.toml` for files that cannot hold a comment.
//!
//! `fires_*` cases must expect their rule; `ok_*` cases must not. Incidental findings
//! of other rules are annotated too, so an `ok_*` case stays honest.
//!
//! At run time each case is copied to a temporary directory, where:
//! - every `NAME.in` file is replaced by `NAME`, its `\xNN` escapes decoded to bytes
//!   (`\\` is a backslash): invalid UTF-8, NUL bytes and BOMs without trusting git
//!   or editors with them;
//! - `[[symlink]] link = "more", target = "versions"` entries of `expect.toml` are
//!   created;
//! - `version_locations = ["versions", "more"]` in `expect.toml` names the version
//!   locations (default: the case directory itself).
//! - `snapshot = "snapshot.json"` in `expect.toml` runs the case against that database
//!   snapshot (the format of `migverify snapshot`), so the database rules (MV1xx) have
//!   fixtures here too. Their live round trips against real servers and real Alembic
//!   are in `tests/db_rules.rs`.
//! - `models = ["models/*.py"]` in `expect.toml` reads those files as the SQLAlchemy
//!   models (for the drift rules, MV2xx); keep them outside the version locations.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use migverify::cli::RuleSelection;
use migverify::db::Snapshot;
use migverify::db::resolve::Loaded;
use migverify::engine::{self, CheckOptions};
use migverify::report::Report;
use migverify::rules::Registry;

/// `(file relative to the case, line (0 = no span), code)`.
type Key = (String, usize, String);

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CaseToml {
    #[serde(default)]
    version_locations: Vec<String>,
    #[serde(default)]
    symlink: Vec<Symlink>,
    #[serde(default)]
    expect: Vec<ExpectEntry>,
    /// A database snapshot file of the case, for the database rules.
    snapshot: Option<String>,
    /// Model file globs (relative to the case), for the drift rules (MV2xx).
    #[serde(default)]
    models: Vec<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Symlink {
    link: String,
    target: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectEntry {
    file: String,
    line: usize,
    code: String,
}

struct Case {
    /// The rule directory: `MV003`.
    code: String,
    /// `fires_pass`.
    name: String,
    dir: PathBuf,
}

impl Case {
    fn id(&self) -> String {
        format!("{}/{}", self.code, self.name)
    }
}

/// A case copied into a temporary directory, ready to lint.
struct Prepared {
    tmp: tempfile::TempDir,
    config: CaseToml,
}

fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rules")
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for code_dir in sorted_entries(&fixtures_root()) {
        if !code_dir.is_dir() {
            continue;
        }
        let code = file_name(&code_dir);
        for dir in sorted_entries(&code_dir) {
            if dir.is_dir() {
                out.push(Case {
                    code: code.clone(),
                    name: file_name(&dir),
                    dir,
                });
            }
        }
    }
    assert!(
        !out.is_empty(),
        "no fixture cases under {:?}",
        fixtures_root()
    );
    out
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {dir:?}: {e}"))
        .map(|e| e.expect("dir entry").path())
        .collect();
    v.sort();
    v
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Decodes `\xNN` and `\\` escapes of a `.in` file.
fn decode_escapes(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else if bytes[i] == b'\\'
            && bytes.get(i + 1) == Some(&b'x')
            && let Some(b) = text
                .get(i + 2..i + 4)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in sorted_entries(from) {
        let dest = to.join(entry.file_name().unwrap());
        let meta = std::fs::symlink_metadata(&entry).unwrap();
        if meta.is_dir() {
            copy_dir(&entry, &dest);
        } else if let Some(stem) = file_name(&entry).strip_suffix(".in") {
            let text = std::fs::read_to_string(&entry).unwrap();
            std::fs::write(to.join(stem), decode_escapes(&text)).unwrap();
        } else {
            std::fs::copy(&entry, &dest).unwrap();
        }
    }
}

fn prepare(case: &Case) -> Prepared {
    let tmp = tempfile::Builder::new()
        .prefix("migverify-fixture-")
        .tempdir()
        .unwrap();
    copy_dir(&case.dir, tmp.path());
    let toml_path = tmp.path().join("expect.toml");
    let config: CaseToml = if toml_path.exists() {
        let text = std::fs::read_to_string(&toml_path).unwrap();
        toml::from_str(&text).unwrap_or_else(|e| panic!("{}: bad expect.toml: {e}", case.id()))
    } else {
        CaseToml::default()
    };
    for s in &config.symlink {
        let link = tmp.path().join(&s.link);
        #[cfg(unix)]
        std::os::unix::fs::symlink(&s.target, &link).unwrap();
        #[cfg(not(unix))]
        copy_dir(&tmp.path().join(&s.target), &link);
    }
    Prepared { tmp, config }
}

/// Lints the prepared case with every rule enabled, as `--select ALL` would.
fn lint(
    locations: &[PathBuf],
    database: Option<Loaded>,
    models: Option<migverify::models::Models>,
) -> Report {
    let registry = Registry::builtin();
    let mut project =
        migverify::project::discover(locations, None, &RuleSelection::default(), &registry)
            .expect("discover the project");
    project.settings.enabled = registry
        .rules()
        .iter()
        .enumerate()
        .map(|(i, r)| (i, r.meta().severity))
        .collect();
    engine::check(
        &project,
        &registry,
        &CheckOptions {
            verbose: false,
            cwd: locations[0].clone(),
            cache: None,
            database,
            models,
        },
    )
}

fn parse_codes(list: &str) -> Vec<String> {
    list.split(',')
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect()
}

/// Inline expectations of every file of the case (but `expect.toml`), and the
/// sidecar's entries.
fn expectations(p: &Prepared) -> Vec<Key> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(p.tmp.path()).sort_by_file_name() {
        let entry = entry.unwrap();
        if !entry.file_type().is_file() || entry.file_name() == "expect.toml" {
            continue;
        }
        let rel = relative(p.tmp.path(), entry.path());
        let bytes = std::fs::read(entry.path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for (i, line) in text.split('\n').enumerate() {
            for (marker, at_line) in [("# expect-file:", 0), ("# expect:", i + 1)] {
                if let Some(pos) = line.find(marker) {
                    let list = line[pos + marker.len()..].trim_end_matches('\r');
                    // the list ends at the next comment, if any
                    let list = list.split('#').next().unwrap_or("");
                    for code in parse_codes(list) {
                        out.push((rel.clone(), at_line, code));
                    }
                }
            }
        }
    }
    for e in &p.config.expect {
        out.push((e.file.clone(), e.line, e.code.clone()));
    }
    out.sort();
    out
}

fn relative(root: &Path, path: &Path) -> String {
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    path.strip_prefix(&root)
        .unwrap_or(&path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Lints a case: the diagnostics as keys, with their messages for failure reports.
fn actual(p: &Prepared) -> Vec<(Key, String)> {
    let locations: Vec<PathBuf> = if p.config.version_locations.is_empty() {
        vec![p.tmp.path().to_path_buf()]
    } else {
        p.config
            .version_locations
            .iter()
            .map(|l| p.tmp.path().join(l))
            .collect()
    };
    let database = p.config.snapshot.as_ref().map(|s| {
        let path = p.tmp.path().join(s);
        Loaded {
            snapshot: Snapshot::from_path(&path).expect("a valid snapshot"),
            label: format!("snapshot {s}"),
            source: None,
            origin: None,
        }
    });
    let models = (!p.config.models.is_empty())
        .then(|| migverify::models::load(p.tmp.path(), &p.config.models).expect("model globs"));
    let report = lint(&locations, database, models);
    let mut out: Vec<(Key, String)> = report
        .diagnostics
        .iter()
        .map(|d| {
            (
                (
                    relative(p.tmp.path(), &d.location.path),
                    d.location.span.map_or(0, |s| s.start_line),
                    d.code.clone(),
                ),
                d.message.clone(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Compares multisets of keys; returns a description of every difference.
fn compare(case: &Case, expected: &[Key], actual: &[(Key, String)]) -> Option<String> {
    let mut counts: BTreeMap<&Key, (usize, usize, Vec<&str>)> = BTreeMap::new();
    for k in expected {
        counts.entry(k).or_default().0 += 1;
    }
    for (k, msg) in actual {
        let e = counts.entry(k).or_default();
        e.1 += 1;
        e.2.push(msg);
    }
    let mut report = String::new();
    for ((file, line, code), (want, got, msgs)) in &counts {
        let place = if *line == 0 {
            format!("{file} (no line)")
        } else {
            format!("{file}:{line}")
        };
        if got < want {
            let _ = writeln!(
                report,
                "  missing:    {place} {code} (expected {want}, got {got})"
            );
        } else if got > want {
            let _ = writeln!(
                report,
                "  unexpected: {place} {code} (expected {want}, got {got}): {}",
                msgs.join(" | ")
            );
        }
    }
    if report.is_empty() {
        None
    } else {
        Some(format!(
            "case {} ({}):\n{report}",
            case.id(),
            case.dir.display()
        ))
    }
}

#[test]
fn every_fixture_case_produces_exactly_its_expectations() {
    let mut failures = Vec::new();
    let cases = cases();
    for case in &cases {
        let p = prepare(case);
        let expected = expectations(&p);
        if let Some(diff) = compare(case, &expected, &actual(&p)) {
            failures.push(diff);
        }
        let expects_own = expected.iter().any(|(_, _, c)| *c == case.code);
        if case.name.starts_with("fires_") && !expects_own {
            failures.push(format!(
                "case {}: a `fires_` case must expect {} at least once",
                case.id(),
                case.code
            ));
        } else if case.name.starts_with("ok_") && expects_own {
            failures.push(format!(
                "case {}: an `ok_` case must not expect {}",
                case.id(),
                case.code
            ));
        } else if !case.name.starts_with("fires_") && !case.name.starts_with("ok_") {
            failures.push(format!(
                "case {}: case names start with `fires_` or `ok_`",
                case.id()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixture cases failed:\n{}\n(expectations: `# expect: CODE` on the line, \
         `# expect-file: CODE` for no line, or `[[expect]]` in expect.toml)",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn every_rule_has_fixtures_that_fire_and_that_do_not() {
    let registry = Registry::builtin();
    let cases = cases();
    let mut problems = Vec::new();
    for rule in registry.rules() {
        let code = rule.meta().code.to_string();
        let fires = cases.iter().any(|c| {
            c.code == code
                && c.name.starts_with("fires_")
                && expectations(&prepare(c)).iter().any(|(_, _, k)| *k == code)
        });
        let ok = cases
            .iter()
            .any(|c| c.code == code && c.name.starts_with("ok_"));
        if !fires {
            problems.push(format!(
                "{code} ({}) has no tests/fixtures/rules/{code}/fires_*/ case expecting it",
                rule.meta().name
            ));
        }
        if !ok {
            problems.push(format!(
                "{code} ({}) has no tests/fixtures/rules/{code}/ok_*/ case",
                rule.meta().name
            ));
        }
    }
    for c in &cases {
        if registry.find(&c.code).is_none() {
            problems.push(format!(
                "tests/fixtures/rules/{} names no rule in the registry",
                c.code
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------- generated histories

fn generic(rev: &str, down: &str, upgrade: &str, downgrade: &str) -> String {
    format!(
        "\"\"\"{rev}\n\nRevision ID: {rev}\n\"\"\"\nfrom typing import Sequence, Union\n\nfrom alembic import op\nimport sqlalchemy as sa\n\n\
         # revision identifiers, used by Alembic.\nrevision: str = \"{rev}\"\n\
         down_revision: Union[str, Sequence[str], None] = {down}\n\
         branch_labels: Union[str, Sequence[str], None] = None\n\
         depends_on: Union[str, Sequence[str], None] = None\n\n\n\
         def upgrade() -> None:\n    {upgrade}\n\n\ndef downgrade() -> None:\n    {downgrade}\n"
    )
}

#[test]
fn a_thousand_way_merge_has_one_head() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("0000_base.py"),
        generic(
            "base",
            "None",
            "op.create_table(\"t\")",
            "op.drop_table(\"t\")",
        ),
    )
    .unwrap();
    let mut heads = Vec::new();
    for i in 0..1000 {
        let rev = format!("h{i:04}");
        std::fs::write(
            dir.join(format!("{rev}.py")),
            generic(
                &rev,
                "\"base\"",
                &format!("op.add_column(\"t\", sa.Column(\"c{i}\", sa.Integer()))"),
                &format!("op.drop_column(\"t\", \"c{i}\")"),
            ),
        )
        .unwrap();
        heads.push(format!("\"{rev}\""));
    }
    std::fs::write(
        dir.join("zzzz_merge.py"),
        generic(
            "merge",
            &format!("(\n    {},\n)", heads.join(",\n    ")),
            "pass",
            "pass",
        ),
    )
    .unwrap();
    let report = lint(&[dir.to_path_buf()], None, None);
    assert_eq!(report.summary.files, 1002);
    assert_eq!(report.status.head_revisions, ["merge"]);
    let found: Vec<String> = report
        .diagnostics
        .iter()
        .map(|d| format!("{}: {}", d.code, d.message))
        .collect();
    assert!(found.is_empty(), "{found:#?}");
}

fn write_chain(dir: &Path, n: usize) {
    for i in 0..n {
        let rev = format!("r{i:05}");
        let down = if i == 0 {
            "None".to_string()
        } else {
            format!("\"r{:05}\"", i - 1)
        };
        std::fs::write(
            dir.join(format!("{rev}_step.py")),
            generic(
                &rev,
                &down,
                &format!("op.create_table(\"t{i}\")"),
                &format!("op.drop_table(\"t{i}\")"),
            ),
        )
        .unwrap();
    }
}

/// The library on a test thread (2 MiB of stack), then the binary: exit status 0.
#[test]
fn a_20000_revision_chain_lints_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    write_chain(tmp.path(), 20_000);
    let report = lint(&[tmp.path().to_path_buf()], None, None);
    assert_eq!(report.summary.files, 20_000);
    assert_eq!(report.status.head_revisions, ["r19999"]);
    assert!(
        report.diagnostics.is_empty(),
        "{:#?}",
        &report.diagnostics[..report.diagnostics.len().min(5)]
    );

    let out = assert_cmd::Command::cargo_bin("migverify")
        .unwrap()
        .args(["check", "--format", "concise", "--select", "ALL"])
        .arg(tmp.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !stdout.contains(": MV0"),
        "the chain should lint cleanly: {stdout}"
    );
}
