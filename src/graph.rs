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
    /// The branch labels in force at each node, as an index into `label_sets`
    /// (Alembic's `Script.branch_labels`; see [`RevisionGraph::effective_labels`]).
    effective: Vec<usize>,
    /// Distinct sets of effective labels, each sorted; `label_sets[0]` is empty.
    label_sets: Vec<Vec<String>>,
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
        g.compute_effective_labels(migrations);
        g
    }

    /// The branch labels in force at `node`, sorted: Alembic's `Script.branch_labels`.
    pub fn effective_labels(&self, node: usize) -> &[String] {
        &self.label_sets[self.effective[node]]
    }

    /// An id for the set of branch labels in force at `node`: two nodes have the
    /// same id exactly when they carry the same effective labels.
    pub fn effective_label_set(&self, node: usize) -> usize {
        self.effective[node]
    }

    /// Computes what Alembic's `RevisionMap._add_branches` leaves in each
    /// `Script.branch_labels`. For every revision that declares labels, Alembic
    /// adds its labels (its current set, so labels it inherited too) to
    /// 1. every descendant through `down_revision` links (not `depends_on`), and
    /// 2. walking down from the last of those descendants, every revision until one
    ///    that is a branch point (two or more revisions name it in `down_revision`
    ///    or `depends_on`) or a merge point: when the labeled revision and all its
    ///    descendants form a plain chain up to a head, that walk passes the labeled
    ///    revision and labels its ancestors down to the branch point, merge point or
    ///    base below.
    ///
    /// So a node carries the union of its parents' sets and its own labels (1);
    /// and a "plain segment" (a head and the chain below it of nodes with one
    /// parent and at most one child or dependent) that holds a labeled node carries,
    /// whole, the set of its head (2). Linear in the nodes, the label sets
    /// interned; a node in a cycle keeps the labels it declares (Alembic refuses
    /// such a history anyway).
    fn compute_effective_labels(&mut self, migrations: &[Migration]) {
        let n = self.nodes.len();
        let mut sets = LabelSets::default();
        let declared: Vec<Vec<String>> = self
            .nodes
            .iter()
            .map(|node| {
                let mut own: Vec<String> = migrations[node.migration]
                    .branch_labels()
                    .map(|l| l.value.clone())
                    .collect();
                own.sort();
                own.dedup();
                own
            })
            .collect();
        let mut effective: Vec<usize> = declared.iter().map(|d| sets.intern(d.clone())).collect();
        // 1. descendants inherit.
        let mut done = vec![false; n];
        for v in self.topological_order() {
            done[v] = true;
            let mut acc = effective[v];
            for &p in &self.nodes[v].parents {
                if done[p] {
                    acc = sets.union(acc, effective[p]);
                }
            }
            effective[v] = acc;
        }
        // 2. a plain segment holding a labeled node takes its head's set.
        let mut dependents = vec![0usize; n];
        for node in &self.nodes {
            // Alembic dedupes `down_revision` + `depends_on` before counting.
            let mut deps: Vec<usize> = node
                .dependencies
                .iter()
                .copied()
                .filter(|d| !node.parents.contains(d))
                .collect();
            deps.sort_unstable();
            deps.dedup();
            for d in deps {
                dependents[d] += 1;
            }
        }
        let plain = |v: usize| {
            self.nodes[v].children.len() + dependents[v] <= 1
                && migrations[self.nodes[v].migration].down_revisions().count() <= 1
        };
        for &head in &self.heads {
            if !plain(head) {
                continue;
            }
            let mut segment = vec![head];
            let mut labeled = !declared[head].is_empty();
            let mut cur = head;
            while let [p] = self.nodes[cur].parents[..] {
                if !plain(p) || segment.len() > n {
                    break;
                }
                labeled |= !declared[p].is_empty();
                segment.push(p);
                cur = p;
            }
            if labeled {
                let top = effective[head];
                for v in segment {
                    effective[v] = top;
                }
            }
        }
        self.label_sets = sets.sets;
        self.effective = effective;
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

/// Interned sets of branch labels (sorted), with their unions remembered, so a
/// long history with few labels shares a handful of sets.
struct LabelSets {
    sets: Vec<Vec<String>>,
    ids: HashMap<Vec<String>, usize>,
    unions: HashMap<(usize, usize), usize>,
}

impl Default for LabelSets {
    fn default() -> Self {
        LabelSets {
            sets: vec![Vec::new()],
            ids: HashMap::from([(Vec::new(), 0)]),
            unions: HashMap::new(),
        }
    }
}

impl LabelSets {
    fn intern(&mut self, set: Vec<String>) -> usize {
        if let Some(&id) = self.ids.get(&set) {
            return id;
        }
        self.sets.push(set.clone());
        self.ids.insert(set, self.sets.len() - 1);
        self.sets.len() - 1
    }

    fn union(&mut self, a: usize, b: usize) -> usize {
        if a == b || b == 0 {
            return a;
        }
        if a == 0 {
            return b;
        }
        let key = (a.min(b), a.max(b));
        if let Some(&id) = self.unions.get(&key) {
            return id;
        }
        let mut union: Vec<String> = self.sets[a].iter().chain(&self.sets[b]).cloned().collect();
        union.sort();
        union.dedup();
        let id = self.intern(union);
        self.unions.insert(key, id);
        id
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{mig, migrations};

    /// `(rev, down, labels)` -> the effective labels of each revision, as
    /// `rev:label,label` strings in revision order.
    fn effective(spec: &[(&str, &str, &str)]) -> Vec<String> {
        let files: Vec<(String, String)> = spec
            .iter()
            .map(|(rev, down, labels)| {
                (
                    format!("{rev}.py"),
                    mig(rev, down, "op.f()", "op.g()")
                        .replace("branch_labels = None", &format!("branch_labels = {labels}")),
                )
            })
            .collect();
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, s)| (p.as_str(), s.as_str()))
            .collect();
        let ms = migrations(&refs);
        let g = RevisionGraph::build(&ms);
        spec.iter()
            .map(|(rev, _, _)| {
                let n = g.node(rev).expect("node");
                format!("{rev}:{}", g.effective_labels(n).join(","))
            })
            .collect()
    }

    #[test]
    fn labels_reach_descendants() {
        assert_eq!(
            effective(&[
                ("a", "None", "'x'"),
                ("b", "'a'", "None"),
                ("c", "'a'", "None")
            ]),
            ["a:x", "b:x", "c:x"]
        );
    }

    #[test]
    fn a_label_on_a_plain_chain_labels_it_down_to_the_branch_point() {
        // a -> b -> c(y) is a plain chain up to its head: b and a get `y` too.
        assert_eq!(
            effective(&[
                ("a", "None", "None"),
                ("b", "'a'", "None"),
                ("c", "'b'", "'y'")
            ]),
            ["a:y", "b:y", "c:y"]
        );
        // After a fork at a: b2's label reaches b, not a (a branch point).
        assert_eq!(
            effective(&[
                ("a", "None", "None"),
                ("b", "'a'", "None"),
                ("b2", "'b'", "'x'"),
                ("c", "'a'", "None"),
            ]),
            ["a:", "b:x", "b2:x", "c:"]
        );
        // A fork above the label stops the walk: nothing below c gets `y`.
        assert_eq!(
            effective(&[
                ("a", "None", "None"),
                ("c", "'a'", "'y'"),
                ("d", "'c'", "None"),
                ("e", "'c'", "None"),
            ]),
            ["a:", "c:y", "d:y", "e:y"]
        );
        // A merge stops it too (m keeps only what it inherits).
        assert_eq!(
            effective(&[
                ("a", "None", "'x'"),
                ("b", "None", "None"),
                ("m", "('a', 'b')", "None"),
                ("n", "'m'", "'z'"),
            ]),
            ["a:x", "b:", "m:x", "n:x,z"]
        );
    }

    #[test]
    fn a_dependent_makes_a_branch_point() {
        // d depends on b: b has two successors, so c's label stops above b.
        let mut files: Vec<(String, String)> = [("a", "None"), ("b", "'a'"), ("c", "'b'")]
            .iter()
            .map(|(r, d)| (format!("{r}.py"), mig(r, d, "op.f()", "op.g()")))
            .collect();
        files[2].1 = files[2]
            .1
            .replace("branch_labels = None", "branch_labels = 'y'");
        let mut d = mig("d", "None", "op.f()", "op.g()")
            .replace("branch_labels = None", "branch_labels = 'other'");
        d = d.replace(
            "branch_labels = 'other'",
            "branch_labels = 'other'\ndepends_on = 'b'",
        );
        files.push(("d.py".into(), d));
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, s)| (p.as_str(), s.as_str()))
            .collect();
        let ms = migrations(&refs);
        let g = RevisionGraph::build(&ms);
        let at = |r: &str| g.effective_labels(g.node(r).unwrap()).join(",");
        assert_eq!(at("a"), "");
        assert_eq!(at("b"), "");
        assert_eq!(at("c"), "y");
        assert_eq!(at("d"), "other");
    }
}
