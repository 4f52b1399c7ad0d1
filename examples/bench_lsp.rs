//! Times the language server: `didChange` → `publishDiagnostics` for the edited
//! document, in a generated 1,000-revision Alembic project (the corpus of
//! `benches/common/corpus.rs`, with an `alembic.ini`).
//!
//! ```sh
//! scripts/bench-lsp                       # release server, 1,000 files, 60 edits
//! scripts/bench-lsp --files 10000 --edits 40
//! scripts/bench-lsp --watch no            # a client that does not watch files
//! ```
//!
//! The client watches files for the server (as VS Code does) unless `--watch no`.
//! The edits alternate: the head migration's revision id is changed to a base's
//! (MV001, and the head descends from itself: MV008 marks every file of the
//! cycle), then set back (all clear), then a line is added to its `upgrade()` body
//! (the diagnostics stay, the edited document is published anyway). Each is timed
//! from writing the notification to reading the publication for that document at
//! that version. Warm-up edits run first, until the cache is written and trusted
//! (its 3 s racy window has passed). Prints the median, p90, min and max per kind
//! and overall, and the server's CPU time per edit (Linux).

#[path = "../benches/common/corpus.rs"]
mod corpus;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn main() {
    let mut files = 1000usize;
    let mut edits = 60usize;
    let mut bin = PathBuf::from("target/release/migverify");
    let mut watch = true;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().expect("a value");
        match a.as_str() {
            "--files" => files = v.parse().expect("--files N"),
            "--edits" => edits = v.parse().expect("--edits N"),
            "--bin" => bin = PathBuf::from(v),
            "--watch" => watch = v == "yes",
            other => panic!("unknown argument {other}"),
        }
    }
    let bin = std::path::absolute(&bin).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::write(
        root.join("alembic.ini"),
        "[alembic]\nscript_location = migrations\n",
    )
    .unwrap();
    let versions = root.join("migrations/versions");
    std::fs::create_dir_all(&versions).unwrap();
    let corpus = corpus::generate(files, 42);
    corpus.write_to(&versions).unwrap();
    let head = corpus.file_of(&corpus.heads[0]).expect("the head's file");
    let other = &corpus.bases[0];
    let path = versions.join(&head.name);
    let uri = format!("file://{}", path.display());
    let original = head.text.clone();
    let rev = &corpus.heads[0];
    let duplicate = original.replacen(&format!("'{rev}'"), &format!("'{other}'"), 1);
    let duplicate = if duplicate == original {
        original.replacen(&format!("\"{rev}\""), &format!("\"{other}\""), 1)
    } else {
        duplicate
    };
    assert_ne!(duplicate, original, "the head's revision assignment");
    let body = original.replacen("def upgrade()", "x = 1\n\n\ndef upgrade()", 1);

    let mut child = Command::new(&bin)
        .arg("server")
        .current_dir(&root)
        .env_remove("MIGVERIFY_CACHE_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut send = |v: Value| {
        let body = serde_json::to_vec(&v).unwrap();
        write!(stdin, "Content-Length: {}\r\n\r\n", body.len()).unwrap();
        stdin.write_all(&body).unwrap();
        stdin.flush().unwrap();
    };
    let mut recv = move || -> Value {
        let mut len = 0;
        loop {
            let mut line = String::new();
            assert!(out.read_line(&mut line).unwrap() > 0, "the server ended");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(v) = line.strip_prefix("Content-Length: ") {
                len = v.parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        out.read_exact(&mut body).unwrap();
        serde_json::from_slice(&body).unwrap()
    };

    // A client that watches files for the server (VS Code does), unless
    // `--watch no`: then every check reads the disk (and the cache) again.
    let capabilities = if watch {
        json!({"workspace": {"didChangeWatchedFiles": {"dynamicRegistration": true}}})
    } else {
        json!({})
    };
    send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "processId": null, "rootUri": format!("file://{}", root.display()),
        "capabilities": capabilities}}),
    );
    while recv().get("id") != Some(&json!(1)) {}
    send(json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}));
    send(
        json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
        "textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": original}}}),
    );

    let mut version = 1;
    let mut edit = |text: &str, send: &mut dyn FnMut(Value), recv: &mut dyn FnMut() -> Value| {
        version += 1;
        let start = Instant::now();
        send(
            json!({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
            "textDocument": {"uri": uri, "version": version},
            "contentChanges": [{"text": text}]}}),
        );
        loop {
            let m = recv();
            if m["method"] == "client/registerCapability" {
                send(json!({"jsonrpc": "2.0", "id": m["id"], "result": null}));
                continue;
            }
            if m["method"] == "textDocument/publishDiagnostics"
                && m["params"]["uri"] == uri.as_str()
                && m["params"]["version"] == version
            {
                let n = m["params"]["diagnostics"].as_array().map_or(0, Vec::len);
                return (start.elapsed(), n);
            }
        }
    };
    let kinds = [
        ("duplicate id typed", duplicate.as_str()),
        ("id set back", original.as_str()),
        ("body edited", body.as_str()),
    ];
    // Warm-up: the cache is written on the first check and trusted once its files
    // are older than its racy window.
    let warm_until = Instant::now() + Duration::from_secs(5);
    let mut i = 0;
    while Instant::now() < warm_until || i < 6 {
        edit(kinds[i % 3].1, &mut send, &mut recv);
        i += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); 3];
    let cpu_before = cpu_time(pid);
    for i in 0..edits {
        let k = i % 3;
        let (t, n) = edit(kinds[k].1, &mut send, &mut recv);
        match k {
            0 => assert!(n > 0, "the duplicate is reported"),
            1 => assert_eq!(n, 0, "the corpus is clean"),
            _ => {}
        }
        times[k].push(t);
        // A typist's pace: each edit is checked on its own, not coalesced.
        std::thread::sleep(Duration::from_millis(30));
    }
    let cpu = cpu_before
        .zip(cpu_time(pid))
        .map(|(a, b)| (b - a) / edits as f64);
    send(json!({"jsonrpc": "2.0", "id": 2, "method": "shutdown", "params": null}));
    send(json!({"jsonrpc": "2.0", "method": "exit", "params": null}));
    let status = child.wait().unwrap();

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let row = |name: &str, v: &mut Vec<Duration>| {
        v.sort();
        let p = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        println!(
            "| {name} | {} | {:.1} ms | {:.1} ms | {:.1} / {:.1} ms |",
            v.len(),
            ms(p(0.5)),
            ms(p(0.9)),
            ms(v[0]),
            ms(v[v.len() - 1])
        );
    };
    println!(
        "{} files ({:.1} MB), `{}`, watched files {}, exit status {status}\n",
        corpus.files.len(),
        corpus.total_bytes() as f64 / 1e6,
        bin.display(),
        if watch { "yes" } else { "no" }
    );
    println!("| edit | n | median | p90 | min / max |\n|---|---:|---:|---:|---:|");
    let mut all: Vec<Duration> = times.iter().flatten().copied().collect();
    for (k, (name, _)) in kinds.iter().enumerate() {
        row(name, &mut times[k]);
    }
    row("all", &mut all);
    if let Some(cpu) = cpu {
        println!("\nserver CPU time (user + system, all threads): {cpu:.1} ms per edit");
    }
}

/// The CPU time a process has used so far, in milliseconds (Linux: `/proc`).
fn cpu_time(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (in parentheses): utime and stime are
    // the 14th and 15th of the line, in clock ticks (100 per second on Linux).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks * 10.0)
}
