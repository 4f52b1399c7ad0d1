//! `migverify init` and `migverify completions`, end to end: the written
//! migverify.toml reflects the project, loads with the real loader, makes `check`
//! find the migrations, and is never overwritten without `--force`.

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use migverify::cli::RuleSelection;
use migverify::rules::Registry;
use tempfile::TempDir;

fn migverify(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("migverify").unwrap();
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("MIGVERIFY_DATABASE_URL");
    cmd
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

fn migration(revision: &str, down: Option<&str>) -> String {
    let down = down.map_or("None".to_string(), |d| format!("{d:?}"));
    format!(
        "\"\"\"{revision}\"\"\"\nfrom alembic import op\nimport sqlalchemy as sa\n\n\
         revision = {revision:?}\ndown_revision = {down}\nbranch_labels = None\ndepends_on = None\n\n\n\
         def upgrade():\n    op.create_table(\"t\", sa.Column(\"id\", sa.Integer))\n\n\n\
         def downgrade():\n    op.drop_table(\"t\")\n"
    )
}

const MODELS: &str = "from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column\n\n\
class Base(DeclarativeBase):\n    pass\n\n\nclass User(Base):\n    __tablename__ = \"users\"\n    \
id: Mapped[int] = mapped_column(primary_key=True)\n";

const ENV_PY: &str = "from alembic import context\nfrom sqlalchemy import engine_from_config\n\
target_metadata = None\n";

/// An Alembic project as `alembic init` lays it out, with models in a package.
fn alembic_project() -> TempDir {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    write(
        p,
        "alembic.ini",
        "[alembic]\nscript_location = %(here)s/alembic\n\
         sqlalchemy.url = driver://user:pass@localhost/dbname\n",
    );
    write(p, "alembic/env.py", ENV_PY);
    write(p, "alembic/versions/aaa_base.py", &migration("aaa", None));
    write(
        p,
        "alembic/versions/bbb_next.py",
        &migration("bbb", Some("aaa")),
    );
    write(p, "app/models/__init__.py", "");
    write(p, "app/models/user.py", MODELS);
    write(p, "app/main.py", "print('hello')\n");
    write(p, ".venv/lib/site.py", MODELS);
    write(p, "tests/conftest.py", MODELS);
    d
}

/// The project `check` would see from `dir`, through the written config.
fn discover(dir: &Path) -> migverify::project::Project {
    migverify::project::discover_from(
        dir,
        &[],
        None,
        &RuleSelection::default(),
        &Registry::builtin(),
    )
    .unwrap()
}

#[test]
fn init_in_an_alembic_project_writes_a_config_that_loads() {
    let d = alembic_project();
    let out = migverify(d.path()).arg("init").assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        stdout.contains("wrote ") && stdout.contains("migverify.toml"),
        "{stdout}"
    );

    let text = fs::read_to_string(d.path().join("migverify.toml")).unwrap();
    // Alembic's settings are read on every run: written as comments.
    assert!(text.contains("# Found alembic.ini"), "{text}");
    assert!(text.contains("# script_location = \"alembic\""), "{text}");
    // The models guess: the package, not env.py, the virtualenv or the tests.
    assert!(text.contains("paths = [\"app/models/**/*.py\"]"), "{text}");
    assert!(!text.contains(".venv"), "{text}");

    let project = discover(d.path());
    assert_eq!(project.config_path, Some(d.path().join("migverify.toml")));
    assert_eq!(project.models.paths, vec!["app/models/**/*.py".to_string()]);
    assert_eq!(project.files.len(), 2, "{:?}", project.files);
    migverify(d.path()).arg("check").assert().code(0);
}

#[test]
fn init_with_alembic_in_a_subdirectory_writes_active_keys() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    write(
        p,
        "backend/alembic.ini",
        "[alembic]\nscript_location = %(here)s/migrations\n",
    );
    write(
        p,
        "backend/migrations/versions/aaa_base.py",
        &migration("aaa", None),
    );
    migverify(p).arg("init").assert().success();
    let text = fs::read_to_string(p.join("migverify.toml")).unwrap();
    assert!(
        text.contains("\nscript_location = \"backend/migrations\"\n"),
        "{text}"
    );
    let project = discover(p);
    assert_eq!(project.files.len(), 1, "{:?}", project.files);
}

#[test]
fn init_without_alembic_config_finds_versions_directories() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    write(p, "db/versions/aaa_base.py", &migration("aaa", None));
    write(p, "models.py", MODELS);
    migverify(p).arg("init").assert().success();
    let text = fs::read_to_string(p.join("migverify.toml")).unwrap();
    assert!(
        text.contains("\nversion_locations = [\"db/versions\"]\n"),
        "{text}"
    );
    assert!(text.contains("paths = [\"models.py\"]"), "{text}");
    assert_eq!(discover(p).files.len(), 1);
}

#[test]
fn init_refuses_to_overwrite_and_force_replaces() {
    let d = alembic_project();
    let p = d.path();
    write(p, "migverify.toml", "extends = \"strict\"\n");
    migverify(p)
        .arg("init")
        .assert()
        .code(2)
        .stderr(predicates::str::contains("already exists"))
        .stderr(predicates::str::contains("--force"));
    assert_eq!(
        fs::read_to_string(p.join("migverify.toml")).unwrap(),
        "extends = \"strict\"\n"
    );
    migverify(p).args(["init", "--force"]).assert().success();
    assert!(
        fs::read_to_string(p.join("migverify.toml"))
            .unwrap()
            .contains("migverify init")
    );
}

#[test]
fn init_refuses_when_pyproject_has_a_migverify_table() {
    let d = alembic_project();
    let p = d.path();
    write(
        p,
        "pyproject.toml",
        "[tool.migverify]\nextends = \"strict\"\n",
    );
    migverify(p)
        .arg("init")
        .assert()
        .code(2)
        .stderr(predicates::str::contains("[tool.migverify]"));
    assert!(!p.join("migverify.toml").exists());
}

#[test]
fn init_reads_tool_alembic_from_pyproject() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    write(
        p,
        "pyproject.toml",
        "[tool.alembic]\nscript_location = \"%(here)s/migrations\"\n",
    );
    write(
        p,
        "migrations/versions/aaa_base.py",
        &migration("aaa", None),
    );
    migverify(p).arg("init").assert().success();
    let text = fs::read_to_string(p.join("migverify.toml")).unwrap();
    assert!(text.contains("pyproject.toml [tool.alembic]"), "{text}");
    assert!(
        text.contains("# script_location = \"migrations\""),
        "{text}"
    );
    assert_eq!(discover(p).files.len(), 1);
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [
        ("bash", "_migverify()"),
        ("zsh", "#compdef migverify"),
        ("fish", "complete -c migverify"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[migverify]"),
    ] {
        let out = migverify(Path::new("."))
            .args(["completions", shell])
            .assert()
            .success();
        let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
        assert!(text.contains(marker), "{shell}: {text}");
        assert!(
            text.contains("init") && text.contains("stdin-filename"),
            "{shell}"
        );
    }
    migverify(Path::new("."))
        .args(["completions", "tcsh"])
        .assert()
        .code(2);
}
