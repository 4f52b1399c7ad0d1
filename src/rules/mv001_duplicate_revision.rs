use std::borrow::Cow;

use super::{Context, Input, Rule, RuleMeta, RuleSource};
use crate::diagnostic::{Finding, Severity};

pub struct DuplicateRevision;

static META: RuleMeta = RuleMeta {
    code: Cow::Borrowed("MV001"),
    name: Cow::Borrowed("duplicate-revision"),
    severity: Severity::Error,
    enabled_by_default: true,
    inputs: &[Input::Migrations],
    summary: Cow::Borrowed("Two or more migration files declare the same revision id"),
    doc: Cow::Borrowed(
        r#"## What it does
Finds migration files that declare the same `revision` identifier. One diagnostic
per duplicated id, at the first of the files (in path order), with the other files
as related locations (the first 20; the message counts the rest).

## Why is this bad?
Alembic keys its revision map by id: it warns "Revision X is present more than once"
and silently keeps only one of the files. The other migration never runs, and any
`down_revision` pointing at the id may follow the wrong file. This usually comes from
copying a migration file or from two branches that generated migrations by hand.

## Example
```python
# versions/a_add_users.py
revision = "1a2b3c4d5e6f"
down_revision = "0f9e8d7c6b5a"

# versions/b_add_orders.py
revision = "1a2b3c4d5e6f"   # same id
down_revision = "0f9e8d7c6b5a"
```

## Use instead
Give one of the files a fresh id (`python -c "import uuid; print(uuid.uuid4().hex[:12])"`,
or regenerate it with `alembic revision`) and point its successors at the new id.
"#,
    ),
    source: RuleSource::Builtin,
};

impl Rule for DuplicateRevision {
    fn meta(&self) -> &RuleMeta {
        &META
    }

    fn reads_ops(&self) -> bool {
        false
    }

    fn check(&self, ctx: &Context<'_>, out: &mut Vec<Finding>) {
        // One problem, one diagnostic: at the first file, the others related.
        for group in &ctx.graph.duplicates {
            let Some(&first) = group.iter().min_by_key(|&&i| &ctx.migrations[i].path) else {
                continue;
            };
            let m = &ctx.migrations[first];
            let rev = m.revision_id().unwrap_or_default();
            let others = group.iter().filter(|&&j| j != first).map(|&j| {
                let other = &ctx.migrations[j];
                (
                    other.path.clone(),
                    other.anchor(),
                    format!("`{rev}` is also declared here"),
                )
            });
            let others: Vec<_> = others.collect();
            let f = Finding::new(
                &m.path,
                m.anchor(),
                format!("revision `{rev}` is declared by {} files", group.len()),
            )
            .with_help("give one of the files a new revision id and point its successors at it")
            .with_related_all(others);
            out.push(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{lint_fires, lint_ok, mig};

    #[test]
    fn fires_once_per_duplicated_id_with_the_other_files_related() {
        let a = mig("abc", "None", "op.f()", "pass");
        let b = mig("abc", "None", "op.g()", "pass");
        let c = mig("abc", "None", "op.h()", "pass");
        let found = lint_fires(
            &DuplicateRevision,
            &[("b.py", &b), ("a.py", &a), ("c.py", &c)],
            1,
        );
        assert!(found[0].location.path.ends_with("a.py"));
        assert_eq!(found[0].related.len(), 2);
        assert_eq!(found[0].message, "revision `abc` is declared by 3 files");
    }

    #[test]
    fn every_other_file_is_related_and_the_engine_bounds_them() {
        let files: Vec<(String, String)> = (0..30)
            .map(|i| (format!("m{i:02}.py"), mig("same", "None", "op.f()", "pass")))
            .collect();
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        // The rule lists every other file; the engine keeps the first 20.
        let found = lint_fires(&DuplicateRevision, &refs, 1);
        assert_eq!(found[0].related.len(), 29);
        let mut d = crate::diagnostic::Diagnostic {
            code: "MV001".into(),
            name: "duplicate-revision".into(),
            severity: Severity::Error,
            message: found[0].message.clone(),
            location: found[0].location.clone(),
            related: found[0].related.clone(),
            help: None,
            fix: None,
        };
        d.bound_related();
        assert_eq!(d.related.len(), crate::diagnostic::MAX_RELATED);
        assert_eq!(
            d.message,
            "revision `same` is declared by 30 files (9 more related locations not listed)"
        );
    }

    #[test]
    fn distinct_revisions_are_fine() {
        let a = mig("abc", "None", "op.f()", "pass");
        let b = mig("def", "'abc'", "op.g()", "pass");
        lint_ok(&DuplicateRevision, &[("a.py", &a), ("b.py", &b)]);
    }
}
