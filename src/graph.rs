//! The revision graph: revisions linked by `down_revision` (and `depends_on`),
//! with heads, bases, branch points, merges, labels, cycles and dangling links.
//!
//! Every algorithm here is iterative and linear (or near it) in the number of
//! revisions, so a 50,000-revision history cannot overflow the stack.

use std::collections::HashMap;

use crate::migration::Migration;

/// One revision in the graph.
#[derive(Clone, Debug)]
pub struct Node {
    pub revision: String,
    /// Index into the migrations slice of the file that declares it (the last
    /// one in path order when several do, as Alembic keeps the last).
    pub migration: usize,
    /// Nodes named by `down_revision`.
    pub parents: Vec<usize>,
    /// Nodes whose `down_revision` names this one.
    pub children: Vec<usize>,
    /// Nodes named by `depends_on` (a revision or a branch label's revision).
    pub dependencies: Vec<usize>,
}

/// Which assignment a dangling reference stands in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    DownRevision,
    DependsOn,
}

/// A `down_revision` / `depends_on` entry that names nothing.
#[derive(Clone, Debug)]
pub struct Dangling {
    pub migration: usize,
    pub kind: LinkKind,
    /// Index of the entry in its assignment's items.
    pub item: usize,
}

#[derive(Debug, Default)]
pub struct RevisionGraph {
    pub nodes: Vec<Node>,
    index: HashMap<String, usize>,
    /// Branch label -> node carrying it.
    pub labels: HashMap<String, usize>,
    /// Groups of migration indices that declare the same revision (two or more each).
    pub duplicates: Vec<Vec<usize>>,
    /// Nodes no `down_revision` names, in path order.
    pub heads: Vec<usize>,
    /// Nodes whose `down_revision` is `None` (or empty), in path order.
    pub bases: Vec<usize>,
    /// Strongly connected sets of nodes linked in a cycle (each in cycle order).
    pub cycles: Vec<Vec<usize>>,
    /// Cycles that need a `depends_on` link to close (each in cycle order, following
    /// `down_revision` and `depends_on` links): Alembic's "Dependency cycle".
    pub dependency_cycles: Vec<Vec<usize>>,
    /// Branch labels that two or more revisions declare: the label and its nodes, in
    /// path order.
    pub duplicate_labels: Vec<(String, Vec<usize>)>,
    pub dangling: Vec<Dangling>,
}

impl RevisionGraph {
    /// Builds the graph of the migrations that declare a revision. `migrations`
    /// must be in a stable (path) order.
    pub fn build(migrations: &[Migration]) -> RevisionGraph {
        let mut g = RevisionGraph::default();
        let mut declared: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut order: Vec<&str> = Vec::new();
        for (i, m) in migrations.iter().enumerate() {
            if let Some(rev) = m.revision_id() {
                let entry = declared.entry(rev).or_default();
                if entry.is_empty() {
                    order.push(rev);
                }
                entry.push(i);
            }
        }
        for rev in order {
            let files = &declared[rev];
            if files.len() > 1 {
                g.duplicates.push(files.clone());
            }
            let node = g.nodes.len();
            g.index.insert(rev.to_string(), node);
            g.nodes.push(Node {
                revision: rev.to_string(),
                migration: *files.last().expect("non-empty"),
                parents: Vec::new(),
                children: Vec::new(),
                dependencies: Vec::new(),
            });
        }
        let mut label_order: Vec<&str> = Vec::new();
        let mut labeled: HashMap<&str, Vec<usize>> = HashMap::new();
        for n in 0..g.nodes.len() {
            let m = &migrations[g.nodes[n].migration];
            for label in m.branch_labels() {
                g.labels.entry(label.value.clone()).or_insert(n);
                let nodes = labeled.entry(label.value.as_str()).or_default();
                if nodes.is_empty() {
                    label_order.push(label.value.as_str());
                }
                if !nodes.contains(&n) {
                    nodes.push(n);
                }
            }
        }
        for label in label_order {
            if labeled[label].len() > 1 {
                g.duplicate_labels
                    .push((label.to_string(), labeled[label].clone()));
            }
        }
        for n in 0..g.nodes.len() {
            let mi = g.nodes[n].migration;
            let m = &migrations[mi];
            for (item, down) in m.down_revisions().enumerate() {
                match g.index.get(down.value.as_str()) {
                    Some(&p) => {
                        if !g.nodes[n].parents.contains(&p) {
                            g.nodes[n].parents.push(p);
                            g.nodes[p].children.push(n);
                        }
                    }
                    None => g.dangling.push(Dangling {
                        migration: mi,
                        kind: LinkKind::DownRevision,
                        item,
                    }),
                }
            }
            for (item, dep) in m.depends_on().enumerate() {
                let target = g
                    .index
                    .get(dep.value.as_str())
                    .or_else(|| g.labels.get(dep.value.as_str()));
                match target {
                    Some(&d) => g.nodes[n].dependencies.push(d),
                    None => g.dangling.push(Dangling {
                        migration: mi,
                        kind: LinkKind::DependsOn,
                        item,
                    }),
                }
            }
        }
        for (n, node) in g.nodes.iter().enumerate() {
            if node.children.is_empty() {
                g.heads.push(n);
            }
            if migrations[node.migration].is_base() {
                g.bases.push(n);
            }
        }
        g.cycles = find_cycles(&g.nodes, false);
        let down_cycles: Vec<std::collections::BTreeSet<usize>> = g
            .cycles
            .iter()
            .map(|c| c.iter().copied().collect())
            .collect();
        g.dependency_cycles = find_cycles(&g.nodes, true)
            .into_iter()
            .filter(|c| !down_cycles.contains(&c.iter().copied().collect()))
            .collect();
        g
    }

    pub fn node(&self, revision: &str) -> Option<usize> {
        self.index.get(revision).copied()
    }

    pub fn revision(&self, node: usize) -> &str {
        &self.nodes[node].revision
    }

    /// Nodes with two or more children.
    pub fn branch_points(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.nodes.len()).filter(|&n| self.nodes[n].children.len() >= 2)
    }

    /// Nodes with two or more parents.
    pub fn merge_points(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.nodes.len()).filter(|&n| self.nodes[n].parents.len() >= 2)
    }

    /// Every node reachable from `start` through parents (`start` included).
    pub fn ancestors(&self, start: usize) -> Vec<bool> {
        self.reachable(start, false)
    }

    /// Every node reachable from `start` through parents and `depends_on`
    /// (`start` included): what Alembic calls its ancestors when it resolves an
    /// upgrade.
    pub fn ancestors_with_dependencies(&self, start: usize) -> Vec<bool> {
        self.reachable(start, true)
    }

    fn reachable(&self, start: usize, with_dependencies: bool) -> Vec<bool> {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack = vec![start];
        seen[start] = true;
        while let Some(n) = stack.pop() {
            let mut pos = 0;
            while let Some(p) = successor(&self.nodes, n, pos, with_dependencies) {
                pos += 1;
                if !seen[p] {
                    seen[p] = true;
                    stack.push(p);
                }
            }
        }
        seen
    }

    /// Weakly connected components over `down_revision` links: a component id per node.
    pub fn components(&self) -> Vec<usize> {
        let mut comp = vec![usize::MAX; self.nodes.len()];
        let mut next = 0;
        for start in 0..self.nodes.len() {
            if comp[start] != usize::MAX {
                continue;
            }
            comp[start] = next;
            let mut stack = vec![start];
            while let Some(n) = stack.pop() {
                let node = &self.nodes[n];
                for &m in node.parents.iter().chain(&node.children) {
                    if comp[m] == usize::MAX {
                        comp[m] = next;
                        stack.push(m);
                    }
                }
            }
            next += 1;
        }
        comp
    }

    /// Where the given heads fork: common ancestors of two or more of them through
    /// which they do not all pass by the same child.
    pub fn fork_points(&self, heads: &[usize]) -> Vec<usize> {
        let mut count = vec![0usize; self.nodes.len()];
        for &h in heads {
            for (n, reached) in self.ancestors(h).into_iter().enumerate() {
                if reached {
                    count[n] += 1;
                }
            }
        }
        (0..self.nodes.len())
            .filter(|&n| {
                count[n] >= 2 && self.nodes[n].children.iter().all(|&c| count[c] < count[n])
            })
            .collect()
    }

    /// The nodes in an order where every revision comes after its `down_revision`s
    /// (Kahn's algorithm; nodes in cycles are left out).
    pub fn topological_order(&self) -> Vec<usize> {
        let mut indegree: Vec<usize> = self.nodes.iter().map(|n| n.parents.len()).collect();
        let mut ready: std::collections::VecDeque<usize> = (0..self.nodes.len())
            .filter(|&n| indegree[n] == 0)
            .collect();
        let mut out = Vec::with_capacity(self.nodes.len());
        while let Some(n) = ready.pop_front() {
            out.push(n);
            for &c in &self.nodes[n].children {
                indegree[c] -= 1;
                if indegree[c] == 0 {
                    ready.push_back(c);
                }
            }
        }
        out
    }
}

/// Tarjan's strongly connected components, iteratively, over parent links. Returns
/// each cycle (an SCC of two or more nodes, or a node that is its own parent) as a
/// walk in `down_revision` order starting at its first node.
/// The `pos`-th node that `v` links to: its parents, then (`with_dependencies`) the
/// revisions it `depends_on`.
fn successor(nodes: &[Node], v: usize, pos: usize, with_dependencies: bool) -> Option<usize> {
    let node = &nodes[v];
    match node.parents.get(pos) {
        Some(&p) => Some(p),
        None if with_dependencies => node.dependencies.get(pos - node.parents.len()).copied(),
        None => None,
    }
}

fn find_cycles(nodes: &[Node], with_dependencies: bool) -> Vec<Vec<usize>> {
    let succ = |v: usize, pos: usize| successor(nodes, v, pos, with_dependencies);
    let links_to = |v: usize, w: usize| (0..).map_while(|pos| succ(v, pos)).any(|x| x == w);
    const UNSEEN: usize = usize::MAX;
    let n = nodes.len();
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut counter = 0;
    let mut sccs = Vec::new();
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        // (node, next parent position)
        let mut work = vec![(root, 0usize)];
        index[root] = counter;
        low[root] = counter;
        counter += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut pos)) = work.last_mut() {
            if let Some(w) = succ(v, *pos) {
                *pos += 1;
                if index[w] == UNSEEN {
                    index[w] = counter;
                    low[w] = counter;
                    counter += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut scc = Vec::new();
                    loop {
                        let w = stack.pop().expect("tarjan stack");
                        on_stack[w] = false;
                        scc.push(w);
                        if w == v {
                            break;
                        }
                    }
                    if scc.len() > 1 || links_to(v, v) {
                        sccs.push(scc);
                    }
                }
            }
        }
    }
    sccs.into_iter()
        .map(|scc| {
            let members: std::collections::HashSet<usize> = scc.iter().copied().collect();
            let start = *scc.iter().min().expect("non-empty");
            let mut walk = vec![start];
            let mut seen = std::collections::HashSet::from([start]);
            let mut cur = start;
            loop {
                let next = (0..)
                    .map_while(|pos| succ(cur, pos))
                    .find(|p| members.contains(p));
                match next {
                    Some(p) if !seen.contains(&p) => {
                        seen.insert(p);
                        walk.push(p);
                        cur = p;
                    }
                    _ => break,
                }
            }
            // Any member the walk missed (a denser component) still belongs to it.
            let mut rest: Vec<usize> = scc.into_iter().filter(|m| !seen.contains(m)).collect();
            rest.sort_unstable();
            walk.extend(rest);
            walk
        })
        .collect()
}
