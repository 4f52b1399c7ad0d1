//! Writes a realistic, valid Alembic version directory for benchmarks:
//!
//! ```text
//! cargo run --release --example gen_corpus -- --files 10000 --out /tmp/corpus10k [--seed 42] [--force]
//! ```
//!
//! The output is deterministic for a given `--files` and `--seed`. `--out` is the
//! version directory itself (`migverify check /tmp/corpus10k`). See
//! `benches/common/corpus.rs` for what the history looks like.

#[path = "../benches/common/corpus.rs"]
mod corpus;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut files = 10_000usize;
    let mut out: Option<PathBuf> = None;
    let mut seed = 42u64;
    let mut force = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        match a.as_str() {
            "--files" => {
                files = value("--files")
                    .parse()
                    .unwrap_or_else(|_| usage("bad --files"))
            }
            "--out" => out = Some(PathBuf::from(value("--out"))),
            "--seed" => {
                seed = value("--seed")
                    .parse()
                    .unwrap_or_else(|_| usage("bad --seed"))
            }
            "--force" => force = true,
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let Some(out) = out else {
        usage("--out is required")
    };
    match prepare(&out, force) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("gen_corpus: {}: {e}", out.display());
            return ExitCode::from(2);
        }
    }
    let corpus = corpus::generate(files, seed);
    if let Err(e) = corpus.write_to(&out) {
        eprintln!("gen_corpus: writing {}: {e}", out.display());
        return ExitCode::from(2);
    }
    eprintln!(
        "wrote {} files ({:.1} MB, {} merges, {} depends_on) to {}; heads: {}",
        corpus.files.len(),
        corpus.total_bytes() as f64 / 1e6,
        corpus.merges,
        corpus.depends_on,
        out.display(),
        corpus.heads.join(" ")
    );
    ExitCode::SUCCESS
}

/// Refuses a directory that already holds `.py` files unless `--force`, which
/// removes them (and `__pycache__`) first.
fn prepare(out: &std::path::Path, force: bool) -> std::io::Result<()> {
    let Ok(rd) = std::fs::read_dir(out) else {
        return std::fs::create_dir_all(out);
    };
    for entry in rd {
        let path = entry?.path();
        let is_py = path.extension().is_some_and(|e| e == "py");
        let is_cache = path.file_name().is_some_and(|n| n == "__pycache__");
        if !(is_py || is_cache) {
            continue;
        }
        if !force {
            return Err(std::io::Error::other(
                "already holds migration files (pass --force to replace them)",
            ));
        }
        if is_cache {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn usage(msg: &str) -> ! {
    if !msg.is_empty() {
        eprintln!("gen_corpus: {msg}");
    }
    eprintln!("usage: gen_corpus --files N --out DIR [--seed S] [--force]");
    std::process::exit(if msg.is_empty() { 0 } else { 2 })
}
