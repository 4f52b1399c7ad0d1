//! End-to-end benchmark on a generated version directory; prints a Markdown table.
//! Run it through `scripts/bench`, which builds the release binary first:
//!
//! ```text
//! scripts/bench [--files 10000] [--small 1000] [--runs 10] [--dir /tmp/migverify-bench]
//! ```
//!
//! Measures, on the same deterministic tree (`benches/common/corpus.rs`):
//! (a) the floor: tree-sitter parsing every file on all cores (rayon, one parser
//!     per thread), with the files already in memory and with reading them;
//!     also the in-process `engine::check` time;
//! (b) `migverify check DIR` wall and CPU time of the release binary (hyperfine
//!     when installed, else an own loop): cold (the cache file removed before
//!     every run, so each run parses everything and writes the cache), with
//!     `--no-cache`, and warm (every file unchanged since the cache was written);
//! (c) `migverify check DIR/one_file.py` in a `--small`-file project, warm, and
//!     with `--no-cache`;
//! (d) peak memory (`/usr/bin/time -v`, max RSS): cold, warm and `--no-cache`;
//! (e) when a Python with Alembic is found (`/tmp/avenv/bin/python`,
//!     `.venv/bin/python`, or `--python`): `ScriptDirectory` + `get_heads()` on the
//!     same tree, cold (no bytecode) and warm (bytecode cached).

#[path = "../benches/common/corpus.rs"]
mod corpus;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rayon::prelude::*;

// The same allocators as the binary (src/main.rs), so the floor and the
// in-process check are measured as `migverify` runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Opts {
    files: usize,
    small: usize,
    runs: usize,
    seed: u64,
    dir: PathBuf,
    bin: PathBuf,
    python: Option<PathBuf>,
}

fn main() {
    // SAFETY: first thing in the process, before any tree-sitter call.
    unsafe { migverify::migration::use_mimalloc_for_parsing() };
    let opts = parse_args();
    let big_dir = opts.dir.join(format!("versions{}", opts.files));
    let small_dir = opts.dir.join(format!("versions{}", opts.small));
    let big = write_corpus(&big_dir, opts.files, opts.seed);
    let small = write_corpus(&small_dir, opts.small, opts.seed);
    let written = Instant::now();
    assert!(
        opts.bin.is_file(),
        "no binary at {} (build it: cargo build --release)",
        opts.bin.display()
    );

    let mut rows: Vec<[String; 3]> = Vec::new();
    let load_before = loadavg();

    // The tree must be clean: exit 0, no diagnostic at all.
    let out = Command::new(&opts.bin)
        .args(["check", "--no-cache", "--format", "concise"])
        .arg(&big_dir)
        .output()
        .expect("run migverify");
    let diags = String::from_utf8_lossy(&out.stdout).lines().count();
    assert!(
        out.status.success() && diags == 0,
        "the generated tree should be clean: status {}, output:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );

    // (a) the floor.
    let paths = py_files(&big_dir);
    let texts: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let (parse_mem, parse_mem_cpu) = measure(opts.runs, || {
        let nodes: usize = texts.par_iter().map(|t| parse_count(t)).sum();
        assert!(nodes > 0);
    });
    let (parse_read, parse_read_cpu) = measure(opts.runs, || {
        let nodes: usize = paths
            .par_iter()
            .map(|p| parse_count(&std::fs::read(p).unwrap()))
            .sum();
        assert!(nodes > 0);
    });
    let parse_1core = {
        let t = Instant::now();
        let nodes: usize = texts.iter().map(|t| parse_count(t)).sum();
        assert!(nodes > 0);
        t.elapsed()
    };
    let threads = rayon::current_num_threads();
    let mb = big.total_bytes() as f64 / 1e6;
    rows.push([
        format!(
            "(a) tree-sitter parse, {} files in memory, {threads} threads",
            opts.files
        ),
        ms(parse_mem),
        format!(
            "CPU {}; 1 thread: {} ({:.1} MB/s)",
            ms(parse_mem_cpu),
            ms(parse_1core),
            mb / parse_1core.as_secs_f64()
        ),
    ]);
    rows.push([
        format!(
            "(a) read + tree-sitter parse, {} files, {threads} threads",
            opts.files
        ),
        ms(parse_read),
        format!("CPU {}; the floor for `check`", ms(parse_read_cpu)),
    ]);
    let registry = migverify::rules::Registry::builtin();
    let (engine, engine_cpu) = measure(opts.runs, || {
        let project = migverify::project::discover(
            std::slice::from_ref(&big_dir),
            None,
            &migverify::cli::RuleSelection::default(),
            &registry,
        )
        .expect("discover");
        let report = migverify::engine::check(
            &project,
            &registry,
            &migverify::engine::CheckOptions {
                verbose: false,
                cwd: opts.dir.clone(),
                cache: None,
                database: None,
                models: None,
            },
        );
        assert!(report.diagnostics.is_empty());
    });
    rows.push([
        format!("in-process `engine::check`, {} files", opts.files),
        ms(engine),
        format!(
            "CPU {}: {:.2}× the floor's CPU, {:.2}× its wall time",
            ms(engine_cpu),
            engine_cpu.as_secs_f64() / parse_read_cpu.as_secs_f64(),
            engine.as_secs_f64() / parse_read.as_secs_f64()
        ),
    ]);

    // (b) and (c): the binary, cold (no cache file: removed before every run),
    // without the cache, and warm. The corpus was written at the start: by now
    // its stamps are older than the cache's racy window, so warm runs trust them.
    let cache_big = opts.dir.join("cache-big");
    let cache_small = opts.dir.join("cache-small");
    let check = |dir: &Path, cache: &Path, extra: &[&str]| -> Vec<std::ffi::OsString> {
        let mut v: Vec<std::ffi::OsString> = vec![
            opts.bin.clone().into(),
            "check".into(),
            "--cache-dir".into(),
            cache.into(),
        ];
        v.extend(extra.iter().map(Into::into));
        v.push(dir.into());
        v
    };
    let wait_out_racy_window = || {
        let settle = Duration::from_millis(3500).saturating_sub(written.elapsed());
        std::thread::sleep(settle);
    };
    let cold_big = time_command(&opts, &check(&big_dir, &cache_big, &[]), Some(&cache_big));
    rows.push([
        format!(
            "(b) `migverify check DIR`, {} files, cold (no cache file)",
            opts.files
        ),
        ms(cold_big.median),
        format!(
            "{}; {:.2}× the floor's wall time; CPU {} ({:.2}× the floor's)",
            cold_big.how,
            cold_big.median.as_secs_f64() / parse_read.as_secs_f64(),
            ms(cold_big.cpu),
            cold_big.cpu.as_secs_f64() / parse_read_cpu.as_secs_f64()
        ),
    ]);
    let nocache_big = time_command(&opts, &check(&big_dir, &cache_big, &["--no-cache"]), None);
    rows.push([
        format!("`migverify check --no-cache DIR`, {} files", opts.files),
        ms(nocache_big.median),
        format!(
            "{}; {:.2}× the floor's wall time; CPU {} ({:.2}× the floor's)",
            nocache_big.how,
            nocache_big.median.as_secs_f64() / parse_read.as_secs_f64(),
            ms(nocache_big.cpu),
            nocache_big.cpu.as_secs_f64() / parse_read_cpu.as_secs_f64()
        ),
    ]);
    wait_out_racy_window();
    let warm_big = time_command(&opts, &check(&big_dir, &cache_big, &[]), None);
    rows.push([
        format!("(b) `migverify check DIR`, {} files, warm", opts.files),
        ms(warm_big.median),
        format!("{}; CPU {}", warm_big.how, ms(warm_big.cpu)),
    ]);
    let cold_small = time_command(
        &opts,
        &check(&small_dir, &cache_small, &[]),
        Some(&cache_small),
    );
    rows.push([
        format!("`migverify check DIR`, {} files, cold", opts.small),
        ms(cold_small.median),
        format!("{}; CPU {}", cold_small.how, ms(cold_small.cpu)),
    ]);
    let warm_small = time_command(&opts, &check(&small_dir, &cache_small, &[]), None);
    rows.push([
        format!("`migverify check DIR`, {} files, warm", opts.small),
        ms(warm_small.median),
        format!("{}; CPU {}", warm_small.how, ms(warm_small.cpu)),
    ]);
    let one = small_dir.join(&small.files[small.files.len() / 2].name);
    let check_one = time_command(&opts, &check(&one, &cache_small, &[]), None);
    rows.push([
        format!(
            "(c) `migverify check DIR/one.py`, {}-file project, warm",
            opts.small
        ),
        ms(check_one.median),
        format!(
            "{}; CPU {}; the whole graph is still loaded",
            check_one.how,
            ms(check_one.cpu)
        ),
    ]);
    let check_one_cold = time_command(&opts, &check(&one, &cache_small, &["--no-cache"]), None);
    rows.push([
        format!(
            "`migverify check --no-cache DIR/one.py`, {}-file project",
            opts.small
        ),
        ms(check_one_cold.median),
        format!("{}; CPU {}", check_one_cold.how, ms(check_one_cold.cpu)),
    ]);

    // (d) memory.
    for (dir, cache, n) in [
        (&big_dir, &cache_big, opts.files),
        (&small_dir, &cache_small, opts.small),
    ] {
        let _ = std::fs::remove_dir_all(cache);
        for (what, extra) in [
            ("cold", &[][..]),
            ("warm", &[][..]),
            ("--no-cache", &["--no-cache"][..]),
        ] {
            if let Some(kb) = max_rss(&check(dir, cache, extra)) {
                rows.push([
                    format!("(d) peak RSS, `migverify check DIR`, {n} files, {what}"),
                    format!("{:.0} MB", kb as f64 / 1024.0),
                    "`/usr/bin/time -v`".into(),
                ]);
            }
        }
    }

    // (e) Alembic.
    if let Some(py) = &opts.python {
        let script = opts.dir.join("alembic_heads.py");
        std::fs::write(&script, ALEMBIC_SCRIPT).expect("write script");
        for (dir, corpus, n) in [
            (&big_dir, &big, opts.files),
            (&small_dir, &small, opts.small),
        ] {
            let runs = if n > 2000 { 3 } else { 5 };
            for warm in [false, true] {
                let mut walls = Vec::new();
                let mut loads = Vec::new();
                if warm {
                    alembic(py, &script, dir, corpus); // make sure the bytecode is there
                }
                for _ in 0..runs {
                    if !warm {
                        let _ = std::fs::remove_dir_all(dir.join("__pycache__"));
                    }
                    let (wall, load) = alembic(py, &script, dir, corpus);
                    walls.push(wall);
                    loads.push(load);
                }
                walls.sort();
                loads.sort();
                rows.push([
                    format!(
                        "(e) Alembic `ScriptDirectory` + `get_heads()`, {n} files, {}",
                        if warm {
                            "bytecode cached"
                        } else {
                            "cold (no bytecode)"
                        }
                    ),
                    ms(walls[runs / 2]),
                    format!(
                        "whole process, median of {runs}; load alone {}",
                        ms(loads[runs / 2])
                    ),
                ]);
            }
        }
    }
    let load_after = loadavg();

    println!(
        "Corpus: {} files, {:.1} MB ({} merges, {} depends_on, heads {}), seed {}",
        big.files.len(),
        mb,
        big.merges,
        big.depends_on,
        big.heads.join(", "),
        opts.seed
    );
    println!(
        "Machine: {} CPUs ({}), load average before {load_before}, after {load_after}\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    );
    println!("| Measurement | Median | Notes |");
    println!("|---|---:|---|");
    for [a, b, c] in rows {
        println!("| {a} | {b} | {c} |");
    }
}

const ALEMBIC_SCRIPT: &str = r#"import sys, time
from alembic.script import ScriptDirectory
d = sys.argv[1]
t = time.perf_counter()
heads = sorted(ScriptDirectory(d, version_locations=[d]).get_heads())
print(f"{time.perf_counter() - t:.6f}", " ".join(heads))
"#;

/// Runs the Alembic script: (process wall time, in-process load time).
fn alembic(py: &Path, script: &Path, dir: &Path, corpus: &corpus::Corpus) -> (Duration, Duration) {
    let t = Instant::now();
    let out = Command::new(py)
        .arg(script)
        .arg(dir)
        .output()
        .expect("run python");
    let wall = t.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "alembic failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut parts = stdout.split_whitespace();
    let load: f64 = parts.next().and_then(|s| s.parse().ok()).expect("time");
    let heads: Vec<&str> = parts.collect();
    assert_eq!(
        heads, corpus.heads,
        "Alembic's heads differ from the generator's"
    );
    (wall, Duration::from_secs_f64(load))
}

thread_local! {
    static PARSER: RefCell<tree_sitter::Parser> = RefCell::new({
        let mut p = tree_sitter::Parser::new();
        p.set_language(&tree_sitter_python::LANGUAGE.into()).unwrap();
        p
    });
}

/// Parses with this thread's parser; returns the root's descendant count so the
/// work cannot be optimised away.
fn parse_count(text: &[u8]) -> usize {
    PARSER.with(|p| {
        let tree = p.borrow_mut().parse(text, None).expect("parse");
        tree.root_node().descendant_count()
    })
}

/// Median wall time and median CPU time (all threads, user + system) of `f`.
/// CPU time does not grow when other processes compete for the cores, so the
/// ratios between CPU times hold on a busy machine too.
fn measure(runs: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    f(); // warm-up
    let mut walls = Vec::new();
    let mut cpus = Vec::new();
    for _ in 0..runs.max(1) {
        let c = cpu_time();
        let t = Instant::now();
        f();
        walls.push(t.elapsed());
        cpus.push(cpu_time().saturating_sub(c));
    }
    walls.sort();
    cpus.sort();
    (walls[walls.len() / 2], cpus[cpus.len() / 2])
}

/// This process's CPU time so far, from /proc/self/stat (clock ticks of 10 ms).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    Duration::from_millis(f.iter().sum::<u64>() * 10)
}

struct Timing {
    median: Duration,
    /// User + system CPU time of one run (mean over the measured runs).
    cpu: Duration,
    how: String,
}

/// Times `argv` (after 2 warm-up runs) with hyperfine when installed, else an own
/// loop; with `fresh`, that directory (the cache) is removed before every run.
fn time_command(opts: &Opts, argv: &[std::ffi::OsString], fresh: Option<&Path>) -> Timing {
    let cmd: Vec<String> = argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if which("hyperfine") {
        let json = opts.dir.join("hyperfine.json");
        let mut h = Command::new("hyperfine");
        h.args(["-N", "--warmup", "2", "--runs"])
            .arg(opts.runs.to_string())
            .arg("--export-json")
            .arg(&json);
        if let Some(dir) = fresh {
            h.arg("--prepare").arg(format!("rm -rf {}", dir.display()));
        }
        let status = h
            .arg(cmd.join(" "))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run hyperfine");
        assert!(status.success(), "hyperfine failed on {}", cmd.join(" "));
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        let r = &v["results"][0];
        let secs = |k: &str| Duration::from_secs_f64(r[k].as_f64().unwrap_or(0.0));
        return Timing {
            median: secs("median"),
            cpu: secs("user") + secs("system"),
            how: format!("hyperfine, {} runs, σ {}", opts.runs, ms(secs("stddev"))),
        };
    }
    let run = || {
        if let Some(dir) = fresh {
            let _ = std::fs::remove_dir_all(dir);
        }
        let t = Instant::now();
        let s = Command::new(&argv[0])
            .args(&argv[1..])
            .stdout(Stdio::null())
            .status()
            .expect("run");
        assert!(s.success(), "{} failed", cmd.join(" "));
        t.elapsed()
    };
    run();
    run();
    let cpu_before = children_cpu_time();
    let mut times: Vec<Duration> = (0..opts.runs.max(1)).map(|_| run()).collect();
    let cpu = (children_cpu_time().saturating_sub(cpu_before)) / opts.runs.max(1) as u32;
    times.sort();
    let min = times[0];
    let max = times[times.len() - 1];
    Timing {
        median: times[times.len() / 2],
        cpu,
        how: format!("{} runs, min {} max {}", opts.runs, ms(min), ms(max)),
    }
}

/// CPU time (user + system) of this process's waited-for children, from
/// /proc/self/stat (clock ticks of 10 ms).
fn children_cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = after
        .split_whitespace()
        .skip(13)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    Duration::from_millis(f.iter().sum::<u64>() * 10)
}

fn max_rss(argv: &[std::ffi::OsString]) -> Option<u64> {
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .args(argv)
        .stdout(Stdio::null())
        .output()
        .ok()?;
    let err = String::from_utf8_lossy(&out.stderr);
    err.lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok())
}

fn write_corpus(dir: &Path, n: usize, seed: u64) -> corpus::Corpus {
    let c = corpus::generate(n, seed);
    let _ = std::fs::remove_dir_all(dir);
    c.write_to(dir).expect("write corpus");
    c
}

fn py_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .collect();
    v.sort();
    v
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

fn which(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn parse_args() -> Opts {
    let exe = std::env::current_exe().expect("current exe");
    // target/release/examples/bench -> target/release/migverify
    let default_bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("migverify"))
        .unwrap_or_default();
    let mut o = Opts {
        files: 10_000,
        small: 1_000,
        runs: 10,
        seed: 42,
        dir: std::env::temp_dir().join("migverify-bench"),
        bin: default_bin,
        python: None,
    };
    let mut no_python = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut v = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--files" => o.files = v().parse().expect("--files"),
            "--small" => o.small = v().parse().expect("--small"),
            "--runs" => o.runs = v().parse().expect("--runs"),
            "--seed" => o.seed = v().parse().expect("--seed"),
            "--dir" => o.dir = v().into(),
            "--bin" => o.bin = v().into(),
            "--python" => o.python = Some(v().into()),
            "--no-alembic" => no_python = true,
            other => panic!(
                "unknown argument {other}; usage: bench [--files N] [--small N] [--runs N] [--seed S] [--dir DIR] [--bin PATH] [--python PATH | --no-alembic]"
            ),
        }
    }
    if no_python {
        o.python = None;
    } else if o.python.is_none() {
        o.python = ["/tmp/avenv/bin/python", ".venv/bin/python"]
            .iter()
            .map(PathBuf::from)
            .find(|p| {
                Command::new(p)
                    .args(["-c", "import alembic"])
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            });
    }
    std::fs::create_dir_all(&o.dir).expect("create --dir");
    o
}
