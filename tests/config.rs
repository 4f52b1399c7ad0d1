//! Configuration and project discovery, on real files in temporary directories.

use std::fs;
use std::path::{Path, PathBuf};

use migverify::Error;
use migverify::cli::RuleSelection;
use migverify::config::{Config, ConfigFile, Settings};
use migverify::diagnostic::Severity;
use migverify::project::{Project, discover_from};
use migverify::rules::Registry;

const MIGRATION: &str = "revision = \"{rev}\"\ndown_revision = None\n\ndef upgrade():\n    pass\n\ndef downgrade():\n    pass\n";

fn write(root: &Path, rel: &str, text: &str) -> PathBuf {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, text).unwrap();
    p
}

fn migration(root: &Path, rel: &str) -> PathBuf {
    let rev = Path::new(rel)
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .to_string();
    write(root, rel, &MIGRATION.replace("{rev}", &rev))
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn discover(cwd: &Path, paths: &[&str]) -> Result<Project, Error> {
    discover_sel(cwd, paths, &RuleSelection::default())
}

fn discover_sel(cwd: &Path, paths: &[&str], sel: &RuleSelection) -> Result<Project, Error> {
    let paths: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
    discover_from(cwd, &paths, None, sel, &Registry::builtin())
}

/// File names of the project's files, relative to the root, sorted.
fn names(p: &Project) -> Vec<String> {
    p.files
        .iter()
        .map(|f| {
            f.strip_prefix(&p.root)
                .unwrap_or(f)
                .to_string_lossy()
                .to_string()
        })
        .collect()
}

/// (code, severity) of the enabled rules.
fn enabled(s: &Settings) -> Vec<(String, Severity)> {
    let reg = Registry::builtin();
    s.enabled
        .iter()
        .map(|&(i, sev)| (reg.get(i).meta().code.to_string(), sev))
        .collect()
}

fn codes(s: &Settings) -> Vec<String> {
    enabled(s).into_iter().map(|(c, _)| c).collect()
}

/// The message, help, and the text the span points at, of a config error.
fn config_err(e: Error) -> (String, String, String) {
    match e {
        Error::Config {
            message,
            src,
            span,
            help,
            ..
        } => {
            let span = span.expect("a span");
            let text = src.inner()[span.offset()..span.offset() + span.len()].to_string();
            (message, help.unwrap_or_default(), text)
        }
        other => panic!("not a config error: {other:?}"),
    }
}

fn settings_of(toml: &str, sel: &RuleSelection) -> Result<Settings, Error> {
    let file = ConfigFile::parse(
        Some("migverify.toml".into()),
        "migverify.toml".into(),
        toml.into(),
    )?;
    Config::load(Some(file))?.settings(sel, &Registry::builtin())
}

fn sel(select: &[&str], extend: &[&str], ignore: &[&str], severity: &[&str]) -> RuleSelection {
    let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect();
    RuleSelection {
        select: v(select),
        extend_select: v(extend),
        ignore: v(ignore),
        severity: v(severity),
    }
}

// ---------------------------------------------------------------- discovery

#[test]
fn finds_migverify_toml_walking_up() {
    let d = tmp();
    write(
        d.path(),
        "migverify.toml",
        "[migrations]\nscript_location = \"db\"\n",
    );
    migration(d.path(), "db/versions/a1.py");
    fs::create_dir_all(d.path().join("sub/deeper")).unwrap();
    let p = discover(&d.path().join("sub/deeper"), &[]).unwrap();
    assert_eq!(p.root, d.path());
    assert_eq!(p.config_path, Some(d.path().join("migverify.toml")));
    assert_eq!(names(&p), vec!["db/versions/a1.py"]);
    assert!(p.only.is_none());
}

#[test]
fn prefers_migverify_toml_then_dot_then_pyproject() {
    let d = tmp();
    let cfg = "[migrations]\nscript_location = \"db\"\n";
    write(
        d.path(),
        "pyproject.toml",
        "[tool.migverify.migrations]\nscript_location = \"db\"\n",
    );
    write(d.path(), ".migverify.toml", cfg);
    migration(d.path(), "db/versions/a1.py");
    let p = discover(d.path(), &[]).unwrap();
    assert_eq!(p.config_path, Some(d.path().join(".migverify.toml")));
    write(d.path(), "migverify.toml", cfg);
    let p = discover(d.path(), &[]).unwrap();
    assert_eq!(p.config_path, Some(d.path().join("migverify.toml")));
}

#[test]
fn pyproject_counts_only_with_tool_migverify() {
    let d = tmp();
    write(
        d.path(),
        "migverify.toml",
        "[migrations]\nscript_location = \"db\"\n",
    );
    migration(d.path(), "db/versions/a1.py");
    // A pyproject.toml without [tool.migverify] in between is passed over.
    write(d.path(), "app/pyproject.toml", "[project]\nname = \"x\"\n");
    let p = discover(&d.path().join("app"), &[]).unwrap();
    assert_eq!(p.config_path, Some(d.path().join("migverify.toml")));
    // With the table, it is the config and its directory the root.
    write(
        d.path(),
        "app/pyproject.toml",
        "[project]\nname = \"x\"\n[tool.migverify.migrations]\nscript_location = \"mig\"\n[tool.migverify.rules]\nignore = [\"MV003\"]\n",
    );
    migration(d.path(), "app/mig/versions/b1.py");
    let p = discover(&d.path().join("app"), &[]).unwrap();
    assert_eq!(p.config_path, Some(d.path().join("app/pyproject.toml")));
    assert_eq!(p.root, d.path().join("app"));
    assert_eq!(names(&p), vec!["mig/versions/b1.py"]);
    assert!(!codes(&p.settings).contains(&"MV003".to_string()));
}

#[test]
fn explicit_config_overrides_search() {
    let d = tmp();
    write(
        d.path(),
        "migverify.toml",
        "[rules]\nselect = [\"MV001\"]\n[migrations]\nscript_location = \"db\"\n",
    );
    write(
        d.path(),
        "ci/other.toml",
        "[rules]\nselect = [\"MV002\"]\n[migrations]\nscript_location = \"../db\"\n",
    );
    migration(d.path(), "db/versions/a1.py");
    let p = discover_from(
        d.path(),
        &[],
        Some(Path::new("ci/other.toml")),
        &RuleSelection::default(),
        &Registry::builtin(),
    )
    .unwrap();
    assert_eq!(p.config_path, Some(d.path().join("ci/other.toml")));
    assert_eq!(p.root, d.path().join("ci"));
    assert_eq!(codes(&p.settings), vec!["MV002"]);
    assert_eq!(p.files.len(), 1);
    // A missing --config is an I/O error naming it.
    let err = discover_from(
        d.path(),
        &[],
        Some(Path::new("nope.toml")),
        &RuleSelection::default(),
        &Registry::builtin(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::Io { path, .. } if path.ends_with("nope.toml")),
        "{err:?}"
    );
}

#[test]
fn root_falls_back_to_alembic_ini_then_path() {
    let d = tmp();
    write(
        d.path(),
        "alembic.ini",
        "[alembic]\nscript_location = %(here)s/alembic\nsqlalchemy.url = driver://user:pass@localhost/dbname\n",
    );
    migration(d.path(), "alembic/versions/a1.py");
    let p = discover(&d.path().join("alembic"), &[]).unwrap();
    assert_eq!(p.root, d.path());
    assert!(p.config_path.is_none());
    assert_eq!(
        p.sqlalchemy_url(),
        Some("driver://user:pass@localhost/dbname")
    );
    assert_eq!(names(&p), vec!["alembic/versions/a1.py"]);

    // No config, no alembic.ini: a directory of migrations is a version location.
    let e = tmp();
    migration(e.path(), "m1.py");
    let p = discover(e.path(), &[]).unwrap();
    assert_eq!(p.root, e.path());
    assert_eq!(p.version_locations, vec![e.path().to_path_buf()]);
    assert_eq!(names(&p), vec!["m1.py"]);

    // Nothing at all: an error that says what to do.
    let f = tmp();
    let err = discover(f.path(), &[]).unwrap_err();
    assert!(matches!(err, Error::Project { .. }), "{err:?}");
}

#[test]
fn missing_path_is_an_io_error_naming_it() {
    let d = tmp();
    let err = discover(d.path(), &["does/not/exist"]).unwrap_err();
    match err {
        Error::Io { path, .. } => assert!(path.ends_with("does/not/exist")),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------- alembic

#[test]
fn alembic_ini_here_and_multiple_version_locations() {
    let d = tmp();
    write(
        d.path(),
        "alembic.ini",
        "[alembic]\nscript_location = %(here)s/alembic\n\
         version_locations = %(here)s/alembic/versions:%(here)s/extra\npath_separator = os\n",
    );
    migration(d.path(), "alembic/versions/a1.py");
    migration(d.path(), "extra/b1.py");
    migration(d.path(), "extra/nested/c1.py");
    let p = discover(d.path(), &[]).unwrap();
    assert_eq!(
        p.version_locations,
        vec![d.path().join("alembic/versions"), d.path().join("extra")]
    );
    assert_eq!(names(&p), vec!["alembic/versions/a1.py", "extra/b1.py"]);
}

#[test]
fn alembic_ini_legacy_splitting_and_recursive() {
    let d = tmp();
    write(
        d.path(),
        "alembic.ini",
        "[alembic]\nscript_location = alembic\nversion_locations = %(here)s/one, %(here)s/two\n\
         recursive_version_locations = true\n",
    );
    migration(d.path(), "one/a1.py");
    migration(d.path(), "two/deep/er/b1.py");
    migration(d.path(), "two/__pycache__/cached.py");
    let p = discover(d.path(), &[]).unwrap();
    assert_eq!(names(&p), vec!["one/a1.py", "two/deep/er/b1.py"]);
}

#[test]
fn alembic_ini_newline_separator_and_relative_paths() {
    let d = tmp();
    write(
        d.path(),
        "alembic.ini",
        "[alembic]\nscript_location = alembic\npath_separator = newline\nversion_locations =\n    alembic/versions\n    other dir\n",
    );
    migration(d.path(), "alembic/versions/a1.py");
    migration(d.path(), "other dir/b1.py");
    let p = discover(d.path(), &[]).unwrap();
    assert_eq!(names(&p), vec!["alembic/versions/a1.py", "other dir/b1.py"]);
}

#[test]
fn alembic_ini_bad_separator_points_at_it() {
    let d = tmp();
    write(
        d.path(),
        "alembic.ini",
        "[alembic]\nscript_location = alembic\nversion_locations = a,b\npath_separator = comma\n",
    );
    let (msg, help, text) = config_err(discover(d.path(), &[]).unwrap_err());
    assert!(msg.contains("path_separator"), "{msg}");
    assert!(help.contains("newline"), "{help}");
    assert_eq!(text, "comma");
}

#[test]
fn pyproject_tool_alembic() {
    let d = tmp();
    write(
        d.path(),
        "pyproject.toml",
        "[tool.alembic]\nscript_location = \"%(here)s/migrations\"\n\
         version_locations = [\"%(here)s/migrations/versions\", \"%(here)s/more\"]\n\
         recursive_version_locations = true\n",
    );
    migration(d.path(), "migrations/versions/a1.py");
    migration(d.path(), "more/x/b1.py");
    let p = discover(d.path(), &[]).unwrap();
    assert!(p.config_path.is_none());
    let a = p.alembic.as_ref().unwrap();
    assert_eq!(a.pyproject_path, Some(d.path().join("pyproject.toml")));
    assert!(a.recursive_version_locations);
    assert_eq!(names(&p), vec!["migrations/versions/a1.py", "more/x/b1.py"]);
}

#[test]
fn ini_wins_over_tool_alembic_and_migverify_wins_over_both() {
    let d = tmp();
    write(
        d.path(),
        "alembic.ini",
        "[alembic]\nscript_location = from_ini\n",
    );
    write(
        d.path(),
        "pyproject.toml",
        "[tool.alembic]\nscript_location = \"from_toml\"\n",
    );
    migration(d.path(), "from_ini/versions/a1.py");
    migration(d.path(), "from_toml/versions/b1.py");
    migration(d.path(), "mine/c1.py");
    let p = discover(d.path(), &[]).unwrap();
    assert_eq!(names(&p), vec!["from_ini/versions/a1.py"]);
    write(
        d.path(),
        "migverify.toml",
        "[migrations]\nversion_locations = [\"mine\"]\n",
    );
    let p = discover(d.path(), &[]).unwrap();
    assert_eq!(names(&p), vec!["mine/c1.py"]);
    // sqlalchemy.url comes from the ini only.
    assert_eq!(p.sqlalchemy_url(), None);
}

// ---------------------------------------------------------------- files

#[test]
fn alembic_skip_rules_and_excludes() {
    let d = tmp();
    write(
        d.path(),
        "migverify.toml",
        "[migrations]\nversion_locations = [\"v\"]\nrecursive_version_locations = true\nexclude = [\"**/legacy/**\", \"skip_*.py\"]\n",
    );
    migration(d.path(), "v/a1.py");
    migration(d.path(), "v/__init__.py");
    migration(d.path(), "v/.#a1.py");
    write(d.path(), "v/notes.txt", "x");
    migration(d.path(), "v/legacy/old.py");
    migration(d.path(), "v/sub/skip_me.py");
    migration(d.path(), "v/sub/b1.py");
    fs::create_dir_all(d.path().join("v/dir.py")).unwrap();
    let p = discover(d.path(), &[]).unwrap();
    assert_eq!(names(&p), vec!["v/a1.py", "v/sub/b1.py"]);
}

#[cfg(unix)]
#[test]
fn same_file_through_two_locations_or_a_symlink_is_read_once() {
    use std::os::unix::fs::symlink;
    let d = tmp();
    migration(d.path(), "real/a1.py");
    migration(d.path(), "real/b1.py");
    symlink(d.path().join("real"), d.path().join("alias")).unwrap();
    fs::create_dir_all(d.path().join("third")).unwrap();
    symlink(
        d.path().join("real/a1.py"),
        d.path().join("third/a1_link.py"),
    )
    .unwrap();
    write(
        d.path(),
        "migverify.toml",
        "[migrations]\nversion_locations = [\"real\", \"alias\", \"third\", \"real\"]\n",
    );
    let p = discover(d.path(), &[]).unwrap();
    assert_eq!(names(&p), vec!["real/a1.py", "real/b1.py"]);
    assert_eq!(p.version_locations.len(), 2, "{:?}", p.version_locations);
}

#[cfg(unix)]
#[test]
fn dangling_symlinks_and_loops_are_skipped_with_a_warning() {
    use std::os::unix::fs::symlink;
    let d = tmp();
    write(
        d.path(),
        "migverify.toml",
        "[migrations]\nversion_locations = [\"v\"]\nrecursive_version_locations = true\n",
    );
    migration(d.path(), "v/a1.py");
    symlink(d.path().join("v/gone.py"), d.path().join("v/dangling.py")).unwrap();
    symlink(d.path().join("v"), d.path().join("v/loop")).unwrap();
    let p = discover(d.path(), &[]).unwrap();
    assert_eq!(names(&p), vec!["v/a1.py"]);
    assert!(
        p.warnings.iter().any(|w| w.contains("dangling.py")),
        "{:?}",
        p.warnings
    );
    assert!(
        p.warnings.iter().any(|w| w.contains("loop")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn single_files_load_the_whole_location_but_report_only_themselves() {
    let d = tmp();
    write(
        d.path(),
        "alembic.ini",
        "[alembic]\nscript_location = alembic\n",
    );
    migration(d.path(), "alembic/versions/a1.py");
    let b = migration(d.path(), "alembic/versions/b1.py");
    let p = discover(d.path(), &["alembic/versions/b1.py"]).unwrap();
    assert_eq!(
        names(&p),
        vec!["alembic/versions/a1.py", "alembic/versions/b1.py"]
    );
    assert_eq!(p.only, Some(vec![b]));
    // From inside the version directory, by a relative name.
    let p = discover(&d.path().join("alembic/versions"), &["./a1.py"]).unwrap();
    assert_eq!(p.root, d.path());
    assert_eq!(p.files.len(), 2);
    assert_eq!(p.only, Some(vec![d.path().join("alembic/versions/a1.py")]));
}

#[test]
fn a_version_directory_given_directly() {
    let d = tmp();
    migration(d.path(), "somewhere/versions/a1.py");
    migration(d.path(), "somewhere/versions/b1.py");
    let p = discover(d.path(), &["somewhere/versions"]).unwrap();
    assert_eq!(
        p.version_locations,
        vec![d.path().join("somewhere/versions")]
    );
    assert_eq!(p.files.len(), 2);
}

#[test]
fn file_outside_any_location_uses_its_directory() {
    let d = tmp();
    let f = migration(d.path(), "loose/a1.py");
    migration(d.path(), "loose/b1.py");
    let p = discover(d.path(), &["loose/a1.py"]).unwrap();
    assert_eq!(p.files.len(), 2);
    assert_eq!(p.only, Some(vec![f]));
}

// ---------------------------------------------------------------- selection

#[test]
fn recommended_is_the_registry_default() {
    let reg = Registry::builtin();
    let s = settings_of("", &RuleSelection::default()).unwrap();
    assert_eq!(enabled(&s), enabled(&Settings::recommended(&reg)));
    assert!(!codes(&s).contains(&"MV012".to_string()));
}

#[test]
fn strict_selects_all_and_raises_warnings() {
    let reg = Registry::builtin();
    let s = settings_of("extends = \"strict\"\n", &RuleSelection::default()).unwrap();
    assert_eq!(s.enabled.len(), reg.len());
    for &(i, sev) in &s.enabled {
        let m = reg.get(i).meta();
        let expected = if m.severity == Severity::Warning {
            Severity::Error
        } else {
            m.severity
        };
        assert_eq!(sev, expected, "{}", m.code);
    }
}

#[test]
fn select_replaces_extend_adds_ignore_removes() {
    let none = RuleSelection::default();
    let s = settings_of("[rules]\nselect = [\"MV00\"]\nignore = [\"empty-downgrade\"]\nextend-select = [\"MV012\"]\n", &none).unwrap();
    assert_eq!(
        codes(&s),
        vec![
            "MV001", "MV002", "MV004", "MV005", "MV006", "MV007", "MV008", "MV009", "MV012"
        ]
    );
    // MV012 is off by default and reports at its registry severity when selected.
    assert!(enabled(&s).contains(&("MV012".into(), Severity::Warning)));

    // CLI --select replaces the config's selection; --extend-select and --ignore add on top.
    let cfg = "[rules]\nselect = [\"MV001\", \"MV002\"]\n";
    let s = settings_of(cfg, &sel(&["MV003"], &["MV004"], &["MV004"], &[])).unwrap();
    assert_eq!(codes(&s), vec!["MV003"]);
    let s = settings_of(cfg, &sel(&[], &["MV010"], &["MV001"], &[])).unwrap();
    assert_eq!(codes(&s), vec!["MV002", "MV010"]);
}

#[test]
fn severity_layers_and_off() {
    let cfg = "[rules.severity]\nempty-downgrade = \"error\"\nMV010 = \"off\"\nALL = \"info\"\nMV006 = \"warning\"\n";
    let s = settings_of(cfg, &RuleSelection::default()).unwrap();
    let e = enabled(&s);
    assert!(e.contains(&("MV003".into(), Severity::Error)));
    assert!(e.contains(&("MV006".into(), Severity::Warning)));
    assert!(e.contains(&("MV001".into(), Severity::Info)));
    assert!(!codes(&s).contains(&"MV010".into()));
    // The command line comes last; `off` there disables, a level there re-levels.
    let s = settings_of(
        cfg,
        &sel(&[], &["MV010"], &[], &["MV003=warning", "MV001=off"]),
    )
    .unwrap();
    let e = enabled(&s);
    assert!(e.contains(&("MV003".into(), Severity::Warning)));
    assert!(e.contains(&("MV010".into(), Severity::Info)));
    assert!(!codes(&s).contains(&"MV001".into()));
    // A level never turns on a rule that is not selected.
    let s = settings_of(
        "[rules.severity]\nunused-suppression = \"error\"\n",
        &RuleSelection::default(),
    )
    .unwrap();
    assert!(!codes(&s).contains(&"MV012".into()));
}

#[test]
fn flags_from_full_and_check_schema_never_fail() {
    // --check-schema adds the MV2 family: the drift rules (on already) and MV205,
    // off by default.
    let s = settings_of("", &sel(&[], &["MV2"], &[], &[])).unwrap();
    assert_eq!(
        s.enabled.len(),
        Settings::recommended(&Registry::builtin()).enabled.len() + 1
    );
    assert!(codes(&s).contains(&"MV205".into()));
    let s = settings_of("", &sel(&["ALL"], &[], &[], &[])).unwrap();
    assert_eq!(s.enabled.len(), Registry::builtin().len());
}

#[test]
fn bad_cli_values_are_argument_errors() {
    for (s, needle) in [
        (sel(&["MV9"], &[], &[], &[]), "MV9"),
        (sel(&[], &["empty-downgrad"], &[], &[]), "empty-downgrade"),
        (sel(&[], &[], &["nope"], &[]), "nope"),
        (sel(&[], &[], &[], &["MV003"]), "RULE=LEVEL"),
        (
            sel(&[], &[], &[], &["MV003=loud"]),
            "error, warning, info, off",
        ),
        (sel(&[], &[], &[], &["MV999=error"]), "MV999"),
    ] {
        match settings_of("", &s).unwrap_err() {
            Error::Argument { message, help } => {
                let all = format!("{message} {}", help.unwrap_or_default());
                assert!(all.contains(needle), "{all}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn per_file_ignores() {
    let s = settings_of(
        "[per-file-ignores]\n\"alembic/versions/0001_*.py\" = [\"MV003\", \"empty-upgrade\"]\n\"legacy_*.py\" = [\"MV0\"]\n",
        &RuleSelection::default(),
    )
    .unwrap();
    let reg = Registry::builtin();
    let by_pattern = |pat: &str| {
        s.per_file_ignores
            .iter()
            .find(|p| p.pattern == pat)
            .unwrap()
    };
    let first = by_pattern("alembic/versions/0001_*.py");
    assert_eq!(
        first.rules,
        vec![reg.find("MV003").unwrap(), reg.find("MV005").unwrap()]
    );
    assert!(first.matcher.is_match("alembic/versions/0001_init.py"));
    assert!(!first.matcher.is_match("alembic/versions/sub/0001_init.py"));
    let second = by_pattern("legacy_*.py");
    assert_eq!(second.rules.len(), 14, "MV001–MV014");
    assert!(second.matcher.is_match("legacy_x.py"));
    assert!(second.matcher.is_match("alembic/versions/legacy_x.py"));
}

#[test]
fn database_and_models_are_kept() {
    let d = tmp();
    write(
        d.path(),
        "migverify.toml",
        "[migrations]\nversion_locations = [\"v\"]\n[database]\nurl = \"${DATABASE_URL}\"\nsnapshot = \"schema.json\"\n\
         version_table = \"versions\"\nversion_table_schema = \"meta\"\nschemas = [\"public\", \"x\"]\nconnect_timeout = \"5s\"\n\
         [models]\npaths = [\"app/models/**/*.py\"]\nignore_tables = [\"spatial_ref_sys\"]\n",
    );
    migration(d.path(), "v/a1.py");
    let p = discover(d.path(), &[]).unwrap();
    let db = &p.database;
    assert_eq!(db.url.as_ref().unwrap().get_ref(), "${DATABASE_URL}");
    let text = fs::read_to_string(d.path().join("migverify.toml")).unwrap();
    assert_eq!(
        &text[db.url.as_ref().unwrap().span()],
        "\"${DATABASE_URL}\""
    );
    assert_eq!(
        db.snapshot.as_ref().unwrap().get_ref(),
        &d.path().join("schema.json")
    );
    assert_eq!(db.version_table(), "versions");
    assert_eq!(db.version_table_schema.as_deref(), Some("meta"));
    assert_eq!(db.schemas, vec!["public", "x"]);
    assert_eq!(db.connect_timeout, Some(std::time::Duration::from_secs(5)));
    assert_eq!(p.models.paths, vec!["app/models/**/*.py"]);
    assert_eq!(p.models.ignore_tables, vec!["spatial_ref_sys"]);
}

// ---------------------------------------------------------------- errors

fn err_of(toml: &str) -> (String, String, String) {
    config_err(
        settings_of(toml, &RuleSelection::default())
            .and_then(|_| {
                // Sections resolved outside `settings` are checked too.
                let file = ConfigFile::parse(None, "migverify.toml".into(), toml.into())?;
                let c = Config::load(Some(file))?;
                c.migrations()?;
                c.database(Path::new("/"))?;
                c.models()?;
                Ok(Settings::recommended(&Registry::builtin()))
            })
            .unwrap_err(),
    )
}

#[test]
fn toml_syntax_error() {
    let toml = "[rules]\nselect = [\"MV001\"\n";
    let err = settings_of(toml, &RuleSelection::default()).unwrap_err();
    let Error::Config { message, span, .. } = err else {
        panic!("{err:?}")
    };
    assert!(
        message.contains("invalid TOML: unclosed array"),
        "{message}"
    );
    // Right after the last element, where the `]` is missing.
    assert_eq!(
        span.unwrap().offset(),
        toml.find('\n').unwrap() + 1 + "select = [\"MV001\"".len()
    );
}

#[test]
fn unknown_key_lists_valid_keys() {
    let (msg, help, text) = err_of("[migrations]\nscript-location = \"x\"\n");
    assert!(msg.contains("unknown key `script-location`"), "{msg}");
    assert!(help.contains("did you mean `script_location`"), "{help}");
    assert!(help.contains("version_locations"), "{help}");
    assert_eq!(text, "script-location");
    let (msg, help, text) = err_of("extend = \"strict\"\n");
    assert!(msg.contains("unknown key `extend`"), "{msg}");
    assert!(help.contains("per-file-ignores"), "{help}");
    assert_eq!(text, "extend");
}

#[test]
fn wrong_type_names_the_key() {
    let (msg, _, text) = err_of("[rules]\nselect = \"MV001\"\n");
    assert!(msg.contains("`select`"), "{msg}");
    assert_eq!(text, "\"MV001\"");
    let (msg, _, text) = err_of("[migrations]\nrecursive_version_locations = \"yes\"\n");
    assert!(msg.contains("recursive_version_locations"), "{msg}");
    assert_eq!(text, "\"yes\"");
}

#[test]
fn unknown_rules_suggest() {
    let (msg, help, text) = err_of("[rules]\nselect = [\"MV001\", \"empty-downgrad\"]\n");
    assert!(
        msg.contains("unknown rule `empty-downgrad` in `select`"),
        "{msg}"
    );
    assert!(help.contains("did you mean `empty-downgrade`?"), "{help}");
    assert_eq!(text, "\"empty-downgrad\"");
    let (msg, _, text) = err_of("[rules]\nignore = [\"MV9\"]\n");
    assert!(msg.contains("`ignore`"), "{msg}");
    assert_eq!(text, "\"MV9\"");
    let (msg, help, text) = err_of("[rules.severity]\nmultiple-head = \"error\"\n");
    assert!(msg.contains("multiple-head"), "{msg}");
    assert!(help.contains("multiple-heads"), "{help}");
    assert_eq!(text, "multiple-head");
    let (msg, _, text) = err_of("[per-file-ignores]\n\"x.py\" = [\"MV0003\"]\n");
    assert!(msg.contains("`per-file-ignores`"), "{msg}");
    assert_eq!(text, "\"MV0003\"");
}

#[test]
fn bad_severity_lists_levels() {
    let (msg, help, text) = err_of("[rules.severity]\nMV003 = \"warn\"\n");
    assert!(msg.contains("invalid severity `warn`"), "{msg}");
    assert!(help.contains("error, warning, info, off"), "{help}");
    assert_eq!(text, "\"warn\"");
}

#[test]
fn bad_glob() {
    let (msg, _, text) = err_of("[per-file-ignores]\n\"a/[b.py\" = [\"MV003\"]\n");
    assert!(msg.contains("invalid glob in `per-file-ignores`"), "{msg}");
    assert_eq!(text, "\"a/[b.py\"");
    let (msg, _, text) = err_of("[migrations]\nexclude = [\"{a\"]\n");
    assert!(msg.contains("`exclude`"), "{msg}");
    assert_eq!(text, "\"{a\"");
    let (msg, _, text) = err_of("[models]\npaths = [\"x/**[\"]\n");
    assert!(msg.contains("`paths`"), "{msg}");
    assert_eq!(text, "\"x/**[\"");
}

#[test]
fn unknown_preset_lists_presets() {
    let (msg, help, text) = err_of("extends = \"stict\"\n");
    assert!(msg.contains("unknown preset `stict`"), "{msg}");
    assert!(help.contains("did you mean `strict`"), "{help}");
    assert!(help.contains("recommended, strict"), "{help}");
    assert_eq!(text, "\"stict\"");
}

#[test]
fn bad_connect_timeout() {
    let (msg, _, text) = err_of("[database]\nconnect_timeout = \"soon\"\n");
    assert!(msg.contains("connect_timeout"), "{msg}");
    assert_eq!(text, "\"soon\"");
}

#[test]
fn errors_in_pyproject_point_into_it() {
    let d = tmp();
    write(
        d.path(),
        "pyproject.toml",
        "[project]\nname = \"x\"\n\n[tool.migverify.rules]\nselct = [\"ALL\"]\n",
    );
    let (msg, help, text) = config_err(discover(d.path(), &[]).unwrap_err());
    assert!(
        msg.contains("unknown key `selct` in [tool.migverify.rules]"),
        "{msg}"
    );
    assert!(help.contains("did you mean `select`"), "{help}");
    assert_eq!(text, "selct");
}

// ---------------------------------------------------------------- docs

#[test]
fn example_config_parses_with_the_real_loader() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("migverify.toml.example");
    let file = ConfigFile::read(&path).unwrap().unwrap();
    let config = Config::load(Some(file)).unwrap();
    config
        .settings(&RuleSelection::default(), &Registry::builtin())
        .unwrap();
    config.migrations().unwrap();
    config.database(Path::new("/")).unwrap();
    config.models().unwrap();
    // Every key of the schema appears in the example.
    let text = fs::read_to_string(&path).unwrap();
    for (table, keys) in migverify::config::schema::KEYS {
        for key in *keys {
            assert!(
                text.contains(&format!("{key} ="))
                    || text.contains(&format!("[{key}]"))
                    || text.contains(&format!("[rules.{key}]")),
                "migverify.toml.example lacks `{key}` ({table})"
            );
        }
    }
}

#[test]
fn documented_keys_match_the_schema() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md");
    let text = fs::read_to_string(&path).unwrap();
    let mut schema: Vec<String> = Vec::new();
    for (table, keys) in migverify::config::schema::KEYS {
        for key in *keys {
            schema.push(if table.is_empty() {
                key.to_string()
            } else {
                format!("{table}.{key}")
            });
        }
    }
    // Every schema key has a `### ` heading naming it.
    let headings: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("### `"))
        .map(|l| l.trim_end_matches('`').to_string())
        .collect();
    for key in &schema {
        assert!(
            headings.contains(key),
            "docs/configuration.md lacks a `### `{key}`` heading"
        );
    }
    // And every such heading names a schema key.
    for h in &headings {
        assert!(
            schema.contains(h),
            "docs/configuration.md documents `{h}`, which the schema lacks"
        );
    }
}
