//! The content-based fingerprint of a diagnostic: what SARIF's
//! `partialFingerprints.primaryLocationLineHash` carries and what a baseline file
//! (`check --write-baseline`) records. One function for both.
//!
//! It hashes the rule code, the file's path relative to a base directory (the
//! project root for SARIF, the baseline file's directory for a baseline), the
//! trimmed text of the diagnostic's first line and an occurrence counter (the
//! how-many-th diagnostic of that rule on a line of that text in that file), so
//! it survives lines moving up or down, above or inside the file. `<hex>:<n>`,
//! `n` the counter.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::diagnostic::Diagnostic;
use crate::source::SourceFile;

/// The fingerprint of each diagnostic, in order. The counters run over the
/// whole sequence, so give it every diagnostic of the run in report order.
pub fn fingerprints<'a>(
    diagnostics: impl IntoIterator<Item = &'a Diagnostic>,
    sources: &HashMap<PathBuf, Arc<SourceFile>>,
    base: &Path,
) -> Vec<String> {
    let mut occurrences: HashMap<String, usize> = HashMap::new();
    diagnostics
        .into_iter()
        .map(|d| {
            let line_text = d
                .location
                .span
                .and_then(|s| {
                    let src = sources.get(&d.location.path)?;
                    let line = src.line_span(s.start_line)?;
                    src.text.get(line.start..line.end).map(str::trim)
                })
                .unwrap_or("");
            let key = format!(
                "{}\0{}\0{}",
                d.code,
                crate::report::relative_path(&d.location.path, base),
                line_text
            );
            let counter = occurrences.entry(key.clone()).or_insert(0);
            *counter += 1;
            let mut hasher = Sha256::new();
            hasher.update(key.as_bytes());
            hasher.update(b"\0");
            hasher.update(counter.to_string().as_bytes());
            let digest = hasher.finalize();
            let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
            format!("{hex}:{counter}")
        })
        .collect()
}
