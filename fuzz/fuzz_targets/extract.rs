//! The migration extractor on arbitrary bytes: no panic, every span inside the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use migverify::migration::parse_source;

fuzz_target!(|data: &[u8]| {
    let m = parse_source("fuzz.py".into(), data.to_vec());
    let len = m.source.text.len();
    let lines = m.source.line_count();
    let mut spans: Vec<_> = m.ops.iter().map(|o| o.span).collect();
    spans.extend(m.revision.iter().map(|r| r.span));
    spans.extend(m.problems.iter().filter_map(|p| p.span));
    for list in [&m.down_revision, &m.branch_labels, &m.depends_on]
        .into_iter()
        .flatten()
    {
        spans.push(list.statement);
        spans.extend(list.items.iter().map(|i| i.span));
    }
    for s in spans {
        assert!(s.start <= s.end && s.end <= len, "{s:?} in {len} bytes");
        assert!(
            s.start_line >= 1 && s.end_line <= lines,
            "{s:?} in {lines} lines"
        );
    }
});
