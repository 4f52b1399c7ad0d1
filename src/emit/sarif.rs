//! `sarif`: a SARIF 2.1.0 log, built with `serde-sarif`, that the official schema
//! validates and GitHub code scanning accepts.
//!
//! - `tool.driver.rules[]`: every rule that ran, with help (the rule's documentation),
//!   `helpUri` and `defaultConfiguration.level` (the severity it ran at).
//! - Results point at files relative to the project root (`uriBaseId: "%SRCROOT%"`,
//!   defined in `originalUriBaseIds`); files outside the root get absolute `file://` URIs.
//! - `partialFingerprints.primaryLocationLineHash` hashes the rule code, the root-relative
//!   path, the trimmed text of the diagnostic's line and an occurrence counter, so it
//!   survives lines moving up or down ([`crate::fingerprint`], which baseline files use too).
//! - With a baseline (`check --baseline`), every result carries `baselineState`: `new`
//!   for the findings reported, `unchanged` for those the baseline holds (listed too,
//!   so code scanning keeps tracking them; only the new ones decide the exit code).

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::path::Path;

use serde_sarif::sarif::{
    ArtifactLocation, Invocation, Location as SarifLocation, Message, MultiformatMessageString,
    PhysicalLocation, Region, ReportingConfiguration, ReportingDescriptor, Result as SarifResult,
    ResultLevel, Run, Sarif as SarifLog, Tool, ToolComponent,
};

use super::{EmitOptions, Emitter};
use crate::diagnostic::{Diagnostic, Location, Severity};
use crate::report::{Report, RuleRun};
use crate::rules::render_doc;

pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
pub const INFORMATION_URI: &str = "https://github.com/migverify/migverify";
const SRCROOT: &str = "%SRCROOT%";

pub struct Sarif;

impl Emitter for Sarif {
    fn emit(&self, report: &Report, _opts: EmitOptions, out: &mut dyn Write) -> io::Result<()> {
        let log = build(report);
        let json = serde_json::to_vec_pretty(&log)?;
        out.write_all(&crate::text::escape_json_controls(json))?;
        writeln!(out)
    }
}

fn build(report: &Report) -> SarifLog {
    let rules: Vec<ReportingDescriptor> = report.rules.iter().map(descriptor).collect();
    let index: HashMap<&str, usize> = report
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| (r.meta.code.as_ref(), i))
        .collect();

    // Every finding of the run in report order (the baselined ones where they
    // were), so the occurrence counters of the fingerprints are the baseline's.
    let all: Vec<(&Diagnostic, Option<&str>)> = match &report.summary.baseline {
        None => report.diagnostics.iter().map(|d| (d, None)).collect(),
        Some(b) => b
            .all(&report.diagnostics)
            .into_iter()
            .map(|(d, unchanged)| (d, Some(if unchanged { "unchanged" } else { "new" })))
            .collect(),
    };
    let prints = crate::fingerprint::fingerprints(
        all.iter().map(|(d, _)| *d),
        &report.sources,
        &report.root,
    );
    let results: Vec<SarifResult> = all
        .iter()
        .zip(prints)
        .map(|(&(d, state), print)| {
            let mut r = result(report, d, index.get(d.code.as_str()).copied(), print);
            if let Some(state) = state {
                r.baseline_state = Some(serde_json::json!(state));
            }
            r
        })
        .collect();

    let driver = ToolComponent::builder()
        .name("migverify")
        .version(env!("CARGO_PKG_VERSION"))
        .semantic_version(env!("CARGO_PKG_VERSION"))
        .information_uri(INFORMATION_URI)
        .rules(rules)
        .build();
    let base_ids = BTreeMap::from([(
        SRCROOT.to_string(),
        ArtifactLocation::builder()
            .uri(directory_uri(&report.root))
            .build(),
    )]);
    let run = Run::builder()
        .tool(Tool::builder().driver(driver).build())
        .original_uri_base_ids(base_ids)
        .invocations(vec![
            Invocation::builder().execution_successful(true).build(),
        ])
        .results(results)
        .column_kind(serde_json::json!("unicodeCodePoints"))
        .build();
    SarifLog::builder()
        .schema(SCHEMA)
        .version(serde_json::json!("2.1.0"))
        .runs(vec![run])
        .build()
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

fn result_level(s: Severity) -> ResultLevel {
    match s {
        Severity::Error => ResultLevel::Error,
        Severity::Warning => ResultLevel::Warning,
        Severity::Info => ResultLevel::Note,
    }
}

fn descriptor(rule: &RuleRun) -> ReportingDescriptor {
    let meta = &rule.meta;
    let doc = render_doc(meta);
    let descriptor = ReportingDescriptor::builder()
        .id(meta.code.to_string())
        .name(meta.name.to_string())
        .short_description(
            MultiformatMessageString::builder()
                .text(meta.summary.to_string())
                .build(),
        )
        .full_description(
            MultiformatMessageString::builder()
                .text(what_it_does(&meta.doc).unwrap_or_else(|| meta.summary.to_string()))
                .build(),
        )
        .help(
            MultiformatMessageString::builder()
                .text(doc.clone())
                .markdown(doc)
                .build(),
        )
        .default_configuration(
            ReportingConfiguration::builder()
                .level(serde_json::json!(level(rule.severity)))
                .build(),
        );
    match meta.help_uri() {
        Some(uri) => descriptor.help_uri(uri).build(),
        None => descriptor.build(),
    }
}

/// The paragraph(s) under `## What it does`, joined into one line of text.
fn what_it_does(doc: &str) -> Option<String> {
    let start = doc.find("## What it does")?;
    let body = &doc[start..];
    let body = body.split_once('\n')?.1;
    let end = body.find("\n## ").unwrap_or(body.len());
    let text = body[..end].split_whitespace().collect::<Vec<_>>().join(" ");
    (!text.is_empty()).then_some(text)
}

fn result(
    report: &Report,
    d: &Diagnostic,
    rule_index: Option<usize>,
    fingerprint: String,
) -> SarifResult {
    let related: Vec<SarifLocation> = d
        .related
        .iter()
        .enumerate()
        .map(|(i, r)| {
            SarifLocation::builder()
                .id(i as i64 + 1)
                .physical_location(physical(report, &r.location))
                .message(Message::builder().text(r.message.clone()).build())
                .build()
        })
        .collect();
    let fingerprints = BTreeMap::from([("primaryLocationLineHash".to_string(), fingerprint)]);
    let mut result = SarifResult::builder()
        .rule_id(d.code.clone())
        .level(result_level(d.severity))
        .message(Message::builder().text(d.message.clone()).build())
        .locations(vec![
            SarifLocation::builder()
                .physical_location(physical(report, &d.location))
                .build(),
        ])
        .partial_fingerprints(fingerprints)
        .build();
    result.rule_index = rule_index.map(|i| i as i64);
    if !related.is_empty() {
        result.related_locations = Some(related);
    }
    result
}

fn physical(report: &Report, loc: &Location) -> PhysicalLocation {
    let region = match loc.span {
        Some(s) => Region::builder()
            .start_line(s.start_line as i64)
            .start_column(s.start_column as i64)
            .end_line(s.end_line as i64)
            .end_column(s.end_column as i64)
            .build(),
        None => Region::builder().start_line(1).build(),
    };
    PhysicalLocation::builder()
        .artifact_location(artifact(report, &loc.path))
        .region(region)
        .build()
}

/// Relative to the project root with `%SRCROOT%` when under it, else an absolute URI.
fn artifact(report: &Report, path: &Path) -> ArtifactLocation {
    match path.strip_prefix(&report.root) {
        Ok(rel) if rel.components().next().is_some() => ArtifactLocation::builder()
            .uri(
                rel.components()
                    .map(|c| encode_os(c.as_os_str()))
                    .collect::<Vec<_>>()
                    .join("/"),
            )
            .uri_base_id(SRCROOT)
            .build(),
        _ => ArtifactLocation::builder()
            .uri(file_uri(path, false))
            .build(),
    }
}

fn directory_uri(path: &Path) -> String {
    file_uri(path, true)
}

/// `file:///abs/path` (with a trailing `/` for directories), percent-encoded.
fn file_uri(path: &Path, dir: bool) -> String {
    let mut s: String = path
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(p) => Some(encode_os(p)),
            std::path::Component::Prefix(p) => Some(p.as_os_str().to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/");
    if dir && !s.is_empty() {
        s.push('/');
    }
    format!("file:///{s}")
}

/// Characters kept in URIs: RFC 3986's unreserved set and `/`.
const URI_PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Percent-encodes everything but unreserved characters and `/`.
#[cfg(test)]
fn encode(path: &str) -> String {
    percent_encoding::utf8_percent_encode(path, URI_PATH).to_string()
}

/// A path component percent-encoded from its raw bytes: a name that is not UTF-8
/// keeps its bytes (`caf%E9.py`), not U+FFFD (`%EF%BF%BD`), so the URI still
/// names the file.
fn encode_os(part: &std::ffi::OsStr) -> String {
    #[cfg(unix)]
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(part);
    #[cfg(not(unix))]
    let lossy = part.to_string_lossy();
    #[cfg(not(unix))]
    let bytes = lossy.as_bytes();
    percent_encoding::percent_encode(bytes, URI_PATH).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_uris() {
        assert_eq!(encode("a b/c%d.py"), "a%20b/c%25d.py");
        assert_eq!(encode_os(std::ffi::OsStr::new("é x.py")), "%C3%A9%20x.py");
        #[cfg(unix)]
        assert_eq!(
            encode_os(std::os::unix::ffi::OsStrExt::from_bytes(b"caf\xe9.py")),
            "caf%E9.py"
        );
        assert_eq!(
            directory_uri(Path::new("/work/my project")),
            "file:///work/my%20project/"
        );
    }

    #[test]
    fn what_it_does_takes_the_first_section() {
        let doc = "## What it does\nChecks a\nthing.\n\n## Why is this bad?\nBecause.";
        assert_eq!(what_it_does(doc).as_deref(), Some("Checks a thing."));
        assert_eq!(what_it_does("no sections"), None);
    }
}
