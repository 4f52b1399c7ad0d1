//! The check pipeline: read and parse files in parallel, build the graph, run the
//! enabled rules, apply suppressions and per-file ignores, and build a [`Report`].

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use rayon::prelude::*;

use crate::diagnostic::{Diagnostic, Finding};
use crate::graph::RevisionGraph;
use crate::migration::{self, Migration};
use crate::project::Project;
use crate::report::{Report, RuleRun, SkippedRule, Status, Summary};
use crate::rules::mv012_unused_suppression::{self, SuppressionUse};
use crate::rules::{Context, Input, Registry};

pub struct CheckOptions {
    pub verbose: bool,
    pub cwd: PathBuf,
}

/// Reads and parses every migration file of the project, in parallel.
pub fn load_migrations(project: &Project) -> Vec<Migration> {
    let mut ms: Vec<Migration> = project
        .files
        .par_iter()
        .map(|path| match &project.stdin {
            Some((stdin_path, text)) if stdin_path == path => {
                migration::parse_source(path.clone(), text.clone().into_bytes())
            }
            _ => migration::parse_file(path),
        })
        .collect();
    ms.sort_by(|a, b| a.path.cmp(&b.path));
    ms
}

pub fn check(project: &Project, registry: &Registry, opts: &CheckOptions) -> Report {
    let migrations = load_migrations(project);
    let graph = RevisionGraph::build(&migrations);
    let ctx = Context {
        migrations: &migrations,
        graph: &graph,
    };
    let available = [Input::Migrations];

    let mut rules = Vec::new();
    let mut skipped = Vec::new();
    let mut raw: Vec<(usize, Finding)> = Vec::new();
    for &(ri, severity) in &project.settings.enabled {
        let rule = registry.get(ri);
        let meta = rule.meta();
        if let Some(missing) = meta.inputs.iter().find(|i| !available.contains(i)) {
            skipped.push(SkippedRule {
                code: meta.code.to_string(),
                name: meta.name.to_string(),
                reason: missing.describe().to_string(),
            });
            continue;
        }
        rules.push(RuleRun {
            meta: meta.clone(),
            severity,
        });
        let mut out = Vec::new();
        rule.check(&ctx, &mut out);
        raw.extend(out.into_iter().map(|f| (ri, f)));
    }

    let by_path: HashMap<&PathBuf, usize> = migrations
        .iter()
        .enumerate()
        .map(|(i, m)| (&m.path, i))
        .collect();
    let mut used: HashSet<SuppressionUse> = HashSet::new();
    let severity_of: HashMap<usize, _> = project.settings.enabled.iter().copied().collect();
    let mut diagnostics = Vec::new();
    let mut keep = |ri: usize, f: Finding, used: &mut HashSet<SuppressionUse>| {
        if ignored_by_config(project, ri, &f) {
            return;
        }
        if let Some(&mi) = by_path.get(&f.location.path)
            && suppressed(&migrations[mi], mi, registry, ri, &f, used)
        {
            return;
        }
        let meta = registry.get(ri).meta();
        diagnostics.push(Diagnostic {
            code: meta.code.to_string(),
            name: meta.name.to_string(),
            severity: severity_of[&ri],
            message: f.message,
            location: f.location,
            related: f.related,
            help: f.help,
        });
    };
    for (ri, f) in raw {
        keep(ri, f, &mut used);
    }
    if let Some(ri) = registry
        .find("MV012")
        .filter(|ri| severity_of.contains_key(ri))
    {
        let enabled: HashSet<usize> = rules
            .iter()
            .filter_map(|r| registry.find(&r.meta.code))
            .collect();
        for f in mv012_unused_suppression::unused(&migrations, &used, registry, &enabled) {
            keep(ri, f, &mut used);
        }
    }

    if let Some(only) = &project.only {
        let only: HashSet<&PathBuf> = only.iter().collect();
        diagnostics.retain(|d| only.contains(&d.location.path));
    }
    diagnostics.sort_by(|a, b| {
        let key = |d: &Diagnostic| {
            let s = d
                .location
                .span
                .map(|s| (s.start_line, s.start_column))
                .unwrap_or((0, 0));
            (d.location.path.clone(), s, d.code.clone())
        };
        key(a).cmp(&key(b))
    });

    let mut summary = Summary {
        files: migrations.len(),
        skipped_rules: skipped,
        ..Summary::default()
    };
    for d in &diagnostics {
        match d.severity {
            crate::diagnostic::Severity::Error => summary.errors += 1,
            crate::diagnostic::Severity::Warning => summary.warnings += 1,
            crate::diagnostic::Severity::Info => summary.infos += 1,
        }
    }
    let status = Status {
        head_revisions: graph
            .heads
            .iter()
            .map(|&h| graph.revision(h).to_string())
            .collect(),
        version_locations: project.version_locations.clone(),
        migration_files: migrations.iter().map(|m| m.path.clone()).collect(),
        ..Status::default()
    };
    let sources = migrations
        .iter()
        .map(|m| (m.path.clone(), Arc::clone(&m.source)))
        .collect();
    // Freeing 10,000 migrations' argument trees is millions of `free`s: on all cores.
    migrations.into_par_iter().for_each(drop);
    Report {
        root: project.root.clone(),
        cwd: opts.cwd.clone(),
        diagnostics,
        rules,
        sources,
        status,
        summary,
        verbose: opts.verbose,
    }
}

fn ignored_by_config(project: &Project, ri: usize, f: &Finding) -> bool {
    let rel = f
        .location
        .path
        .strip_prefix(&project.root)
        .unwrap_or(&f.location.path);
    project
        .settings
        .per_file_ignores
        .iter()
        .any(|p| p.rules.contains(&ri) && p.matcher.is_match(rel))
}

/// Whether a suppression comment in the finding's file silences it; records which.
fn suppressed(
    m: &Migration,
    mi: usize,
    registry: &Registry,
    ri: usize,
    f: &Finding,
    used: &mut HashSet<SuppressionUse>,
) -> bool {
    let line = f.location.span.map(|s| s.start_line);
    let def_line = line
        .and_then(|l| m.function_at_line(l))
        .map(|func| func.def_line);
    let mut hit = false;
    for (si, s) in m.suppressions.items.iter().enumerate() {
        let applies = s.file_level || Some(s.line) == line || Some(s.line) == def_line;
        if !applies {
            continue;
        }
        if s.rules.is_empty() {
            used.insert((mi, si, None));
            hit = true;
            continue;
        }
        for (ei, entry) in s.rules.iter().enumerate() {
            if registry.find(&entry.value) == Some(ri) {
                used.insert((mi, si, Some(ei)));
                hit = true;
            }
        }
    }
    hit
}
