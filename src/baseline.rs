//! Baseline files: `check --write-baseline FILE` records the findings of a run,
//! `check --baseline FILE` (or `[check] baseline`) reports only the findings the
//! file does not hold. See docs/adopting.md.
//!
//! The file is JSON, sorted so that it diffs well under version control:
//!
//! ```json
//! {
//!   "version": 1,
//!   "entries": [
//!     {"code": "MV003", "path": "migrations/versions/1a2b_add_users.py",
//!      "fingerprint": "5c1e…:1", "message": "downgrade() of 1a2b is empty"}
//!   ]
//! }
//! ```
//!
//! `path` is relative to the baseline file's directory (`/`-separated; absolute for
//! a file outside it); `fingerprint` is [`crate::fingerprint`] with that directory
//! as its base, so an entry keeps matching while lines move above or inside the
//! file. `message` is for people reading the file; it is not compared. An entry
//! matches one finding of the same rule, file and fingerprint; entries left over
//! are problems fixed since the file was written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::diagnostic::Diagnostic;
use crate::report::Report;

/// The baseline format's version.
pub const VERSION: u32 = 1;

/// The largest baseline file read.
const LIMIT: u64 = 64 * 1024 * 1024;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFormat {
    version: u32,
    entries: Vec<Entry>,
}

/// One recorded finding.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Entry {
    pub code: String,
    pub path: String,
    pub fingerprint: String,
    #[serde(default)]
    pub message: String,
}

/// A baseline file read.
#[derive(Debug)]
pub struct Baseline {
    /// The file, as named (for messages).
    pub path: PathBuf,
    /// Its directory, absolute: entries' paths are relative to it.
    pub dir: PathBuf,
    pub entries: Vec<Entry>,
}

/// What applying a baseline did, kept in the report's summary for the emitters.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The baseline file, as named.
    pub file: PathBuf,
    /// The findings it holds, left out of the report's diagnostics (SARIF lists
    /// them with `baselineState: "unchanged"`).
    pub unchanged: Vec<Diagnostic>,
    /// Its entries that matched no finding: problems fixed since it was written.
    pub fixed: usize,
}

impl Outcome {
    /// The new findings and the baselined ones together, in report order, each
    /// with whether the baseline holds it.
    pub fn all<'a>(&'a self, new: &'a [Diagnostic]) -> Vec<(&'a Diagnostic, bool)> {
        let mut all: Vec<(&Diagnostic, bool)> = new
            .iter()
            .map(|d| (d, false))
            .chain(self.unchanged.iter().map(|d| (d, true)))
            .collect();
        all.sort_by_cached_key(|(d, _)| d.order_key());
        all
    }

    /// `2 baseline entries are fixed: run --write-baseline FILE to drop them`.
    pub fn fixed_note(&self) -> Option<String> {
        (self.fixed > 0).then(|| {
            format!(
                "{} {} fixed: run --write-baseline {} to drop {}",
                self.fixed,
                if self.fixed == 1 {
                    "baseline entry is"
                } else {
                    "baseline entries are"
                },
                self.file.display(),
                if self.fixed == 1 { "it" } else { "them" },
            )
        })
    }
}

fn error(path: &Path, message: impl Into<String>) -> crate::Error {
    crate::Error::Baseline {
        path: path.to_path_buf(),
        message: message.into(),
        help: Some(format!(
            "write it with `migverify check --write-baseline {}`",
            path.display()
        )),
    }
}

/// The directory a baseline file's paths are relative to.
fn dir_of(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    abs.parent().map_or_else(|| abs.clone(), Path::to_path_buf)
}

/// Reads the baseline file `path` (relative paths against `cwd`); a missing or
/// malformed file is an error naming it.
pub fn read(path: &Path, cwd: &Path) -> Result<Baseline, crate::Error> {
    let abs = cwd.join(path);
    let bytes = crate::bounded::read(&abs, LIMIT, "a baseline file").map_err(|e| {
        let reason = if e.kind() == std::io::ErrorKind::NotFound {
            "it does not exist".to_string()
        } else {
            e.to_string()
        };
        error(path, reason)
    })?;
    let file: FileFormat = serde_json::from_slice(&bytes)
        .map_err(|e| error(path, format!("it is not a migverify baseline file ({e})")))?;
    if file.version != VERSION {
        return Err(error(
            path,
            format!(
                "it is baseline format version {}; this migverify reads version {VERSION}",
                file.version
            ),
        ));
    }
    Ok(Baseline {
        path: path.to_path_buf(),
        dir: dir_of(&abs),
        entries: file.entries,
    })
}

/// The entries recording every diagnostic of `report`, sorted.
fn entries(report: &Report, dir: &Path) -> Vec<Entry> {
    let prints = crate::fingerprint::fingerprints(&report.diagnostics, &report.sources, dir);
    let mut entries: Vec<Entry> = report
        .diagnostics
        .iter()
        .zip(prints)
        .map(|(d, fingerprint)| Entry {
            code: d.code.clone(),
            path: crate::report::relative_path(&d.location.path, dir),
            fingerprint,
            message: crate::text::truncate(d.message.lines().next().unwrap_or_default(), 200),
        })
        .collect();
    entries.sort();
    entries
}

/// Writes every diagnostic of `report` to the baseline file `path` (relative to
/// `cwd`); returns the entries written.
pub fn write(path: &Path, cwd: &Path, report: &Report) -> Result<Vec<Entry>, crate::Error> {
    let abs = cwd.join(path);
    let entries = entries(report, &dir_of(&abs));
    let file = FileFormat {
        version: VERSION,
        entries,
    };
    let mut json = serde_json::to_vec_pretty(&file).expect("json");
    json.push(b'\n');
    crate::fsutil::write_atomic(&abs, &json)?;
    Ok(file.entries)
}

/// `wrote 37 findings to FILE (MV002 ×12, MV003 ×25)`, a line.
pub fn written_note(path: &Path, entries: &[Entry]) -> String {
    let mut by_code: std::collections::BTreeMap<&str, usize> = Default::default();
    for e in entries {
        *by_code.entry(e.code.as_str()).or_default() += 1;
    }
    let counts: Vec<String> = by_code.iter().map(|(c, n)| format!("{c} ×{n}")).collect();
    format!(
        "wrote {} {} to {}{}\n",
        entries.len(),
        if entries.len() == 1 {
            "finding"
        } else {
            "findings"
        },
        crate::text::escape_controls(&path.display().to_string()),
        if counts.is_empty() {
            String::new()
        } else {
            format!(" ({})", counts.join(", "))
        }
    )
}

/// Leaves the findings `baseline` holds out of `report` (into
/// `report.summary.baseline`), and counts its entries that matched nothing among
/// the files this run reported on (`scope` when files were named, else the
/// project's files).
pub fn apply(report: &mut Report, baseline: &Baseline, scope: Option<&[PathBuf]>) {
    let prints =
        crate::fingerprint::fingerprints(&report.diagnostics, &report.sources, &baseline.dir);
    let mut left: HashMap<(String, String, String), usize> = HashMap::new();
    for e in &baseline.entries {
        *left
            .entry((e.code.clone(), e.path.clone(), e.fingerprint.clone()))
            .or_default() += 1;
    }
    let mut new = Vec::new();
    let mut unchanged = Vec::new();
    for (d, print) in std::mem::take(&mut report.diagnostics)
        .into_iter()
        .zip(prints)
    {
        let path = crate::report::relative_path(&d.location.path, &baseline.dir);
        match left.get_mut(&(d.code.clone(), path, print)) {
            Some(n) if *n > 0 => {
                *n -= 1;
                unchanged.push(d);
            }
            _ => new.push(d),
        }
    }
    report.diagnostics = new;
    // Entries about files this run did not check (another environment than
    // `--project` picked) are not "fixed".
    let checked: std::collections::HashSet<String> = match scope {
        Some(files) => files
            .iter()
            .map(|p| crate::report::relative_path(p, &baseline.dir))
            .collect(),
        None => report
            .status
            .migration_files
            .iter()
            .chain(report.status.model_files.iter().flatten())
            .chain(report.sources.keys())
            .map(|p| crate::report::relative_path(p, &baseline.dir))
            .collect(),
    };
    let fixed = left
        .iter()
        .filter(|((_, path, _), _)| checked.contains(path))
        .map(|(_, n)| n)
        .sum();
    report.summary.baseline = Some(Outcome {
        file: baseline.path.clone(),
        unchanged,
        fixed,
    });
    report.recount();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_note_counts() {
        let mut o = Outcome {
            file: PathBuf::from("b.json"),
            unchanged: Vec::new(),
            fixed: 0,
        };
        assert_eq!(o.fixed_note(), None);
        o.fixed = 1;
        assert_eq!(
            o.fixed_note().unwrap(),
            "1 baseline entry is fixed: run --write-baseline b.json to drop it"
        );
        o.fixed = 2;
        assert_eq!(
            o.fixed_note().unwrap(),
            "2 baseline entries are fixed: run --write-baseline b.json to drop them"
        );
    }

    #[test]
    fn a_missing_or_malformed_file_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        let err = read(Path::new("nope.json"), dir.path()).unwrap_err();
        assert!(err.to_string().contains("nope.json"), "{err}");
        std::fs::write(dir.path().join("bad.json"), "{\"version\": 1").unwrap();
        let err = read(Path::new("bad.json"), dir.path()).unwrap_err();
        assert!(err.to_string().contains("bad.json"), "{err}");
        std::fs::write(
            dir.path().join("v9.json"),
            "{\"version\": 9, \"entries\": []}",
        )
        .unwrap();
        let err = format!(
            "{:?}",
            miette::Report::new(read(Path::new("v9.json"), dir.path()).unwrap_err())
        );
        assert!(err.contains("version 9"), "{err}");
    }
}
