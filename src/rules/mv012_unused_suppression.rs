use std::borrow::Cow;
use std::collections::HashSet;

use super::{Context, Input, Registry, Rule, RuleMeta, RuleSource};
use crate::diagnostic::{Finding, Severity};
use crate::migration::Migration;

pub struct UnusedSuppression;

static META: RuleMeta = RuleMeta {
    code: Cow::Borrowed("MV012"),
    name: Cow::Borrowed("unused-suppression"),
    severity: Severity::Warning,
    enabled_by_default: false,
    inputs: &[Input::Migrations],
    summary: Cow::Borrowed("A `# migverify: ignore[...]` comment silences nothing"),
    doc: Cow::Borrowed(
        r#"## What it does
Reports suppression comments (`# migverify: ignore[...]`, `# migverify: ignore-file[...]`)
that silence no diagnostic, and entries in them that name no rule. Off by default (like
ruff's RUF100); enable it with `extend-select = ["MV012"]` or the `strict` preset.
Entries naming a rule that is not enabled in this run are not reported.

## Why is this bad?
A stale suppression hides the next real problem on that line, and an entry with a typo
(`MV03`, `empty-downgarde`) never silenced anything in the first place.

## Example
```python
def downgrade() -> None:  # migverify: ignore[MV003]
    op.drop_column("users", "email")    # downgrade is no longer empty
```

## Use instead
Delete the comment, or the stale entry in its list.
"#,
    ),
    source: RuleSource::Builtin,
};

impl Rule for UnusedSuppression {
    fn meta(&self) -> &RuleMeta {
        &META
    }

    fn reads_ops(&self) -> bool {
        false
    }

    /// Computed by the engine after every other rule has run: see [`unused`].
    fn check(&self, _ctx: &Context<'_>, _out: &mut Vec<Finding>) {}
}

/// Identifies one rule entry of one suppression comment: (migration, suppression,
/// entry); entry `None` is a comment with no list (every rule).
pub type SuppressionUse = (usize, usize, Option<usize>);

/// The findings for suppressions that silenced nothing. `enabled` holds the
/// registry indices of the rules that ran.
pub fn unused(
    migrations: &[Migration],
    used: &HashSet<SuppressionUse>,
    registry: &Registry,
    enabled: &HashSet<usize>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (mi, m) in migrations.iter().enumerate() {
        for (si, s) in m.suppressions.items.iter().enumerate() {
            if s.rules.is_empty() {
                if !used.contains(&(mi, si, None)) {
                    out.push(
                        Finding::new(
                            &m.path,
                            Some(s.span),
                            "unused suppression: it silences nothing",
                        )
                        .with_help("remove the comment"),
                    );
                }
                continue;
            }
            for (ei, entry) in s.rules.iter().enumerate() {
                match registry.find(&entry.value) {
                    None => {
                        let mut f = Finding::new(
                            &m.path,
                            Some(entry.span),
                            format!("unknown rule `{}` in suppression", entry.value),
                        );
                        f = match registry.suggest(&entry.value) {
                            Some(s) => f.with_help(format!("did you mean `{s}`?")),
                            None => f.with_help("`migverify rules` lists every rule"),
                        };
                        out.push(f);
                    }
                    Some(ri) if enabled.contains(&ri) && !used.contains(&(mi, si, Some(ei))) => {
                        out.push(
                            Finding::new(
                                &m.path,
                                Some(entry.span),
                                format!(
                                    "unused suppression: `{}` reports nothing here",
                                    entry.value
                                ),
                            )
                            .with_help("remove this entry"),
                        );
                    }
                    Some(_) => {}
                }
            }
        }
    }
    out
}
