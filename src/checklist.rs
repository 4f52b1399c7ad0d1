//! The checklist the Python verification script ended with: one line per check
//! (✓ / ⚠ / ✗ / skipped), then `Checks: N/M passed`. Every rule belongs to exactly
//! one check; a check passes when none of its rules fired at warning or error.

use serde::Serialize;

use crate::diagnostic::{Diagnostic, Severity};
use crate::report::{RuleRun, SkippedRule, Status};
use crate::rules::RuleSource;

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// No rule of the check fired at warning or error.
    Passed,
    /// A rule fired at warning, none at error.
    Warning,
    /// A rule fired at error.
    Failed,
    /// None of its rules could run.
    Skipped,
}

/// One line of the checklist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: String,
    pub outcome: Outcome,
    /// Why it was skipped; the pending count for "at head"; the diagnostic counts.
    pub detail: Option<String>,
    /// The codes of the rules it covers that were selected.
    pub rules: Vec<String>,
}

/// The checks, in the old script's order, with the rules each covers. `"MV3"` (the
/// safety pack) is matched by prefix; a project's own rules go to "project rules".
const CHECKS: &[(&str, &[&str])] = &[
    ("migration files readable", &["MV009", "MV014"]),
    ("no duplicate revisions", &["MV001"]),
    ("revision links resolve", &["MV007", "MV008"]),
    ("one head per branch", &["MV006", "MV010", "MV013"]),
    (
        "upgrades and downgrades present",
        &["MV002", "MV003", "MV004", "MV005", "MV011", "MV205"],
    ),
    ("suppressions used", &["MV012"]),
    (DATABASE_REACHABLE, &[]),
    ("version table present", &["MV103"]),
    (AT_HEAD, &["MV101", "MV102", "MV104"]),
    ("pending migrations apply", &["MV204"]),
    ("models match migrations", &["MV203"]),
    ("models match the database", &["MV201"]),
    ("migrations match the database", &["MV202"]),
    ("safe operations", &["MV3"]),
    (PROJECT_RULES, &[]),
];

const DATABASE_REACHABLE: &str = "database reachable";
const AT_HEAD: &str = "at head";
const PROJECT_RULES: &str = "project rules";

/// The check a rule belongs to.
fn check_of(code: &str, source: &RuleSource) -> &'static str {
    if matches!(source, RuleSource::User { .. }) {
        return PROJECT_RULES;
    }
    CHECKS
        .iter()
        .find(|(_, codes)| {
            codes
                .iter()
                .any(|c| code == *c || (c.len() == 3 && code.starts_with(c)))
        })
        .map_or(PROJECT_RULES, |(name, _)| name)
}

/// The checklist of a run: the rules that ran (with their diagnostics) and those
/// skipped. Checks none of whose rules were selected are left out.
pub fn build(
    rules: &[RuleRun],
    skipped: &[SkippedRule],
    diagnostics: &[Diagnostic],
    status: &Status,
    database_rule_selected: bool,
    user_codes: &[String],
) -> Vec<Check> {
    let mut out = Vec::new();
    for &(name, _) in CHECKS {
        if name == DATABASE_REACHABLE {
            if !database_rule_selected {
                continue;
            }
            let db_skip = skipped.iter().find(|s| {
                s.reason
                    .starts_with(crate::rules::Input::Database.describe())
            });
            out.push(match (&status.database, db_skip) {
                (Some(db), _) => Check {
                    name: name.into(),
                    outcome: Outcome::Passed,
                    detail: Some(db.clone()),
                    rules: Vec::new(),
                },
                (None, skip) => Check {
                    name: name.into(),
                    outcome: Outcome::Skipped,
                    detail: Some(skip.map_or_else(
                        || crate::rules::Input::Database.describe().to_string(),
                        |s| s.reason.clone(),
                    )),
                    rules: Vec::new(),
                },
            });
            continue;
        }
        let is_user = |code: &str| user_codes.iter().any(|u| u == code);
        let belongs = |code: &str| {
            let source = if is_user(code) {
                RuleSource::User {
                    file: String::new(),
                    url: None,
                }
            } else {
                RuleSource::Builtin
            };
            check_of(code, &source) == name
        };
        let ran: Vec<&RuleRun> = rules.iter().filter(|r| belongs(&r.meta.code)).collect();
        let skipped_here: Vec<&SkippedRule> = skipped.iter().filter(|s| belongs(&s.code)).collect();
        if ran.is_empty() && skipped_here.is_empty() {
            continue;
        }
        let mut codes: Vec<String> = ran.iter().map(|r| r.meta.code.to_string()).collect();
        codes.extend(skipped_here.iter().map(|s| s.code.clone()));
        if ran.is_empty() {
            out.push(Check {
                name: name.into(),
                outcome: Outcome::Skipped,
                detail: Some(skipped_here[0].reason.clone()),
                rules: codes,
            });
            continue;
        }
        let (mut errors, mut warnings) = (0usize, 0usize);
        for d in diagnostics.iter().filter(|d| belongs(&d.code)) {
            match d.severity {
                Severity::Error => errors += 1,
                Severity::Warning => warnings += 1,
                Severity::Info => {}
            }
        }
        let pending = (name == AT_HEAD)
            .then(|| {
                status
                    .pending
                    .as_ref()
                    .map(|p| format!("{} pending", p.len()))
            })
            .flatten();
        let (outcome, detail) = outcome(errors, warnings, pending);
        out.push(Check {
            name: name.into(),
            outcome,
            detail,
            rules: codes,
        });
    }
    out
}

/// A check's outcome and detail from the counts of its diagnostics; `pending`
/// leads the detail ("at head").
fn outcome(errors: usize, warnings: usize, pending: Option<String>) -> (Outcome, Option<String>) {
    let outcome = if errors > 0 {
        Outcome::Failed
    } else if warnings > 0 {
        Outcome::Warning
    } else {
        Outcome::Passed
    };
    let mut details: Vec<String> = pending.into_iter().collect();
    if errors > 0 {
        details.push(plural(errors, "error", "errors"));
    }
    if warnings > 0 {
        details.push(plural(warnings, "warning", "warnings"));
    }
    (outcome, (!details.is_empty()).then(|| details.join(", ")))
}

/// The checks' outcomes again from `diagnostics`, after some were left out of the
/// report (a baseline, `--changed-since`). Skipped checks and the database check
/// stay as they were; "at head" keeps its pending count.
pub fn recount(checks: &mut [Check], diagnostics: &[Diagnostic]) {
    for c in checks
        .iter_mut()
        .filter(|c| c.outcome != Outcome::Skipped && !c.rules.is_empty())
    {
        let (mut errors, mut warnings) = (0usize, 0usize);
        for d in diagnostics.iter().filter(|d| c.rules.contains(&d.code)) {
            match d.severity {
                Severity::Error => errors += 1,
                Severity::Warning => warnings += 1,
                Severity::Info => {}
            }
        }
        let pending = c
            .detail
            .as_deref()
            .and_then(|d| d.split(", ").find(|p| p.ends_with(" pending")))
            .map(str::to_string);
        (c.outcome, c.detail) = outcome(errors, warnings, pending);
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `(passed, run)`: checks that passed, and checks that were not skipped.
pub fn tally(checks: &[Check]) -> (usize, usize) {
    let run = checks
        .iter()
        .filter(|c| c.outcome != Outcome::Skipped)
        .count();
    let passed = checks
        .iter()
        .filter(|c| c.outcome == Outcome::Passed)
        .count();
    (passed, run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recount_follows_the_diagnostics_left() {
        let check = |name: &str, outcome, detail: &str, rules: &[&str]| Check {
            name: name.into(),
            outcome,
            detail: (!detail.is_empty()).then(|| detail.to_string()),
            rules: rules.iter().map(|r| r.to_string()).collect(),
        };
        let mut checks = vec![
            check(
                "one head per branch",
                Outcome::Failed,
                "1 error",
                &["MV006"],
            ),
            check(
                AT_HEAD,
                Outcome::Warning,
                "2 pending, 1 warning",
                &["MV101"],
            ),
            check(
                "upgrades and downgrades present",
                Outcome::Warning,
                "2 warnings",
                &["MV002", "MV003"],
            ),
            check(DATABASE_REACHABLE, Outcome::Passed, "db", &[]),
            check(
                "safe operations",
                Outcome::Skipped,
                "no database",
                &["MV301"],
            ),
        ];
        let left = Diagnostic {
            code: "MV003".into(),
            name: "empty-downgrade".into(),
            severity: Severity::Warning,
            message: "m".into(),
            location: crate::diagnostic::Location {
                path: "a.py".into(),
                span: None,
            },
            related: Vec::new(),
            help: None,
            fix: None,
        };
        recount(&mut checks, &[left]);
        let got: Vec<(Outcome, Option<&str>)> = checks
            .iter()
            .map(|c| (c.outcome, c.detail.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Outcome::Passed, None),
                (Outcome::Passed, Some("2 pending")),
                (Outcome::Warning, Some("1 warning")),
                (Outcome::Passed, Some("db")),
                (Outcome::Skipped, Some("no database")),
            ]
        );
    }

    #[test]
    fn every_builtin_rule_belongs_to_a_named_check() {
        let registry = crate::rules::Registry::builtin();
        for r in registry.rules() {
            let m = r.meta();
            let check = check_of(&m.code, &m.source);
            assert_ne!(check, PROJECT_RULES, "{} has no check", m.code);
        }
        assert_eq!(check_of("MV301", &RuleSource::Builtin), "safe operations");
        assert_eq!(
            check_of(
                "TEAM001",
                &RuleSource::User {
                    file: "x".into(),
                    url: None
                }
            ),
            PROJECT_RULES
        );
    }
}
