//! Several Alembic environments in one repository: finding them, naming them, and
//! picking one (`--project`).
//!
//! `migverify check` on a directory that is not itself (inside) an Alembic
//! environment looks below it: every directory holding an `alembic.ini` or a
//! `pyproject.toml` with `[tool.alembic]` is one environment, checked as its own
//! revision graph. `[[projects]]` in migverify's config lists them instead. Hidden
//! directories, virtual environments, `node_modules`, `__pycache__` and
//! `site-packages` are not searched.

use std::path::{Path, PathBuf};

use crate::Error;
use crate::config::ConfigFile;

/// How deep below the starting directory environments are looked for.
pub const MAX_DEPTH: usize = 8;

/// How many directories the search looks at before it stops (a run in a home
/// directory must not walk the whole disk).
pub const MAX_DIRS: usize = 20_000;

/// One Alembic environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    /// Its name: `[[projects]] name`, else its directory relative to where the
    /// search started, `/`-separated (`.` for that directory itself).
    pub name: String,
    /// The directory holding its `alembic.ini` / `[tool.alembic]`.
    pub dir: PathBuf,
    /// The section of `alembic.ini` it is configured in, when not `[alembic]`
    /// (Alembic's `--name`).
    pub section: Option<String>,
}

/// The named sections of `dir`'s `alembic.ini` that are environments of their own:
/// those setting `script_location`, when `[alembic]` itself names no location (as
/// in Alembic's cookbook recipe "Run Multiple Alembic Environments from one .ini
/// file", run with `alembic --name NAME`). Empty otherwise, and when the file
/// cannot be read (the error is reported when the environment is checked).
pub fn named_sections(dir: &Path) -> Vec<String> {
    match super::AlembicConfig::read(dir) {
        Ok(Some(a))
            if a.script_location.is_none()
                && a.version_locations.is_none()
                && !super::is_script_directory(dir) =>
        {
            a.named_sections
        }
        _ => Vec::new(),
    }
}

/// The environments configured in `dir`, named after `name`: one, or one per
/// [`named_sections`] (`name:section`, or the section alone when `name` is `.`).
pub fn in_dir(dir: &Path, name: String) -> Vec<Environment> {
    let sections = named_sections(dir);
    if sections.is_empty() {
        return vec![Environment {
            name,
            dir: dir.to_path_buf(),
            section: None,
        }];
    }
    sections
        .into_iter()
        .map(|section| Environment {
            name: if name == "." {
                section.clone()
            } else {
                format!("{name}:{section}")
            },
            dir: dir.to_path_buf(),
            section: Some(section),
        })
        .collect()
}

/// Whether `dir` holds Alembic's configuration.
pub fn is_environment(dir: &Path) -> bool {
    if dir.join("alembic.ini").is_file() {
        return true;
    }
    let toml = dir.join("pyproject.toml");
    toml.is_file()
        && std::fs::read_to_string(&toml).is_ok_and(|t| {
            t.contains("alembic")
                && toml::from_str::<toml::Table>(&t)
                    .is_ok_and(|doc| doc.get("tool").and_then(|t| t.get("alembic")).is_some())
        })
}

/// The environments `[[projects]]` lists, relative to the config file's directory.
pub fn configured(file: &ConfigFile) -> Result<Option<Vec<Environment>>, Error> {
    let Some(projects) = &file.options.projects else {
        return Ok(None);
    };
    let base = file
        .path
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut out: Vec<Environment> = Vec::new();
    for p in projects {
        let dir = super::clean(&base.join(p.path.get_ref()));
        if !dir.is_dir() {
            return Err(file.error(
                p.path.span(),
                format!("project path `{}` is not a directory", p.path.get_ref()),
                "here",
                None,
            ));
        }
        let name = p
            .name
            .as_ref()
            .map_or_else(|| p.path.get_ref().clone(), |n| n.get_ref().clone());
        if out.iter().any(|e| e.name == name) {
            return Err(file.error(
                p.path.span(),
                format!("two projects are named `{name}`"),
                "here",
                Some("give each [[projects]] entry its own `name`".into()),
            ));
        }
        out.push(Environment {
            name,
            dir,
            section: None,
        });
    }
    Ok(Some(out))
}

/// Every environment at or below `start`, in path order (the first [`MAX_DIRS`]
/// directories, [`MAX_DEPTH`] levels deep).
pub fn find(start: &Path) -> Vec<Environment> {
    let mut out = Vec::new();
    let walker = walkdir::WalkDir::new(start)
        .follow_links(false)
        .max_depth(MAX_DEPTH)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            if !e.file_type().is_dir() {
                return false;
            }
            if e.depth() == 0 {
                return true;
            }
            let name = e.file_name().to_string_lossy();
            !(name.starts_with('.')
                || matches!(
                    name.as_ref(),
                    "node_modules" | "__pycache__" | "site-packages" | "venv" | "virtualenv"
                )
                || e.path().join("pyvenv.cfg").is_file())
        });
    for entry in walker.flatten().take(MAX_DIRS) {
        let dir = entry.path();
        if is_environment(dir) {
            let rel: Vec<String> = dir
                .strip_prefix(start)
                .unwrap_or(dir)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            let name = if rel.is_empty() {
                ".".into()
            } else {
                rel.join("/")
            };
            out.extend(in_dir(dir, name));
        }
    }
    out
}

/// The environment `--project` names: by name, else by path (relative to `cwd`).
pub fn pick(envs: &[Environment], wanted: &str, cwd: &Path) -> Result<Environment, Error> {
    if let Some(e) = envs.iter().find(|e| e.name == wanted) {
        return Ok(e.clone());
    }
    let path = super::clean(&cwd.join(wanted));
    let real = std::fs::canonicalize(&path).ok();
    if let Some(e) = envs
        .iter()
        .find(|e| e.dir == path || (real.is_some() && std::fs::canonicalize(&e.dir).ok() == real))
    {
        return Ok(e.clone());
    }
    let names: Vec<String> = envs.iter().map(|e| format!("`{}`", e.name)).collect();
    Err(Error::Project {
        message: format!(
            "--project {wanted}: no such project; the projects here are {}",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ),
        help: Some("name one of them, or give the path of its directory".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_environments_and_skips_hidden_dirs_and_venvs() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for d in [
            "services/core",
            "services/tenant",
            ".git/x",
            ".venv/lib",
            "node_modules/pkg",
            "myvenv",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("services/core/alembic.ini"), "[alembic]\n").unwrap();
        std::fs::write(
            root.join("services/tenant/pyproject.toml"),
            "[tool.alembic]\nscript_location = \"m\"\n",
        )
        .unwrap();
        for hidden in [".git/x", ".venv/lib", "node_modules/pkg", "myvenv"] {
            std::fs::write(root.join(hidden).join("alembic.ini"), "[alembic]\n").unwrap();
        }
        std::fs::write(root.join("myvenv/pyvenv.cfg"), "home = /usr\n").unwrap();
        let envs = find(root);
        let names: Vec<&str> = envs.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["services/core", "services/tenant"]);
        assert_eq!(
            pick(&envs, "services/tenant", root).unwrap().name,
            "services/tenant"
        );
        assert_eq!(
            pick(&envs, "services/core", Path::new("/elsewhere"))
                .unwrap()
                .dir,
            root.join("services/core")
        );
        let err = pick(&envs, "nope", root).unwrap_err().to_string();
        assert!(err.contains("`services/core`, `services/tenant`"), "{err}");
    }
}
