//! The editor recipes in docs/integrations.md parse migverify's real `concise` output.
//! The patterns are read from the page itself (so the documented text is what is
//! tested) and run by the engines the editors use: the VS Code problem matcher's
//! regexp by Node.js (JavaScript regexps, as VS Code), the whole ALE linter file by
//! Vim (with stand-ins for the ALE functions it calls) and the efm-langserver format by
//! Vim's `errorformat` (efm-langserver implements Vim's errorformat), its
//! `lint-command` by `sh -c`, and the flymake backend by `emacs --batch`. Each
//! result is compared with the same run's `json` output. A missing `node`, `vim` or
//! `emacs` skips that engine, saying so.

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use assert_cmd::Command;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture() -> PathBuf {
    root().join("tests/fixtures/outputs")
}

fn doc() -> String {
    std::fs::read_to_string(root().join("docs/integrations.md")).unwrap()
}

/// The fenced blocks of `lang` in the page.
fn blocks(doc: &str, lang: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match &mut current {
            None if line.trim_start() == format!("```{lang}") => current = Some(String::new()),
            Some(text) if line.trim_start() == "```" => {
                out.push(std::mem::take(text));
                current = None;
            }
            Some(text) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {}
        }
    }
    out
}

/// One diagnostic as an editor needs it.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Parsed {
    line: u64,
    col: u64,
    severity: String,
    /// The message (and code, when the recipe keeps it).
    text: String,
}

/// Tab-separated `line, col, type, text[, ...]` rows an editor printed (each with
/// `fields` fields), its type letters mapped by `severity`, sorted.
fn parse_rows<'a>(
    rows: impl IntoIterator<Item = &'a str>,
    fields: usize,
    severity: impl Fn(&str) -> Option<&'static str>,
) -> Vec<Parsed> {
    let mut got: Vec<Parsed> = rows
        .into_iter()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), fields, "{l}");
            Parsed {
                line: f[0].parse().unwrap(),
                col: f[1].parse().unwrap(),
                severity: severity(f[2])
                    .unwrap_or_else(|| panic!("type {:?} in {l}", f[2]))
                    .into(),
                text: f[3].into(),
            }
        })
        .collect();
    got.sort();
    got
}

/// `concise` and `json` output of the same run (the outputs fixture: every severity).
fn outputs() -> (String, Value) {
    let run = |format: &str| {
        let out = Command::cargo_bin("migverify")
            .unwrap()
            .current_dir(fixture())
            .env("NO_COLOR", "1")
            .env_remove("MIGVERIFY_DATABASE_URL")
            .args([
                "check",
                "alembic/versions",
                "--fail-on",
                "never",
                "--format",
                format,
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8(out.stdout).unwrap()
    };
    let concise = run("concise");
    let json: Value = serde_json::from_str(&run("json")).unwrap();
    (concise, json)
}

fn expected(json: &Value, with_code: bool) -> Vec<Parsed> {
    let mut out: Vec<Parsed> = json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| Parsed {
            line: d["span"]["start_line"].as_u64().unwrap(),
            col: d["span"]["start_column"].as_u64().unwrap(),
            severity: d["severity"].as_str().unwrap().to_string(),
            text: if with_code {
                format!(
                    "{} {}",
                    d["code"].as_str().unwrap(),
                    d["message"].as_str().unwrap()
                )
            } else {
                d["message"].as_str().unwrap().to_string()
            },
        })
        .collect();
    out.sort();
    assert!(
        ["error", "warning", "info"]
            .iter()
            .all(|s| out.iter().any(|p| p.severity == *s)),
        "the fixture covers every severity"
    );
    out
}

fn have(tool: &str, arg: &str) -> bool {
    let ok = StdCommand::new(tool)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED: `{tool}` is not installed");
    }
    ok
}

#[test]
fn vscode_problem_matcher() {
    if !have("node", "--version") {
        return;
    }
    let block = blocks(&doc(), "json")
        .into_iter()
        .find(|b| b.contains("problemMatcher"))
        .expect("the VS Code recipe");
    let tasks: Value = serde_json::from_str(&block).expect("tasks.json is JSON");
    let pattern = &tasks["tasks"][0]["problemMatcher"]["pattern"];
    let (concise, json) = outputs();
    let script = r#"
const [pattern, text] = [JSON.parse(process.argv[1]), process.argv[2]];
const re = new RegExp(pattern.regexp);
const out = text.split("\n").filter((l) => l).map((l) => {
  const m = re.exec(l);
  if (!m) return null;
  return { file: m[pattern.file], line: +m[pattern.line], col: +m[pattern.column],
           code: m[pattern.code], severity: m[pattern.severity], message: m[pattern.message] };
});
console.log(JSON.stringify(out));
"#;
    let out = StdCommand::new("node")
        .args(["-e", script, &pattern.to_string(), &concise])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let matches: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut got: Vec<Parsed> = matches
        .iter()
        .map(|m| {
            assert!(m.is_object(), "a concise line did not match: {concise}");
            assert!(
                m["file"].as_str().unwrap().starts_with("alembic/versions/"),
                "{m}"
            );
            Parsed {
                line: m["line"].as_u64().unwrap(),
                col: m["col"].as_u64().unwrap(),
                severity: m["severity"].as_str().unwrap().into(),
                text: format!(
                    "{} {}",
                    m["code"].as_str().unwrap(),
                    m["message"].as_str().unwrap()
                ),
            }
        })
        .collect();
    got.sort();
    assert_eq!(got, expected(&json, true));
}

/// Runs `script` in Vim (no vimrc, no plugins) in a temp dir holding `input.txt`
/// and `files`; returns the lines it wrote to `out.txt`.
fn vim_with(script: &str, input: &str, files: &[(&str, &str)]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("input.txt"), input).unwrap();
    std::fs::write(dir.path().join("script.vim"), script).unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let out = StdCommand::new("vim")
        .current_dir(dir.path())
        .args([
            "-N",
            "-u",
            "NONE",
            "-i",
            "NONE",
            "-n",
            "-es",
            "-S",
            "script.vim",
        ])
        .output()
        .unwrap();
    let result = std::fs::read_to_string(dir.path().join("out.txt")).unwrap_or_else(|_| {
        panic!(
            "vim wrote nothing: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    result.lines().map(str::to_string).collect()
}

fn vim(script: &str, input: &str) -> Vec<String> {
    vim_with(script, input, &[])
}

/// The whole ALE linter file from the page, sourced by Vim with stand-ins for the
/// three ALE functions it calls: its handler parses real output, its command
/// function skips files outside `versions/`.
#[test]
fn ale_linter() {
    if !have("vim", "--version") {
        return;
    }
    let recipe = blocks(&doc(), "vim")
        .into_iter()
        .next()
        .expect("the ALE recipe");
    let (concise, json) = outputs();
    let migration = fixture().join("alembic/versions/c3d4e5f6a1b2_add_users_phone.py");
    let other = fixture().join("alembic.ini");
    // ALE's own layout: the linter in ale_linters/python/, the ALE functions it calls
    // as autoload stand-ins, all on 'runtimepath'.
    let files = [
        ("ale_linters/python/migverify.vim", recipe.as_str()),
        (
            "autoload/ale/util.vim",
            "function! ale#util#GetMatches(lines, pattern) abort\n\
             \x20 return filter(map(copy(a:lines), 'matchlist(v:val, a:pattern)'), '!empty(v:val)')\n\
             endfunction\n",
        ),
        (
            "autoload/ale.vim",
            "function! ale#Escape(s) abort\n  return shellescape(a:s)\nendfunction\n",
        ),
        (
            "autoload/ale/linter.vim",
            "function! ale#linter#Define(filetype, linter) abort\n\
             \x20 let g:linter = a:linter\nendfunction\n",
        ),
    ];
    let script = format!(
        "set runtimepath^=.\n\
         runtime ale_linters/python/migverify.vim\n\
         let out = []\n\
         for d in ale_linters#python#migverify#Handle(0, readfile('input.txt'))\n\
         \x20 call add(out, join([d.lnum, d.col, d.type, d.code . ' ' . d.text], \"\\t\"))\n\
         endfor\n\
         execute 'edit' fnameescape('{migration}')\n\
         call add(out, 'CMD ' . call(g:linter.command, [bufnr('%')]))\n\
         execute 'edit' fnameescape('{other}')\n\
         call add(out, 'CMD ' . call(g:linter.command, [bufnr('%')]))\n\
         call add(out, 'EXE ' . g:linter.executable . ' ' . g:linter.output_stream)\n\
         call writefile(out, 'out.txt')\n\
         qa!\n",
        migration = migration.display(),
        other = other.display(),
    );
    let lines = vim_with(&script, &concise, &files);
    let (cmds, parsed): (Vec<&String>, Vec<&String>) = lines
        .iter()
        .partition(|l| l.starts_with("CMD ") || l.starts_with("EXE "));
    let got = parse_rows(parsed.iter().map(|l| l.as_str()), 4, |t| match t {
        "E" => Some("error"),
        "W" => Some("warning"),
        "I" => Some("info"),
        _ => None,
    });
    assert_eq!(got, expected(&json, true));
    let dir = migration.parent().unwrap().display().to_string();
    assert_eq!(
        cmds[0].as_str(),
        format!("CMD migverify check --format concise --fail-on never --stdin-filename %s '{dir}'"),
        "{cmds:?}"
    );
    assert_eq!(cmds[1].as_str(), "CMD ", "{cmds:?}");
    assert_eq!(cmds[2].as_str(), "EXE migverify stdout", "{cmds:?}");
}

#[test]
fn efm_langserver_errorformat() {
    if !have("vim", "--version") {
        return;
    }
    let block = blocks(&doc(), "yaml")
        .into_iter()
        .find(|b| b.contains("lint-formats"))
        .expect("the efm-langserver recipe");
    let formats: Vec<String> = block
        .lines()
        .skip_while(|l| !l.contains("lint-formats:"))
        .skip(1)
        .take_while(|l| l.trim_start().starts_with("- "))
        .map(|l| {
            let v = l.trim_start().trim_start_matches("- ").trim();
            v.trim_matches('"').to_string()
        })
        .collect();
    assert!(!formats.is_empty(), "{block}");
    let (concise, json) = outputs();
    let efm = formats.join(",").replace('\'', "''");
    let script = format!(
        "let &errorformat = '{efm}'\n\
         cgetexpr readfile('input.txt')\n\
         let out = []\n\
         for e in getqflist()\n\
         \x20 call add(out, e.valid ? join([e.lnum, e.col, e.type, e.text, bufname(e.bufnr)], \"\\t\") : 'INVALID ' . e.text)\n\
         endfor\n\
         call writefile(out, 'out.txt')\n\
         qa!\n"
    );
    let lines = vim(&script, &concise);
    for l in &lines {
        assert!(
            l.split('\t')
                .nth(4)
                .is_some_and(|f| f.starts_with("alembic/versions/")),
            "{l}"
        );
    }
    // efm-langserver maps the type letter: e error, w warning, i information.
    let got = parse_rows(lines.iter().map(|l| l.as_str()), 5, |t| match t {
        "e" | "E" => Some("error"),
        "w" | "W" => Some("warning"),
        "i" | "I" => Some("info"),
        _ => None,
    });
    assert_eq!(got, expected(&json, false));
}

/// The command every recipe runs: the buffer on stdin, only its diagnostics out.
#[test]
fn stdin_buffer_reports_only_that_file() {
    let versions = fixture().join("alembic/versions");
    let file = versions.join("c3d4e5f6a1b2_add_users_phone.py");
    let text = std::fs::read_to_string(&file).unwrap();
    // Not the project directory: editors start tools anywhere. A fresh directory, so
    // it is never an ancestor of the checkout (a checkout under /tmp would make the
    // reported paths relative to it).
    let elsewhere = tempfile::tempdir().unwrap();
    let run = |buffer: &str| {
        let out = Command::cargo_bin("migverify")
            .unwrap()
            .current_dir(elsewhere.path())
            .env_remove("MIGVERIFY_DATABASE_URL")
            .args([
                "check",
                "--format",
                "concise",
                "--fail-on",
                "never",
                "--stdin-filename",
            ])
            .arg(&file)
            .arg(&versions)
            .write_stdin(buffer.to_string())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8(out.stdout).unwrap()
    };
    let saved = run(&text);
    assert!(saved.contains("MV003 [warning]"), "{saved}");
    for line in saved.lines() {
        assert!(line.starts_with(&format!("{}:", file.display())), "{line}");
    }
    // The unsaved buffer fixes the empty downgrade: MV003 is gone.
    let fixed = text.replacen(
        "def downgrade():\n    pass",
        "def downgrade():\n    op.drop_column(\"users\", \"phone\")",
        1,
    );
    assert_ne!(
        fixed, text,
        "the fixture's downgrade changed; update this test"
    );
    let unsaved = run(&fixed);
    assert!(!unsaved.contains("MV003"), "{unsaved}");
}

/// efm-langserver runs `lint-command` with `sh -c`, `${INPUT}` replaced by the path:
/// a migration gets its diagnostics, another Python file nothing (not a false MV009).
#[test]
fn efm_langserver_lint_command() {
    let block = blocks(&doc(), "yaml")
        .into_iter()
        .find(|b| b.contains("lint-formats"))
        .expect("the efm-langserver recipe");
    let command = block
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("lint-command: "))
        .expect("lint-command")
        .trim()
        .trim_matches('"')
        .to_string();
    let bin = assert_cmd::cargo::cargo_bin("migverify");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |file: &Path| {
        let mut child = StdCommand::new("sh")
            .arg("-c")
            .arg(command.replace("${INPUT}", &file.display().to_string()))
            .env("PATH", &path)
            .env_remove("MIGVERIFY_DATABASE_URL")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let text = std::fs::read(file).unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), &text).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let migration = fixture().join("alembic/versions/c3d4e5f6a1b2_add_users_phone.py");
    let out = run(&migration);
    assert!(out.contains(":23:5: MV003 [warning] "), "{out}");
    let other = tempfile::tempdir().unwrap();
    let app = other.path().join("app.py");
    std::fs::write(&app, "print('not a migration')\n").unwrap();
    assert_eq!(run(&app), "");
}

/// The flymake backend from the page, in `emacs --batch`: the setup function installs
/// it for migrations only; run on a migration buffer it reports that file's
/// diagnostics; after an unsaved edit that fixes the empty downgrade, MV003 is gone.
#[test]
fn flymake_backend() {
    if !have("emacs", "--version") {
        return;
    }
    let recipe = blocks(&doc(), "elisp")
        .into_iter()
        .next()
        .expect("the flymake recipe");
    let file = fixture().join("alembic/versions/c3d4e5f6a1b2_add_users_phone.py");
    let other = fixture().join("alembic.ini");
    let script = r#"
(require 'flymake)
(require 'cl-lib)
(load-file "recipe.el")
(defun mv-run (buf)
  (let ((result 'none))
    (with-current-buffer buf
      (migverify-flymake (lambda (diags &rest _) (setq result diags)))
      (with-timeout (60 (princ "TIMEOUT\n"))
        (while (eq result 'none) (accept-process-output nil 0.1)))
      (dolist (d (if (listp result) result nil))
        (let ((beg (flymake-diagnostic-beg d)))
          (princ (format "%d\t%d\t%s\t%s\n"
                         (line-number-at-pos beg)
                         (save-excursion (goto-char beg) (1+ (current-column)))
                         (flymake-diagnostic-type d)
                         (flymake-diagnostic-text d))))))))
(let* ((auto-mode-alist nil)
       (buf (find-file-noselect (getenv "MV_FILE")))
       (obuf (find-file-noselect (getenv "MV_OTHER"))))
  (cl-letf (((symbol-function 'flymake-mode) #'ignore))
    (dolist (b (list buf obuf))
      (with-current-buffer b
        (migverify-flymake-setup)
        (princ (format "HOOK %s\n" (and (memq 'migverify-flymake flymake-diagnostic-functions) t))))))
  (mv-run buf)
  (princ "EDIT\n")
  (with-current-buffer buf
    (goto-char (point-min))
    (search-forward "def downgrade():\n    pass")
    (replace-match "def downgrade():\n    op.drop_column(\"users\", \"phone\")" t t))
  (mv-run buf))
"#;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("recipe.el"), &recipe).unwrap();
    std::fs::write(dir.path().join("test.el"), script).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("migverify");
    let out = StdCommand::new("emacs")
        .current_dir(dir.path())
        .args(["--batch", "-Q", "-l", "test.el"])
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.parent().unwrap().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("MV_FILE", &file)
        .env("MV_OTHER", &other)
        .env_remove("MIGVERIFY_DATABASE_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[..2], ["HOOK t", "HOOK nil"], "{stdout}{stderr}");
    let edit = lines.iter().position(|l| *l == "EDIT").expect("EDIT");
    let got = parse_rows(lines[2..edit].iter().copied(), 4, |t| match t {
        ":error" => Some("error"),
        ":warning" => Some("warning"),
        ":note" => Some("info"),
        _ => None,
    });
    let (_, json) = outputs();
    let name = file.file_name().unwrap().to_str().unwrap();
    let want: Vec<Parsed> = {
        let mut v: Vec<Parsed> = json["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["path"].as_str().unwrap().ends_with(name))
            .map(|d| Parsed {
                line: d["span"]["start_line"].as_u64().unwrap(),
                col: d["span"]["start_column"].as_u64().unwrap(),
                severity: d["severity"].as_str().unwrap().into(),
                text: format!(
                    "{} {}",
                    d["code"].as_str().unwrap(),
                    d["message"].as_str().unwrap()
                ),
            })
            .collect();
        v.sort();
        v
    };
    assert!(!want.is_empty());
    assert_eq!(got, want, "{stdout}");
    let after: Vec<&&str> = lines[edit + 1..].iter().collect();
    assert!(after.iter().all(|l| !l.contains("MV003")), "{stdout}");
    assert!(!stdout.contains("TIMEOUT"), "{stdout}");
}
