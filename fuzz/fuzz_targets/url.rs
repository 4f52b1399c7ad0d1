//! The database URL parser on arbitrary text: no panic, and what is shown of a parsed
//! URL (its redacted form and `Debug`) does not depend on the password at all.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use migverify::db::url::{Target, interpolate, mask_passwords, redact_raw};
use migverify::db::{DbUrl, Secret};

fuzz_target!(|text: &str| {
    let _ = interpolate(text, |_| Some("x".into()));
    let _ = redact_raw(text);
    assert_eq!(mask_passwords(text).len(), text.len());
    if let Ok(url) = DbUrl::parse(text, Path::new("/p"))
        && url.password().is_some()
    {
        let mut other = url.clone();
        if let Target::Server(s) = &mut other.target {
            s.password = Some(Secret::new("a different password"));
        }
        assert_eq!(url.redacted().to_string(), other.redacted().to_string());
        assert_eq!(format!("{url:?}"), format!("{other:?}"));
    }
});
