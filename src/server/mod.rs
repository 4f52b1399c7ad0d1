//! `migverify server`: the Language Server Protocol over standard input/output
//! (`lsp-server` for the transport, `lsp-types` for the messages).
//!
//! The server keeps the open documents' text and, for each Alembic environment it
//! knows (found in the workspace folders, or from an opened file), the discovered
//! [`Project`]. Every check is [`engine::check_buffers`]: the whole project from the
//! disk and the cache, with the open documents' unsaved text in place of their
//! files, so the graph rules see what is being typed. After a check, every file
//! whose diagnostics changed is published again (a duplicate revision typed into
//! one buffer marks the other file too), and the edited document always is.
//!
//! Messages that arrived while a check ran are all handled before the next check,
//! so a burst of keystrokes costs one check. The database is never read on the
//! message loop: with `[server] database = true` a thread reads it and the rules
//! that need it run once it is there. See docs/integrations.md.

mod actions;
mod convert;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crossbeam_channel::{Receiver, Sender, select};
use lsp_server::{Connection, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{self as notif, Notification as _};
use lsp_types::request::{self as req, Request as _};
use lsp_types::{
    CodeActionKind, CodeActionOptions, CodeActionOrCommand, CodeActionProviderCapability,
    DidChangeWatchedFilesRegistrationOptions, FileChangeType, FileSystemWatcher, GlobPattern,
    HoverProviderCapability, InitializeParams, MessageType, PositionEncodingKind,
    PublishDiagnosticsParams, Registration, RegistrationParams, ServerCapabilities, ServerInfo,
    TextDocumentSyncCapability, TextDocumentSyncKind, TextDocumentSyncOptions, Uri,
    WorkspaceFoldersServerCapabilities, WorkspaceServerCapabilities,
};

use crate::config::RuleSelection;
use crate::db::resolve::Loaded;
use crate::engine::{self, Buffers, CheckOptions};
use crate::project::Project;
use crate::rules::Registry;
use convert::Columns;

/// The file names whose change reloads the configuration.
const CONFIG_NAMES: &[&str] = &[
    "migverify.toml",
    ".migverify.toml",
    "pyproject.toml",
    "alembic.ini",
];

/// How deep below a workspace folder environments are looked for.
const SCAN_DEPTH: usize = 4;

/// Runs the server on standard input/output until the client says `exit` (0
/// after `shutdown`, else 1) or goes away (1).
pub fn run() -> Result<ExitCode, crate::Error> {
    let (connection, io_threads) = Connection::stdio();
    let code = match serve(&connection) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("migverify server: {message}");
            ExitCode::from(1)
        }
    };
    drop(connection);
    // The reader thread has ended (exit, or end of input) unless the client stopped
    // reading our output while still connected: do not wait for it then.
    if code == ExitCode::SUCCESS {
        let _ = io_threads.join();
    }
    Ok(code)
}

/// An open document.
struct Doc {
    uri: Uri,
    version: i32,
    text: String,
}

/// One Alembic environment: its project, what checks need, and its diagnostics of
/// the last check, by file (the project's spelling of the path).
struct Env {
    /// Where discovery started (discovery is run again from here on a reload).
    start: PathBuf,
    project: Project,
    opts: CheckOptions,
    /// `[server] database = true`.
    wants_database: bool,
    /// Bumped on each reload, so an older database read is ignored.
    generation: u64,
    diagnostics: HashMap<PathBuf, Vec<lsp_types::Diagnostic>>,
    /// Open documents' paths that are not spelled as in `project.files` (a
    /// symlink), resolved once.
    aliases: HashMap<PathBuf, Option<PathBuf>>,
    /// The disk's migrations between checks, when the client reports changes on
    /// disk (`workspace/didChangeWatchedFiles`).
    kept: engine::KeptMigrations,
}

impl Env {
    /// The project's path for an open document's path, if the file is one of its
    /// migrations.
    fn file_for(&mut self, path: &Path) -> Option<PathBuf> {
        if self
            .project
            .files
            .binary_search_by(|f| f.as_path().cmp(path))
            .is_ok()
        {
            return Some(path.to_path_buf());
        }
        let files = &self.project.files;
        self.aliases
            .entry(path.to_path_buf())
            .or_insert_with(|| {
                let real = std::fs::canonicalize(path).ok()?;
                let parent = real.parent()?;
                files
                    .iter()
                    .filter(|f| f.file_name() == real.file_name())
                    .find(|f| {
                        f.parent()
                            .and_then(|p| std::fs::canonicalize(p).ok())
                            .as_deref()
                            == Some(parent)
                    })
                    .cloned()
            })
            .clone()
    }

    /// Whether `path` (created, changed or deleted) lies in a version location.
    fn in_locations(&self, path: &Path) -> bool {
        self.project
            .version_locations
            .iter()
            .any(|l| path.starts_with(l))
    }
}

/// A database read finished in the background.
struct DatabaseRead {
    start: PathBuf,
    generation: u64,
    result: Result<Option<Loaded>, String>,
}

struct Server<'c> {
    conn: &'c Connection,
    /// What goes to the client, in order: a thread hands it to `lsp-server`'s
    /// writer, so the loop never waits for the client to read (a change that
    /// republishes a thousand files is written while the next edit is checked).
    out: Sender<Message>,
    registry: Registry,
    columns: Columns,
    /// Workspace folders.
    roots: Vec<PathBuf>,
    docs: HashMap<PathBuf, Doc>,
    envs: Vec<Env>,
    /// Envs to check before the next publication (indexes into `envs`).
    dirty: HashSet<usize>,
    /// Documents edited since the last publication: published even when unchanged.
    touched: HashSet<PathBuf>,
    /// What the client was last sent, by URI.
    published: HashMap<String, (Uri, Vec<lsp_types::Diagnostic>)>,
    db_tx: Sender<DatabaseRead>,
    generation: u64,
    next_id: i32,
    shutdown: bool,
    /// Problems already shown to the user (not repeated on every reload).
    shown: HashSet<String>,
    /// The client reports the files changed on disk (watchers registered): the
    /// disk's migrations are kept in memory between checks and read again when
    /// reported changed. Else every check reads the disk (and the cache) again.
    watching: bool,
}

fn serve(conn: &Connection) -> Result<ExitCode, String> {
    let (id, params) = conn.initialize_start().map_err(|e| e.to_string())?;
    let params: InitializeParams =
        serde_json::from_value(params).map_err(|e| format!("bad initialize parameters: {e}"))?;
    let utf32 = params
        .capabilities
        .general
        .as_ref()
        .and_then(|g| g.position_encodings.as_ref())
        .is_some_and(|v| v.contains(&PositionEncodingKind::UTF32));
    let columns = if utf32 {
        Columns::Utf32
    } else {
        Columns::Utf16
    };
    let capabilities = ServerCapabilities {
        position_encoding: Some(if utf32 {
            PositionEncodingKind::UTF32
        } else {
            PositionEncodingKind::UTF16
        }),
        text_document_sync: Some(TextDocumentSyncCapability::Options(
            TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::INCREMENTAL),
                ..TextDocumentSyncOptions::default()
            },
        )),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
            ..CodeActionOptions::default()
        })),
        workspace: Some(WorkspaceServerCapabilities {
            workspace_folders: Some(WorkspaceFoldersServerCapabilities {
                supported: Some(true),
                change_notifications: Some(lsp_types::OneOf::Left(true)),
            }),
            file_operations: None,
        }),
        ..ServerCapabilities::default()
    };
    let result = lsp_types::InitializeResult {
        capabilities,
        server_info: Some(ServerInfo {
            name: "migverify".into(),
            version: Some(env!("CARGO_PKG_VERSION").into()),
        }),
    };
    conn.initialize_finish(id, serde_json::to_value(result).expect("json"))
        .map_err(|e| e.to_string())?;

    let mut roots: Vec<PathBuf> = params
        .workspace_folders
        .iter()
        .flatten()
        .filter_map(|f| convert::uri_to_path(&f.uri))
        .collect();
    #[allow(deprecated)]
    if roots.is_empty()
        && let Some(root) = params.root_uri.as_ref().and_then(convert::uri_to_path)
    {
        roots.push(root);
    }
    let watch = params
        .capabilities
        .workspace
        .as_ref()
        .and_then(|w| w.did_change_watched_files.as_ref())
        .and_then(|w| w.dynamic_registration)
        .unwrap_or(false);

    let (db_tx, db_rx) = crossbeam_channel::unbounded();
    let (out, queue) = crossbeam_channel::unbounded::<Message>();
    let writer = conn.sender.clone();
    std::thread::spawn(move || forward(&queue, &writer));
    let mut server = Server {
        conn,
        out,
        registry: Registry::builtin(),
        columns,
        roots,
        docs: HashMap::new(),
        envs: Vec::new(),
        dirty: HashSet::new(),
        touched: HashSet::new(),
        published: HashMap::new(),
        db_tx,
        generation: 0,
        next_id: 0,
        shutdown: false,
        shown: HashSet::new(),
        watching: watch,
    };
    if watch {
        server.register_watchers()?;
    }
    server.reload_all();
    server.flush()?;
    server.main_loop(&db_rx)
}

impl Server<'_> {
    fn main_loop(&mut self, db_rx: &Receiver<DatabaseRead>) -> Result<ExitCode, String> {
        loop {
            // Wait for something, then take everything else already queued before
            // checking: a burst of edits is checked once.
            let first = select! {
                recv(self.conn.receiver) -> m => match m {
                    Ok(m) => Event::Message(m),
                    // The client went away without `exit`.
                    Err(_) => return Ok(ExitCode::from(1)),
                },
                recv(db_rx) -> r => match r {
                    Ok(r) => Event::Database(Box::new(r)),
                    Err(_) => continue,
                },
            };
            let mut next = Some(first);
            while let Some(event) = next.take() {
                match event {
                    Event::Message(Message::Notification(n)) if n.method == notif::Exit::METHOD => {
                        return Ok(if self.shutdown {
                            ExitCode::SUCCESS
                        } else {
                            ExitCode::from(1)
                        });
                    }
                    Event::Message(m) => self.handle(m)?,
                    Event::Database(r) => self.database_read(*r),
                }
                next = self
                    .conn
                    .receiver
                    .try_recv()
                    .map(Event::Message)
                    .or_else(|_| db_rx.try_recv().map(|r| Event::Database(Box::new(r))))
                    .ok();
            }
            self.flush()?;
        }
    }

    fn send(&self, m: Message) -> Result<(), String> {
        self.out
            .send(m)
            .map_err(|_| "the client stopped reading".to_string())
    }

    fn notify<N: lsp_types::notification::Notification>(
        &self,
        params: N::Params,
    ) -> Result<(), String> {
        self.send(Notification::new(N::METHOD.to_string(), params).into())
    }

    /// A message in the client's log (`window/logMessage`).
    fn log(&self, typ: MessageType, message: String) {
        let _ = self.notify::<notif::LogMessage>(lsp_types::LogMessageParams { typ, message });
    }

    /// A problem the user should see once (`window/showMessage`), logged too.
    fn show(&mut self, message: String) {
        if self.shown.insert(message.clone()) {
            let _ = self.notify::<notif::ShowMessage>(lsp_types::ShowMessageParams {
                typ: MessageType::WARNING,
                message: message.clone(),
            });
        }
        self.log(MessageType::WARNING, message);
    }

    fn register_watchers(&mut self) -> Result<(), String> {
        let watchers = ["**/*.py"]
            .into_iter()
            .chain(CONFIG_NAMES.iter().copied().map(|n| match n {
                "migverify.toml" => "**/migverify.toml",
                ".migverify.toml" => "**/.migverify.toml",
                "pyproject.toml" => "**/pyproject.toml",
                _ => "**/alembic.ini",
            }))
            .map(|g| FileSystemWatcher {
                glob_pattern: GlobPattern::String(g.to_string()),
                kind: None,
            })
            .collect();
        let params = RegistrationParams {
            registrations: vec![Registration {
                id: "migverify-watched-files".into(),
                method: notif::DidChangeWatchedFiles::METHOD.into(),
                register_options: Some(
                    serde_json::to_value(DidChangeWatchedFilesRegistrationOptions { watchers })
                        .expect("json"),
                ),
            }],
        };
        self.next_id += 1;
        let id = RequestId::from(format!("migverify-{}", self.next_id));
        self.send(Request::new(id, req::RegisterCapability::METHOD.into(), params).into())
    }

    fn handle(&mut self, m: Message) -> Result<(), String> {
        match m {
            Message::Request(r) => self.request(r),
            Message::Notification(n) => {
                self.notification(n);
                Ok(())
            }
            // Answers to our requests (the watcher registration): nothing to do.
            Message::Response(_) => Ok(()),
        }
    }

    fn request(&mut self, r: Request) -> Result<(), String> {
        if self.shutdown {
            return self.send(
                Response::new_err(
                    r.id,
                    lsp_server::ErrorCode::InvalidRequest as i32,
                    "shutdown already requested".into(),
                )
                .into(),
            );
        }
        let response = match r.method.as_str() {
            req::Shutdown::METHOD => {
                self.shutdown = true;
                Response::new_ok(r.id, ())
            }
            req::HoverRequest::METHOD => {
                match serde_json::from_value::<lsp_types::HoverParams>(r.params) {
                    Ok(p) => Response::new_ok(r.id, self.hover(&p)),
                    Err(e) => invalid(r.id, e),
                }
            }
            req::CodeActionRequest::METHOD => {
                match serde_json::from_value::<lsp_types::CodeActionParams>(r.params) {
                    Ok(p) => Response::new_ok(r.id, self.code_actions(&p)),
                    Err(e) => invalid(r.id, e),
                }
            }
            _ => Response::new_err(
                r.id,
                lsp_server::ErrorCode::MethodNotFound as i32,
                format!("migverify does not handle {}", r.method),
            ),
        };
        self.send(response.into())
    }

    fn notification(&mut self, n: Notification) {
        match n.method.as_str() {
            notif::DidOpenTextDocument::METHOD => {
                if let Ok(p) = n.extract::<lsp_types::DidOpenTextDocumentParams>(
                    notif::DidOpenTextDocument::METHOD,
                ) {
                    let doc = p.text_document;
                    let Some(path) = convert::uri_to_path(&doc.uri) else {
                        return;
                    };
                    self.docs.insert(
                        path.clone(),
                        Doc {
                            uri: doc.uri,
                            version: doc.version,
                            text: doc.text,
                        },
                    );
                    self.opened(&path);
                }
            }
            notif::DidChangeTextDocument::METHOD => {
                if let Ok(p) = n.extract::<lsp_types::DidChangeTextDocumentParams>(
                    notif::DidChangeTextDocument::METHOD,
                ) {
                    let Some(path) = convert::uri_to_path(&p.text_document.uri) else {
                        return;
                    };
                    let Some(doc) = self.docs.get_mut(&path) else {
                        return;
                    };
                    doc.version = p.text_document.version;
                    for change in p.content_changes {
                        match change.range {
                            Some(range) => {
                                let start = convert::offset(&doc.text, range.start, self.columns);
                                let end =
                                    convert::offset(&doc.text, range.end, self.columns).max(start);
                                doc.text.replace_range(start..end, &change.text);
                            }
                            None => doc.text = change.text,
                        }
                    }
                    self.edited(&path);
                }
            }
            notif::DidCloseTextDocument::METHOD => {
                if let Ok(p) = n.extract::<lsp_types::DidCloseTextDocumentParams>(
                    notif::DidCloseTextDocument::METHOD,
                ) && let Some(path) = convert::uri_to_path(&p.text_document.uri)
                {
                    // Its file's content on disk counts again.
                    self.on_disk(&path);
                    self.edited(&path);
                    self.touched.remove(&path);
                    self.docs.remove(&path);
                }
            }
            notif::DidSaveTextDocument::METHOD => {
                if let Ok(p) = n.extract::<lsp_types::DidSaveTextDocumentParams>(
                    notif::DidSaveTextDocument::METHOD,
                ) && let Some(path) = convert::uri_to_path(&p.text_document.uri)
                {
                    self.on_disk(&path);
                }
            }
            notif::DidChangeWatchedFiles::METHOD => {
                if let Ok(p) = n.extract::<lsp_types::DidChangeWatchedFilesParams>(
                    notif::DidChangeWatchedFiles::METHOD,
                ) {
                    self.watched(&p.changes);
                }
            }
            notif::DidChangeWorkspaceFolders::METHOD => {
                if let Ok(p) = n.extract::<lsp_types::DidChangeWorkspaceFoldersParams>(
                    notif::DidChangeWorkspaceFolders::METHOD,
                ) {
                    let removed: Vec<PathBuf> = p
                        .event
                        .removed
                        .iter()
                        .filter_map(|f| convert::uri_to_path(&f.uri))
                        .collect();
                    self.roots.retain(|r| !removed.contains(r));
                    self.roots.extend(
                        p.event
                            .added
                            .iter()
                            .filter_map(|f| convert::uri_to_path(&f.uri)),
                    );
                    self.reload_all();
                }
            }
            _ => {}
        }
    }

    /// A document was opened: check the environment it belongs to, found now if
    /// none known holds it.
    fn opened(&mut self, path: &Path) {
        self.touched.insert(path.to_path_buf());
        if self.owner(path).is_none()
            && path.extension().is_some_and(|e| e == "py")
            && let Some(dir) = path.parent()
        {
            self.add_env(dir.to_path_buf(), true);
        }
        self.edited(path);
    }

    /// A document's text changed (or it was closed): check what holds it.
    fn edited(&mut self, path: &Path) {
        self.touched.insert(path.to_path_buf());
        if let Some(i) = self.owner(path) {
            self.dirty.insert(i);
        }
    }

    /// The file at `path` was written (saved, or its buffer closed after changes
    /// the watchers may not report): read again from the disk by the next check.
    fn on_disk(&mut self, path: &Path) {
        for i in 0..self.envs.len() {
            if let Some(file) = self.envs[i].file_for(path) {
                self.envs[i].kept.changed(&file);
                self.dirty.insert(i);
            }
        }
    }

    /// The environment whose migrations include `path`.
    fn owner(&mut self, path: &Path) -> Option<usize> {
        (0..self.envs.len()).find(|&i| self.envs[i].file_for(path).is_some())
    }

    fn watched(&mut self, changes: &[lsp_types::FileEvent]) {
        let mut reload = false;
        let mut rediscover = HashSet::new();
        for c in changes {
            let Some(path) = convert::uri_to_path(&c.uri) else {
                continue;
            };
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if CONFIG_NAMES.contains(&name) {
                reload = true;
                continue;
            }
            for i in 0..self.envs.len() {
                let env = &mut self.envs[i];
                if env.in_locations(&path) {
                    if c.typ == FileChangeType::CHANGED
                        && let Some(file) = env.file_for(&path)
                    {
                        // Read again from the disk by the next check.
                        env.kept.changed(&file);
                        self.dirty.insert(i);
                    } else {
                        rediscover.insert(i);
                    }
                } else if !env.project.models.paths.is_empty()
                    && path.starts_with(&env.project.root)
                {
                    // A model file, perhaps: the drift rules read them.
                    rediscover.insert(i);
                }
            }
        }
        if reload {
            self.reload_all();
            return;
        }
        for i in rediscover {
            self.reload_env(i);
        }
    }

    /// Discovers the environments again (configuration changed): the workspace
    /// folders' and the open documents'.
    fn reload_all(&mut self) {
        let mut starts: Vec<PathBuf> = self.envs.iter().map(|e| e.start.clone()).collect();
        for root in &self.roots {
            starts.push(root.clone());
            starts.extend(scan(root));
        }
        self.envs.clear();
        self.dirty.clear();
        for s in starts {
            self.add_env(s, true);
        }
        let docs: Vec<PathBuf> = self.docs.keys().cloned().collect();
        for d in docs {
            if self.owner(&d).is_none()
                && let Some(dir) = d.parent()
            {
                self.add_env(dir.to_path_buf(), false);
            }
        }
        self.dirty.extend(0..self.envs.len());
    }

    /// Discovers the environment from `start` and adds it unless known.
    fn add_env(&mut self, start: PathBuf, quiet_when_none: bool) -> Option<usize> {
        let env = match self.discover(&start) {
            Ok(Some(env)) => env,
            Ok(None) => return None,
            Err(e) => {
                if !quiet_when_none || !e.starts_with("no migrations found") {
                    self.show(e);
                }
                return None;
            }
        };
        if let Some(i) = self
            .envs
            .iter()
            .position(|e| same_env(&e.project, &env.project))
        {
            return Some(i);
        }
        self.envs.push(env);
        let i = self.envs.len() - 1;
        self.dirty.insert(i);
        self.read_database(i);
        Some(i)
    }

    /// The environment found from `start`: `None` when it is no Alembic project
    /// (no `alembic.ini`, `[tool.alembic]` or migverify configuration), so that a
    /// directory of Python files is never linted as migrations.
    fn discover(&mut self, start: &Path) -> Result<Option<Env>, String> {
        let project = match crate::project::discover_from(
            start,
            &[],
            None,
            &RuleSelection::default(),
            &self.registry,
        ) {
            Ok(p) => p,
            Err(e) => return Err(format!("{}: {}", start.display(), error_text(&e))),
        };
        if project.alembic.is_none() && project.config_path.is_none() {
            return Ok(None);
        }
        for w in &project.warnings {
            self.log(
                MessageType::WARNING,
                format!("{}: {w}", project.root.display()),
            );
        }
        let wants_database = project
            .config_path
            .as_ref()
            .and_then(|p| crate::config::ConfigFile::read(p).ok().flatten())
            .and_then(|f| crate::config::Config::load(Some(f)).ok())
            .is_some_and(|c| c.server_database());
        let models = match crate::models::load_project(&project) {
            Ok(m) => m,
            Err(e) => {
                self.show(format!("{}: {}", project.root.display(), error_text(&e)));
                None
            }
        };
        let cache_dir = crate::cli::CacheDir {
            cache_dir: std::env::var_os("MIGVERIFY_CACHE_DIR").map(PathBuf::from),
        };
        self.generation += 1;
        Ok(Some(Env {
            start: start.to_path_buf(),
            opts: CheckOptions {
                verbose: false,
                cache: Some(cache_dir.resolve(start, &project.root)),
                cwd: project.root.clone(),
                database: None,
                models,
            },
            project,
            wants_database,
            generation: self.generation,
            diagnostics: HashMap::new(),
            aliases: HashMap::new(),
            kept: engine::KeptMigrations::default(),
        }))
    }

    /// Discovers environment `i` again (files came or went), keeping its database.
    fn reload_env(&mut self, i: usize) {
        let start = self.envs[i].start.clone();
        match self.discover(&start) {
            Ok(Some(mut env)) => {
                let old = &mut self.envs[i];
                env.opts.database = old.opts.database.take();
                env.generation = old.generation;
                env.diagnostics = std::mem::take(&mut old.diagnostics);
                self.envs[i] = env;
                self.dirty.insert(i);
            }
            // It no longer stands: rebuild everything from the folders.
            _ => self.reload_all(),
        }
    }

    /// Reads environment `i`'s database on a thread, when it asks for one.
    fn read_database(&self, i: usize) {
        let env = &self.envs[i];
        if !env.wants_database {
            return;
        }
        let (start, generation, tx) = (env.start.clone(), env.generation, self.db_tx.clone());
        std::thread::spawn(move || {
            let result = (|| {
                let registry = Registry::builtin();
                let project = crate::project::discover_from(
                    &start,
                    &[],
                    None,
                    &RuleSelection::default(),
                    &registry,
                )?;
                let flags = crate::db::resolve::Flags {
                    database_url: None,
                    snapshot: None,
                    live_only: false,
                };
                match crate::db::resolve::resolve(&project, &flags, |n| std::env::var(n).ok())? {
                    Some(choice) => crate::db::resolve::load(&project, choice).map(Some),
                    None => Ok(None),
                }
            })()
            .map_err(|e: crate::Error| error_text(&e));
            let _ = tx.send(DatabaseRead {
                start,
                generation,
                result,
            });
        });
    }

    fn database_read(&mut self, r: DatabaseRead) {
        let Some(i) = self
            .envs
            .iter()
            .position(|e| e.start == r.start && e.generation == r.generation)
        else {
            return;
        };
        match r.result {
            Ok(Some(loaded)) => {
                self.log(
                    MessageType::INFO,
                    format!("database rules run against {}", loaded.label),
                );
                self.envs[i].opts.database = Some(loaded);
                self.dirty.insert(i);
            }
            Ok(None) => self.show(format!(
                "{}: [server] database = true, but no database is configured",
                self.envs[i].project.root.display()
            )),
            Err(e) => self.show(format!("database rules are off: {e}")),
        }
    }

    /// Checks the dirty environments and publishes what changed.
    fn flush(&mut self) -> Result<(), String> {
        let mut dirty: Vec<usize> = self.dirty.drain().collect();
        dirty.sort_unstable();
        for i in dirty {
            self.check_env(i);
        }
        // What every environment says, by URI.
        let mut want: HashMap<String, (Uri, Vec<lsp_types::Diagnostic>)> = HashMap::new();
        let uri_of = |docs: &HashMap<PathBuf, Doc>, env: &mut Env, path: &Path| -> Option<Uri> {
            docs.iter()
                .find(|(p, _)| env.file_for(p).as_deref() == Some(path))
                .map(|(_, d)| d.uri.clone())
                .or_else(|| convert::path_to_uri(path))
        };
        for env in &mut self.envs {
            let files: Vec<PathBuf> = env.diagnostics.keys().cloned().collect();
            for path in files {
                let Some(uri) = uri_of(&self.docs, env, &path) else {
                    continue;
                };
                let entry = want
                    .entry(uri.as_str().to_string())
                    .or_insert_with(|| (uri, Vec::new()));
                entry.1.extend(env.diagnostics[&path].iter().cloned());
            }
        }
        let touched: HashMap<String, (Uri, i32)> = self
            .touched
            .drain()
            .filter_map(|p| self.docs.get(&p))
            .map(|d| (d.uri.as_str().to_string(), (d.uri.clone(), d.version)))
            .collect();
        let version_of = |uri: &str| {
            self.docs
                .values()
                .find(|d| d.uri.as_str() == uri)
                .map(|d| d.version)
        };
        let mut sends = Vec::new();
        for (key, (uri, diags)) in &want {
            if touched.contains_key(key) || self.published.get(key).map(|p| &p.1) != Some(diags) {
                sends.push((uri.clone(), diags.clone(), version_of(key)));
            }
        }
        for (key, (uri, _)) in &self.published {
            if !want.contains_key(key) {
                sends.push((uri.clone(), Vec::new(), version_of(key)));
            }
        }
        for (key, (uri, version)) in &touched {
            if !want.contains_key(key) && !self.published.contains_key(key) {
                sends.push((uri.clone(), Vec::new(), Some(*version)));
            }
        }
        // The edited documents first: the one being typed into is what the user
        // waits for.
        sends.sort_by_key(|(uri, _, _)| !touched.contains_key(uri.as_str()));
        self.published = want;
        for (uri, diagnostics, version) in sends {
            self.notify::<notif::PublishDiagnostics>(PublishDiagnosticsParams {
                uri,
                diagnostics,
                version,
            })?;
        }
        Ok(())
    }

    /// Checks environment `i` with the open documents' text.
    fn check_env(&mut self, i: usize) {
        let mut buffers = Buffers::new();
        let env = &mut self.envs[i];
        for (path, doc) in &self.docs {
            if let Some(file) = env.file_for(path) {
                buffers.insert(file, doc.text.clone());
            }
        }
        // A bug in a rule must not take the editor's server down with it.
        let watching = self.watching;
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if watching {
                engine::check_buffers_kept(
                    &env.project,
                    &self.registry,
                    &env.opts,
                    &buffers,
                    &mut env.kept,
                )
            } else {
                engine::check_buffers(&env.project, &self.registry, &env.opts, &buffers)
            }
        }));
        let report = match run {
            Ok(report) => report,
            Err(_) => {
                // What is kept may hold a buffer in place of its file: read again.
                env.kept = engine::KeptMigrations::default();
                let root = env.project.root.display().to_string();
                self.log(
                    MessageType::ERROR,
                    format!("{root}: the check failed (a migverify bug; please report it)"),
                );
                return;
            }
        };
        let env = &mut self.envs[i];
        let registry = env.project.registry.as_ref().unwrap_or(&self.registry);
        let text_of = |p: &Path| -> Option<&str> {
            buffers
                .get(p)
                .map(String::as_str)
                .or_else(|| report.sources.get(p).map(|s| s.text.as_str()))
        };
        let mut out: HashMap<PathBuf, Vec<lsp_types::Diagnostic>> = HashMap::new();
        for d in &report.diagnostics {
            let help_uri = registry
                .find(&d.code)
                .and_then(|ri| registry.get(ri).meta().help_uri());
            let lsp = convert::diagnostic(
                d,
                help_uri,
                &text_of,
                &|p| convert::path_to_uri(p),
                self.columns,
            );
            out.entry(d.location.path.clone()).or_default().push(lsp);
            // A duplicate (id or branch label) is one problem with one diagnostic;
            // in an editor every file that declares it is marked, each pointing at
            // the others, so typing a duplicate into one buffer marks both.
            if matches!(d.code.as_str(), "MV001" | "MV013") {
                let mut seen = vec![d.location.path.clone()];
                for r in &d.related {
                    if seen.contains(&r.location.path) {
                        continue;
                    }
                    seen.push(r.location.path.clone());
                    let mut copy = d.clone();
                    copy.location = r.location.clone();
                    copy.related = std::iter::once(crate::diagnostic::Related {
                        location: d.location.clone(),
                        message: "declared here too".into(),
                    })
                    .chain(
                        d.related
                            .iter()
                            .filter(|o| o.location.path != r.location.path)
                            .cloned(),
                    )
                    .collect();
                    let lsp = convert::diagnostic(
                        &copy,
                        registry
                            .find(&d.code)
                            .and_then(|ri| registry.get(ri).meta().help_uri()),
                        &text_of,
                        &|p| convert::path_to_uri(p),
                        self.columns,
                    );
                    out.entry(r.location.path.clone()).or_default().push(lsp);
                }
            }
        }
        env.diagnostics = out;
    }

    /// The published diagnostics and text of a document.
    fn doc_state(&self, uri: &Uri) -> Option<(PathBuf, &Doc, &[lsp_types::Diagnostic])> {
        let path = convert::uri_to_path(uri)?;
        let doc = self.docs.get(&path)?;
        let diags = self
            .published
            .get(uri.as_str())
            .map_or(&[][..], |p| p.1.as_slice());
        Some((path, doc, diags))
    }

    fn hover(&self, p: &lsp_types::HoverParams) -> Option<lsp_types::Hover> {
        let tdp = &p.text_document_position_params;
        let (_, _, diags) = self.doc_state(&tdp.text_document.uri)?;
        let mut registries: Vec<&Registry> = self
            .envs
            .iter()
            .filter_map(|e| e.project.registry.as_ref())
            .collect();
        registries.push(&self.registry);
        actions::hover(&registries, diags, tdp.position)
    }

    fn code_actions(&self, p: &lsp_types::CodeActionParams) -> Vec<CodeActionOrCommand> {
        let Some((path, doc, _)) = self.doc_state(&p.text_document.uri) else {
            return Vec::new();
        };
        actions::code_actions(
            &doc.uri,
            &path,
            &doc.text,
            &p.context.diagnostics,
            self.columns,
        )
        .into_iter()
        .map(CodeActionOrCommand::CodeAction)
        .collect()
    }
}

/// Hands what the loop sends to `lsp-server`'s writer, in order, leaving out a
/// publication that a newer one for the same document superseded before it was
/// written (a check that marks a thousand files, then the edit that clears them:
/// the client reads the second set only).
fn forward(queue: &Receiver<Message>, writer: &Sender<Message>) {
    let mut pending: VecDeque<(Option<(String, u64)>, Message)> = VecDeque::new();
    // The newest publication queued for each document.
    let mut newest: HashMap<String, u64> = HashMap::new();
    let mut seq = 0u64;
    loop {
        if pending.is_empty() {
            match queue.recv() {
                Ok(m) => pending.push_back((None, m)),
                Err(_) => return,
            }
            let (_, m) = pending.pop_back().expect("just pushed");
            pending.push_back((publication(&m, &mut newest, &mut seq), m));
        }
        for m in queue.try_iter() {
            pending.push_back((publication(&m, &mut newest, &mut seq), m));
        }
        let Some((key, m)) = pending.pop_front() else {
            continue;
        };
        if let Some((uri, n)) = &key
            && newest.get(uri) != Some(n)
        {
            continue;
        }
        if writer.send(m).is_err() {
            return;
        }
    }
}

/// For a `publishDiagnostics`, its document and its number in the queue, recorded
/// as the newest for that document.
fn publication(
    m: &Message,
    newest: &mut HashMap<String, u64>,
    seq: &mut u64,
) -> Option<(String, u64)> {
    let Message::Notification(n) = m else {
        return None;
    };
    if n.method != notif::PublishDiagnostics::METHOD {
        return None;
    }
    let uri = n.params.get("uri")?.as_str()?.to_string();
    *seq += 1;
    newest.insert(uri.clone(), *seq);
    Some((uri, *seq))
}

enum Event {
    Message(Message),
    Database(Box<DatabaseRead>),
}

fn invalid(id: RequestId, e: serde_json::Error) -> Response {
    Response::new_err(
        id,
        lsp_server::ErrorCode::InvalidParams as i32,
        e.to_string(),
    )
}

/// An error's message and help, on one line (for the client's log and popups).
fn error_text(e: &crate::Error) -> String {
    let help = miette::Diagnostic::help(e)
        .map(|h| format!(" ({h})"))
        .unwrap_or_default();
    format!("{e}{help}")
}

fn same_env(a: &Project, b: &Project) -> bool {
    a.root == b.root && a.version_locations == b.version_locations
}

/// Directories below `root` (a few levels, skipping hidden, virtualenv and
/// dependency directories) that hold an Alembic or migverify configuration: the
/// environments of a workspace, checked without opening a file.
fn scan(root: &Path) -> Vec<PathBuf> {
    let skip = |name: &str| {
        name.starts_with('.')
            || matches!(
                name,
                "node_modules"
                    | "venv"
                    | "__pycache__"
                    | "site-packages"
                    | "target"
                    | "build"
                    | "dist"
            )
    };
    walkdir::WalkDir::new(root)
        .max_depth(SCAN_DEPTH)
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0 || !(e.file_type().is_dir() && skip(&e.file_name().to_string_lossy()))
        })
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            let name = e.file_name().to_string_lossy();
            match name.as_ref() {
                "alembic.ini" | "migverify.toml" | ".migverify.toml" => true,
                "pyproject.toml" => std::fs::read_to_string(e.path())
                    .is_ok_and(|t| t.contains("[tool.alembic]") || t.contains("[tool.migverify")),
                _ => false,
            }
        })
        .filter_map(|e| e.path().parent().map(Path::to_path_buf))
        .collect()
}
