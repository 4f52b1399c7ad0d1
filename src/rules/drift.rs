//! What the drift rules (MV201–MV204) share: building the schemas they compare and
//! turning differences into findings that name the table and column, point at the
//! model or migration that declares them, and say when something migverify cannot
//! read (raw SQL, a computed table name) might explain the difference.

use super::Context;
use crate::db::snapshot::Dialect;
use crate::diagnostic::{Finding, Location};
use crate::schema::compare::{self, Difference, Side};
use crate::schema::replay::Replay;
use crate::schema::{Fold, Opaque, Schema, TableName, objects};

/// One side of a comparison, as messages name it.
pub(super) struct Named<'a> {
    pub schema: &'a Schema,
    /// "the models", "the database", "the migrations at head".
    pub label: &'a str,
}

/// How to word the help of each kind of difference.
pub(super) struct Helps<'a> {
    pub left_only_table: &'a str,
    pub right_only_table: &'a str,
    pub left_only_column: &'a str,
    pub right_only_column: &'a str,
    pub changed_column: &'a str,
}

/// The schema the migrations produce, replayed in graph order: every migration when
/// `applied` is `None` (head), else only the applied ones.
pub(super) fn replay(ctx: &Context<'_>, applied: Option<&[bool]>, fold: Fold) -> Schema {
    let mut r = Replay::new(Schema::default(), fold);
    for n in ctx.graph.topological_order() {
        if applied.is_some_and(|a| !a[n]) {
            continue;
        }
        r.apply(&ctx.migrations[ctx.graph.nodes[n].migration]);
    }
    r.schema
}

/// Whether the drift rules leave `t` out: `[models] ignore_tables` (a name or
/// `schema.name`) and the version table.
pub(super) fn ignored(ctx: &Context<'_>, t: &TableName) -> bool {
    let version_table = ctx
        .snapshot
        .map_or("alembic_version", |s| s.version_table.name.as_str());
    t.name == version_table
        || ctx
            .ignore_tables
            .iter()
            .any(|i| *i == t.name || *i == t.to_string())
}

/// The findings for the differences between `left` and `right`.
pub(super) fn findings(
    ctx: &Context<'_>,
    left: Named<'_>,
    right: Named<'_>,
    dialect: Option<Dialect>,
    helps: &Helps<'_>,
    out: &mut Vec<Finding>,
) {
    let fold = dialect.map_or(Fold::exact(), |d| Fold::for_dialect(Some(d)));
    let ignore = |t: &TableName| ignored(ctx, t);
    let opts = compare::Options {
        fold,
        dialect,
        ignore: &ignore,
    };
    let label = |side: Side| this_and_other(side, left.label, right.label).0;
    let other = |side: Side| this_and_other(side, left.label, right.label).1;
    let fallback = ctx.database_location();
    for d in compare::diff(left.schema, right.schema, &opts) {
        let (table, message, help, at, also) = match &d {
            Difference::Table { side, table } => (
                table.name.to_string(),
                format!(
                    "table `{}`{} is in {} but not in {}",
                    table.name,
                    class_of(table.class.as_deref()),
                    label(*side),
                    other(*side)
                ),
                this_and_other(*side, helps.left_only_table, helps.right_only_table).0,
                table.origin.clone(),
                None,
            ),
            Difference::Column {
                side,
                left: lt,
                right: rt,
                column,
            } => {
                let (own, theirs) = this_and_other(*side, lt, rt);
                (
                    own.name.to_string(),
                    format!(
                        "column `{}.{}` is in {} but not in {}",
                        own.name,
                        column.name,
                        label(*side),
                        other(*side)
                    ),
                    this_and_other(*side, helps.left_only_column, helps.right_only_column).0,
                    // A column the other side lacks: at its declaration, else at the
                    // table that lacks it.
                    column
                        .origin
                        .clone()
                        .or_else(|| theirs.origin.clone())
                        .or_else(|| own.origin.clone()),
                    column
                        .origin
                        .as_ref()
                        .and(theirs.origin.clone())
                        .map(|o| (o, format!("`{}` in {}", theirs.name, other(*side)))),
                )
            }
            Difference::Nullable {
                table,
                left: l,
                right: r,
            } => {
                let word = |n: Option<bool>| {
                    if n == Some(true) {
                        "nullable"
                    } else {
                        "NOT NULL"
                    }
                };
                (
                    table.name.to_string(),
                    format!(
                        "column `{}.{}` is {} in {} but {} in {}",
                        table.name,
                        l.name,
                        word(l.nullable),
                        left.label,
                        word(r.nullable),
                        right.label
                    ),
                    helps.changed_column,
                    l.origin.clone().or_else(|| r.origin.clone()),
                    r.origin
                        .clone()
                        .filter(|_| l.origin.is_some())
                        .map(|o| (o, format!("as {} declare it", right.label))),
                )
            }
            Difference::Type {
                table,
                left: l,
                right: r,
            } => (
                table.name.to_string(),
                format!(
                    "column `{}.{}` is `{}` in {} but `{}` in {}",
                    table.name, l.name, l.type_.text, left.label, r.type_.text, right.label
                ),
                helps.changed_column,
                l.origin.clone().or_else(|| r.origin.clone()),
                r.origin
                    .clone()
                    .filter(|_| l.origin.is_some())
                    .map(|o| (o, format!("as {} declare it", right.label))),
            ),
        };
        let at = at.unwrap_or_else(|| fallback.clone());
        let mut f = Finding::new(at.path, at.span, message).with_help(help);
        if let Some((also, label)) = also {
            f = f.with_related(also.path, also.span, label);
        }
        let bare = table.rsplit('.').next().unwrap_or(&table).to_string();
        // A model base class that is not among the model files can only explain
        // columns the models seem to lack.
        let lacks_column = matches!(
            d,
            Difference::Column {
                side: Side::Right,
                ..
            }
        );
        hedge(
            &mut f,
            left.schema
                .opaque_for(&bare, fold)
                .into_iter()
                .chain(right.schema.opaque_for(&bare, fold))
                .filter(|o| lacks_column || !o.what.contains(crate::models::UNKNOWN_BASE)),
        );
        out.push(f);
    }
    object_findings(ctx, &left, &right, dialect, helps, out);
}

/// `(side's, the other side's)` of a pair given left first: the label, help or
/// table of the side a difference is on, and of the side that lacks it.
fn this_and_other<T>(side: Side, left: T, right: T) -> (T, T) {
    match side {
        Side::Left => (left, right),
        Side::Right => (right, left),
    }
}

/// Indexes, unique constraints, foreign keys, comments (and server defaults when
/// configured) of the tables both sides have ([`crate::schema::objects`]).
fn object_findings(
    ctx: &Context<'_>,
    left: &Named<'_>,
    right: &Named<'_>,
    dialect: Option<Dialect>,
    helps: &Helps<'_>,
    out: &mut Vec<Finding>,
) {
    let fold = dialect.map_or(Fold::exact(), |d| Fold::for_dialect(Some(d)));
    let opts = objects::ObjectOptions {
        dialect: dialect.or(ctx.drift.dialect),
        server_defaults: ctx.drift.compare_server_default,
        columns_ci: fold.columns_ci,
    };
    for lt in left.schema.tables.iter().filter(|t| !ignored(ctx, &t.name)) {
        let Some(rt) = right.schema.table(&lt.name, fold) else {
            continue;
        };
        let table = lt.name.to_string();
        for d in objects::diff(&table, &lt.objects, &rt.objects, opts) {
            let message = d
                .message
                .replace("{left}", left.label)
                .replace("{right}", right.label);
            let at = d
                .left
                .clone()
                .or_else(|| d.right.clone())
                .or_else(|| lt.origin.clone())
                .or_else(|| rt.origin.clone())
                .unwrap_or_else(|| ctx.database_location());
            let mut f = Finding::new(at.path, at.span, message).with_help(helps.changed_column);
            let also = match (&d.left, &d.right) {
                (Some(_), Some(r)) => Some((r.clone(), format!("as {} declare it", right.label))),
                (Some(_), None) | (None, None) => rt
                    .origin
                    .clone()
                    .filter(|_| d.left.is_some() || lt.origin.is_some())
                    .map(|o| (o, format!("`{}` in {}", rt.name, right.label))),
                (None, Some(_)) => lt
                    .origin
                    .clone()
                    .map(|o| (o, format!("`{}` in {}", lt.name, left.label))),
            };
            if let Some((also, label)) = also {
                f = f.with_related(also.path, also.span, label);
            }
            hedge(
                &mut f,
                left.schema
                    .opaque_for(&lt.name.name, fold)
                    .into_iter()
                    .chain(right.schema.opaque_for(&lt.name.name, fold)),
            );
            out.push(f);
        }
    }
}

/// Says that opaque operations might explain the finding, and points at them.
pub(super) fn hedge<'a>(f: &mut Finding, opaque: impl Iterator<Item = &'a Opaque>) {
    let opaque: Vec<&Opaque> = opaque.collect();
    let Some(first) = opaque.first() else {
        return;
    };
    f.message.push_str(&format!(
        " (this may be explained by {} that migverify cannot read",
        first.what
    ));
    if opaque.len() > 1 {
        f.message
            .push_str(&format!(", and {} more such place(s)", opaque.len() - 1));
    }
    f.message.push(')');
    for o in opaque.iter().take(5) {
        let Location { path, span } = o.location.clone();
        f.related.push(crate::diagnostic::Related {
            location: Location { path, span },
            message: format!("not read: {}", o.what),
        });
    }
}

fn class_of(class: Option<&str>) -> String {
    class.map(|c| format!(" (model `{c}`)")).unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod testing {
    use super::super::Rule;
    use super::super::testing::{migrations, snapshot};
    use crate::db::Snapshot;
    use crate::db::snapshot::{Column, Table};
    use crate::diagnostic::Finding;
    use crate::graph::RevisionGraph;

    pub fn col(name: &str, type_: &str, nullable: bool) -> Column {
        Column {
            name: name.into(),
            type_: type_.into(),
            nullable,
            default: None,
            comment: None,
        }
    }

    /// `(name, type, nullable)`.
    pub type Col<'a> = (&'a str, &'a str, bool);

    /// A SQLite snapshot at no revision (set `version_table.revisions`) with these tables.
    pub fn snapshot_of(tables: &[(&str, &[Col<'_>])]) -> Snapshot {
        let mut s = snapshot(Some(&[]));
        s.tables = tables
            .iter()
            .map(|(name, cols)| Table {
                schema: "main".into(),
                name: name.to_string(),
                columns: cols.iter().map(|(n, t, null)| col(n, t, *null)).collect(),
                primary_key: Vec::new(),
                foreign_keys: Vec::new(),
                indexes: Vec::new(),
                unique_constraints: Vec::new(),
                comment: None,
            })
            .collect();
        s
    }

    /// Runs a rule over migration files, a `models.py` and a snapshot.
    pub fn run(
        rule: &dyn Rule,
        files: &[(&str, &str)],
        models: Option<&str>,
        snapshot: Option<&Snapshot>,
    ) -> Vec<Finding> {
        let ms = migrations(files);
        let graph = RevisionGraph::build(&ms);
        let models = models.map(|src| {
            let file = crate::models::read_source("models.py".into(), src.as_bytes().to_vec());
            crate::models::build(&[file])
        });
        let mut out = Vec::new();
        rule.check(
            &super::super::Context {
                migrations: &ms,
                graph: &graph,
                snapshot,
                database_origin: None,
                models: models.as_ref(),
                ignore_tables: &[],
                drift: Default::default(),
            },
            &mut out,
        );
        out
    }
}
