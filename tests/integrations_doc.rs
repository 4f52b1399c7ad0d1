//! docs/integrations.md shows the GitHub workflow that `scripts/lint-workflows` checks
//! with actionlint (docs/github-workflow.example.yml): the page must show that file
//! exactly, so what users copy is what was linted. The hook file it documents must
//! say what the page says.

use std::path::Path;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

#[test]
fn the_page_shows_the_linted_workflow() {
    let page = read("docs/integrations.md");
    let workflow = read("docs/github-workflow.example.yml");
    assert!(
        page.contains(&format!("```yaml\n{workflow}```\n")),
        "docs/integrations.md must show docs/github-workflow.example.yml verbatim in a \
         ```yaml block"
    );
}

#[test]
fn the_page_quotes_the_hook() {
    let page = read("docs/integrations.md");
    let hooks = read(".pre-commit-hooks.yaml");
    let files = hooks
        .lines()
        .find_map(|l| l.trim().strip_prefix("files: "))
        .expect("a files: pattern");
    assert!(page.contains(&format!("`files: {files}`")), "{files}");
    assert!(hooks.contains("\n  pass_filenames: false\n"));
    assert!(hooks.contains("\n- id: migverify\n"));
    assert!(hooks.contains("\n  language: rust\n"));
    assert!(hooks.contains("\n  entry: migverify check\n"));
    // The hook never needs a database by default (issue 15), and the page says how
    // to turn database checks on.
    assert!(hooks.contains("\n  args: [--no-database]\n"));
    assert!(page.contains("`args: [--no-database]`"));
    assert!(page.contains("args: []"));
}
