//! The dependency directions of docs/architecture.md ("Dependency directions"),
//! enforced: every `crate::` path in `src/` (outside comments and `#[cfg(test)]`
//! items) names a module in the importing module's layer or below, or an upward
//! import the exceptions table lists. A plain text scan, no parsing of Rust.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers (module -> layer number, 1 at the top) and the upward imports allowed.
struct Table {
    layer: BTreeMap<String, usize>,
    exceptions: BTreeSet<(String, String)>,
}

/// The backticked words of a table cell.
fn ticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn table() -> Table {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/architecture.md"))
            .unwrap();
    let section = doc
        .split("\n## Dependency directions")
        .nth(1)
        .expect("docs/architecture.md has a `## Dependency directions` section");
    let section = section.split("\n## ").next().unwrap();
    let mut t = Table {
        layer: BTreeMap::new(),
        exceptions: BTreeSet::new(),
    };
    for line in section.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // `| layer | modules | what |` and `| from | to | why |`.
        if cells.len() < 4 {
            continue;
        }
        if let Ok(n) = cells[1].parse::<usize>() {
            for m in ticked(cells[2]) {
                assert!(
                    t.layer.insert(m.clone(), n).is_none(),
                    "{m} is in two layers"
                );
            }
        } else if let ([from], to) = (&ticked(cells[1])[..], ticked(cells[2])) {
            for to in to {
                t.exceptions.insert((from.clone(), to));
            }
        }
    }
    assert!(t.layer.len() > 10, "no layers table found");
    t
}

/// The top-level module of a file under `src/` (`config/resolve.rs` -> `config`).
fn module_of(rel: &Path) -> String {
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The modules a file's code names: `(line number, module, through super)` for
/// each `crate::x`
/// and each `super::` path that climbs to the crate root. `depth` is how many
/// `super::` reach the root from this file (1 for `src/x.rs` and `src/x/mod.rs`).
fn imports(text: &str, depth: usize) -> Vec<(usize, String, bool)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut in_test = false;
    for (i, line) in lines.iter().enumerate() {
        if in_test {
            // A top-level item ends at a `}` in the first column.
            in_test = *line != "}";
            continue;
        }
        if *line == "#[cfg(test)]" {
            // `mod x;` is a file of its own, skipped by `test_files`.
            in_test = !lines
                .get(i + 1)
                .is_some_and(|l| l.trim_end().ends_with(';'));
            continue;
        }
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        for (at, _) in code.match_indices("crate::") {
            // `crate::` inside a longer name (`migverify_crate::`) is not ours.
            if code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                continue;
            }
            out.push((i + 1, name_at(&code[at + "crate::".len()..]), false));
        }
        for (at, _) in code.match_indices("super::") {
            if code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let mut rest = &code[at..];
            let mut up = 0;
            while let Some(r) = rest.strip_prefix("super::") {
                rest = r;
                up += 1;
            }
            if up >= depth {
                out.push((i + 1, name_at(rest), true));
            }
        }
    }
    out
}

/// The module a path after `crate::` starts with (`Error` is the `error` module's).
fn name_at(path: &str) -> String {
    let name: String = path
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    match name.as_str() {
        "Error" => "error".to_string(),
        "" => path.chars().take(1).collect(), // `crate::{...}`: reported as unknown
        _ => name,
    }
}

/// Files that are `#[cfg(test)] mod x;` (test helpers): not checked.
fn test_files(src: &Path, files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for w in lines.windows(2) {
            if w[0].trim() != "#[cfg(test)]" {
                continue;
            }
            let decl = w[1].trim();
            let Some(name) = decl
                .trim_start_matches("pub(crate) ")
                .trim_start_matches("pub ")
                .strip_prefix("mod ")
                .and_then(|r| r.strip_suffix(';'))
            else {
                continue;
            };
            let dir = match f.file_name().and_then(|n| n.to_str()) {
                Some("mod.rs" | "lib.rs") => f.parent().unwrap().to_path_buf(),
                _ => f.with_extension(""),
            };
            out.insert(
                dir.join(format!("{name}.rs"))
                    .strip_prefix(src)
                    .unwrap()
                    .into(),
            );
            out.insert(
                dir.join(name)
                    .join("mod.rs")
                    .strip_prefix(src)
                    .unwrap()
                    .into(),
            );
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// How many `super::` reach the crate root from `rel`.
fn depth_of(rel: &Path) -> usize {
    let parts = rel.components().count();
    if rel.file_name().is_some_and(|n| n == "mod.rs") {
        parts - 1
    } else {
        parts
    }
}

/// Every import that goes against the table, as `file:line: from -> to (why)`,
/// and the exceptions still in use.
fn check(t: &Table, src: &Path) -> (Vec<String>, BTreeSet<(String, String)>) {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let skip = test_files(src, &files);
    let mut wrong = Vec::new();
    let mut used = BTreeSet::new();
    for f in &files {
        let rel = f.strip_prefix(src).unwrap();
        if rel == Path::new("lib.rs") || rel == Path::new("main.rs") || skip.contains(rel) {
            continue;
        }
        let from = module_of(rel);
        let Some(&from_layer) = t.layer.get(&from) else {
            wrong.push(format!(
                "src/{}: module `{from}` is in no layer",
                rel.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(f).unwrap();
        for (line, to, via_super) in imports(&text, depth_of(rel)) {
            if to == from {
                continue;
            }
            let place = format!("src/{}:{line}", rel.display());
            // `super::` in an inline module (`mod signals { use super::X; }`)
            // stays in the file: only module names count.
            if via_super && !t.layer.contains_key(&to) {
                continue;
            }
            match t.layer.get(&to) {
                None => wrong.push(format!("{place}: `{to}` is in no layer")),
                Some(&to_layer) if to_layer < from_layer => {
                    let pair = (from.clone(), to.clone());
                    if t.exceptions.contains(&pair) {
                        used.insert(pair);
                    } else {
                        wrong.push(format!(
                            "{place}: `{from}` (layer {from_layer}) imports `{to}` (layer \
                             {to_layer}), a layer above it"
                        ));
                    }
                }
                Some(_) => {}
            }
        }
    }
    (wrong, used)
}

#[test]
fn imports_run_down_the_layers() {
    let t = table();
    let (wrong, used) = check(&t, &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(
        wrong.is_empty(),
        "imports against docs/architecture.md (\"Dependency directions\"):\n{}",
        wrong.join("\n")
    );
    let stale: Vec<String> = t
        .exceptions
        .difference(&used)
        .map(|(a, b)| format!("{a} -> {b}"))
        .collect();
    assert!(
        stale.is_empty(),
        "exceptions in docs/architecture.md no import needs any more (remove them): {}",
        stale.join(", ")
    );
}

/// The check itself fails on an upward import, and reads what it must skip.
#[test]
fn the_check_sees_an_upward_import() {
    let t = table();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("config")).unwrap();
    std::fs::write(
        src.join("config/resolve.rs"),
        "//! [`crate::cli`] in a doc comment is fine\n\
         use crate::diagnostic::Severity;\n\
         use crate::cli::RuleSelection;\n\
         fn f() -> crate::Error { todo!() }\n\
         #[cfg(test)]\nmod tests {\n    use crate::engine::check;\n}\n",
    )
    .unwrap();
    std::fs::write(src.join("graph.rs"), "use super::rules::Registry;\n").unwrap();
    let (wrong, _) = check(&t, src);
    assert_eq!(wrong.len(), 2, "{wrong:#?}");
    assert!(
        wrong[0].starts_with("src/config/resolve.rs:3: `config`"),
        "{wrong:#?}"
    );
    assert!(
        wrong[1].starts_with("src/graph.rs:1: `graph`"),
        "{wrong:#?}"
    );
}
