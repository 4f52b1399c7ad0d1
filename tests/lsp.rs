//! `migverify server` driven over standard input/output by a scripted client:
//! open/change/close, graph diagnostics across files, watched files, configuration
//! reload, multi-root workspaces, code actions, hover, and the lifecycle. Plus one
//! real editor: Neovim, headless (skipped with a reason when `nvim` is missing).
//!
//! Waits have a generous deadline only so that a broken server fails the test
//! instead of hanging it; nothing here asserts a duration.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(60);

fn migration(rev: &str, down: &str) -> String {
    let down = if down == "None" {
        "None".to_string()
    } else {
        format!("'{down}'")
    };
    format!(
        "\"\"\"{rev}\"\"\"\nfrom alembic import op\n\nrevision = '{rev}'\ndown_revision = {down}\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    op.create_table('t_{rev}')\n\n\ndef downgrade():\n    op.drop_table('t_{rev}')\n"
    )
}

/// An Alembic project: `alembic.ini` and `migrations/versions/` with a chain of
/// revisions `a1 <- a2 <- ...`.
fn project(dir: &Path, revisions: usize) -> PathBuf {
    std::fs::write(
        dir.join("alembic.ini"),
        "[alembic]\nscript_location = migrations\n",
    )
    .unwrap();
    let versions = dir.join("migrations/versions");
    std::fs::create_dir_all(&versions).unwrap();
    for i in 1..=revisions {
        let down = if i == 1 {
            "None".to_string()
        } else {
            format!("a{}", i - 1)
        };
        std::fs::write(
            versions.join(format!("a{i}.py")),
            migration(&format!("a{i}"), &down),
        )
        .unwrap();
    }
    versions
}

fn uri(path: &Path) -> String {
    let s = path.to_str().unwrap().replace(' ', "%20");
    format!("file://{s}")
}

struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    rx: Receiver<Value>,
    next_id: i64,
    /// Notifications and requests from the server not yet looked at.
    backlog: Vec<Value>,
}

impl Client {
    fn start(folders: &[&Path], capabilities: Value) -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_migverify"))
            .arg("server")
            .current_dir(folders[0])
            .env_remove("MIGVERIFY_DATABASE_URL")
            .env_remove("MIGVERIFY_CACHE_DIR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut len = None;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("Content-Length: ") {
                        len = Some(v.parse::<usize>().unwrap());
                    }
                }
                let mut body = vec![0; len.expect("Content-Length")];
                if r.read_exact(&mut body).is_err() {
                    return;
                }
                let v: Value = serde_json::from_slice(&body).expect("JSON from the server");
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        let mut c = Client {
            child,
            stdin,
            rx,
            next_id: 0,
            backlog: Vec::new(),
        };
        let folders: Vec<Value> = folders
            .iter()
            .map(|f| json!({"uri": uri(f), "name": f.file_name().unwrap().to_str().unwrap()}))
            .collect();
        let init = c.request(
            "initialize",
            json!({
                "processId": null,
                "rootUri": folders[0]["uri"],
                "workspaceFolders": folders,
                "capabilities": capabilities,
            }),
        );
        assert_eq!(init["result"]["serverInfo"]["name"], "migverify");
        c.notify("initialized", json!({}));
        c
    }

    fn write(&mut self, v: Value) {
        let body = serde_json::to_vec(&v).unwrap();
        let stdin = self.stdin.as_mut().unwrap();
        write!(stdin, "Content-Length: {}\r\n\r\n", body.len()).unwrap();
        stdin.write_all(&body).unwrap();
        stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.write(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request and returns its response (messages met meanwhile are kept).
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.write(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.wait(|m| m["id"] == id && m.get("method").is_none())
    }

    /// The next message (kept or arriving) that `pred` accepts.
    fn wait(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(i);
        }
        let end = Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(m) if pred(&m) => return m,
                Ok(m) => self.backlog.push(m),
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no such message from the server; got {:#?}", self.backlog)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the server ended; got {:#?}", self.backlog)
                }
            }
        }
    }

    /// The next publication for `path`.
    fn diagnostics(&mut self, path: &Path) -> Vec<Value> {
        let u = uri(path);
        let m = self.wait(|m| {
            m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == u.as_str()
        });
        m["params"]["diagnostics"].as_array().unwrap().clone()
    }

    /// Publications for `path` until one satisfies `pred`; returns it.
    fn diagnostics_until(&mut self, path: &Path, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        loop {
            let d = self.diagnostics(path);
            if pred(&d) {
                return d;
            }
        }
    }

    fn open(&mut self, path: &Path) {
        let text = std::fs::read_to_string(path).unwrap();
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri(path), "languageId": "python", "version": 1, "text": text}}),
        );
    }

    fn change(&mut self, path: &Path, version: i32, text: &str) {
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri(path), "version": version},
                   "contentChanges": [{"text": text}]}),
        );
    }

    fn watched(&mut self, changes: &[(&Path, u8)]) {
        let changes: Vec<Value> = changes
            .iter()
            .map(|(p, t)| json!({"uri": uri(p), "type": t}))
            .collect();
        self.notify(
            "workspace/didChangeWatchedFiles",
            json!({ "changes": changes }),
        );
    }

    /// `shutdown` then `exit`; returns the exit status.
    fn shutdown(mut self) -> std::process::ExitStatus {
        let r = self.request("shutdown", Value::Null);
        assert!(r.get("error").is_none(), "{r}");
        self.notify("exit", Value::Null);
        self.wait_exit()
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < end, "the server did not end");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn codes(d: &[Value]) -> Vec<String> {
    d.iter()
        .map(|d| d["code"].as_str().unwrap().to_string())
        .collect()
}

fn tmp() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    // Paths as the server sees them (macOS's /var is a symlink to /private/var).
    let real = t.path().canonicalize().unwrap();
    assert_eq!(real, t.path(), "tests assume a canonical temp dir");
    t
}

#[test]
fn a_duplicate_typed_into_one_buffer_marks_both_files_and_clears_again() {
    let t = tmp();
    let versions = project(t.path(), 3);
    let (a1, a3) = (versions.join("a1.py"), versions.join("a3.py"));
    let mut c = Client::start(&[t.path()], json!({}));
    c.open(&a3);
    // A clean project: the opened document gets an empty publication.
    assert!(c.diagnostics(&a3).is_empty());

    // Unsaved text: a3 now claims a1's id (and points at a2, so no cycle).
    let text = migration("a1", "a2");
    c.change(&a3, 2, &text);
    let in_a3 = c.diagnostics_until(&a3, |d| !d.is_empty());
    let in_a1 = c.diagnostics_until(&a1, |d| !d.is_empty());
    assert!(codes(&in_a3).contains(&"MV001".to_string()), "{in_a3:#?}");
    assert!(codes(&in_a1).contains(&"MV001".to_string()), "{in_a1:#?}");
    let dup = in_a3.iter().find(|d| d["code"] == "MV001").unwrap();
    assert_eq!(dup["severity"], 1);
    assert_eq!(dup["source"], "migverify");
    assert!(
        dup["codeDescription"]["href"]
            .as_str()
            .unwrap()
            .ends_with("docs/rules/MV001.md")
    );
    // The `'a1'` of `revision = 'a1'` on line 4 (0-based 3).
    assert_eq!(dup["range"]["start"]["line"], 3);
    let related = dup["relatedInformation"].as_array().unwrap();
    assert_eq!(related[0]["location"]["uri"], uri(&a1));
    // The disk still has the old text: only the buffer changed.
    assert!(
        std::fs::read_to_string(&a3)
            .unwrap()
            .contains("revision = 'a3'")
    );

    // Typing the right id back clears both files.
    c.change(&a3, 3, &migration("a3", "a2"));
    assert!(c.diagnostics_until(&a1, |d| d.is_empty()).is_empty());
    assert!(c.diagnostics_until(&a3, |d| d.is_empty()).is_empty());

    // Closing a changed buffer checks the file on disk again.
    c.change(&a3, 4, &text);
    c.diagnostics_until(&a1, |d| !d.is_empty());
    c.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": uri(&a3)}}),
    );
    assert!(c.diagnostics_until(&a1, |d| d.is_empty()).is_empty());
    assert!(c.shutdown().success());
}

#[test]
fn incremental_changes_and_utf16_columns() {
    let t = tmp();
    let versions = project(t.path(), 2);
    let a2 = versions.join("a2.py");
    let mut c = Client::start(&[t.path()], json!({}));
    c.open(&a2);
    assert!(c.diagnostics(&a2).is_empty());
    // Replace `'a1'` on line 5 (0-based 4) by `'zz'`: a dangling down_revision.
    let line = "down_revision = 'a1'";
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri(&a2), "version": 2}, "contentChanges": [
            {"range": {"start": {"line": 4, "character": 16}, "end": {"line": 4, "character": line.len()}},
             "text": "'zz'  # é😀"}
        ]}),
    );
    let d = c.diagnostics_until(&a2, |d| !d.is_empty());
    let mv007 = d.iter().find(|d| d["code"] == "MV007").expect("MV007");
    assert_eq!(mv007["range"]["start"], json!({"line": 4, "character": 16}));
    assert_eq!(mv007["range"]["end"], json!({"line": 4, "character": 20}));
    // An edit after the emoji, in UTF-16 units: `😀` is 2 units, so the line's end
    // is 16 + 4 + 2 + 2 + 1 + 2 = 27.
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri(&a2), "version": 3}, "contentChanges": [
            {"range": {"start": {"line": 4, "character": 27}, "end": {"line": 4, "character": 27}},
             "text": "!"}
        ]}),
    );
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri(&a2), "version": 4}, "contentChanges": [
            {"range": {"start": {"line": 4, "character": 16}, "end": {"line": 4, "character": 20}},
             "text": "'a1'"}
        ]}),
    );
    let d = c.diagnostics_until(&a2, |d| !codes(d).contains(&"MV007".to_string()));
    assert!(d.is_empty(), "{d:#?}");
    assert!(c.shutdown().success());
}

#[test]
fn watched_files_and_configuration_changes_are_picked_up() {
    let t = tmp();
    let versions = project(t.path(), 2);
    let (a2, b1) = (versions.join("a2.py"), versions.join("b1.py"));
    let mut c = Client::start(
        &[t.path()],
        json!({"workspace": {"didChangeWatchedFiles": {"dynamicRegistration": true}}}),
    );
    // The server asks to watch the migrations and the configuration files.
    let reg = c.wait(|m| m["method"] == "client/registerCapability");
    let watchers = reg["params"]["registrations"][0]["registerOptions"]["watchers"].to_string();
    for g in [
        "**/*.py",
        "**/migverify.toml",
        "**/alembic.ini",
        "**/pyproject.toml",
    ] {
        assert!(watchers.contains(g), "{watchers}");
    }
    let id = reg["id"].clone();
    c.write(json!({"jsonrpc": "2.0", "id": id, "result": null}));
    c.open(&a2);
    assert!(c.diagnostics(&a2).is_empty());

    // `alembic revision` (or a checkout) adds a second head.
    std::fs::write(&b1, migration("b1", "a1")).unwrap();
    c.watched(&[(&b1, 1)]);
    let d = c.diagnostics_until(&a2, |d| !d.is_empty());
    assert!(codes(&d).contains(&"MV006".to_string()), "{d:#?}");

    // A configuration that turns the rule off.
    let toml = t.path().join("migverify.toml");
    std::fs::write(&toml, "[rules.severity]\nMV006 = \"off\"\n").unwrap();
    c.watched(&[(&toml, 1)]);
    assert!(c.diagnostics_until(&a2, |d| d.is_empty()).is_empty());
    std::fs::remove_file(&toml).unwrap();
    c.watched(&[(&toml, 3)]);
    c.diagnostics_until(&a2, |d| codes(d).contains(&"MV006".to_string()));

    // The file goes away again.
    std::fs::remove_file(&b1).unwrap();
    c.watched(&[(&b1, 3)]);
    assert!(c.diagnostics_until(&a2, |d| d.is_empty()).is_empty());

    // A file's content changes on disk (the server keeps the disk's migrations
    // between edits): the change is what counts, open or not, as soon as it is
    // reported, and edits that follow see it too.
    let a1 = versions.join("a1.py");
    std::fs::write(&a1, migration("a2", "None")).unwrap();
    c.watched(&[(&a1, 2)]);
    let d = c.diagnostics_until(&a2, |d| !d.is_empty());
    assert!(codes(&d).contains(&"MV001".to_string()), "{d:#?}");
    c.change(&a2, 2, &(migration("a2", "a1") + "\n"));
    let d = c.diagnostics(&a2);
    assert!(codes(&d).contains(&"MV001".to_string()), "{d:#?}");
    std::fs::write(&a1, migration("a1", "None")).unwrap();
    c.watched(&[(&a1, 2)]);
    assert!(c.diagnostics_until(&a2, |d| d.is_empty()).is_empty());

    // The open document saved with a duplicate, then closed: its disk content
    // counts (a client may leave its own save unreported).
    c.change(&a2, 3, &migration("a1", "None"));
    c.diagnostics_until(&a2, |d| codes(d).contains(&"MV001".to_string()));
    std::fs::write(&a2, migration("a1", "None")).unwrap();
    c.notify(
        "textDocument/didSave",
        json!({"textDocument": {"uri": uri(&a2)}}),
    );
    c.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": uri(&a2)}}),
    );
    c.diagnostics_until(&a1, |d| codes(d).contains(&"MV001".to_string()));
    std::fs::write(&a2, migration("a2", "a1")).unwrap();
    c.watched(&[(&a2, 2)]);
    assert!(c.diagnostics_until(&a1, |d| d.is_empty()).is_empty());
    assert!(c.shutdown().success());
}

#[test]
fn each_workspace_folder_and_environment_is_checked_on_its_own() {
    let t = tmp();
    let (one, two) = (t.path().join("one"), t.path().join("two"));
    std::fs::create_dir_all(&one).unwrap();
    // Two environments below the second folder, found without opening a file.
    let (svc_a, svc_b) = (two.join("svc_a"), two.join("svc_b"));
    for d in [&svc_a, &svc_b] {
        std::fs::create_dir_all(d).unwrap();
    }
    let v1 = project(&one, 2);
    let va = project(&svc_a, 2);
    let vb = project(&svc_b, 1);
    // The same revision ids in different environments are no duplicate; a fork in
    // svc_a is svc_a's alone.
    std::fs::write(va.join("b1.py"), migration("b1", "a1")).unwrap();
    let mut c = Client::start(&[&one, &two], json!({}));
    let d = c.diagnostics(&va.join("a2.py"));
    assert_eq!(codes(&d), ["MV006"]);
    c.open(&v1.join("a2.py"));
    assert!(c.diagnostics(&v1.join("a2.py")).is_empty());
    c.open(&vb.join("a1.py"));
    assert!(c.diagnostics(&vb.join("a1.py")).is_empty());
    assert!(c.shutdown().success());
}

#[test]
fn code_actions_suppress_on_the_line_or_in_the_file_and_hover_explains() {
    let t = tmp();
    let versions = project(t.path(), 2);
    let (a1, a2) = (versions.join("a1.py"), versions.join("a2.py"));
    let mut c = Client::start(&[t.path()], json!({}));
    c.open(&a2);
    let text = migration("a2", "zz");
    c.change(&a2, 2, &text);
    let d = c.diagnostics_until(&a2, |d| !d.is_empty());
    let mv007 = d.iter().find(|d| d["code"] == "MV007").unwrap().clone();

    let hover = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri(&a2)}, "position": mv007["range"]["start"]}),
    );
    let value = hover["result"]["contents"]["value"].as_str().unwrap();
    assert!(value.starts_with("# MV007 "), "{value}");
    assert_eq!(hover["result"]["contents"]["kind"], "markdown");
    let nothing = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri(&a2)}, "position": {"line": 9, "character": 2}}),
    );
    assert!(nothing["result"].is_null(), "{nothing}");

    let actions = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri(&a2)}, "range": mv007["range"],
               "context": {"diagnostics": [mv007]}}),
    );
    let actions = actions["result"].as_array().unwrap().clone();
    let titles: Vec<&str> = actions
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        ["Suppress MV007 on this line", "Suppress MV007 in this file"]
    );
    for a in &actions {
        assert_eq!(a["kind"], "quickfix");
    }
    let apply = |a: &Value| {
        let edits = &a["edit"]["changes"][uri(&a2)];
        let e = &edits[0];
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let (l, ch) = (
            e["range"]["start"]["line"].as_u64().unwrap() as usize,
            e["range"]["start"]["character"].as_u64().unwrap() as usize,
        );
        let before: usize = lines[..l].iter().map(|s| s.len()).sum::<usize>() + ch;
        format!(
            "{}{}{}",
            &text[..before],
            e["newText"].as_str().unwrap(),
            &text[before..]
        )
    };
    let on_line = apply(&actions[0]);
    assert!(
        on_line.contains("down_revision = 'zz'  # migverify: ignore[MV007]\n"),
        "{on_line}"
    );
    c.change(&a2, 3, &on_line);
    let d = c.diagnostics_until(&a2, |d| !codes(d).contains(&"MV007".to_string()));
    // a2 now hangs off nothing: a1 and a2 are both heads, MV006 stays.
    assert!(!codes(&d).contains(&"MV012".to_string()), "{d:#?}");

    let in_file = apply(&actions[1]);
    assert!(
        in_file.starts_with("# migverify: ignore-file[MV007]\n\"\"\"a2\"\"\""),
        "{in_file}"
    );
    c.change(&a2, 4, &in_file);
    let d = c.diagnostics_until(&a2, |d| !codes(d).contains(&"MV007".to_string()));
    assert!(!codes(&d).contains(&"MV012".to_string()), "{d:#?}");

    // Other tools' diagnostics get no action from migverify.
    let foreign = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri(&a2)}, "range": mv007["range"],
               "context": {"diagnostics": [{"range": mv007["range"], "message": "x", "source": "ruff", "code": "F401"}]}}),
    );
    assert_eq!(foreign["result"], json!([]));
    let _ = a1;
    assert!(c.shutdown().success());
}

#[test]
fn the_generated_downgrade_is_a_preferred_quick_fix() {
    let t = tmp();
    let versions = project(t.path(), 2);
    let a2 = versions.join("a2.py");
    let mut c = Client::start(&[t.path()], json!({}));
    c.open(&a2);
    let text = migration("a2", "a1").replace("    op.drop_table('t_a2')\n", "    pass\n");
    c.change(&a2, 2, &text);
    let d = c.diagnostics_until(&a2, |d| !d.is_empty());
    let mv003 = d.iter().find(|d| d["code"] == "MV003").unwrap().clone();
    let actions = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri(&a2)}, "range": mv003["range"],
               "context": {"diagnostics": [mv003]}}),
    );
    let actions = actions["result"].as_array().unwrap().clone();
    let fix = &actions[0];
    assert_eq!(
        fix["title"], "Generate downgrade() from upgrade()",
        "{actions:#?}"
    );
    assert_eq!(fix["kind"], "quickfix");
    assert_eq!(fix["isPreferred"], true);
    // The edits, applied from the last (positions are in the original text).
    let mut edits = fix["edit"]["changes"][uri(&a2)].as_array().unwrap().clone();
    let offset = |p: &Value| -> usize {
        let (l, ch) = (
            p["line"].as_u64().unwrap() as usize,
            p["character"].as_u64().unwrap() as usize,
        );
        text.split_inclusive('\n')
            .take(l)
            .map(str::len)
            .sum::<usize>()
            + ch
    };
    edits.sort_by_key(|e| std::cmp::Reverse(offset(&e["range"]["start"])));
    let mut fixed = text.clone();
    for e in &edits {
        let (a, b) = (offset(&e["range"]["start"]), offset(&e["range"]["end"]));
        fixed.replace_range(a..b, e["newText"].as_str().unwrap());
    }
    assert!(
        fixed.ends_with("def downgrade():\n    # ### commands auto generated by Alembic - please adjust! ###\n    op.drop_table('t_a2')\n    # ### end Alembic commands ###\n"),
        "{fixed}"
    );
    c.change(&a2, 3, &fixed);
    let d = c.diagnostics_until(&a2, |d| !codes(d).contains(&"MV003".to_string()));
    assert!(d.is_empty(), "{d:#?}");
    // An edit is never offered on text it was not made for.
    let stale = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri(&a2)}, "range": fix["diagnostics"][0]["range"],
               "context": {"diagnostics": fix["diagnostics"]}}),
    );
    let titles: Vec<String> = stale["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap().to_string())
        .collect();
    assert!(
        !titles.iter().any(|t| t.starts_with("Generate")),
        "{titles:?}"
    );
    assert!(c.shutdown().success());
}

#[test]
fn database_rules_are_off_unless_the_server_section_turns_them_on() {
    let t = tmp();
    let versions = project(t.path(), 2);
    let a2 = versions.join("a2.py");
    // A database (a snapshot file) one revision behind the head: MV101.
    let snapshot = json!({
        "format_version": 1,
        "dialect": "sqlite",
        "server_version": "3.45.1",
        "database": "sqlite:///app.db",
        "captured_at": "2026-11-24T16:00:00Z",
        "version_table": {"name": "alembic_version", "schema": "main", "present": true, "revisions": ["a1"]},
        "schemas": ["main"],
        "tables": [],
    });
    std::fs::write(t.path().join("schema.json"), format!("{snapshot:#}\n")).unwrap();
    let toml = t.path().join("migverify.toml");
    let config = "[database]\nsnapshot = \"schema.json\"\n";
    std::fs::write(&toml, config).unwrap();
    // The CLI reports it: the setup is right.
    let out = Command::new(env!("CARGO_BIN_EXE_migverify"))
        .args(["check", "--format", "concise", "--no-cache"])
        .current_dir(t.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("MV101"), "{stdout}");

    let has_mv101 = |m: &Value| {
        m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["diagnostics"].to_string().contains("\"MV101\"")
    };
    let mut c = Client::start(&[t.path()], json!({}));
    c.open(&a2);
    c.change(
        &a2,
        2,
        &migration("a2", "a1").replace("create_table", "create_table "),
    );
    assert!(c.diagnostics_until(&a2, |_| true).is_empty());
    let _ = c.request("shutdown", Value::Null);
    assert!(!c.backlog.iter().any(has_mv101), "{:#?}", c.backlog);
    c.notify("exit", Value::Null);
    assert!(c.wait_exit().success());

    std::fs::write(&toml, format!("{config}[server]\ndatabase = true\n")).unwrap();
    let mut c = Client::start(&[t.path()], json!({}));
    c.open(&a2);
    // Read in the background: publications may come before it is there.
    c.wait(has_mv101);
    assert!(c.shutdown().success());
}

#[test]
fn exit_without_shutdown_is_status_1_and_a_vanished_client_ends_the_server() {
    let t = tmp();
    project(t.path(), 1);
    let mut c = Client::start(&[t.path()], json!({}));
    c.notify("exit", Value::Null);
    assert_eq!(c.wait_exit().code(), Some(1));

    let mut c = Client::start(&[t.path()], json!({}));
    // The editor crashes: its end of the pipe closes.
    drop(c.stdin.take());
    assert!(!c.wait_exit().success());

    // Requests after shutdown are refused; exit still ends with 0.
    let mut c = Client::start(&[t.path()], json!({}));
    let r = c.request("shutdown", Value::Null);
    assert!(r["result"].is_null());
    let again = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": "file:///x.py"}, "position": {"line": 0, "character": 0}}),
    );
    assert!(again["error"].is_object(), "{again}");
    c.notify("exit", Value::Null);
    assert!(c.wait_exit().success());
}

/// Neovim 0.7 (Debian 12) has no `vim.lsp.start`: the older `start_client` +
/// `buf_attach_client`, as docs/integrations.md shows for it.
#[test]
fn neovim_receives_diagnostics_for_a_migration_buffer() {
    let Ok(out) = Command::new("nvim").arg("--version").output() else {
        println!("skipped: nvim is not installed (apt-get install neovim)");
        return;
    };
    let version = String::from_utf8_lossy(&out.stdout);
    println!("{}", version.lines().next().unwrap_or(""));
    let t = tmp();
    let versions = project(t.path(), 2);
    let a2 = versions.join("a2.py");
    std::fs::write(&a2, migration("a2", "zz")).unwrap();
    let result = t.path().join("result.txt");
    let script = t.path().join("test.lua");
    std::fs::write(
        &script,
        format!(
            r#"
local client = vim.lsp.start_client({{
  name = "migverify",
  cmd = {{ "{bin}", "server" }},
  root_dir = "{root}",
}})
vim.cmd("edit {file}")
vim.lsp.buf_attach_client(0, client)
local ok = vim.wait(30000, function() return #vim.diagnostic.get(0) > 0 end, 50)
local lines = {{}}
for _, d in ipairs(vim.diagnostic.get(0)) do
  table.insert(lines, string.format("%d %s %s", d.lnum, d.severity, d.message:gsub("\n.*", "")))
end
if not ok then table.insert(lines, "timeout") end
vim.fn.writefile(lines, "{result}")
vim.lsp.stop_client(client)
vim.wait(5000, function() return vim.lsp.client_is_stopped(client) end, 50)
vim.cmd("qa!")
"#,
            bin = env!("CARGO_BIN_EXE_migverify"),
            root = t.path().display(),
            file = a2.display(),
            result = result.display(),
        ),
    )
    .unwrap();
    let mut nvim = Command::new("nvim")
        .args(["--headless", "--clean", "-n", "-u", "NONE", "-c"])
        .arg(format!("luafile {}", script.display()))
        .current_dir(t.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(s) = nvim.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > end {
            let _ = nvim.kill();
            panic!("nvim did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    let _ = nvim.stderr.take().unwrap().read_to_string(&mut err);
    assert!(status.success(), "{err}");
    let got = std::fs::read_to_string(&result).unwrap_or_else(|_| panic!("no result: {err}"));
    // MV007 on line 5 (0-based 4), severity 1 (error).
    assert!(
        got.lines()
            .any(|l| l.starts_with("4 1 ") && l.contains("zz")),
        "{got}"
    );
}
