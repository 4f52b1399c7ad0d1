//! The check pipeline: read and parse files in parallel, build the graph, run the
//! enabled rules, apply suppressions and per-file ignores, and build a [`Report`].

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use crate::cache::{Cache, CachedEntry, Key};
use crate::db::resolve::Loaded;
use crate::diagnostic::{Diagnostic, Finding};
use crate::graph::RevisionGraph;
use crate::migration::{self, Migration};
use crate::project::Project;
use crate::report::{Report, RuleRun, SkippedRule, Status, Summary};
use crate::rules::mv012_unused_suppression::{self, SuppressionUse};
use crate::rules::query::QuerySet;
use crate::rules::{Context, Input, Registry};

pub struct CheckOptions {
    pub verbose: bool,
    pub cwd: PathBuf,
    /// The cache directory ([`crate::cache`]); `None` parses every file.
    pub cache: Option<PathBuf>,
    /// The database (captured live or read from a snapshot file); rules that need
    /// one are skipped without it.
    pub database: Option<Loaded>,
    /// The SQLAlchemy models ([`crate::models::load_project`]); rules that need them
    /// are skipped without.
    pub models: Option<crate::models::Models>,
}

/// Reads and parses every migration file of the project, in parallel.
///
/// A file reached twice (two version locations that overlap, a symlinked directory)
/// is read once, under the first of its paths: it is one migration, not a duplicate.
pub fn load_migrations(project: &Project) -> Vec<Migration> {
    load_migrations_cached(project, None, false)
}

/// [`load_migrations`], reusing the extractions cached in `cache_dir` for files
/// whose size, mtime and content hash are unchanged, and storing the new ones.
pub fn load_migrations_cached(
    project: &Project,
    cache_dir: Option<&Path>,
    verbose: bool,
) -> Vec<Migration> {
    load_migrations_with(project, cache_dir, verbose, &QuerySet::default())
}

/// [`load_migrations_cached`], running the enabled query rules on each parsed
/// file (their matches are cached with it, under the set's fingerprint).
pub fn load_migrations_with(
    project: &Project,
    cache_dir: Option<&Path>,
    verbose: bool,
    queries: &QuerySet,
) -> Vec<Migration> {
    // `Project::files` is already deduplicated by real path (discovery and
    // `Project::for_files` both do it), so a file is parsed once.
    let files: Vec<&PathBuf> = project.files.iter().collect();
    let stdin_path = project.stdin.as_ref().map(|(p, _)| p);
    let mut cache = cache_dir.map(|d| {
        Cache::open_for(
            d,
            &project.root,
            &project.version_locations,
            queries.fingerprint(),
            verbose,
        )
    });
    // The on-disk file's entry stays valid while its buffer is linted from stdin.
    let carried = match (&mut cache, stdin_path) {
        (Some(c), Some(p)) => c.take(p),
        _ => None,
    };
    let jobs: Vec<(&PathBuf, Option<CachedEntry>)> = files
        .iter()
        .map(|&p| (p, cache.as_mut().and_then(|c| c.take(p))))
        .collect();
    let caching = cache.is_some();
    let mut loaded: Vec<LoadedFile> = jobs
        .into_par_iter()
        .map(|(path, entry)| match &project.stdin {
            Some((stdin_path, text)) if stdin_path == path => LoadedFile {
                migration: migration::parse_source_with(
                    path.clone(),
                    text.clone().into_bytes(),
                    Some(queries),
                ),
                key: None,
                hit: false,
            },
            _ if caching => load_file(path, entry, queries),
            _ => LoadedFile {
                migration: match std::fs::read(path) {
                    Ok(bytes) => migration::parse_source_with(path.clone(), bytes, Some(queries)),
                    Err(err) => migration::unreadable(path, &err),
                },
                key: None,
                hit: false,
            },
        })
        .collect();
    loaded.sort_by(|a, b| a.migration.path.cmp(&b.migration.path));
    if let Some(cache) = &cache {
        let mut keep: Vec<(&Migration, Key)> = loaded
            .iter()
            .filter_map(|l| Some((&l.migration, l.key?)))
            .collect();
        keep.extend(carried.as_ref().map(|e| (e.migration(), e.key())));
        let reused = loaded.iter().filter(|l| l.hit).count() + usize::from(carried.is_some());
        cache.store(&keep, reused);
    }
    loaded.into_iter().map(|l| l.migration).collect()
}

/// A file as loaded: its migration, the cache key when it may be stored, and
/// whether it came from the cache.
struct LoadedFile {
    migration: Migration,
    key: Option<Key>,
    hit: bool,
}

/// Reads `path`; reuses `entry` when its key matches, else parses. A file that
/// cannot be read is never stored.
fn load_file(path: &Path, entry: Option<CachedEntry>, queries: &QuerySet) -> LoadedFile {
    let uncached = |migration| LoadedFile {
        migration,
        key: None,
        hit: false,
    };
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(_) => return uncached(migration::parse_file(path)),
    };
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) => return uncached(migration::unreadable(path, &err)),
    };
    let key = Key::new(&meta, &bytes);
    let bytes = match entry {
        Some(entry) => match entry.check(path, key, bytes) {
            Ok(migration) => {
                return LoadedFile {
                    migration,
                    key: Some(key),
                    hit: true,
                };
            }
            Err(bytes) => bytes,
        },
        None => bytes,
    };
    LoadedFile {
        migration: migration::parse_source_with(path.to_path_buf(), bytes, Some(queries)),
        key: Some(key),
        hit: false,
    }
}

pub fn check(project: &Project, registry: &Registry, opts: &CheckOptions) -> Report {
    // A project with its own query rules resolved its settings against its registry.
    let registry = project.registry.as_ref().unwrap_or(registry);
    let queries = QuerySet::enabled(registry, &project.settings);
    let migrations = load_migrations_with(project, opts.cache.as_deref(), opts.verbose, &queries);
    let graph = RevisionGraph::build(&migrations);
    let db = opts.database.as_ref();
    let ctx = Context {
        migrations: &migrations,
        graph: &graph,
        snapshot: db.map(|d| &d.snapshot),
        database_origin: db.and_then(|d| d.origin.as_ref()).map(|(loc, _)| loc),
        models: opts.models.as_ref(),
        ignore_tables: &project.models.ignore_tables,
    };
    let mut available = vec![Input::Migrations];
    if db.is_some() {
        available.push(Input::Database);
    }
    if opts.models.is_some() {
        available.push(Input::Models);
    }

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
        database: db.map(|d| d.label.clone()),
        current_revisions: db.map(|d| d.snapshot.version_revisions().to_vec()),
        pending: ctx.pending().map(|p| p.len()),
        tables: db.map(|d| d.snapshot.table_names()),
        model_files: opts.models.as_ref().map(|m| m.files.clone()),
        model_tables: opts.models.as_ref().map(|m| {
            let mut t: Vec<String> = m.schema.tables.iter().map(|t| t.name.to_string()).collect();
            t.sort();
            t
        }),
    };
    let mut sources: HashMap<PathBuf, Arc<crate::source::SourceFile>> = migrations
        .iter()
        .map(|m| (m.path.clone(), Arc::clone(&m.source)))
        .collect();
    for src in opts.models.iter().flat_map(|m| &m.sources) {
        sources
            .entry(src.path.clone())
            .or_insert_with(|| Arc::clone(src));
    }
    if let Some((loc, src)) = db.and_then(|d| d.origin.as_ref()) {
        sources
            .entry(loc.path.clone())
            .or_insert_with(|| Arc::clone(src));
    }
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

/// Whether `f` is MV012's finding about the suppression `s` itself.
fn about_itself(
    registry: &Registry,
    ri: usize,
    f: &Finding,
    s: &crate::suppression::Suppression,
) -> bool {
    registry.get(ri).meta().code == "MV012"
        && f.location
            .span
            .is_some_and(|fs| s.span.start <= fs.start && fs.end <= s.span.end)
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
            // A bare `ignore` does not silence MV012's report that it is unused.
            if about_itself(registry, ri, f, s) {
                continue;
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unused_bare_ignore_does_not_silence_its_own_report() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("a1.py");
        std::fs::write(
            &file,
            "revision = 'a1'\ndown_revision = None\ndef upgrade():  # migverify: ignore\n    op.f()\ndef downgrade():\n    op.g()\n",
        )
        .unwrap();
        let registry = Registry::builtin();
        let mut settings = crate::config::Settings::recommended(&registry);
        settings.enabled = (0..registry.len())
            .map(|i| (i, registry.get(i).meta().severity))
            .collect();
        let project = Project::for_files(
            tmp.path().to_path_buf(),
            vec![tmp.path().to_path_buf()],
            vec![file],
            settings,
        );
        let report = check(
            &project,
            &registry,
            &CheckOptions {
                verbose: false,
                cwd: tmp.path().to_path_buf(),
                cache: None,
                database: None,
                models: None,
            },
        );
        let codes: Vec<(&str, usize)> = report
            .diagnostics
            .iter()
            .map(|d| (d.code.as_str(), d.location.span.unwrap().start_line))
            .collect();
        assert_eq!(codes, [("MV012", 3)]);
    }

    #[cfg(unix)]
    #[test]
    fn a_file_reached_through_a_symlinked_location_is_read_once() {
        let tmp = tempfile::tempdir().unwrap();
        let versions = tmp.path().join("versions");
        std::fs::create_dir(&versions).unwrap();
        std::fs::write(
            versions.join("a1.py"),
            "revision = 'a1'\ndown_revision = None\ndef upgrade():\n    op.f()\ndef downgrade():\n    op.g()\n",
        )
        .unwrap();
        let more = tmp.path().join("more");
        std::os::unix::fs::symlink(&versions, &more).unwrap();
        let registry = Registry::builtin();
        let project = Project::for_files(
            tmp.path().to_path_buf(),
            vec![versions.clone(), more.clone()],
            vec![more.join("a1.py"), versions.join("a1.py")],
            crate::config::Settings::recommended(&registry),
        );
        let report = check(
            &project,
            &registry,
            &CheckOptions {
                verbose: false,
                cwd: tmp.path().to_path_buf(),
                cache: None,
                database: None,
                models: None,
            },
        );
        assert_eq!(report.summary.files, 1);
        assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
    }
}
