//! A deterministic generator of realistic Alembic version directories, shared by
//! `examples/gen_corpus.rs`, `examples/bench.rs` and `benches/check.rs` (each
//! includes this file with `#[path]`).
//!
//! The history it writes is valid and clean: a main history whose base is labeled
//! `core`, a second base labeled `audit` started a quarter of the way in, forks
//! that a merge migration joins, and exactly one head per labeled base. Files use
//! both Alembic templates (the older plain `revision = '...'` one for the first
//! 45% of the history, the annotated `revision: str = ...` one after), carry real
//! `upgrade()` / `downgrade()` bodies of several `op.*` calls, and weigh 2–4 KB
//! (merge and branch-base migrations are smaller, as in real projects).

#![allow(dead_code)]

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

/// One generated file: its name in the version directory and its content.
pub struct CorpusFile {
    pub name: String,
    pub text: String,
}

/// A generated version directory.
pub struct Corpus {
    /// In creation (chronological) order.
    pub files: Vec<CorpusFile>,
    /// Revision ids of the heads, sorted (one per labeled base).
    pub heads: Vec<String>,
    /// Revision ids of the bases, sorted.
    pub bases: Vec<String>,
    pub merges: usize,
    pub depends_on: usize,
}

impl Corpus {
    pub fn total_bytes(&self) -> usize {
        self.files.iter().map(|f| f.text.len()).sum()
    }

    /// Writes every file into `dir` (created if needed).
    pub fn write_to(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)?;
        for f in &self.files {
            std::fs::write(dir.join(&f.name), &f.text)?;
        }
        Ok(())
    }

    /// The file declaring `revision`, if any.
    pub fn file_of(&self, revision: &str) -> Option<&CorpusFile> {
        self.files.iter().find(|f| f.name.starts_with(revision))
    }
}

/// SplitMix64: small, fast, and the same on every platform.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: usize, den: usize) -> bool {
        self.below(den) < num
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const NOUNS: &[&str] = &[
    "customer",
    "order",
    "invoice",
    "payment",
    "shipment",
    "product",
    "category",
    "warehouse",
    "supplier",
    "review",
    "coupon",
    "cart",
    "address",
    "refund",
    "subscription",
    "plan",
    "ticket",
    "message",
    "notification",
    "report",
    "account",
    "role",
    "permission",
    "api_key",
    "webhook",
    "tag",
    "attachment",
    "price",
    "discount",
    "store",
    "employee",
    "team",
    "project",
    "task",
    "comment",
    "event",
];

const QUALIFIERS: &[&str] = &[
    "",
    "",
    "",
    "items",
    "history",
    "settings",
    "lines",
    "links",
    "snapshots",
    "exports",
    "rules",
    "batches",
];

/// Column names and the SQLAlchemy types they are created with.
const COLUMNS: &[(&str, &str)] = &[
    ("name", "sa.String(length=120)"),
    ("email", "sa.String(length=255)"),
    ("status", "sa.String(length=32)"),
    ("created_at", "sa.DateTime(timezone=True)"),
    ("updated_at", "sa.DateTime(timezone=True)"),
    ("amount_cents", "sa.BigInteger()"),
    ("currency", "sa.String(length=3)"),
    ("description", "sa.Text()"),
    ("notes", "sa.Text()"),
    ("external_id", "sa.String(length=64)"),
    ("quantity", "sa.Integer()"),
    ("is_active", "sa.Boolean()"),
    ("deleted_at", "sa.DateTime(timezone=True)"),
    ("code", "sa.String(length=40)"),
    ("title", "sa.String(length=200)"),
    ("priority", "sa.SmallInteger()"),
    ("score", "sa.Numeric(precision=10, scale=4)"),
    ("country", "sa.String(length=2)"),
    ("city", "sa.String(length=100)"),
    ("postal_code", "sa.String(length=16)"),
    ("phone", "sa.String(length=32)"),
    ("slug", "sa.String(length=160)"),
    ("version", "sa.Integer()"),
    ("extra", "sa.JSON()"),
    ("locale", "sa.String(length=10)"),
    ("timezone", "sa.String(length=40)"),
    ("source", "sa.String(length=50)"),
    ("reference", "sa.String(length=80)"),
    ("balance_cents", "sa.BigInteger()"),
    ("expires_at", "sa.DateTime()"),
    ("due_date", "sa.Date()"),
    ("weight_grams", "sa.Integer()"),
];

/// Wider types for `alter_column(type_=...)`.
fn widened(ty: &str) -> Option<String> {
    if let Some(n) = ty
        .strip_prefix("sa.String(length=")
        .and_then(|r| r.strip_suffix(')'))
        .and_then(|n| n.parse::<usize>().ok())
    {
        return Some(format!("sa.String(length={})", n * 2));
    }
    match ty {
        "sa.Integer()" => Some("sa.BigInteger()".into()),
        "sa.SmallInteger()" => Some("sa.Integer()".into()),
        "sa.DateTime()" => Some("sa.DateTime(timezone=True)".into()),
        _ => None,
    }
}

#[derive(Clone)]
struct Col {
    name: String,
    ty: String,
    nullable: bool,
    /// Part of the key or a foreign key: never dropped or altered.
    fixed: bool,
}

#[derive(Clone)]
struct Table {
    name: String,
    cols: Vec<Col>,
    indexes: Vec<String>,
}

/// One independent history (the main one or a labeled second base).
struct Line {
    head: String,
    tables: Vec<Table>,
    prefix: &'static str,
    /// Revisions that already have a child (safe `depends_on` targets).
    settled: Vec<String>,
}

/// Text of one operation group: upgrade lines and the downgrade lines that undo them.
struct Group {
    what: String,
    up: String,
    down: String,
}

struct Gen {
    rng: Rng,
    ids: HashSet<String>,
    table_names: HashSet<String>,
    counter: usize,
    /// Seconds since 1970 of the next Create Date.
    clock: u64,
    step: u64,
    files: Vec<CorpusFile>,
    n: usize,
    merges: usize,
    depends_on: usize,
}

/// Options for one migration file.
struct Spec<'a> {
    down: Vec<String>,
    labels: Option<&'a str>,
    depends_on: Option<String>,
    message: String,
    /// `None`: a merge (`pass` bodies).
    groups: Option<Vec<Group>>,
}

pub fn generate(n: usize, seed: u64) -> Corpus {
    let mut g = Gen {
        rng: Rng::new(seed),
        ids: HashSet::new(),
        table_names: HashSet::new(),
        counter: 0,
        // 2016-01-04 09:00:00 UTC
        clock: 1_451_898_000,
        step: (10 * 365 * 86_400 / n.max(1)) as u64,
        files: Vec::with_capacity(n),
        n,
        merges: 0,
        depends_on: 0,
    };
    let mut main = g.base("core", "");
    let mut audit: Option<Line> = None;
    while g.files.len() < n {
        let left = n - g.files.len();
        if audit.is_none() && n >= 12 && (g.files.len() >= n / 4 || left <= 2) {
            audit = Some(g.base("audit", "audit_"));
            continue;
        }
        if let Some(a) = audit.as_mut()
            && g.rng.chance(8, 100)
        {
            let dep = if a.settled.len() > 2 && g.rng.chance(5, 100) {
                let k = main.settled.len();
                (k > 0).then(|| main.settled[k - 1 - g.rng.below(k.min(50))].clone())
            } else {
                None
            };
            g.step_on(a, dep);
            continue;
        }
        if left >= 9 && g.rng.chance(1, 70) {
            g.fork_and_merge(&mut main);
        } else {
            g.step_on(&mut main, None);
        }
    }
    let mut heads = vec![main.head.clone()];
    let mut bases = vec![main.settled.first().cloned().unwrap_or(main.head.clone())];
    if let Some(a) = &audit {
        heads.push(a.head.clone());
        bases.push(a.settled.first().cloned().unwrap_or(a.head.clone()));
    }
    heads.sort();
    bases.sort();
    Corpus {
        files: g.files,
        heads,
        bases,
        merges: g.merges,
        depends_on: g.depends_on,
    }
}

impl Gen {
    fn new_id(&mut self) -> String {
        loop {
            let id = format!("{:012x}", self.rng.next_u64() >> 16);
            if self.ids.insert(id.clone()) {
                return id;
            }
        }
    }

    fn base(&mut self, label: &'static str, prefix: &'static str) -> Line {
        let mut line = Line {
            head: String::new(),
            tables: Vec::new(),
            prefix,
            settled: Vec::new(),
        };
        let mut groups = Vec::new();
        let mut size = 0;
        while groups.len() < 2 || size < 1400 {
            let grp = self.create_table(&mut line);
            size += grp.up.len() + grp.down.len();
            groups.push(grp);
        }
        let message = if prefix.is_empty() {
            "initial schema".to_string()
        } else {
            format!("create {label} branch")
        };
        let rev = self.emit(Spec {
            down: Vec::new(),
            labels: Some(label),
            depends_on: None,
            message,
            groups: Some(groups),
        });
        line.head = rev;
        line
    }

    /// One ordinary migration on top of `line`'s head.
    fn step_on(&mut self, line: &mut Line, depends_on: Option<String>) {
        let groups = self.groups(line);
        let message = groups[0].what.clone();
        if depends_on.is_some() {
            self.depends_on += 1;
        }
        let rev = self.emit(Spec {
            down: vec![line.head.clone()],
            labels: None,
            depends_on,
            message,
            groups: Some(groups),
        });
        let old = std::mem::replace(&mut line.head, rev);
        line.settled.push(old);
    }

    /// Two branches of 1–3 migrations each from the head, written interleaved as
    /// two developers would, then a merge migration joining them.
    fn fork_and_merge(&mut self, line: &mut Line) {
        let fork = line.head.clone();
        let lens = [self.rng.range(1, 3), self.rng.range(1, 3)];
        let mut tips = [fork.clone(), fork.clone()];
        let mut done = [0, 0];
        while done[0] < lens[0] || done[1] < lens[1] {
            let b = if done[0] == lens[0] {
                1
            } else if done[1] == lens[1] {
                0
            } else {
                self.rng.below(2)
            };
            line.head = tips[b].clone();
            let groups = self.groups(line);
            let message = groups[0].what.clone();
            let rev = self.emit(Spec {
                down: vec![tips[b].clone()],
                labels: None,
                depends_on: None,
                message,
                groups: Some(groups),
            });
            line.settled.push(std::mem::replace(&mut tips[b], rev));
            done[b] += 1;
        }
        let message = if self.rng.chance(1, 2) {
            "merge heads".to_string()
        } else {
            format!("merge {} and {}", tips[0], tips[1])
        };
        let rev = self.emit(Spec {
            down: tips.to_vec(),
            labels: None,
            depends_on: None,
            message,
            groups: None,
        });
        line.settled.extend(tips);
        line.head = rev;
        self.merges += 1;
    }

    /// Operation groups for one migration: 2.2–3.9 KB of them, starting with the
    /// one its message describes.
    fn groups(&mut self, line: &mut Line) -> Vec<Group> {
        let target = self.rng.range(1500, 3200);
        let mut out: Vec<Group> = Vec::new();
        let mut size = 0;
        let mut attempts = 0;
        while size < target && attempts < 40 {
            attempts += 1;
            let grp = self.group(line);
            let len = grp.up.len() + grp.down.len();
            if size + len > 3150 && !out.is_empty() {
                continue;
            }
            size += len;
            out.push(grp);
        }
        out
    }

    fn group(&mut self, line: &mut Line) -> Group {
        if line.tables.len() < 2 {
            return self.create_table(line);
        }
        match self.rng.below(100) {
            0..=17 => self.create_table(line),
            18..=37 => self.add_column(line),
            38..=52 => self.batch_add(line),
            53..=64 => self.alter_column(line),
            65..=76 => self.create_index(line),
            77..=87 => self.drop_column(line),
            _ => self.backfill(line),
        }
    }

    fn table_name(&mut self, prefix: &str) -> String {
        loop {
            let noun = *self.rng.pick(NOUNS);
            let qual = *self.rng.pick(QUALIFIERS);
            let mut name = if qual.is_empty() {
                format!("{prefix}{}", plural(noun))
            } else {
                format!("{prefix}{noun}_{qual}")
            };
            if self.table_names.len() > NOUNS.len() * 4 && self.table_names.contains(&name) {
                self.counter += 1;
                name = format!("{name}_{}", self.counter);
            }
            if self.table_names.insert(name.clone()) {
                return name;
            }
        }
    }

    fn new_col(&mut self, t: &Table) -> Col {
        let (name, ty) = *self.rng.pick(COLUMNS);
        let mut name = name.to_string();
        if t.cols.iter().any(|c| c.name == name) {
            self.counter += 1;
            name = format!("{name}_{}", self.counter);
        }
        Col {
            name,
            ty: ty.to_string(),
            nullable: true,
            fixed: false,
        }
    }

    fn pick_table(&mut self, line: &Line) -> usize {
        // Recent tables change more often than old ones.
        let n = line.tables.len();
        if self.rng.chance(2, 3) {
            n - 1 - self.rng.below(n.min(8))
        } else {
            self.rng.below(n)
        }
    }

    fn create_table(&mut self, line: &mut Line) -> Group {
        let name = self.table_name(line.prefix);
        let mut t = Table {
            name: name.clone(),
            cols: vec![Col {
                name: "id".into(),
                ty: "sa.Integer()".into(),
                nullable: false,
                fixed: true,
            }],
            indexes: Vec::new(),
        };
        let mut fk = None;
        if !line.tables.is_empty() && self.rng.chance(3, 5) {
            let parent = self.pick_table(line);
            let parent = line.tables[parent].name.clone();
            let col = format!("{}_id", singular(&parent));
            t.cols.push(Col {
                name: col.clone(),
                ty: "sa.Integer()".into(),
                nullable: false,
                fixed: true,
            });
            fk = Some((col, parent));
        }
        for _ in 0..self.rng.range(2, 6) {
            let mut c = self.new_col(&t);
            c.nullable = self.rng.chance(1, 2);
            t.cols.push(c);
        }
        let mut up = String::new();
        writeln!(up, "    op.create_table(\n        \"{name}\",").unwrap();
        for c in &t.cols {
            let extra = if c.name == "created_at" || c.name == "updated_at" {
                ", server_default=sa.text(\"now()\")"
            } else if c.name == "status" {
                ", server_default=\"new\""
            } else {
                ""
            };
            writeln!(
                up,
                "        sa.Column(\"{}\", {}{extra}, nullable={}),",
                c.name,
                c.ty,
                py_bool(c.nullable)
            )
            .unwrap();
        }
        if let Some((col, parent)) = &fk {
            let ondelete = if self.rng.chance(1, 3) {
                ", ondelete=\"CASCADE\""
            } else {
                ""
            };
            writeln!(
                up,
                "        sa.ForeignKeyConstraint([\"{col}\"], [\"{parent}.id\"]{ondelete}),"
            )
            .unwrap();
        }
        writeln!(up, "        sa.PrimaryKeyConstraint(\"id\"),").unwrap();
        if let Some(c) = t
            .cols
            .iter()
            .find(|c| c.name == "external_id" || c.name == "slug")
        {
            writeln!(up, "        sa.UniqueConstraint(\"{}\"),", c.name).unwrap();
        }
        up.push_str("    )\n");
        let mut down = String::new();
        if let Some((col, _)) = &fk {
            let ix = format!("ix_{name}_{col}");
            writeln!(
                up,
                "    op.create_index(op.f(\"{ix}\"), \"{name}\", [\"{col}\"], unique=False)"
            )
            .unwrap();
            writeln!(
                down,
                "    op.drop_index(op.f(\"{ix}\"), table_name=\"{name}\")"
            )
            .unwrap();
            t.indexes.push(ix);
        }
        writeln!(down, "    op.drop_table(\"{name}\")").unwrap();
        line.tables.push(t);
        Group {
            what: format!("create {name} table"),
            up,
            down,
        }
    }

    fn add_column(&mut self, line: &mut Line) -> Group {
        let ti = self.pick_table(line);
        let c = self.new_col(&line.tables[ti]);
        let t = &mut line.tables[ti];
        let default = if c.ty == "sa.Boolean()" {
            ", server_default=sa.false()"
        } else {
            ""
        };
        let up = format!(
            "    op.add_column(\"{}\", sa.Column(\"{}\", {}{default}, nullable=True))\n",
            t.name, c.name, c.ty
        );
        let down = format!("    op.drop_column(\"{}\", \"{}\")\n", t.name, c.name);
        let what = format!("add {} to {}", c.name, t.name);
        t.cols.push(c);
        Group { what, up, down }
    }

    fn batch_add(&mut self, line: &mut Line) -> Group {
        let ti = self.pick_table(line);
        let count = self.rng.range(1, 3);
        let mut cols = Vec::new();
        for _ in 0..count {
            let c = self.new_col(&line.tables[ti]);
            line.tables[ti].cols.push(c.clone());
            cols.push(c);
        }
        let indexed = self.rng.chance(1, 2);
        let t = &mut line.tables[ti];
        let name = t.name.clone();
        let mut up =
            format!("    with op.batch_alter_table(\"{name}\", schema=None) as batch_op:\n");
        let mut down = up.clone();
        for c in &cols {
            writeln!(
                up,
                "        batch_op.add_column(sa.Column(\"{}\", {}, nullable=True))",
                c.name, c.ty
            )
            .unwrap();
        }
        if indexed {
            let c = &cols[0].name;
            let ix = format!("ix_{name}_{c}");
            writeln!(
                up,
                "        batch_op.create_index(batch_op.f(\"{ix}\"), [\"{c}\"], unique=False)"
            )
            .unwrap();
            writeln!(down, "        batch_op.drop_index(batch_op.f(\"{ix}\"))").unwrap();
            t.indexes.push(ix);
        }
        for c in cols.iter().rev() {
            writeln!(down, "        batch_op.drop_column(\"{}\")", c.name).unwrap();
        }
        let what = if cols.len() == 1 {
            format!("add {} to {}", cols[0].name, name)
        } else {
            format!("add {} columns to {}", cols.len(), name)
        };
        Group { what, up, down }
    }

    fn alter_column(&mut self, line: &mut Line) -> Group {
        let ti = self.pick_table(line);
        let t = &mut line.tables[ti];
        let movable: Vec<usize> = (0..t.cols.len()).filter(|&i| !t.cols[i].fixed).collect();
        if movable.is_empty() {
            return self.add_column(line);
        }
        let ci = movable[self.rng.below(movable.len())];
        let c = &mut t.cols[ci];
        let wider = widened(&c.ty);
        let (up, down, what);
        if let Some(w) = wider.filter(|_| self.rng.chance(1, 2)) {
            up = format!(
                "    op.alter_column(\n        \"{}\",\n        \"{}\",\n        existing_type={},\n        type_={w},\n        existing_nullable={},\n    )\n",
                t.name,
                c.name,
                c.ty,
                py_bool(c.nullable)
            );
            down = format!(
                "    op.alter_column(\n        \"{}\",\n        \"{}\",\n        existing_type={w},\n        type_={},\n        existing_nullable={},\n    )\n",
                t.name,
                c.name,
                c.ty,
                py_bool(c.nullable)
            );
            what = format!("widen {}.{}", t.name, c.name);
            c.ty = w;
        } else {
            let to = !c.nullable;
            up = format!(
                "    op.alter_column(\"{}\", \"{}\", existing_type={}, nullable={})\n",
                t.name,
                c.name,
                c.ty,
                py_bool(to)
            );
            down = format!(
                "    op.alter_column(\"{}\", \"{}\", existing_type={}, nullable={})\n",
                t.name,
                c.name,
                c.ty,
                py_bool(c.nullable)
            );
            what = format!(
                "make {}.{} {}",
                t.name,
                c.name,
                if to { "nullable" } else { "required" }
            );
            c.nullable = to;
        }
        Group { what, up, down }
    }

    fn create_index(&mut self, line: &mut Line) -> Group {
        let ti = self.pick_table(line);
        let t = &mut line.tables[ti];
        let free: Vec<usize> = (1..t.cols.len())
            .filter(|&i| {
                let ix = format!("ix_{}_{}", t.name, t.cols[i].name);
                !t.indexes.contains(&ix)
            })
            .collect();
        if free.is_empty() {
            return self.add_column(line);
        }
        let c = t.cols[free[self.rng.below(free.len())]].name.clone();
        let ix = format!("ix_{}_{c}", t.name);
        let unique = py_bool(c == "email" || c == "code");
        let up = format!(
            "    op.create_index(op.f(\"{ix}\"), \"{}\", [\"{c}\"], unique={unique})\n",
            t.name
        );
        let down = format!(
            "    op.drop_index(op.f(\"{ix}\"), table_name=\"{}\")\n",
            t.name
        );
        let what = format!("index {}.{c}", t.name);
        t.indexes.push(ix);
        Group { what, up, down }
    }

    fn drop_column(&mut self, line: &mut Line) -> Group {
        let ti = self.pick_table(line);
        let t = &mut line.tables[ti];
        let droppable: Vec<usize> = (0..t.cols.len())
            .filter(|&i| {
                let c = &t.cols[i];
                !c.fixed
                    && !t
                        .indexes
                        .iter()
                        .any(|ix| ix.ends_with(&format!("_{}", c.name)))
            })
            .collect();
        if droppable.len() < 2 {
            return self.add_column(line);
        }
        let c = t.cols.remove(droppable[self.rng.below(droppable.len())]);
        let up = format!("    op.drop_column(\"{}\", \"{}\")\n", t.name, c.name);
        let down = format!(
            "    op.add_column(\n        \"{}\",\n        sa.Column(\"{}\", {}, autoincrement=False, nullable=True),\n    )\n",
            t.name, c.name, c.ty
        );
        Group {
            what: format!("drop {} from {}", c.name, t.name),
            up,
            down,
        }
    }

    /// A data backfill with `op.execute`, then the column made required.
    fn backfill(&mut self, line: &mut Line) -> Group {
        let ti = self.pick_table(line);
        let base = *self
            .rng
            .pick(&["state", "kind", "tier", "channel", "origin", "plan_code"]);
        let mut name = base.to_string();
        if line.tables[ti].cols.iter().any(|c| c.name == name) {
            self.counter += 1;
            name = format!("{base}_{}", self.counter);
        }
        let c = Col {
            name,
            ty: "sa.String(length=32)".into(),
            nullable: false,
            fixed: false,
        };
        let t = &mut line.tables[ti];
        let n = &t.name;
        let col = &c.name;
        let up = format!(
            "    op.add_column(\"{n}\", sa.Column(\"{col}\", {ty}, nullable=True))\n    op.execute(\n        \"\"\"\n        UPDATE {n}\n        SET {col} = 'legacy'\n        WHERE {col} IS NULL\n        \"\"\"\n    )\n    op.alter_column(\"{n}\", \"{col}\", existing_type={ty}, nullable=False)\n",
            ty = c.ty
        );
        let down = format!(
            "    op.execute(\u{1}UPDATE {n} SET {col} = NULL WHERE {col} = 'legacy'\u{1})\n    op.drop_column(\"{n}\", \"{col}\")\n"
        );
        let what = format!("backfill {n}.{col}");
        t.cols.push(c);
        Group { what, up, down }
    }

    /// Writes one migration file and returns its revision id.
    fn emit(&mut self, spec: Spec<'_>) -> String {
        let rev = self.new_id();
        let modern = self.files.len() * 100 >= self.n * 45;
        // Autogenerated (single quotes) or reformatted by black (double quotes).
        let single = !modern || self.rng.chance(1, 3);
        self.clock += self.step / 5 + self.rng.below((self.step * 8 / 5).max(1) as usize) as u64;
        let micros = self.rng.below(1_000_000);
        let date = format!("{}.{micros:06}", datetime(self.clock));
        let revises = spec.down.join(", ");
        let down_repr = match spec.down.len() {
            0 => "None".to_string(),
            1 => format!("'{}'", spec.down[0]),
            _ => format!(
                "({})",
                spec.down
                    .iter()
                    .map(|d| format!("'{d}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let labels = spec
            .labels
            .map_or("None".to_string(), |l| format!("('{l}',)"));
        let depends = spec
            .depends_on
            .as_ref()
            .map_or("None".to_string(), |d| format!("'{d}'"));
        let mut s = String::with_capacity(4096);
        writeln!(
            s,
            "\"\"\"{}\n\nRevision ID: {rev}\nRevises: {revises}\nCreate Date: {date}\n\n\"\"\"",
            spec.message
        )
        .unwrap();
        if modern {
            s.push_str("from typing import Sequence, Union\n\n");
        }
        s.push_str("from alembic import op\nimport sqlalchemy as sa\n");
        if self.rng.chance(1, 12) {
            s.push_str("from sqlalchemy.dialects import postgresql\n");
        }
        s.push_str("\n\n# revision identifiers, used by Alembic.\n");
        if modern {
            let ann = "Union[str, Sequence[str], None]";
            writeln!(s, "revision: str = '{rev}'").unwrap();
            writeln!(s, "down_revision: {ann} = {down_repr}").unwrap();
            writeln!(s, "branch_labels: {ann} = {labels}").unwrap();
            writeln!(s, "depends_on: {ann} = {depends}").unwrap();
        } else {
            writeln!(s, "revision = '{rev}'").unwrap();
            writeln!(s, "down_revision = {down_repr}").unwrap();
            writeln!(s, "branch_labels = {labels}").unwrap();
            writeln!(s, "depends_on = {depends}").unwrap();
        }
        let (sig_up, sig_down, doc_up, doc_down) = if modern {
            (
                "def upgrade() -> None:",
                "def downgrade() -> None:",
                "    \"\"\"Upgrade schema.\"\"\"\n",
                "    \"\"\"Downgrade schema.\"\"\"\n",
            )
        } else {
            ("def upgrade():", "def downgrade():", "", "")
        };
        let (up, down) = match &spec.groups {
            None => ("    pass\n".to_string(), "    pass\n".to_string()),
            Some(groups) => {
                let begin = "    # ### commands auto generated by Alembic - please adjust! ###\n";
                let end = "    # ### end Alembic commands ###\n";
                let mut up = begin.to_string();
                let mut down = begin.to_string();
                for g in groups {
                    up.push_str(&g.up);
                }
                for g in groups.iter().rev() {
                    down.push_str(&g.down);
                }
                up.push_str(end);
                down.push_str(end);
                (up, down)
            }
        };
        write!(
            s,
            "\n\n{sig_up}\n{doc_up}{up}\n\n{sig_down}\n{doc_down}{down}"
        )
        .unwrap();
        if single {
            s = s.replace('"', "'").replace("'''", "\"\"\"");
        }
        // A string holding a single quote keeps its double quotes, as `repr` writes it.
        let s = s.replace('\u{1}', "\"");
        let name = format!("{rev}_{}.py", slug(&spec.message));
        self.files.push(CorpusFile { name, text: s });
        rev
    }
}

fn plural(noun: &str) -> String {
    if let Some(stem) = noun.strip_suffix('y') {
        format!("{stem}ies")
    } else if noun.ends_with('s') {
        format!("{noun}es")
    } else {
        format!("{noun}s")
    }
}

fn singular(table: &str) -> String {
    if let Some(stem) = table.strip_suffix("ies") {
        format!("{stem}y")
    } else if let Some(stem) = table.strip_suffix("sses") {
        format!("{stem}ss")
    } else if let Some(stem) = table.strip_suffix('s') {
        stem.to_string()
    } else {
        table.to_string()
    }
}

fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// Alembic's file-name slug: words of the message joined by `_`, cut at 40 chars.
fn slug(message: &str) -> String {
    let words: Vec<String> = message
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_ascii_lowercase())
        .collect();
    let mut out = String::new();
    for w in words {
        if !out.is_empty() && out.len() + 1 + w.len() > 40 {
            break;
        }
        if !out.is_empty() {
            out.push('_');
        }
        out.push_str(&w);
    }
    out.truncate(40);
    out
}

/// `YYYY-MM-DD HH:MM:SS` of a Unix time (UTC).
fn datetime(secs: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    let iso = humantime::format_rfc3339_seconds(t).to_string(); // 2026-01-12T09:30:00Z
    iso.trim_end_matches('Z').replacen('T', " ", 1)
}
