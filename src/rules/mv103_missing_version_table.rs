use std::borrow::Cow;

use super::{Context, Input, Rule, RuleMeta, RuleSource};
use crate::diagnostic::{Finding, Severity};

pub struct MissingVersionTable;

static META: RuleMeta = RuleMeta {
    code: Cow::Borrowed("MV103"),
    name: Cow::Borrowed("missing-version-table"),
    severity: Severity::Error,
    enabled_by_default: true,
    inputs: &[Input::Migrations, Input::Database],
    summary: Cow::Borrowed("The database answers but has no version table"),
    doc: Cow::Borrowed(
        r#"## What it does
Reports a database that migverify reached but that has no version table: `alembic_version`
unless `[database] version_table` names another, in `[database] version_table_schema` when
set (else PostgreSQL `public`, MySQL the connected database, SQLite `main`). Located at the
config that names the database, else at the head migration. When it fires, MV101 and
MV102 do not (there is nothing to compare).

## Why is this bad?
Either the database was never migrated with Alembic, the wrong database (or schema) is
configured, or the version table was dropped: `alembic upgrade head` would then try to
create every table again.

## Example
```toml
# migverify.toml
[database]
url = "postgresql://app@db/app"   # the tables are in schema "app", not "public"
```

## Use instead
```toml
[database]
url = "postgresql://app@db/app"
version_table_schema = "app"
```
or, for a database whose schema is already at a known revision, `alembic stamp <revision>`.
"#,
    ),
    source: RuleSource::Builtin,
};

impl Rule for MissingVersionTable {
    fn meta(&self) -> &RuleMeta {
        &META
    }

    fn reads_ops(&self) -> bool {
        false
    }

    fn check(&self, ctx: &Context<'_>, out: &mut Vec<Finding>) {
        let Some(snapshot) = ctx.snapshot else {
            return;
        };
        if snapshot.has_version_table() {
            return;
        }
        let vt = &snapshot.version_table;
        let loc = ctx.database_location();
        out.push(
            Finding::new(
                loc.path,
                loc.span,
                format!(
                    "the database has no version table `{}` in schema `{}`",
                    vt.name, vt.schema
                ),
            )
            .with_help(
                "migrate it with `alembic upgrade head` (or `alembic stamp` a known revision), \
                 or set `[database] version_table` / `version_table_schema` to where it is",
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{check_with_db, mig, snapshot};

    #[test]
    fn fires_without_a_version_table_only() {
        let a = mig("a", "None", "op.f()", "op.g()");
        let files = [("a.py", a.as_str())];
        let found = check_with_db(&MissingVersionTable, &files, Some(&snapshot(None)), None);
        assert_eq!(found.len(), 1);
        assert!(
            found[0]
                .message
                .contains("`alembic_version` in schema `main`"),
            "{}",
            found[0].message
        );
        assert_eq!(found[0].location.path, std::path::Path::new("a.py"));
        for revs in [Some(&["a"][..]), Some(&[][..])] {
            let found = check_with_db(&MissingVersionTable, &files, Some(&snapshot(revs)), None);
            assert!(found.is_empty());
        }
        assert!(crate::rules::testing::check(&MissingVersionTable, &files).is_empty());
    }
}
