//! `migverify graph`: the revision graph as data.

use serde::Serialize;

use crate::graph::RevisionGraph;
use crate::migration::Migration;
use crate::project::Project;

#[derive(Serialize)]
pub struct GraphJson {
    pub revisions: Vec<RevisionJson>,
    pub heads: Vec<String>,
    pub bases: Vec<String>,
}

#[derive(Serialize)]
pub struct RevisionJson {
    pub revision: String,
    pub down_revisions: Vec<String>,
    pub depends_on: Vec<String>,
    pub branch_labels: Vec<String>,
    /// Relative to the project root, `/`-separated.
    pub path: String,
    pub message: Option<String>,
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
        .map(|n| {
            let m = &migrations[n.migration];
            let rel = m.path.strip_prefix(&project.root).unwrap_or(&m.path);
            RevisionJson {
                revision: n.revision.clone(),
                down_revisions: strings(&mut m.down_revisions()),
                depends_on: strings(&mut m.depends_on()),
                branch_labels: strings(&mut m.branch_labels()),
                path: rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/"),
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
    }
}
