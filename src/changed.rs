//! `check --changed-since REF`: the files changed since the merge base of REF and
//! HEAD, and the findings that concern them. Git answers through the `git`
//! command; nothing here reads git's data itself.
//!
//! Changed files: what `git diff --name-only <merge-base>` lists (commits since
//! the merge base, staged and unstaged changes) and the untracked files git does
//! not ignore (`git ls-files --others --exclude-standard`).
//!
//! What is reported: a finding of a rule that reads only the migrations (file
//! rules and graph rules) when its location or one of its related locations is in
//! a changed file, so a graph problem shows when a changed file is part of it (a
//! new second head, a duplicate id, a cycle, a dangling link). Database and drift
//! findings are reported as usual. The graph itself is built from every file.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::diagnostic::Diagnostic;
use crate::report::Report;
use crate::rules::{Input, Registry};

/// The files changed since a reference.
#[derive(Clone, Debug)]
pub struct Changed {
    /// The reference, as given.
    pub reference: String,
    /// The merge base of the reference and HEAD (a commit id).
    pub merge_base: String,
    /// The changed files, absolute (each also as its real path).
    pub files: HashSet<PathBuf>,
}

/// What `--changed-since` did, kept in the report's summary for the emitters.
#[derive(Clone, Debug)]
pub struct Scope {
    pub reference: String,
    pub merge_base: String,
    /// Changed files among the run's migration files.
    pub migration_files: usize,
    /// Findings left out: in no changed file.
    pub left_out: usize,
}

fn git_error(message: String, help: Option<&str>) -> crate::Error {
    crate::Error::Git {
        message,
        help: help.map(str::to_string),
    }
}

/// Runs `git` in `dir`; its standard output, or its first line of complaint.
fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(crate::text::escape_controls(
            err.lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("git failed")
                .trim(),
        )
        .into_owned())
    }
}

fn path_of(bytes: &[u8]) -> PathBuf {
    #[cfg(unix)]
    {
        PathBuf::from(<OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(bytes))
    }
    #[cfg(not(unix))]
    {
        PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// The files changed since the merge base of `reference` and HEAD in the git
/// repository holding `dir`, with the working tree's changes.
pub fn since(dir: &Path, reference: &str) -> Result<Changed, crate::Error> {
    let shown = crate::text::truncate(reference, 80);
    if reference.is_empty() || reference.starts_with('-') {
        return Err(git_error(
            format!("`{shown}` is not a git revision"),
            Some("name a branch, tag or commit: --changed-since main"),
        ));
    }
    let top = git(dir, &["rev-parse", "--show-toplevel"]).map_err(|e| {
        git_error(
            format!("{} is not in a git repository ({e})", dir.display()),
            Some("--changed-since compares with git history; run it in a git checkout"),
        )
    })?;
    let top = path_of(
        String::from_utf8_lossy(&top)
            .trim_end_matches(['\n', '\r'])
            .as_bytes(),
    );
    let commit = format!("{reference}^{{commit}}");
    let rev = git(&top, &["rev-parse", "--verify", "--quiet", &commit]).map_err(|_| {
        git_error(
            format!("unknown git revision `{shown}` in {}", top.display()),
            Some("name a branch, tag or commit that exists here (in CI, fetch it first: git fetch origin main)"),
        )
    })?;
    let rev = String::from_utf8_lossy(&rev).trim().to_string();
    let base = git(&top, &["merge-base", &rev, "HEAD"]).map_err(|e| {
        git_error(
            format!(
                "`{shown}` and HEAD have no merge base{}",
                if e.is_empty() {
                    String::new()
                } else {
                    format!(" ({e})")
                }
            ),
            Some("in a shallow clone, fetch more history (fetch-depth: 0)"),
        )
    })?;
    let merge_base = String::from_utf8_lossy(&base).trim().to_string();
    let diff = git(
        &top,
        &[
            "diff",
            "--name-only",
            "-z",
            "--no-renames",
            &merge_base,
            "--",
        ],
    )
    .map_err(|e| git_error(format!("git diff failed: {e}"), None))?;
    let untracked = git(&top, &["ls-files", "--others", "--exclude-standard", "-z"])
        .map_err(|e| git_error(format!("git ls-files failed: {e}"), None))?;
    let mut files = HashSet::new();
    for name in diff
        .split(|&b| b == 0)
        .chain(untracked.split(|&b| b == 0))
        .filter(|n| !n.is_empty())
    {
        let path = top.join(path_of(name));
        if let Ok(real) = std::fs::canonicalize(&path) {
            files.insert(real);
        }
        files.insert(path);
    }
    Ok(Changed {
        reference: reference.to_string(),
        merge_base,
        files,
    })
}

impl Changed {
    /// Whether `path` is a changed file (as named, or by its real path).
    pub fn contains(&self, path: &Path) -> bool {
        self.files.contains(path)
            || std::fs::canonicalize(path).is_ok_and(|real| self.files.contains(&real))
    }

    /// Whether the finding `d` concerns a changed file.
    fn concerns(&self, d: &Diagnostic) -> bool {
        self.contains(&d.location.path) || d.related.iter().any(|r| self.contains(&r.location.path))
    }
}

/// Leaves out of `report` the findings of migration rules that concern no changed
/// file (their rules' inputs are looked up in `registry`; a rule it does not know,
/// a project's own, reads the migrations). A baseline's findings are filtered the
/// same way.
pub fn filter(report: &mut Report, changed: &Changed, registry: &Registry) {
    let migrations_only = |d: &Diagnostic| {
        registry.find(&d.code).is_none_or(|i| {
            registry
                .get(i)
                .meta()
                .inputs
                .iter()
                .all(|i| *i == Input::Migrations)
        })
    };
    let keep = |d: &Diagnostic| !migrations_only(d) || changed.concerns(d);
    let before = report.diagnostics.len();
    report.diagnostics.retain(keep);
    let left_out = before - report.diagnostics.len();
    if let Some(b) = &mut report.summary.baseline {
        b.unchanged.retain(keep);
    }
    let migration_files = report
        .status
        .migration_files
        .iter()
        .filter(|p| changed.contains(p))
        .count();
    report.summary.changed = Some(Scope {
        reference: changed.reference.clone(),
        merge_base: changed.merge_base.clone(),
        migration_files,
        left_out,
    });
    report.recount();
}
