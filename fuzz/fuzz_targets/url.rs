//! The database URL parser on arbitrary text: no panic, and a parsed password never
//! shows in the redacted form or in `Debug`.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use migverify::db::DbUrl;
use migverify::db::url::{interpolate, mask_passwords, redact_raw};

fuzz_target!(|text: &str| {
    let _ = interpolate(text, |_| Some("x".into()));
    let _ = redact_raw(text);
    assert_eq!(mask_passwords(text).len(), text.len());
    if let Ok(url) = DbUrl::parse(text, Path::new("/p"))
        && let Some(pw) = url.password()
        && pw.expose().len() >= 4
        && !pw.expose().contains("***")
    {
        let shown = format!("{} {:?}", url.redacted(), url);
        // Only a password that is not also spelled out elsewhere in the URL.
        let elsewhere = text.matches(pw.expose()).count() > 1;
        assert!(elsewhere || !shown.contains(pw.expose()), "{shown}");
    }
});
