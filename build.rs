//! The cache key (issue 19): a hash of everything that decides what extraction
//! stores (every source file of the crate, the built-in query rules, Cargo.lock)
//! plus the crate version, so a binary whose extraction differs can never read
//! another build's cache entries. `src/cache.rs` reads it as
//! `MIGVERIFY_BUILD_KEY`. Hashing all of `src/` rather than a hand-kept list of
//! the extraction modules: a change elsewhere only costs one cold run, a module
//! missing from a list would let a stale cache answer.

use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => files(&p, out),
            Ok(t) if t.is_file() => out.push(p),
            _ => {}
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let mut inputs = Vec::new();
    for dir in ["src", "rules"] {
        println!("cargo:rerun-if-changed={dir}");
        files(&root.join(dir), &mut inputs);
    }
    inputs.push(root.join("Cargo.lock"));
    println!("cargo:rerun-if-changed=Cargo.lock");
    inputs.sort();
    let mut hasher = xxhash_rust::xxh3::Xxh3Default::new();
    for path in &inputs {
        let rel = path.strip_prefix(&root).unwrap_or(path);
        hasher.update(rel.to_string_lossy().replace('\\', "/").as_bytes());
        hasher.update(&[0]);
        // Line endings do not change what the code does (a checkout on Windows).
        let bytes = std::fs::read(path).unwrap_or_default();
        let text: Vec<u8> = bytes.into_iter().filter(|&b| b != b'\r').collect();
        hasher.update(&(text.len() as u64).to_le_bytes());
        hasher.update(&text);
    }
    println!(
        "cargo:rustc-env=MIGVERIFY_BUILD_KEY={}-{:032x}",
        std::env::var("CARGO_PKG_VERSION").expect("cargo sets it"),
        hasher.digest128()
    );
}
