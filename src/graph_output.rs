//! `migverify graph`: the revision graph as data (`json`) and as pictures (`dot` for
//! Graphviz, `mermaid` for Markdown), with the database's current revision(s) marked
//! when one is given.

use serde::Serialize;
use std::path::{Component, Path, PathBuf};

use crate::graph::RevisionGraph;
use crate::migration::Migration;
use crate::project::Project;

#[derive(Serialize)]
pub struct GraphJson {
    pub revisions: Vec<RevisionJson>,
    pub heads: Vec<String>,
    pub bases: Vec<String>,
    /// Every branch label with the heads that carry it (in their effective labels):
    /// `alembic upgrade <label>@head` works exactly when there is one.
    pub branches: Vec<BranchJson>,
    /// The revision(s) in the database's version table; only with a database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<Vec<String>>,
}

#[derive(Serialize)]
pub struct RevisionJson {
    pub revision: String,
    pub down_revisions: Vec<String>,
    pub depends_on: Vec<String>,
    pub branch_labels: Vec<String>,
    /// The labels in force at this revision, sorted: declared ones and those
    /// Alembic extends to it from a labeled revision (`Script.branch_labels`).
    pub effective_labels: Vec<String>,
    /// Relative to the project root, `/`-separated.
    pub path: String,
    pub message: Option<String>,
}

#[derive(Serialize)]
pub struct BranchJson {
    pub label: String,
    /// The revision that declares the label.
    pub revision: String,
    pub heads: Vec<String>,
}

pub fn to_json(project: &Project, migrations: &[Migration]) -> GraphJson {
    let graph = RevisionGraph::build(migrations);
    let strings =
        |it: &mut dyn Iterator<Item = &crate::migration::Spanned<String>>| -> Vec<String> {
            it.map(|s| s.value.clone()).collect()
        };
    let revisions = graph
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let m = &migrations[n.migration];
            RevisionJson {
                revision: n.revision.clone(),
                down_revisions: strings(&mut m.down_revisions()),
                depends_on: strings(&mut m.depends_on()),
                branch_labels: strings(&mut m.branch_labels()),
                effective_labels: graph.effective_labels(i).to_vec(),
                path: json_path(&project.root, &m.path),
                message: m.message.clone(),
            }
        })
        .collect();
    GraphJson {
        revisions,
        heads: graph
            .heads
            .iter()
            .map(|&h| graph.revision(h).to_string())
            .collect(),
        bases: graph
            .bases
            .iter()
            .map(|&b| graph.revision(b).to_string())
            .collect(),
        branches: branches(&graph),
        current: None,
    }
}

/// A file's path for `graph --format json`: relative to the project root and
/// `/`-separated when inside it, else absolute (`..` resolved lexically in both
/// cases, so a version location `../shared/versions` is outside the root).
fn json_path(root: &Path, path: &Path) -> String {
    let normal = |p: &Path| -> PathBuf {
        let mut out = PathBuf::new();
        for c in p.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir => {
                    if !out.pop() {
                        out.push(c);
                    }
                }
                other => out.push(other),
            }
        }
        out
    };
    let (root, path) = (normal(root), normal(path));
    match path.strip_prefix(&root) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
        _ => path.display().to_string(),
    }
}

/// Each declared branch label (in the order revisions declare them) with the heads
/// that carry it.
fn branches(graph: &RevisionGraph) -> Vec<BranchJson> {
    let mut labels: Vec<(&str, usize)> =
        graph.labels.iter().map(|(l, &n)| (l.as_str(), n)).collect();
    labels.sort_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)));
    labels
        .into_iter()
        .map(|(label, node)| BranchJson {
            label: label.to_string(),
            revision: graph.revision(node).to_string(),
            heads: graph
                .heads
                .iter()
                .filter(|&&h| graph.effective_labels(h).iter().any(|l| l == label))
                .map(|&h| graph.revision(h).to_string())
                .collect(),
        })
        .collect()
}

/// What the pictures (`dot`, `mermaid`) draw: one box per revision, plus a dashed
/// box for every revision that is referenced (by a `down_revision`, `depends_on` or
/// the database's version table) but declared by no file.
struct Picture {
    nodes: Vec<PicNode>,
    /// (from, to, kind): from the older revision to the newer one.
    edges: Vec<(usize, usize, EdgeKind)>,
}

struct PicNode {
    revision: String,
    message: Option<String>,
    labels: Vec<String>,
    head: bool,
    base: bool,
    merge: bool,
    /// Two or more revisions revise it (a branch point).
    fork: bool,
    current: bool,
    missing: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum EdgeKind {
    DownRevision,
    DependsOn,
}

impl PicNode {
    /// The box's text: revision, message, then tags.
    fn lines(&self) -> Vec<String> {
        let mut lines = vec![self.revision.clone()];
        if let Some(m) = self
            .message
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
        {
            lines.push(crate::text::truncate(m.lines().next().unwrap_or(m), 40));
        }
        let mut tags: Vec<String> = Vec::new();
        if self.missing {
            tags.push("missing".into());
        }
        if self.head {
            tags.push("head".into());
        }
        if self.merge {
            tags.push("merge".into());
        }
        if self.base {
            tags.push("base".into());
        }
        if self.fork {
            tags.push("branch point".into());
        }
        for l in &self.labels {
            tags.push(format!("@{l}"));
        }
        if self.current {
            tags.push("current".into());
        }
        if !tags.is_empty() {
            lines.push(format!("({})", tags.join(", ")));
        }
        lines
    }

    /// One style class, by priority: current, missing, head, merge, plain.
    fn class(&self) -> &'static str {
        if self.current {
            "current"
        } else if self.missing {
            "missing"
        } else if self.head {
            "head"
        } else if self.merge {
            "merge"
        } else {
            "revision"
        }
    }
}

fn picture(migrations: &[Migration], current: &[String]) -> Picture {
    let graph = RevisionGraph::build(migrations);
    // Declared revisions in apply order (cycles, which have none, after the rest).
    let mut order = graph.topological_order();
    let mut seen = vec![false; graph.nodes.len()];
    for &n in &order {
        seen[n] = true;
    }
    order.extend((0..graph.nodes.len()).filter(|&n| !seen[n]));

    let mut pic = Picture {
        nodes: Vec::new(),
        edges: Vec::new(),
    };
    let mut index: std::collections::HashMap<String, usize> = Default::default();
    for &n in &order {
        let node = &graph.nodes[n];
        let m = &migrations[node.migration];
        index.insert(node.revision.clone(), pic.nodes.len());
        pic.nodes.push(PicNode {
            revision: node.revision.clone(),
            message: m.message.clone(),
            labels: m.branch_labels().map(|l| l.value.clone()).collect(),
            head: node.children.is_empty(),
            base: m.is_base(),
            merge: node.parents.len() >= 2 || m.is_merge(),
            fork: node.children.len() >= 2,
            current: current.contains(&node.revision),
            missing: false,
        });
    }
    let missing = |pic: &mut Picture,
                   index: &mut std::collections::HashMap<String, usize>,
                   rev: &str|
     -> usize {
        if let Some(&i) = index.get(rev) {
            return i;
        }
        index.insert(rev.to_string(), pic.nodes.len());
        pic.nodes.push(PicNode {
            revision: rev.to_string(),
            message: None,
            labels: Vec::new(),
            head: false,
            base: false,
            merge: false,
            fork: false,
            current: current.iter().any(|c| c == rev),
            missing: true,
        });
        pic.nodes.len() - 1
    };
    for &n in &order {
        let node = &graph.nodes[n];
        let to = index[&node.revision];
        let m = &migrations[node.migration];
        for down in m.down_revisions() {
            let from = missing(&mut pic, &mut index, &down.value);
            if !pic.edges.contains(&(from, to, EdgeKind::DownRevision)) {
                pic.edges.push((from, to, EdgeKind::DownRevision));
            }
        }
        for dep in m.depends_on() {
            // A branch label names the revision that carries it.
            let target = graph
                .labels
                .get(&dep.value)
                .map(|&l| graph.nodes[l].revision.clone())
                .unwrap_or_else(|| dep.value.clone());
            let from = missing(&mut pic, &mut index, &target);
            pic.edges.push((from, to, EdgeKind::DependsOn));
        }
    }
    for c in current {
        missing(&mut pic, &mut index, c);
    }
    pic
}

/// Graphviz DOT: `migverify graph --format dot | dot -Tsvg -o graph.svg`.
pub fn to_dot(migrations: &[Migration], current: &[String]) -> String {
    use std::fmt::Write;
    fn quote(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                // No other control character reaches a terminal or a log.
                c if c.is_control() => out.push('\u{fffd}'),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
    let pic = picture(migrations, current);
    let mut out = String::new();
    out.push_str("digraph migrations {\n");
    out.push_str("  rankdir=TB;\n");
    out.push_str(
        "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", \
         fontname=\"Helvetica\", fontsize=11];\n",
    );
    out.push_str("  edge [color=\"#555555\", fontname=\"Helvetica\", fontsize=9];\n");
    for (i, n) in pic.nodes.iter().enumerate() {
        let style = match n.class() {
            "current" => ", fillcolor=\"#fde68a\", color=\"#b45309\", penwidth=3",
            "missing" => ", style=\"rounded,dashed\", color=\"#dc2626\", fontcolor=\"#dc2626\"",
            "head" => ", fillcolor=\"#dbeafe\", color=\"#1d4ed8\", penwidth=2",
            "merge" => ", fillcolor=\"#ede9fe\", color=\"#6d28d9\"",
            _ => "",
        };
        let _ = writeln!(
            out,
            "  n{i} [label={}, tooltip={}{style}];",
            quote(&n.lines().join("\n")),
            quote(&n.revision),
        );
    }
    for &(from, to, kind) in &pic.edges {
        let attrs = match kind {
            EdgeKind::DownRevision => "",
            EdgeKind::DependsOn => " [style=dashed, label=\"depends on\"]",
        };
        let _ = writeln!(out, "  n{from} -> n{to}{attrs};");
    }
    out.push_str("}\n");
    out
}

/// Mermaid flowchart: paste into a ```` ```mermaid ```` block (GitHub renders it).
pub fn to_mermaid(migrations: &[Migration], current: &[String]) -> String {
    use std::fmt::Write;
    fn text(s: &str) -> String {
        let mut out = String::new();
        for c in s.chars() {
            match c {
                '"' => out.push_str("#quot;"),
                '<' => out.push_str("#lt;"),
                '>' => out.push_str("#gt;"),
                '#' => out.push_str("#35;"),
                c if c.is_control() => out.push_str(&format!("#{};", c as u32)),
                c => out.push(c),
            }
        }
        out
    }
    let pic = picture(migrations, current);
    let mut out = String::from("flowchart TD\n");
    for (i, n) in pic.nodes.iter().enumerate() {
        let label: Vec<String> = n.lines().iter().map(|l| text(l)).collect();
        let _ = writeln!(out, "  n{i}[\"{}\"]", label.join("<br/>"));
    }
    for &(from, to, kind) in &pic.edges {
        match kind {
            EdgeKind::DownRevision => {
                let _ = writeln!(out, "  n{from} --> n{to}");
            }
            EdgeKind::DependsOn => {
                let _ = writeln!(out, "  n{from} -.->|depends on| n{to}");
            }
        }
    }
    out.push_str("  classDef head fill:#dbeafe,stroke:#1d4ed8,stroke-width:2px\n");
    out.push_str("  classDef merge fill:#ede9fe,stroke:#6d28d9\n");
    out.push_str("  classDef current fill:#fde68a,stroke:#b45309,stroke-width:3px\n");
    out.push_str(
        "  classDef missing fill:#ffffff,stroke:#dc2626,stroke-dasharray:5 5,color:#dc2626\n",
    );
    for class in ["head", "merge", "current", "missing"] {
        let members: Vec<String> = pic
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.class() == class)
            .map(|(i, _)| format!("n{i}"))
            .collect();
        if !members.is_empty() {
            let _ = writeln!(out, "  class {} {class}", members.join(","));
        }
    }
    out
}

#[cfg(test)]
mod path_tests {
    use super::json_path;
    use std::path::Path;

    #[test]
    fn paths_are_relative_inside_the_root_and_absolute_outside() {
        let root = Path::new("/work/app");
        assert_eq!(
            json_path(root, Path::new("/work/app/migrations/versions/a1.py")),
            "migrations/versions/a1.py"
        );
        assert_eq!(
            json_path(root, Path::new("/work/shared/versions/a1.py")),
            "/work/shared/versions/a1.py"
        );
        assert_eq!(
            json_path(root, Path::new("/work/app/../shared/versions/a1.py")),
            "/work/shared/versions/a1.py"
        );
        assert_eq!(
            json_path(root, Path::new("/work/app/./versions/../versions/a1.py")),
            "versions/a1.py"
        );
    }
}
