//! The command line: argument parsing and dispatch. Exit status is decided here,
//! in one place: 0 clean, 1 findings at or above `--fail-on`, 2 the run failed.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::diagnostic::Severity;
use crate::emit::{self, EmitOptions, Format};
use crate::engine::{self, CheckOptions};
use crate::rules::Registry;

#[derive(Parser, Debug)]
#[command(
    name = "migverify",
    version,
    about = "Verifies Alembic migrations: revision graph, rules, database state and drift"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per run: the size of `CheckArgs` does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Lint migrations (a project root, a version directory, or single files)
    Check(CheckArgs),
    /// Print the revision graph
    Graph(GraphArgs),
    /// List every rule in the registry
    Rules(RulesArgs),
    /// Print a rule's documentation (by code or name)
    Explain { rule: String },
    /// Remove the project's cache directory
    Clean(CleanArgs),
    /// Capture the database (read-only) and write it as a JSON snapshot
    Snapshot(SnapshotArgs),
    /// Write a starter migverify.toml for the project here (never overwrites one)
    Init(InitArgs),
    /// Print a file's syntax tree as query rules see it (`-` reads standard input)
    Tree(TreeArgs),
    /// Run the language server: LSP over standard input/output, for editors
    Server,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Args, Debug)]
pub struct TreeArgs {
    /// A Python file, or `-` for standard input
    pub file: PathBuf,
    /// Show anonymous nodes (keywords, punctuation) too
    #[arg(long)]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// The project directory (default: the working directory)
    pub path: Option<PathBuf>,
    /// Replace an existing migverify configuration
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct SnapshotArgs {
    /// Project root (where the config and alembic.ini are found)
    pub path: Option<PathBuf>,
    /// The database to capture (else MIGVERIFY_DATABASE_URL, `[database] url`, alembic.ini)
    #[arg(long)]
    pub database_url: Option<String>,
    /// Use this config file instead of searching for one
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Write the snapshot to this file instead of standard output
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Info,
    Never,
}

impl FailOn {
    fn threshold(self) -> Option<Severity> {
        match self {
            FailOn::Error => Some(Severity::Error),
            FailOn::Warning => Some(Severity::Warning),
            FailOn::Info => Some(Severity::Info),
            FailOn::Never => None,
        }
    }
}

/// The command line's rule selection, as the configuration takes it (kept here
/// under its old path).
pub use crate::config::RuleSelection;

/// The rule selection flags; [`RuleSelection`] is what the configuration reads.
#[derive(Args, Debug, Default, Clone)]
pub struct SelectionArgs {
    /// Rules to enable (codes, prefixes like MV0, names, or ALL), replacing the config's
    #[arg(long, value_delimiter = ',')]
    pub select: Vec<String>,
    /// Rules to disable
    #[arg(long, value_delimiter = ',')]
    pub ignore: Vec<String>,
    /// Rules to enable on top of the selection
    #[arg(long, value_delimiter = ',')]
    pub extend_select: Vec<String>,
    /// Override a rule's severity: RULE=error|warning|info|off
    #[arg(long, value_name = "RULE=LEVEL")]
    pub severity: Vec<String>,
}

impl From<&SelectionArgs> for RuleSelection {
    fn from(args: &SelectionArgs) -> RuleSelection {
        RuleSelection {
            select: args.select.clone(),
            ignore: args.ignore.clone(),
            extend_select: args.extend_select.clone(),
            severity: args.severity.clone(),
        }
    }
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Project root, version directory, or migration files
    pub paths: Vec<PathBuf>,
    /// Use this config file instead of searching for one
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// In a repository with several Alembic environments, check only this one (its
    /// name or the path of its directory)
    #[arg(long, value_name = "NAME|PATH")]
    pub project: Option<String>,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Exit with 1 when a diagnostic at or above this severity is found
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Write the report to this file instead of standard output
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Lint standard input as the content of this file (for editors)
    #[arg(long)]
    pub stdin_filename: Option<PathBuf>,
    /// Never use colour (also NO_COLOR)
    #[arg(long)]
    pub no_color: bool,
    /// List migration files and skipped rules
    #[arg(long, short)]
    pub verbose: bool,
    /// Print diagnostics only, no status block or summary
    #[arg(long, short)]
    pub quiet: bool,
    /// Enable the schema rules (MV2xx: drift, and MV205 downgrade-mismatch), as the Python script's --check-schema did
    #[arg(long)]
    pub check_schema: bool,
    /// Enable every rule
    #[arg(long)]
    pub full: bool,
    /// The database to check against (overrides MIGVERIFY_DATABASE_URL and the config)
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Check against a snapshot file (`migverify snapshot`) instead of connecting
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,
    /// Never connect to a database or read a snapshot: the database rules are
    /// reported as skipped (the pre-commit hook's default)
    #[arg(long, conflicts_with_all = ["database_url", "snapshot"])]
    pub no_database: bool,
    /// SQLAlchemy model files (a glob relative to the project root; repeatable);
    /// replaces `[models] paths`
    #[arg(long = "models", value_name = "GLOB")]
    pub models: Vec<String>,
    /// Parse every file; neither read nor write the cache
    #[arg(long)]
    pub no_cache: bool,
    #[command(flatten)]
    pub cache: CacheDir,
    /// Report only findings this baseline file does not hold (overrides `[check]
    /// baseline`); its stale entries are mentioned, never fatal
    #[arg(long, value_name = "FILE", conflicts_with = "write_baseline")]
    pub baseline: Option<PathBuf>,
    /// Record every current finding in this baseline file and exit 0
    #[arg(long, value_name = "FILE", conflicts_with_all = ["changed_since", "fix", "diff"])]
    pub write_baseline: Option<PathBuf>,
    /// Report on the files changed since the merge base of REF and HEAD (and the
    /// working tree's changes): file rules on those files, graph rules on problems
    /// involving them; database and drift rules as usual
    #[arg(long, value_name = "REF")]
    pub changed_since: Option<String>,
    /// Apply the fixes migverify can write (generated downgrades), then report
    /// what is left; the exit code follows what is left
    #[arg(long, conflicts_with = "stdin_filename")]
    pub fix: bool,
    /// Print the fixes as a unified diff and write nothing (exit 1 when there is
    /// something to fix)
    #[arg(long, conflicts_with = "stdin_filename")]
    pub diff: bool,
}

#[derive(Args, Debug, Default, Clone)]
pub struct CacheDir {
    /// Cache directory [default: <project root>/.migverify_cache]
    #[arg(long, value_name = "DIR", env = "MIGVERIFY_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
}

impl CacheDir {
    /// The cache directory for a project rooted at `root`.
    pub fn resolve(&self, cwd: &std::path::Path, root: &std::path::Path) -> PathBuf {
        match &self.cache_dir {
            Some(dir) => cwd.join(dir),
            None => root.join(crate::cache::DEFAULT_DIR),
        }
    }
}

#[derive(Args, Debug)]
pub struct CleanArgs {
    /// Project root, version directory or file (default: the working directory)
    pub path: Option<PathBuf>,
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub cache: CacheDir,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Revisions, heads and bases as JSON
    Json,
    /// Graphviz DOT (`| dot -Tsvg -o graph.svg`)
    Dot,
    /// A Mermaid flowchart (for Markdown)
    Mermaid,
}

#[derive(Args, Debug)]
pub struct GraphArgs {
    /// Project root or version directory
    pub path: Option<PathBuf>,
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// In a repository with several Alembic environments, the one to draw (its name
    /// or the path of its directory)
    #[arg(long, value_name = "NAME|PATH")]
    pub project: Option<String>,
    #[arg(long, value_enum, default_value_t = GraphFormat::Json)]
    pub format: GraphFormat,
    /// Mark the revision(s) this database is at (read-only connection)
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Mark the revision(s) recorded in this snapshot file (`migverify snapshot`)
    #[arg(long, value_name = "FILE", conflicts_with = "database_url")]
    pub snapshot: Option<PathBuf>,
    /// Do not read the database the project names (by default `graph` marks its
    /// current revision(s) when it answers)
    #[arg(long, conflicts_with_all = ["database_url", "snapshot"])]
    pub no_database: bool,
}

#[derive(Args, Debug)]
pub struct RulesArgs {
    /// Print the list as JSON
    #[arg(long)]
    pub json: bool,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("{:?}", miette::Report::new(err));
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, crate::Error> {
    let registry = Registry::builtin();
    match cli.command {
        Command::Check(args) => check(&registry, args),
        Command::Graph(args) => graph(&registry, args),
        Command::Snapshot(args) => snapshot(&registry, args),
        Command::Rules(args) => {
            let registry = crate::project::rules::for_directory(&registry, &current_dir()?)?;
            print_rules(&registry, args.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain { rule } => {
            let registry = crate::project::rules::for_directory(&registry, &current_dir()?)?;
            let Some(i) = registry.find(&rule) else {
                return Err(crate::Error::UnknownRule {
                    suggestion: registry
                        .suggest(&rule)
                        .map(|s| format!("did you mean `{s}`?")),
                    rule: crate::text::truncate(&rule, 60),
                });
            };
            print_out(&crate::rules::render_rule_doc(registry.get(i)))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Clean(args) => clean(&registry, args),
        Command::Init(args) => init(args),
        Command::Tree(args) => {
            let (path, bytes) = if args.file.as_os_str() == "-" {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes).map_err(
                    |source| crate::Error::Io {
                        path: "<stdin>".into(),
                        source,
                    },
                )?;
                (PathBuf::from("<stdin>"), bytes)
            } else {
                let bytes = crate::bounded::read(
                    &args.file,
                    crate::bounded::DEFAULT_SOURCE_LIMIT,
                    "a Python file",
                )
                .map_err(|source| crate::Error::Io {
                    path: args.file.clone(),
                    source,
                })?;
                (args.file, bytes)
            };
            let source = crate::source::SourceFile::from_bytes(path, bytes);
            print_out(&crate::tree_dump::render(&source, args.all))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Server => crate::server::run(),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "migverify", &mut script);
            write_stdout(&script)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn init(args: InitArgs) -> Result<ExitCode, crate::Error> {
    let cwd = current_dir()?;
    let dir = args.path.map_or_else(|| cwd.clone(), |p| cwd.join(p));
    let outcome = crate::init::run(&dir, args.force)?;
    print_out(&crate::init::summary(&outcome).join("\n"))?;
    print_out("\n")?;
    Ok(ExitCode::SUCCESS)
}

fn graph(registry: &Registry, args: GraphArgs) -> Result<ExitCode, crate::Error> {
    let cwd = current_dir()?;
    let mut found = crate::project::discover_environments(
        &args.path.into_iter().collect::<Vec<_>>(),
        args.config.as_deref(),
        &RuleSelection::default(),
        registry,
        args.project.as_deref(),
    )?;
    if found.projects.len() > 1 {
        let names: Vec<String> = found
            .projects
            .iter()
            .filter_map(|(n, _)| n.as_ref().map(|n| format!("`{n}`")))
            .collect();
        return Err(crate::Error::Project {
            message: format!(
                "this repository holds {} Alembic environments ({}); a graph is drawn for one",
                names.len(),
                names.join(", ")
            ),
            help: Some("pick one with --project NAME (or the path of its directory)".into()),
        });
    }
    let (_, project) = found.projects.pop().expect("one project");
    print_warnings(&project);
    let migrations = engine::load_migrations(&project);
    // Explicit flags must work (an unreachable database is an error); a database
    // the project names (config, environment, env.py, alembic.ini) is marked when
    // it answers, and a warning says why not otherwise.
    let explicit = args.database_url.is_some() || args.snapshot.is_some();
    let flags = crate::db::resolve::Flags {
        database_url: args.database_url,
        snapshot: args.snapshot.map(|p| cwd.join(p)),
        live_only: false,
    };
    let current = if args.no_database {
        None
    } else if explicit {
        match crate::db::resolve::resolve(&project, &flags, env_var)? {
            Some(choice) => {
                let loaded = crate::db::resolve::load(&project, choice)?;
                Some(loaded.snapshot.version_table.revisions)
            }
            None => None,
        }
    } else {
        let resolved = crate::db::resolve::resolve_noted(&project, &flags, env_var)?;
        if let Some(note) = &resolved.note {
            eprintln!("warning: no current revision marked: {note}");
        }
        match resolved.choice {
            Some(choice) => match crate::db::resolve::load(&project, choice) {
                Ok(loaded) => Some(loaded.snapshot.version_table.revisions),
                Err(e) => {
                    eprintln!("warning: no current revision marked: {e}");
                    None
                }
            },
            None => None,
        }
    };
    let text = match args.format {
        GraphFormat::Json => {
            let mut json = crate::graph_output::to_json(&project, &migrations);
            json.current = current;
            let s = serde_json::to_vec_pretty(&json).expect("json");
            let mut s = String::from_utf8(crate::text::escape_json_controls(s)).expect("utf-8");
            s.push('\n');
            s
        }
        GraphFormat::Dot => {
            crate::graph_output::to_dot(&migrations, current.as_deref().unwrap_or_default())
        }
        GraphFormat::Mermaid => {
            crate::graph_output::to_mermaid(&migrations, current.as_deref().unwrap_or_default())
        }
    };
    print_out(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn current_dir() -> Result<PathBuf, crate::Error> {
    std::env::current_dir().map_err(|source| crate::Error::Io {
        path: PathBuf::from("."),
        source,
    })
}

fn clean(registry: &Registry, args: CleanArgs) -> Result<ExitCode, crate::Error> {
    let project = discover_one(registry, args.path, args.config.as_deref())?;
    let dir = args.cache.resolve(&current_dir()?, &project.root);
    match crate::cache::clean(&dir)? {
        crate::cache::Cleaned::Removed => print_out(&format!("removed {}\n", dir.display())),
        crate::cache::Cleaned::Absent => print_out(&format!("no cache at {}\n", dir.display())),
    }?;
    Ok(ExitCode::SUCCESS)
}

/// Discovery's non-fatal findings (skipped symlinks, missing locations) on stderr.
fn print_warnings(project: &crate::project::Project) {
    for w in &project.warnings {
        eprintln!("warning: {}", crate::text::escape_controls(&w.to_string()));
    }
}

fn print_rules(registry: &Registry, json: bool) -> Result<(), crate::Error> {
    if json {
        let list: Vec<_> = registry
            .rules()
            .iter()
            .map(|r| {
                let m = r.meta();
                serde_json::json!({
                    "code": m.code, "name": m.name, "default": m.default_level(),
                    "severity": m.severity, "source": m.source.describe(), "summary": m.summary,
                    "fix": r.fix_title(),
                })
            })
            .collect();
        print_out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&list).expect("json")
        ))?;
        return Ok(());
    }
    // Columns as wide as their longest entry (a project's rule names its file).
    let width = |f: &dyn Fn(&crate::rules::RuleMeta) -> String, min: usize| {
        registry
            .rules()
            .iter()
            .map(|r| f(r.meta()).chars().count())
            .fold(min, usize::max)
    };
    let (cw, nw, sw) = (
        width(&|m| m.code.to_string(), 6),
        width(&|m| m.name.to_string(), 24),
        width(&|m| m.source.describe(), 8),
    );
    let mut text = format!(
        "{:<cw$} {:<nw$} {:<8} {:<sw$} {:<3} summary\n",
        "code", "name", "default", "source", "fix"
    );
    for r in registry.rules() {
        let m = r.meta();
        text += &format!(
            "{:<cw$} {:<nw$} {:<8} {:<sw$} {:<3} {}\n",
            m.code,
            m.name,
            m.default_level(),
            m.source.describe(),
            if r.fix_title().is_some() { "yes" } else { "-" },
            m.summary
        );
    }
    print_out(&text)
}

/// Writes to standard output. A closed pipe (`migverify graph | head`) is not
/// an error (`println!` would panic there): the reader has what it wanted. Any
/// other failure (`> /dev/full`, an I/O error) stops the run with exit 2: a
/// truncated report must not pass for a whole one.
fn print_out(text: &str) -> Result<(), crate::Error> {
    write_stdout(text.as_bytes())
}

fn write_stdout(bytes: &[u8]) -> Result<(), crate::Error> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|_| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(crate::Error::Write {
            path: PathBuf::from("standard output"),
            source: e,
        }),
        _ => Ok(()),
    }
}

fn check(registry: &Registry, mut args: CheckArgs) -> Result<ExitCode, crate::Error> {
    if args.full {
        args.selection.select = vec!["ALL".into()];
    } else if args.check_schema {
        args.selection.extend_select.push("MV2".into());
    }
    let cwd = current_dir()?;
    // `--stdin-filename FILE` with no path: the project is found from FILE's
    // location (as ruff does), not from the working directory.
    if args.paths.is_empty()
        && let Some(name) = &args.stdin_filename
        && let Some(dir) = project_dir_above(&cwd.join(name))
    {
        args.paths = vec![dir];
    }
    let found = discover(registry, &args)?;
    let several = found.projects.len() > 1;
    if several
        && (args.database_url.is_some() || args.snapshot.is_some() || args.stdin_filename.is_some())
    {
        return Err(crate::Error::Project {
            message: "this repository holds several Alembic environments; --database-url, \
                      --snapshot and --stdin-filename apply to one"
                .into(),
            help: Some("pick it with --project NAME (or the path of its directory)".into()),
        });
    }
    // What --baseline and --changed-since need is checked before the run: a
    // missing baseline file or an unknown git revision stops it at once.
    let baseline = match (&args.write_baseline, &args.baseline) {
        (Some(_), _) => None,
        (None, Some(path)) => Some(crate::baseline::read(path, &cwd)?),
        (None, None) => match found.projects.iter().find_map(|(_, p)| p.baseline.clone()) {
            Some(path) => Some(crate::baseline::read(&path, &cwd)?),
            None => None,
        },
    };
    let changed = match &args.changed_since {
        Some(reference) => {
            let dir = found
                .projects
                .first()
                .map_or(cwd.as_path(), |(_, p)| &p.root);
            Some(crate::changed::since(dir, reference)?)
        }
        None => None,
    };
    // With files named on the command line, only they are reported on: baseline
    // entries about the project's other files are not "fixed".
    let scope: Option<Vec<PathBuf>> = found
        .projects
        .iter()
        .map(|(_, p)| p.only.clone())
        .collect::<Option<Vec<_>>>()
        .map(|lists| lists.concat());
    let mut report = check_found(registry, &args, found, &cwd)?;
    if let Some(path) = &args.write_baseline {
        let entries = crate::baseline::write(path, &cwd, &report)?;
        print_out(&crate::baseline::written_note(path, &entries))?;
        return Ok(ExitCode::SUCCESS);
    }
    // What a baseline or --changed-since leaves out is neither reported nor fixed
    // (old migrations that ran in production stay as they are).
    let leave_out = |report: &mut crate::report::Report| {
        if let Some(baseline) = &baseline {
            crate::baseline::apply(report, baseline, scope.as_deref());
        }
        if let Some(changed) = &changed {
            crate::changed::filter(report, changed, registry);
        }
    };
    leave_out(&mut report);
    if args.fix || args.diff {
        match apply_fixes(&args, &report)? {
            Fixed::Diff(code) => return Ok(code),
            Fixed::Written(0) => {}
            Fixed::Written(n) => {
                // Report what is left: the whole check again, on the fixed files.
                report = rerun(registry, &args, &cwd)?;
                leave_out(&mut report);
                report.summary.fixed = n;
            }
        }
    }
    report.summary.fail_on = crate::report::FailOn(args.fail_on.threshold());
    if let Some(note) = report
        .summary
        .baseline
        .as_ref()
        .and_then(|b| b.fixed_note())
    {
        eprintln!("note: {}", crate::text::escape_controls(&note));
    }

    let color = args.format == Format::Human
        && !args.no_color
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && args.output.is_none()
        && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let opts = EmitOptions {
        color,
        quiet: args.quiet,
    };
    let emitter = emit::emitter(args.format);
    let mut buf = Vec::new();
    emitter
        .emit(&report, opts, &mut buf)
        .map_err(|source| crate::Error::Io {
            path: PathBuf::from("<output>"),
            source,
        })?;
    match &args.output {
        Some(path) => crate::fsutil::write_atomic(path, &buf)?,
        None => {
            write_stdout(&buf)?;
        }
    }
    let failed = args
        .fail_on
        .threshold()
        .is_some_and(|t| report.diagnostics.iter().any(|d| d.severity >= t));
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The check again, after `--fix` wrote files: every environment, merged as the
/// first run was.
fn rerun(
    registry: &Registry,
    args: &CheckArgs,
    cwd: &std::path::Path,
) -> Result<crate::report::Report, crate::Error> {
    check_found(registry, args, discover(registry, args)?, cwd)
}

/// The Alembic environments `check`'s paths, config and `--project` name.
fn discover(
    registry: &Registry,
    args: &CheckArgs,
) -> Result<crate::project::Discovered, crate::Error> {
    crate::project::discover_environments(
        &args.paths,
        args.config.as_deref(),
        &RuleSelection::from(&args.selection),
        registry,
        args.project.as_deref(),
    )
}

/// Each environment found checked, the reports merged when there are several.
fn check_found(
    registry: &Registry,
    args: &CheckArgs,
    found: crate::project::Discovered,
    cwd: &std::path::Path,
) -> Result<crate::report::Report, crate::Error> {
    let several = found.projects.len() > 1;
    let mut reports = Vec::new();
    for (name, project) in found.projects {
        reports.push((name, check_project(registry, args, project, cwd)?));
    }
    Ok(if several {
        crate::report::merge(reports, cwd.to_path_buf())
    } else {
        reports.pop().expect("one project").1
    })
}

enum Fixed {
    /// `--diff`: printed; the exit code (1 when there was something to fix).
    Diff(ExitCode),
    /// `--fix`: how many fixes were written.
    Written(usize),
}

/// `--fix` / `--diff`: the fixes of the report's diagnostics, per file, carried out
/// on each file read again (only where it is still the text checked, a regular file
/// inside the project, and parses after the fix), then written (atomically, keeping
/// permissions) or shown as a unified diff.
fn apply_fixes(args: &CheckArgs, report: &crate::report::Report) -> Result<Fixed, crate::Error> {
    let fixes = crate::fix::by_file(&report.diagnostics);
    let mut roots = vec![report.root.clone()];
    roots.extend(report.status.version_locations.iter().cloned());
    let limit = report
        .sources
        .values()
        .map(|s| s.text.len() as u64 * 2)
        .fold(crate::bounded::DEFAULT_SOURCE_LIMIT, u64::max);
    let (prepared, skipped) = crate::fix::prepare(&fixes, &report.sources, &roots, limit);
    for s in &skipped {
        eprintln!(
            "warning: not fixed: {}: {}",
            crate::text::escape_controls(&report.display_path(&s.path)),
            s.reason
        );
    }
    let count: usize = prepared.iter().map(|f| f.fixes).sum();
    let files = |n: usize| if n == 1 { "file" } else { "files" };
    let fixes_word = |n: usize| if n == 1 { "fix" } else { "fixes" };
    if args.diff {
        let mut out = String::new();
        for f in &prepared {
            let path = report.display_path(&f.path);
            out.push_str(&crate::fix::unified_diff(&path, &f.old, &f.new));
        }
        print_out(&out)?;
        eprintln!(
            "Would apply {count} {} in {} {}.",
            fixes_word(count),
            prepared.len(),
            files(prepared.len())
        );
        return Ok(Fixed::Diff(if count > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        }));
    }
    let mut written = 0;
    let mut first_error = None;
    for f in &prepared {
        match crate::fix::write(f) {
            Ok(()) => written += f.fixes,
            Err(e) => {
                eprintln!("error: not fixed: {e}");
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    Ok(Fixed::Written(written))
}

/// One Alembic environment's check: database, models, the engine; the report
/// before it is emitted.
fn check_project(
    registry: &Registry,
    args: &CheckArgs,
    mut project: crate::project::Project,
    cwd: &std::path::Path,
) -> Result<crate::report::Report, crate::Error> {
    print_warnings(&project);
    if let Some(name) = &args.stdin_filename {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|source| {
            crate::Error::Io {
                path: PathBuf::from("<stdin>"),
                source,
            }
        })?;
        crate::project::use_stdin(&mut project, name, text)?;
    }
    let flags = crate::db::resolve::Flags {
        database_url: args.database_url.clone(),
        snapshot: args.snapshot.as_ref().map(|p| cwd.join(p)),
        live_only: false,
    };
    // A run none of whose rules reads the database never touches one: no
    // connection, no snapshot file, whatever URL is configured.
    let needs_database = {
        let reg = project.registry.as_ref().unwrap_or(registry);
        project.settings.enabled.iter().any(|&(ri, _)| {
            reg.get(ri)
                .meta()
                .inputs
                .contains(&crate::rules::Input::Database)
        })
    };
    let mut no_database: Option<(String, String)> = None;
    let database = if args.no_database {
        no_database = Some((
            "no database: --no-database".into(),
            "not used (--no-database)".into(),
        ));
        None
    } else if !needs_database {
        None
    } else {
        let resolved = crate::db::resolve::resolve_noted(&project, &flags, env_var)?;
        if let Some(note) = resolved.note {
            no_database = Some(("no database: see the status block".into(), note));
        }
        match resolved.choice {
            Some(choice) => Some(crate::db::resolve::load(&project, choice)?),
            None => None,
        }
    };
    if !args.models.is_empty() {
        project.models.paths = args.models.clone();
    }
    // --check-schema asks for the drift rules: without `[models] paths`, find the
    // model files as `init` does, and say which; none is an error, not "skipped".
    let mut models_note = None;
    if args.check_schema && project.models.paths.is_empty() {
        let found = crate::init::detect(&project.root)?;
        if found.models.is_empty() {
            return Err(crate::Error::Project {
                message: format!(
                    "--check-schema: no SQLAlchemy model files found under {} and `[models] paths` is not set",
                    project.root.display()
                ),
                help: Some(
                    "set `[models] paths` in migverify.toml (e.g. [\"app/models.py\"]) or pass --models GLOB"
                        .into(),
                ),
            });
        }
        models_note = Some(format!(
            "{} (found; set [models] paths to choose)",
            found.models.join(", ")
        ));
        project.models.paths = found.models;
    }
    let models = crate::models::load_project(&project)?;
    for w in models.iter().flat_map(|m| &m.warnings) {
        eprintln!("warning: {}", crate::text::escape_controls(&w.to_string()));
    }
    let mut report = engine::check(
        &project,
        registry,
        &CheckOptions {
            verbose: args.verbose,
            cache: (!args.no_cache).then(|| args.cache.resolve(cwd, &project.root)),
            cwd: cwd.to_path_buf(),
            database,
            models,
        },
    );
    if let Some((reason, note)) = no_database {
        let no_db = crate::rules::Input::Database.describe();
        for r in &mut report.summary.skipped_rules {
            if r.reason == no_db {
                r.reason.clone_from(&reason);
            }
        }
        for c in &mut report.summary.checks {
            if c.outcome == crate::checklist::Outcome::Skipped && c.detail.as_deref() == Some(no_db)
            {
                c.detail = Some(reason.clone());
            }
        }
        report.status.database_note = Some(note);
    }
    report.status.models_note = models_note;
    Ok(report)
}

/// The nearest directory above `file` that holds a migverify config, `alembic.ini`,
/// or a `pyproject.toml` with `[tool.migverify]` or `[tool.alembic]`.
fn project_dir_above(file: &std::path::Path) -> Option<PathBuf> {
    file.ancestors().skip(1).find_map(|d| {
        let marked = ["migverify.toml", ".migverify.toml", "alembic.ini"]
            .iter()
            .any(|n| d.join(n).is_file())
            || std::fs::read_to_string(d.join("pyproject.toml"))
                .is_ok_and(|t| t.contains("[tool.migverify") || t.contains("[tool.alembic"));
        marked.then(|| d.to_path_buf())
    })
}

/// The project at `path` (default: here) with the default rule selection: what
/// the commands other than `check` work on.
fn discover_one(
    registry: &Registry,
    path: Option<PathBuf>,
    config: Option<&std::path::Path>,
) -> Result<crate::project::Project, crate::Error> {
    crate::project::discover(
        &path.into_iter().collect::<Vec<_>>(),
        config,
        &RuleSelection::default(),
        registry,
    )
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn snapshot(registry: &Registry, args: SnapshotArgs) -> Result<ExitCode, crate::Error> {
    let project = discover_one(registry, args.path, args.config.as_deref())?;
    print_warnings(&project);
    let flags = crate::db::resolve::Flags {
        database_url: args.database_url,
        snapshot: None,
        live_only: true,
    };
    let Some(crate::db::resolve::Choice::Url { url, .. }) =
        crate::db::resolve::resolve(&project, &flags, env_var)?
    else {
        return Err(crate::Error::Database {
            message: "no database to capture".into(),
            help: Some(format!(
                "pass --database-url, set {}, or set `[database] url` in migverify.toml",
                crate::db::resolve::ENV_VAR
            )),
        });
    };
    let snapshot = crate::db::resolve::capture(&project, &url)?;
    let json = snapshot.to_json();
    match &args.output {
        Some(path) => crate::fsutil::write_atomic(path, json.as_bytes())?,
        None => {
            write_stdout(json.as_bytes())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
