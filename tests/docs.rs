//! `docs/rules/` is generated from the registry (`render_rule_doc`), like ruff's rule
//! pages: `<CODE>.md` per rule and a `README.md` index. This test fails when a page
//! is missing, stale or left over; `MIGVERIFY_UPDATE_DOCS=1 cargo test --test docs`
//! rewrites them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use migverify::rules::{Registry, render_rule_doc};

const UPDATE_HINT: &str =
    "run `MIGVERIFY_UPDATE_DOCS=1 cargo test --test docs` to regenerate docs/rules/";

fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rules")
}

/// Every generated page: file name -> content.
fn generated(registry: &Registry) -> BTreeMap<String, String> {
    let mut pages = BTreeMap::new();
    let mut index = String::from(
        "# Rules\n\n\
         <!-- Generated from the rule registry by `tests/docs.rs`; do not edit. -->\n\
         <!-- Regenerate: MIGVERIFY_UPDATE_DOCS=1 cargo test --test docs -->\n\n\
         | Code | Name | Default | Summary |\n\
         |---|---|---|---|\n",
    );
    for rule in registry.rules() {
        let m = rule.meta();
        pages.insert(format!("{}.md", m.code), render_rule_doc(rule.as_ref()));
        index.push_str(&format!(
            "| [{code}]({code}.md) | `{name}` | {default} | {summary} |\n",
            code = m.code,
            name = m.name,
            default = m.default_level(),
            summary = m.summary.replace('|', "\\|"),
        ));
    }
    pages.insert("README.md".to_string(), index);
    pages
}

fn on_disk(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in rd.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            out.insert(name, text);
        }
    }
    out
}

#[test]
fn rule_docs_are_up_to_date() {
    let registry = Registry::builtin();
    let want = generated(&registry);
    let dir = docs_dir();

    if std::env::var_os("MIGVERIFY_UPDATE_DOCS").is_some_and(|v| !v.is_empty() && v != "0") {
        std::fs::create_dir_all(&dir).unwrap();
        for name in on_disk(&dir).keys().filter(|n| !want.contains_key(*n)) {
            std::fs::remove_file(dir.join(name)).unwrap();
        }
        for (name, text) in &want {
            std::fs::write(dir.join(name), text).unwrap();
        }
        return;
    }

    let have = on_disk(&dir);
    let mut problems = Vec::new();
    for (name, text) in &want {
        match have.get(name) {
            None => problems.push(format!("docs/rules/{name} is missing")),
            Some(old) if old != text => {
                let line = old
                    .lines()
                    .zip(text.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or_else(|| old.lines().count().min(text.lines().count()))
                    + 1;
                problems.push(format!(
                    "docs/rules/{name} is out of date (first difference at line {line})"
                ));
            }
            Some(_) => {}
        }
    }
    for name in have.keys().filter(|n| !want.contains_key(*n)) {
        problems.push(format!(
            "docs/rules/{name} documents no rule in the registry"
        ));
    }
    assert!(
        problems.is_empty(),
        "{}\n{UPDATE_HINT}",
        problems.join("\n")
    );
}

#[test]
fn every_rule_has_a_page() {
    let registry = Registry::builtin();
    let want = generated(&registry);
    for rule in registry.rules() {
        let name = format!("{}.md", rule.meta().code);
        assert!(want.contains_key(&name), "no page generated for {name}");
        let page = &want[&name];
        assert!(
            page.starts_with(&format!("# {} {}\n", rule.meta().code, rule.meta().name)),
            "{name} does not start with its title"
        );
        assert!(
            want["README.md"].contains(&format!("[{code}]({code}.md)", code = rule.meta().code)),
            "the index does not link {name}"
        );
    }
}
