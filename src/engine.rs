//! The check pipeline: read and parse files in parallel, build the graph, run the
//! enabled rules, apply suppressions and per-file ignores, and build a [`Report`].

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use std::borrow::Cow;

use xxhash_rust::xxh3::xxh3_128;

use crate::cache::{self, Cache, OpsBlob, Stat, Stored};
use crate::db::resolve::Loaded;
use crate::diagnostic::{Diagnostic, Finding};
use crate::graph::RevisionGraph;
use crate::migration::{self, Migration};
use crate::project::Project;
use crate::report::{NotChecked, Report, RuleRun, SkippedRule, Status, Summary};
use crate::rules::mv012_unused_suppression::{self, SuppressionUse};
use crate::rules::query::QuerySet;
use crate::rules::{Context, Input, Registry};
use crate::source::SourceFile;

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

/// Reads and parses every migration file of the project, in parallel, keeping
/// each file's source text and `ops`.
///
/// A file reached twice (two version locations that overlap, a symlinked directory)
/// is read once, under the first of its paths: it is one migration, not a duplicate.
pub fn load_migrations(project: &Project) -> Vec<Migration> {
    load(project, None, false, Keep::ALL, &QuerySet::default()).migrations
}

/// [`load_migrations`], reusing the extractions cached in `cache_dir` for
/// unchanged files ([`crate::cache`]) and storing the new ones.
pub fn load_migrations_cached(
    project: &Project,
    cache_dir: Option<&Path>,
    verbose: bool,
) -> Vec<Migration> {
    load(project, cache_dir, verbose, Keep::ALL, &QuerySet::default()).migrations
}

/// What a load keeps of each file beyond the cached model.
#[derive(Clone, Copy, Debug)]
pub struct Keep {
    /// `Migration::ops` (else left empty).
    pub ops: bool,
    /// `Migration::source` (else [`SourceFile::empty`]; `--stdin-filename`
    /// content is always kept, it cannot be read again).
    pub sources: bool,
}

impl Keep {
    pub const ALL: Keep = Keep {
        ops: true,
        sources: true,
    };
}

/// The migrations of a project and, for each, the xxh3-128 hash of the bytes it
/// was extracted from (`None` for unreadable files and standard input), so the
/// source text can be read again and checked.
pub struct LoadedMigrations {
    pub migrations: Vec<Migration>,
    pub hashes: Vec<Option<u128>>,
}

/// Loads every migration file, in parallel; see [`crate::cache`] for how cached
/// entries are validated. `queries` (the enabled query rules) run on each parsed
/// file; their matches are cached with it, under the set's fingerprint.
pub fn load(
    project: &Project,
    cache_dir: Option<&Path>,
    verbose: bool,
    keep: Keep,
    queries: &QuerySet,
) -> LoadedMigrations {
    load_with(project, cache_dir, verbose, keep, queries, &Buffers::new())
}

/// Unsaved editor buffers: a file's text to check instead of what is on disk
/// (the language server's open documents), by path as [`Project::files`] spells it.
pub type Buffers = HashMap<PathBuf, String>;

/// [`load`], reading the files `buffers` holds from there (their sources are kept,
/// as standard input's are). Their cache entries stay as the disk content left them.
fn load_with(
    project: &Project,
    cache_dir: Option<&Path>,
    verbose: bool,
    keep: Keep,
    queries: &QuerySet,
    buffers: &Buffers,
) -> LoadedMigrations {
    let mut loaded = load_unresolved(project, cache_dir, verbose, keep, queries, buffers);
    // Values that are not literals, resolved at every run (never cached: a helper
    // module may change while no migration does).
    resolve(project, &mut loaded.migrations);
    loaded
}

/// Resolves the values that are not literals (`migration::resolve`), reading the
/// project's helper modules.
fn resolve(project: &Project, migrations: &mut [Migration]) {
    migration::resolve::resolve_with(migrations, || project.python_path(), &project.root);
}

/// [`load_with`] without resolving the values that are not literals.
fn load_unresolved(
    project: &Project,
    cache_dir: Option<&Path>,
    verbose: bool,
    keep: Keep,
    queries: &QuerySet,
    buffers: &Buffers,
) -> LoadedMigrations {
    // `Project::files` is already deduplicated by real path (discovery and
    // `Project::for_files` both do it) and sorted, so a file is parsed once.
    let cache = cache_dir.map(|d| {
        Cache::open_for(
            d,
            &project.root,
            &project.version_locations,
            queries.fingerprint(),
            verbose,
        )
    });
    // Taken before any file is read: see `cache::Entry::trusted`.
    let now = cache::now_ns();
    let limit = project.migrations.max_file_size();
    let mut loaded: Vec<LoadedFile> = project
        .files
        .par_iter()
        .enumerate()
        .map(|(i, path)| match (&project.stdin, &cache) {
            (Some((stdin_path, text)), _) if stdin_path == path => {
                if text.len() as u64 > limit {
                    let err = crate::bounded::too_large(Some(text.len() as u64), limit, MIGRATION);
                    let m = migration::unreadable(path, &err);
                    return LoadedFile::plain(m, None);
                }
                let m = extract(path.clone(), text.clone().into_bytes(), keep, queries);
                LoadedFile::plain(
                    strip(
                        m,
                        Keep {
                            sources: true,
                            ..keep
                        },
                    ),
                    None,
                )
            }
            _ if buffers.contains_key(path) => {
                let text = &buffers[path];
                let m = extract(path.clone(), text.clone().into_bytes(), keep, queries);
                LoadedFile::plain(
                    strip(
                        m,
                        Keep {
                            sources: true,
                            ..keep
                        },
                    ),
                    None,
                )
            }
            (_, Some(cache)) => load_cached(
                path,
                cache.lookup(path, i),
                cache,
                now,
                keep,
                queries,
                limit,
            ),
            (_, None) => load_plain(path, keep, queries, limit),
        })
        .collect();
    // Rules and the graph rely on path order; `Project::files` is sorted by
    // discovery, but a library user may build a `Project` by hand.
    if !loaded.is_sorted_by(|a, b| a.migration.path <= b.migration.path) {
        loaded.sort_by(|a, b| a.migration.path.cmp(&b.migration.path));
    }
    let mut migrations = Vec::with_capacity(loaded.len());
    let mut hashes = Vec::with_capacity(loaded.len());
    let mut stored = Vec::new();
    let mut changed = false;
    for l in loaded {
        migrations.push(l.migration);
        hashes.push(l.hash);
        changed |= l.fresh;
        stored.extend(l.stored);
    }
    if let Some(cache) = &cache {
        // The on-disk file's entry stays valid while its buffer is linted from stdin.
        let carried = project
            .stdin
            .iter()
            .map(|(p, _)| p)
            .chain(buffers.keys().filter(|p| project.files.contains(p)))
            .filter_map(|p| {
                let hint = project.files.iter().position(|f| f == p).unwrap_or(0);
                cache.lookup(p, hint)
            })
            .map(|i| cache.stored(i, None));
        stored.extend(carried);
        cache.store(&stored, changed);
    }
    LoadedMigrations { migrations, hashes }
}

/// A file as loaded: its migration, the hash of its bytes, what to store in the
/// cache for it, and whether that differs from what the cache held.
struct LoadedFile<'c> {
    migration: Migration,
    hash: Option<u128>,
    stored: Option<Stored<'c>>,
    fresh: bool,
}

impl LoadedFile<'_> {
    fn plain(migration: Migration, hash: Option<u128>) -> Self {
        LoadedFile {
            migration,
            hash,
            stored: None,
            fresh: false,
        }
    }
}

/// Drops what `keep` does not keep.
fn strip(mut m: Migration, keep: Keep) -> Migration {
    if !keep.ops {
        m.ops = Vec::new();
    }
    if !keep.sources {
        m.source = SourceFile::empty();
    }
    m
}

/// Extracts a migration, with its `ops` only when `keep` keeps them, running the
/// query rules.
fn extract(path: PathBuf, bytes: Vec<u8>, keep: Keep, queries: &QuerySet) -> Migration {
    migration::parse_source_for(path, bytes, keep.ops, Some(queries))
}

/// What the per-file limit is called in its error.
const MIGRATION: &str = "a migration file (`[migrations] max_file_size`)";

/// Reads and parses `path`, without the cache.
fn load_plain(path: &Path, keep: Keep, queries: &QuerySet, limit: u64) -> LoadedFile<'static> {
    match crate::bounded::read(path, limit, MIGRATION) {
        Ok(bytes) => {
            let hash = xxh3_128(&bytes);
            let m = extract(path.to_path_buf(), bytes, keep, queries);
            LoadedFile::plain(strip(m, keep), Some(hash))
        }
        Err(err) => LoadedFile::plain(migration::unreadable(path, &err), None),
    }
}

/// Loads `path` from its cache entry when its stamps prove it unchanged (no
/// read), else reads it and uses the entry when the content hash matches, else
/// parses it. A file that cannot be read is never stored.
fn load_cached<'c>(
    path: &Path,
    entry: Option<usize>,
    cache: &'c Cache,
    now: i128,
    keep: Keep,
    queries: &QuerySet,
    limit: u64,
) -> LoadedFile<'c> {
    let Ok(meta) = std::fs::metadata(path) else {
        return load_plain(path, keep, queries, limit);
    };
    // Not a regular file, or over the limit (which may have changed since the entry
    // was stored): refused as the plain read refuses it, never from the cache.
    if !meta.is_file() || meta.len() > limit {
        return load_plain(path, keep, queries, limit);
    }
    let stat = Stat::new(&meta);
    if let Some(i) = entry {
        let e = cache.entry(i);
        if e.stat == stat
            && e.trusted()
            && let Some(m) = cache.migration(i, path, keep.ops)
        {
            return LoadedFile {
                migration: m,
                hash: Some(e.hash),
                stored: Some(cache.stored(i, None)),
                fresh: false,
            };
        }
    }
    let bytes = match crate::bounded::read(path, limit, MIGRATION) {
        Ok(bytes) => bytes,
        Err(err) => return LoadedFile::plain(migration::unreadable(path, &err), None),
    };
    let hash = xxh3_128(&bytes);
    if let Some(i) = entry
        && cache.entry(i).hash == hash
        && let Some(mut m) = cache.migration(i, path, keep.ops)
    {
        if keep.sources {
            m.source = Arc::new(SourceFile::from_bytes(path.to_path_buf(), bytes));
        }
        // Worth writing when the stamps changed (a touch) or when they now prove
        // the file unchanged on the next run (it was racy and no longer is).
        let e = cache.entry(i);
        let fresh = e.stat != stat
            || (!e.trusted() && stat.mtime_ns.max(stat.ctime_ns) + cache::RACY_NS < now);
        return LoadedFile {
            migration: m,
            hash: Some(hash),
            stored: Some(cache.stored(i, Some((stat, now)))),
            fresh,
        };
    }
    let m = extract(path.to_path_buf(), bytes, keep, queries);
    let core = cache::encode_core(&m);
    let ops = if keep.ops {
        OpsBlob::New(cache::encode_ops(&m))
    } else {
        OpsBlob::Missing
    };
    LoadedFile {
        migration: strip(m, keep),
        hash: Some(hash),
        stored: Some(Stored {
            path: path.to_path_buf(),
            stat,
            hash,
            checked_ns: now,
            core: Cow::Owned(core),
            ops,
        }),
        fresh: true,
    }
}

/// The source text of the files diagnostics point into: kept in memory (standard
/// input), else read again and used when its hash is the one extracted from.
fn sources_for(
    diagnostics: &[Diagnostic],
    migrations: &[Migration],
    hashes: &[Option<u128>],
    by_path: &HashMap<&PathBuf, usize>,
    limit: u64,
) -> HashMap<PathBuf, Arc<SourceFile>> {
    let mut wanted: Vec<usize> = diagnostics
        .iter()
        .flat_map(|d| {
            std::iter::once(&d.location.path).chain(d.related.iter().map(|r| &r.location.path))
        })
        .filter_map(|p| by_path.get(p).copied())
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let empty = SourceFile::empty();
    wanted
        .into_par_iter()
        .filter_map(|mi| {
            let m = &migrations[mi];
            if !Arc::ptr_eq(&m.source, &empty) {
                return Some((m.path.clone(), Arc::clone(&m.source)));
            }
            let bytes = crate::bounded::read(&m.path, limit, MIGRATION).ok()?;
            (hashes[mi]? == xxh3_128(&bytes)).then(|| {
                (
                    m.path.clone(),
                    Arc::new(SourceFile::from_bytes(m.path.clone(), bytes)),
                )
            })
        })
        .collect()
}

/// The dialect the project's database URL names (config, else `alembic.ini`), for
/// the drift rules' dialect-specific choices when no database is read (MV203: SQLite
/// keeps no comments).
fn project_dialect(project: &Project) -> Option<crate::db::snapshot::Dialect> {
    let url = project
        .database
        .url
        .as_ref()
        .map(|u| u.get_ref().clone())
        .or_else(|| project.alembic.as_ref()?.sqlalchemy_url.clone())?;
    let scheme = url.split_once("://")?.0.to_string();
    crate::db::url::dialect_of(&scheme)
}

pub fn check(project: &Project, registry: &Registry, opts: &CheckOptions) -> Report {
    check_buffers(project, registry, opts, &Buffers::new())
}

/// [`check`] with some files' text taken from `buffers` instead of the disk (the
/// language server's unsaved documents); every other file comes from the disk and
/// the cache, so graph rules see the buffers among the whole project.
pub fn check_buffers(
    project: &Project,
    registry: &Registry,
    opts: &CheckOptions,
    buffers: &Buffers,
) -> Report {
    // A project with its own query rules resolved its settings against its registry.
    let registry = project.registry.as_ref().unwrap_or(registry);
    let plan = Plan::new(project, registry, opts);
    let LoadedMigrations { migrations, hashes } = load_with(
        project,
        opts.cache.as_deref(),
        opts.verbose,
        plan.keep,
        &plan.queries,
        buffers,
    );
    let report = check_loaded(
        project,
        registry,
        opts,
        &plan,
        buffers,
        &migrations,
        &hashes,
    );
    // Freeing 10,000 migrations' argument trees is millions of `free`s: on all cores.
    migrations.into_par_iter().for_each(drop);
    report
}

/// What a check reads and runs, decided by the inputs there are and the rules
/// enabled.
struct Plan {
    /// The inputs the rules may read (a rule needing another one is skipped).
    available: Vec<Input>,
    keep: Keep,
    /// The enabled query rules.
    queries: QuerySet,
}

impl Plan {
    fn new(project: &Project, registry: &Registry, opts: &CheckOptions) -> Plan {
        let mut available = vec![Input::Migrations];
        if opts.database.is_some() {
            available.push(Input::Database);
        }
        if opts.models.is_some() {
            available.push(Input::Models);
        }
        let keep = Keep {
            ops: project.settings.enabled.iter().any(|&(ri, _)| {
                let rule = registry.get(ri);
                rule.meta().inputs.iter().all(|i| available.contains(i)) && rule.reads_ops()
            }),
            sources: false,
        };
        let queries = QuerySet::enabled(registry, &project.settings.enabled);
        Plan {
            available,
            keep,
            queries,
        }
    }
}

/// The disk's migrations kept in memory between checks (the language server):
/// read once from the disk and the cache, then only the files said to have changed
/// ([`KeptMigrations::changed`]) are read again, and the buffers are parsed on
/// every check. Kept as extracted, before the values that are not literals are
/// resolved: those are resolved at every check, as [`check`] does.
#[derive(Default)]
pub struct KeptMigrations {
    /// In [`Project::files`] order.
    migrations: Vec<Migration>,
    hashes: Vec<Option<u128>>,
    /// What they were loaded with: `Keep::ops` and the query rules' fingerprint.
    ops: bool,
    fingerprint: u64,
    /// Files to read again before the next check.
    changed: HashSet<PathBuf>,
}

impl KeptMigrations {
    /// The file at `path` changed on disk: read again by the next check.
    pub fn changed(&mut self, path: &Path) {
        self.changed.insert(path.to_path_buf());
    }

    /// Whether the migrations were loaded for `project` and `plan`.
    fn fits(&self, project: &Project, plan: &Plan) -> bool {
        self.ops == plan.keep.ops
            && self.fingerprint == plan.queries.fingerprint()
            && self.migrations.len() == project.files.len()
            && project.files.iter().all(|f| self.index(f).is_some())
    }

    /// Where the migration of `path` is (they are sorted by path, as loaded).
    fn index(&self, path: &Path) -> Option<usize> {
        self.migrations
            .binary_search_by(|m| m.path.as_path().cmp(path))
            .ok()
    }

    /// Loads everything when what is kept does not fit, else reads the changed
    /// files again.
    fn refresh(&mut self, project: &Project, opts: &CheckOptions, plan: &Plan) {
        if !self.fits(project, plan) {
            let loaded = load_unresolved(
                project,
                opts.cache.as_deref(),
                opts.verbose,
                plan.keep,
                &plan.queries,
                &Buffers::new(),
            );
            *self = KeptMigrations {
                migrations: loaded.migrations,
                hashes: loaded.hashes,
                ops: plan.keep.ops,
                fingerprint: plan.queries.fingerprint(),
                changed: HashSet::new(),
            };
            return;
        }
        let limit = project.migrations.max_file_size();
        let changed: Vec<(usize, PathBuf)> = std::mem::take(&mut self.changed)
            .into_iter()
            .filter(|p| !is_stdin(project, p))
            .filter_map(|p| Some((self.index(&p)?, p)))
            .collect();
        let fresh: Vec<(usize, LoadedFile)> = changed
            .into_par_iter()
            .map(|(i, path)| (i, load_plain(&path, plan.keep, &plan.queries, limit)))
            .collect();
        for (i, l) in fresh {
            self.migrations[i] = l.migration;
            self.hashes[i] = l.hash;
        }
    }
}

/// Whether `path` is the file whose content came from standard input.
fn is_stdin(project: &Project, path: &Path) -> bool {
    project.stdin.as_ref().is_some_and(|(p, _)| p == path)
}

/// [`check_buffers`] with the disk's migrations kept in `kept` between calls: the
/// same report for the same text on disk and in the buffers, without reading the
/// unchanged files (or their cache entries) again. The files that changed on disk
/// must be told to `kept` ([`KeptMigrations::changed`]).
pub fn check_buffers_kept(
    project: &Project,
    registry: &Registry,
    opts: &CheckOptions,
    buffers: &Buffers,
    kept: &mut KeptMigrations,
) -> Report {
    let registry = project.registry.as_ref().unwrap_or(registry);
    let plan = Plan::new(project, registry, opts);
    kept.refresh(project, opts, &plan);
    // The buffers in place of their files (their sources kept, as `load_with`
    // keeps them), for this check only.
    let parsed: Vec<(usize, Migration)> = buffers
        .par_iter()
        .filter_map(|(path, text)| {
            let i = kept.index(path).filter(|_| !is_stdin(project, path))?;
            let m = extract(
                path.clone(),
                text.clone().into_bytes(),
                plan.keep,
                &plan.queries,
            );
            let keep = Keep {
                sources: true,
                ..plan.keep
            };
            Some((i, strip(m, keep)))
        })
        .collect();
    let mut disk: Vec<(usize, Migration, Option<u128>)> = Vec::with_capacity(parsed.len());
    for (i, m) in parsed {
        let old = std::mem::replace(&mut kept.migrations[i], m);
        let hash = kept.hashes[i].take();
        disk.push((i, old, hash));
    }
    // Resolution sets what it resolves: those few migrations are put back as
    // extracted afterwards.
    let unresolved: Vec<(usize, Extracted)> = kept
        .migrations
        .iter()
        .enumerate()
        .filter(|(_, m)| !m.computed.is_empty())
        .map(|(i, m)| (i, Extracted::of(m)))
        .collect();
    resolve(project, &mut kept.migrations);
    let report = check_loaded(
        project,
        registry,
        opts,
        &plan,
        buffers,
        &kept.migrations,
        &kept.hashes,
    );
    for (i, e) in unresolved {
        e.put_back(&mut kept.migrations[i]);
    }
    // The sources read for the diagnostics (checked against the hash extracted
    // from) are kept with their files: a problem that marks most files (a cycle)
    // does not read them all again on every check.
    for (path, src) in &report.sources {
        if let Some(i) = kept.index(path)
            && kept.hashes[i].is_some()
            && Arc::ptr_eq(&kept.migrations[i].source, &SourceFile::empty())
        {
            kept.migrations[i].source = Arc::clone(src);
        }
    }
    for (i, m, hash) in disk {
        kept.migrations[i] = m;
        kept.hashes[i] = hash;
    }
    report
}

/// What resolving the values that are not literals sets in a migration
/// (`migration::resolve`), as extracted.
struct Extracted {
    revision: Option<migration::Spanned<String>>,
    down_revision: Option<migration::RevisionList>,
    branch_labels: Option<migration::RevisionList>,
    depends_on: Option<migration::RevisionList>,
    /// Resolution only adds to these.
    unresolved: usize,
    problems: usize,
}

impl Extracted {
    fn of(m: &Migration) -> Extracted {
        Extracted {
            revision: m.revision.clone(),
            down_revision: m.down_revision.clone(),
            branch_labels: m.branch_labels.clone(),
            depends_on: m.depends_on.clone(),
            unresolved: m.unresolved.len(),
            problems: m.problems.len(),
        }
    }

    fn put_back(self, m: &mut Migration) {
        m.revision = self.revision;
        m.down_revision = self.down_revision;
        m.branch_labels = self.branch_labels;
        m.depends_on = self.depends_on;
        m.unresolved.truncate(self.unresolved);
        m.problems.truncate(self.problems);
    }
}

/// The check of loaded (and resolved) migrations: the graph, the rules,
/// suppressions and per-file ignores, the report.
fn check_loaded(
    project: &Project,
    registry: &Registry,
    opts: &CheckOptions,
    plan: &Plan,
    buffers: &Buffers,
    migrations: &[Migration],
    hashes: &[Option<u128>],
) -> Report {
    let db = opts.database.as_ref();
    let available = &plan.available;
    let graph = RevisionGraph::build(migrations);
    let ctx = Context {
        migrations,
        graph: &graph,
        snapshot: db.map(|d| &d.snapshot),
        database_origin: db.and_then(|d| d.origin.as_ref()).map(|(loc, _)| loc),
        models: opts.models.as_ref(),
        ignore_tables: &project.models.ignore_tables,
        drift: crate::schema::objects::DriftOptions {
            compare_server_default: project.models.compare_server_default,
            dialect: db
                .map(|d| d.snapshot.dialect)
                .or_else(|| project_dialect(project)),
        },
    };

    let mut rules = Vec::new();
    let mut skipped = Vec::new();
    let mut not_checked = Vec::new();
    let mut raw: Vec<(usize, Finding)> = Vec::new();
    // Rules with a fix that found something: (rule, first finding, how many).
    let mut fixable: Vec<(usize, usize, usize)> = Vec::new();
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
        let mut notes = Vec::new();
        if opts.verbose {
            rule.check_with_notes(&ctx, &mut out, &mut notes);
        } else {
            rule.check(&ctx, &mut out);
        }
        if rule.fix_title().is_some() && !out.is_empty() {
            fixable.push((ri, raw.len(), out.len()));
        }
        raw.extend(out.into_iter().map(|f| (ri, f)));
        not_checked.extend(notes.into_iter().map(|n| NotChecked {
            code: meta.code.to_string(),
            line: n.location.span.map(|s| s.start_line),
            path: n.location.path,
            reason: n.message,
        }));
    }
    attach_fixes(
        project,
        registry,
        opts,
        buffers,
        &plan.queries,
        plan.keep,
        &ctx,
        &fixable,
        &mut raw,
    );

    // The safety pack (MV3xx) on history that cannot change: with a database whose
    // version table is known, only the migrations it has not applied are reported
    // (`[rules] safety-scope = "pending"`, the default).
    if project.settings.safety_scope == crate::config::schema::SafetyScope::Pending
        && let Some(pending) = ctx.pending()
    {
        let pending: HashSet<&PathBuf> = pending
            .iter()
            .map(|&n| &migrations[graph.nodes[n].migration].path)
            .collect();
        raw.retain(|(ri, f)| {
            let meta = registry.get(*ri).meta();
            !is_safety_rule(meta) || pending.contains(&f.location.path)
        });
    }

    // Built only when there is a finding to place.
    let by_path_cell: std::cell::OnceCell<HashMap<&PathBuf, usize>> = std::cell::OnceCell::new();
    let by_path = || {
        by_path_cell.get_or_init(|| {
            migrations
                .iter()
                .enumerate()
                .map(|(i, m)| (&m.path, i))
                .collect()
        })
    };
    let mut used: HashSet<SuppressionUse> = HashSet::new();
    let mut indexes: HashMap<usize, SuppressionIndex> = HashMap::new();
    let severity_of: HashMap<usize, _> = project.settings.enabled.iter().copied().collect();
    let mut diagnostics = Vec::new();
    let mut keep = |ri: usize, f: Finding, used: &mut HashSet<SuppressionUse>| {
        if ignored_by_config(project, ri, &f) {
            return;
        }
        if let Some(&mi) = by_path().get(&f.location.path)
            && suppressed(
                &migrations[mi],
                indexes
                    .entry(mi)
                    .or_insert_with(|| SuppressionIndex::new(&migrations[mi])),
                mi,
                registry,
                ri,
                &f,
                used,
            )
        {
            return;
        }
        if model_suppressed(opts.models.as_ref(), registry, ri, &f) {
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
            fix: f.fix,
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
        for f in mv012_unused_suppression::unused(migrations, &used, registry, &enabled) {
            keep(ri, f, &mut used);
        }
    }

    if let Some(only) = &project.only {
        let only: HashSet<&PathBuf> = only.iter().collect();
        for d in &mut diagnostics {
            relocate_into(d, &only);
        }
        diagnostics.retain(|d| only.contains(&d.location.path));
    }
    for d in &mut diagnostics {
        d.bound_related();
    }
    diagnostics.sort_by_key(Diagnostic::order_key);

    let mut summary = Summary {
        files: migrations.len(),
        skipped_rules: skipped,
        not_checked,
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
        migration_messages: migrations.iter().map(|m| m.message.clone()).collect(),
        database: db.map(|d| d.label.clone()),
        database_source: db.and_then(|d| d.source.clone()),
        database_note: None,
        models_note: None,
        current_revisions: db.map(|d| d.snapshot.version_revisions().to_vec()),
        pending: ctx.pending().map(|p| {
            p.into_iter()
                .map(|n| {
                    let m = &migrations[graph.nodes[n].migration];
                    crate::report::PendingRevision {
                        revision: graph.revision(n).to_string(),
                        path: m.path.clone(),
                        message: m.message.clone(),
                    }
                })
                .collect()
        }),
        tables: db.map(|d| d.snapshot.table_names()),
        model_files: opts.models.as_ref().map(|m| m.files.clone()),
        model_tables: opts.models.as_ref().map(|m| {
            let mut t: Vec<String> = m.schema.tables.iter().map(|t| t.name.to_string()).collect();
            t.sort();
            t
        }),
        environments: Vec::new(),
    };
    let user_codes: Vec<String> = rules
        .iter()
        .map(|r| &r.meta)
        .filter(|m| matches!(m.source, crate::rules::RuleSource::User { .. }))
        .map(|m| m.code.to_string())
        .collect();
    let database_rule_selected = project.settings.enabled.iter().any(|&(ri, _)| {
        registry
            .get(ri)
            .meta()
            .inputs
            .contains(&crate::rules::Input::Database)
    });
    summary.checks = crate::checklist::build(
        &rules,
        &summary.skipped_rules,
        &diagnostics,
        &status,
        database_rule_selected,
        &user_codes,
    );
    let mut sources = if diagnostics.is_empty() {
        HashMap::new()
    } else {
        sources_for(
            &diagnostics,
            migrations,
            hashes,
            by_path(),
            project.migrations.max_file_size(),
        )
    };
    resolve_fixes(&mut diagnostics, &sources);
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

/// Lets each rule with a fix attach it to its findings (`fixable`: the rule, its
/// first finding in `raw`, how many). Fixes read `Migration::ops`: a run that did
/// not load them (none of its rules reads them) loads them now, only because a
/// fixable rule found something.
#[allow(clippy::too_many_arguments)]
fn attach_fixes(
    project: &Project,
    registry: &Registry,
    opts: &CheckOptions,
    buffers: &Buffers,
    queries: &QuerySet,
    keep: Keep,
    ctx: &Context<'_>,
    fixable: &[(usize, usize, usize)],
    raw: &mut [(usize, Finding)],
) {
    if fixable.is_empty() {
        return;
    }
    let reloaded;
    let graph;
    let with_ops;
    let ctx = if keep.ops {
        ctx
    } else {
        reloaded = load_with(
            project,
            opts.cache.as_deref(),
            false,
            Keep { ops: true, ..keep },
            queries,
            buffers,
        );
        graph = RevisionGraph::build(&reloaded.migrations);
        with_ops = Context {
            migrations: &reloaded.migrations,
            graph: &graph,
            ..*ctx
        };
        &with_ops
    };
    for &(ri, start, len) in fixable {
        let mut findings: Vec<Finding> = raw[start..start + len]
            .iter_mut()
            .map(|(_, f)| std::mem::replace(f, Finding::new("", None, "")))
            .collect();
        registry.get(ri).attach_fixes(ctx, &mut findings);
        for ((_, slot), f) in raw[start..start + len].iter_mut().zip(findings) {
            *slot = f;
        }
    }
}

/// Resolves each diagnostic's fix against its file's text (where it goes, the
/// file's quotes, indentation and line endings); a fix that does not fit the text
/// is dropped and the help says why.
fn resolve_fixes(diagnostics: &mut [Diagnostic], sources: &HashMap<PathBuf, Arc<SourceFile>>) {
    for d in diagnostics.iter_mut() {
        let Some(fix) = &mut d.fix else {
            continue;
        };
        let outcome = match sources.get(&d.location.path) {
            Some(src) => crate::fix::resolve(&fix.plan, src),
            None => Err("the file changed since it was read".to_string()),
        };
        match outcome {
            Ok(edits) => fix.edits = edits,
            Err(why) => {
                d.fix = None;
                let note = format!("no automatic fix: {why}");
                d.help = Some(match d.help.take() {
                    Some(h) => format!("{h}; {note}"),
                    None => note,
                });
            }
        }
    }
}

/// The built-in safety pack: migverify's own query rules MV3xx.
fn is_safety_rule(meta: &crate::rules::RuleMeta) -> bool {
    matches!(meta.source, crate::rules::RuleSource::Builtin) && meta.code.starts_with("MV3")
}

/// Rules whose one diagnostic per problem stands for every file in it (the files
/// declaring one revision id, one branch label, the unlabeled bases): linting one of
/// those files alone (`check FILE`, an editor's `--stdin-filename`) shows the
/// diagnostic there, located at that file's declaration.
const ONE_PER_PROBLEM: &[&str] = &["MV001", "MV010", "MV013"];

/// Moves `d` to its related location in `only` when its own location is not there.
fn relocate_into(d: &mut Diagnostic, only: &HashSet<&PathBuf>) {
    if only.contains(&d.location.path) || !ONE_PER_PROBLEM.contains(&d.code.as_str()) {
        return;
    }
    let Some(i) = d
        .related
        .iter()
        .position(|r| only.contains(&r.location.path))
    else {
        return;
    };
    let related = d.related.remove(i);
    let primary = std::mem::replace(&mut d.location, related.location);
    d.related.insert(
        0,
        crate::diagnostic::Related {
            location: primary,
            message: "also declared here".into(),
        },
    );
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

/// Whether a `# migverify: ignore[...]` comment in a model file silences `f`: on
/// the line it points at, on the line of the class around it, or file-level.
fn model_suppressed(
    models: Option<&crate::models::Models>,
    registry: &Registry,
    ri: usize,
    f: &Finding,
) -> bool {
    let Some(s) = models.and_then(|m| m.suppressions.get(&f.location.path)) else {
        return false;
    };
    s.rules_at(f.location.span.map(|s| s.start_line))
        .into_iter()
        .any(|rules| rules.is_empty() || rules.iter().any(|r| registry.find(r) == Some(ri)))
}

/// A file's suppressions by the line they apply to, so that matching a finding
/// looks at the suppressions that can apply to it only (60,000 findings against
/// 60,000 suppressions in one file must not be 3.6 billion comparisons).
struct SuppressionIndex {
    /// `ignore-file` suppressions.
    file_level: Vec<usize>,
    /// `(line, index)` of the others, sorted.
    by_line: Vec<(usize, usize)>,
    /// Whether the `ignore-file` suppressions silence a rule, once computed.
    file_level_hits: HashMap<usize, bool>,
}

impl SuppressionIndex {
    fn new(m: &Migration) -> Self {
        let mut file_level = Vec::new();
        let mut by_line = Vec::new();
        for (si, s) in m.suppressions.items.iter().enumerate() {
            if s.file_level {
                file_level.push(si);
            } else {
                by_line.push((s.line, si));
            }
        }
        by_line.sort_unstable();
        SuppressionIndex {
            file_level,
            by_line,
            file_level_hits: HashMap::new(),
        }
    }

    /// The suppressions that may apply to a finding at `line` in a function
    /// defined at `def_line`, in file order.
    fn candidates(
        &self,
        line: Option<usize>,
        def_line: Option<usize>,
        skip_file_level: bool,
    ) -> Vec<usize> {
        let at = |l: Option<usize>| {
            l.map_or(&[][..], |l| {
                let from = self.by_line.partition_point(|&(x, _)| x < l);
                let to = self.by_line.partition_point(|&(x, _)| x <= l);
                &self.by_line[from..to]
            })
        };
        let mut out: Vec<usize> = if skip_file_level {
            Vec::new()
        } else {
            self.file_level.clone()
        };
        out.extend(at(line).iter().map(|&(_, si)| si));
        if def_line != line {
            out.extend(at(def_line).iter().map(|&(_, si)| si));
        }
        out.sort_unstable();
        out
    }
}

/// Whether a suppression comment in the finding's file silences it; records which.
#[allow(clippy::too_many_arguments)]
fn suppressed(
    m: &Migration,
    index: &mut SuppressionIndex,
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
    // What the `ignore-file` suppressions do to a rule's findings is the same for
    // each of them (and recorded the first time), except for MV012's findings
    // about a suppression itself.
    let memo = registry.get(ri).meta().code != "MV012";
    let known = index.file_level_hits.get(&ri).copied().filter(|_| memo);
    let file_level_known = known.is_some();
    let mut hit = known == Some(true);
    let mut file_level_hit = false;
    for si in index.candidates(line, def_line, file_level_known) {
        let s = &m.suppressions.items[si];
        let this = suppression_applies(s, mi, si, registry, ri, f, used);
        if s.file_level {
            file_level_hit |= this;
        }
        hit |= this;
    }
    if memo && !file_level_known {
        index.file_level_hits.insert(ri, file_level_hit);
    }
    hit
}

/// Whether suppression `si` silences `f` (a rule of rule `ri`); records it in `used`.
fn suppression_applies(
    s: &crate::suppression::Suppression,
    mi: usize,
    si: usize,
    registry: &Registry,
    ri: usize,
    f: &Finding,
    used: &mut HashSet<SuppressionUse>,
) -> bool {
    if s.rules.is_empty() {
        // A bare `ignore` does not silence MV012's report that it is unused.
        if about_itself(registry, ri, f, s) {
            return false;
        }
        used.insert((mi, si, None));
        return true;
    }
    let mut hit = false;
    for (ei, entry) in s.rules.iter().enumerate() {
        if registry.find(&entry.value) == Some(ri) {
            used.insert((mi, si, Some(ei)));
            hit = true;
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

    #[test]
    fn ops_left_out_of_a_load_come_back_from_the_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let versions = tmp.path().join("versions");
        std::fs::create_dir(&versions).unwrap();
        for (i, down) in [(1, "None".to_string()), (2, "'a1'".to_string())] {
            std::fs::write(
                versions.join(format!("a{i}.py")),
                format!(
                    "revision = 'a{i}'\ndown_revision = {down}\nT = 'things'\n\ndef upgrade():\n    op.add_column(T, sa.Column('c', sa.String(length=3)), schema=None)\n    with op.batch_alter_table('t') as b:\n        b.drop_column('x')\n\ndef downgrade():\n    op.drop_column(T, 'c')\n"
                ),
            )
            .unwrap();
        }
        let registry = Registry::builtin();
        let files = vec![versions.join("a1.py"), versions.join("a2.py")];
        let project = Project::for_files(
            tmp.path().to_path_buf(),
            vec![versions.clone()],
            files,
            crate::config::Settings::recommended(&registry),
        );
        let cache = tmp.path().join("cache");
        let lean = Keep {
            ops: false,
            sources: false,
        };
        let reference = load_migrations(&project);
        assert_eq!(reference[0].ops.len(), 4);
        for keep in [lean, Keep::ALL, lean, Keep::ALL] {
            let loaded = load(&project, Some(&cache), false, keep, &QuerySet::default());
            for (m, r) in loaded.migrations.iter().zip(&reference) {
                assert_eq!(m.path, r.path);
                assert_eq!(m.revision, r.revision);
                assert_eq!(m.constants, r.constants);
                assert_eq!(m.suppressions, r.suppressions);
                if keep.ops {
                    assert_eq!(m.ops, r.ops);
                } else {
                    assert!(m.ops.is_empty());
                }
                assert_eq!(
                    m.source.text,
                    if keep.sources {
                        r.source.text.as_str()
                    } else {
                        ""
                    }
                );
            }
            assert_eq!(loaded.hashes.iter().flatten().count(), 2);
        }
        // A damaged ops section: the files needing ops are parsed again, and the
        // cache file is rewritten.
        let file = std::fs::read_dir(cache.join(env!("CARGO_PKG_VERSION")))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "bin"))
            .unwrap();
        let mut bytes = std::fs::read(&file).unwrap();
        let ops_at = 8 + 4 + 4 + env!("CARGO_PKG_VERSION").len() + 40;
        bytes[ops_at + 3] ^= 0xff;
        std::fs::write(&file, &bytes).unwrap();
        for keep in [lean, Keep::ALL, Keep::ALL] {
            let loaded = load(&project, Some(&cache), false, keep, &QuerySet::default());
            for (m, r) in loaded.migrations.iter().zip(&reference) {
                assert_eq!(m.ops.len(), if keep.ops { r.ops.len() } else { 0 });
                if keep.ops {
                    assert_eq!(m.ops, r.ops);
                }
            }
        }
        assert_ne!(std::fs::read(&file).unwrap(), bytes);
    }

    #[test]
    fn snippet_sources_are_read_again_only_while_unchanged() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("a1.py");
        let text = "revision = 'a1'\ndown_revision = None\ndef upgrade():\n    pass\n";
        std::fs::write(&file, text).unwrap();
        let registry = Registry::builtin();
        let project = Project::for_files(
            tmp.path().to_path_buf(),
            vec![tmp.path().to_path_buf()],
            vec![file.clone()],
            crate::config::Settings::recommended(&registry),
        );
        let lean = Keep {
            ops: false,
            sources: false,
        };
        let loaded = load(&project, None, false, lean, &QuerySet::default());
        assert!(loaded.migrations[0].source.text.is_empty());
        let f = Finding::new(&file, None, "x");
        let d = Diagnostic {
            code: "MV000".into(),
            name: "x".into(),
            severity: crate::diagnostic::Severity::Error,
            message: f.message,
            location: f.location,
            related: Vec::new(),
            help: None,
            fix: None,
        };
        let by_path: HashMap<&PathBuf, usize> = [(&loaded.migrations[0].path, 0)].into();
        let sources = sources_for(
            std::slice::from_ref(&d),
            &loaded.migrations,
            &loaded.hashes,
            &by_path,
            crate::bounded::DEFAULT_SOURCE_LIMIT,
        );
        assert_eq!(sources[&file].text, text);
        // Edited since it was linted: no snippet rather than a wrong one.
        std::fs::write(&file, text.replace("pass", "op.x()")).unwrap();
        let sources = sources_for(
            &[d],
            &loaded.migrations,
            &loaded.hashes,
            &by_path,
            crate::bounded::DEFAULT_SOURCE_LIMIT,
        );
        assert!(sources.is_empty());
    }

    #[test]
    fn buffers_replace_their_files_among_the_others_and_leave_the_cache_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let mig = |rev: &str, down: &str| {
            format!(
                "revision = '{rev}'\ndown_revision = {down}\ndef upgrade():\n    op.f()\ndef downgrade():\n    op.g()\n"
            )
        };
        let (a1, a2) = (tmp.path().join("a1.py"), tmp.path().join("a2.py"));
        std::fs::write(&a1, mig("a1", "None")).unwrap();
        std::fs::write(&a2, mig("a2", "'a1'")).unwrap();
        let registry = Registry::builtin();
        let project = Project::for_files(
            tmp.path().to_path_buf(),
            vec![tmp.path().to_path_buf()],
            vec![a1.clone(), a2.clone()],
            crate::config::Settings::recommended(&registry),
        );
        let opts = CheckOptions {
            verbose: false,
            cwd: tmp.path().to_path_buf(),
            cache: Some(tmp.path().join("cache")),
            database: None,
            models: None,
        };
        assert!(check(&project, &registry, &opts).diagnostics.is_empty());
        // The unsaved buffer of a2 declares a1 again: both files are marked, and
        // the diagnostic in the buffer comes with the buffer's text.
        let buffers: Buffers = [(a2.clone(), mig("a1", "None"))].into();
        let report = check_buffers(&project, &registry, &opts, &buffers);
        // One problem, one diagnostic: at one file, the other as a related location.
        let dup: Vec<_> = report
            .diagnostics
            .iter()
            .filter(|d| d.code == "MV001")
            .collect();
        assert_eq!(dup.len(), 1, "{dup:?}");
        let mut at: Vec<&Path> = std::iter::once(dup[0].location.path.as_path())
            .chain(dup[0].related.iter().map(|r| r.location.path.as_path()))
            .collect();
        at.sort();
        assert_eq!(at, [a1.as_path(), a2.as_path()]);
        assert!(report.sources[&a2].text.starts_with("revision = 'a1'"));
        // The disk is what a plain check sees, from the cache as before.
        assert!(check(&project, &registry, &opts).diagnostics.is_empty());
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

#[cfg(test)]
mod kept_tests {
    use super::*;

    /// What a report says, in a form two reports can be compared by.
    fn said(r: &Report) -> String {
        let sources: std::collections::BTreeMap<_, _> =
            r.sources.iter().map(|(p, s)| (p, &s.text)).collect();
        format!(
            "{:#?}\n{}\n{}\n{:?}",
            r.diagnostics,
            serde_json::to_string(&r.status).unwrap(),
            serde_json::to_string(&r.summary).unwrap(),
            sources
        )
    }

    #[test]
    fn kept_migrations_check_as_a_fresh_load_does() {
        let tmp = tempfile::tempdir().unwrap();
        let mig = |head: &str, down: &str, body: &str| {
            format!(
                "{head}\ndown_revision = {down}\ndef upgrade():\n    {body}\ndef downgrade():\n    op.g()\n"
            )
        };
        let files: Vec<PathBuf> = ["a1.py", "a2.py", "a3.py"]
            .iter()
            .map(|n| tmp.path().join(n))
            .collect();
        std::fs::write(&files[0], mig("revision = 'a1'", "None", "op.f()")).unwrap();
        // A revision that is not a literal: resolved at every check, kept unresolved.
        let computed = mig(
            "BASE = 'a'\nREV = BASE + '2'\nrevision = REV",
            "'a1'",
            "op.f()",
        );
        std::fs::write(&files[1], &computed).unwrap();
        std::fs::write(
            &files[2],
            mig(
                "revision = 'a3'",
                "'a2'",
                "op.drop_column('t', 'c')  # migverify: ignore[MV999]",
            ),
        )
        .unwrap();
        let registry = Registry::builtin();
        let project = Project::for_files(
            tmp.path().to_path_buf(),
            vec![tmp.path().to_path_buf()],
            files.clone(),
            crate::config::Settings::recommended(&registry),
        );
        let opts = CheckOptions {
            verbose: false,
            cwd: tmp.path().to_path_buf(),
            cache: Some(tmp.path().join("cache")),
            database: None,
            models: None,
        };
        let mut kept = KeptMigrations::default();
        let same = |buffers: &Buffers, kept: &mut KeptMigrations| {
            let fresh = check_buffers(&project, &registry, &opts, buffers);
            let from_kept = check_buffers_kept(&project, &registry, &opts, buffers, kept);
            assert_eq!(said(&from_kept), said(&fresh));
            from_kept
        };
        assert!(same(&Buffers::new(), &mut kept).diagnostics.is_empty());
        // a3's buffer declares a2's id, which a2 computes: both are marked, again
        // and again (the kept a2 is resolved anew each time, a3's file comes back).
        let dup: Buffers = [(
            files[2].clone(),
            mig(
                "revision = 'a2'",
                "'a1'",
                "op.f()  # migverify: ignore[MV001]",
            ),
        )]
        .into();
        for _ in 0..3 {
            let r = same(&dup, &mut kept);
            assert!(r.diagnostics.iter().any(|d| d.code == "MV001"), "{r:?}");
            assert!(
                r.diagnostics.iter().all(|d| d.code != "MV001"
                    || d.location.path == files[1]
                    || d.related.iter().any(|x| x.location.path == files[1])),
                "{r:?}"
            );
            same(&Buffers::new(), &mut kept);
        }
        // A file changed on disk, and said so: read again.
        std::fs::write(&files[0], mig("revision = 'a1'", "'gone'", "op.f()")).unwrap();
        kept.changed(&files[0]);
        let r = same(&dup, &mut kept);
        assert!(r.diagnostics.iter().any(|d| d.location.path == files[0]));
        same(&Buffers::new(), &mut kept);
        // The a2 buffer that computes its id differently.
        let other: Buffers = [(files[1].clone(), computed.replace("'2'", "'3'"))].into();
        same(&other, &mut kept);
        same(&Buffers::new(), &mut kept);
    }
}
