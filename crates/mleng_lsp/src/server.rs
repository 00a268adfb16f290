//! The main loop: answers the client's requests, keeps the documents in sync, sends review
//! jobs to the worker and publishes the diagnostics the worker's findings give.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{select, Receiver, Sender};
use lsp_server::{ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{self as notif, Notification as _};
use lsp_types::request::{self as req, Request as _};
use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOptions, CodeActionOrCommand, CodeActionParams,
    CodeActionProviderCapability, DidChangeWatchedFilesRegistrationOptions, FileSystemWatcher,
    GlobPattern, HoverProviderCapability, InitializeParams, InitializeResult, NotebookCellSelector,
    NotebookDocumentSyncOptions, NotebookSelector, OneOf, PositionEncodingKind,
    PublishDiagnosticsParams, Registration, RegistrationParams, SaveOptions, ServerCapabilities,
    ServerInfo, TextDocumentSyncCapability, TextDocumentSyncKind, TextDocumentSyncOptions,
    TextDocumentSyncSaveOptions, Uri, WorkDoneProgressOptions,
};
use mleng_rules::registry;
use serde_json::Value;

use crate::actions;
use crate::convert::DEFAULT_DOCS_URL;
use crate::fixall::{self, FixAllJob};
use crate::lookup::document_findings;
use crate::publish;
use crate::reviewers::Reviewers;
use crate::state::{is_python, normalize, Reviewed, State};
use crate::transport::{error_response, Incoming, Outgoing};
use crate::worker::{self, Job, Outcome, Scope};

/// The default quiet time after the last edit before a review (`debounceMs` changes it).
/// A review of a 2,000-line file costs about 10 ms of CPU, so 25 ms of quiet keeps the
/// diagnostics within 50 ms of the last keystroke (measured: median 36 ms on an idle core)
/// while a burst of keystrokes still costs one review.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(25);

/// How the loop ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Exit {
    /// `exit` after `shutdown`.
    Clean,
    /// `exit` without `shutdown`, or the client went away.
    Abrupt,
}

pub struct Server {
    out: Sender<Outgoing>,
    state: State,
    reviewers: Arc<Reviewers>,
    jobs: Sender<Job>,
    outcomes: Receiver<Outcome>,
    docs_url: String,
    debounce: Duration,
    initialized: bool,
    shutdown: bool,
    resolve_support: bool,
    watch_registration: bool,
    /// The last configuration error shown, so that it is not shown on every keystroke.
    shown_error: Option<String>,
    next_request: i32,
    /// Requests answered on another thread (fix all), until answered or cancelled.
    pending: std::collections::HashSet<RequestId>,
    deferred_tx: Sender<(RequestId, Value)>,
    deferred_rx: Receiver<(RequestId, Value)>,
}

/// How a request is answered.
enum Reply {
    Now(Value),
    /// On another thread; see [`Server::defer`].
    Later,
    Error(ErrorCode, String),
}

fn json_value(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

impl Server {
    pub fn new(out: Sender<Outgoing>) -> std::io::Result<Server> {
        let reviewers = Arc::new(Reviewers::default());
        let (outcome_tx, outcomes) = crossbeam_channel::unbounded();
        let jobs = worker::spawn(reviewers.clone(), outcome_tx)?;
        let (deferred_tx, deferred_rx) = crossbeam_channel::unbounded();
        Ok(Server {
            out,
            state: State::default(),
            reviewers,
            jobs,
            outcomes,
            docs_url: DEFAULT_DOCS_URL.to_string(),
            debounce: DEFAULT_DEBOUNCE,
            initialized: false,
            shutdown: false,
            resolve_support: false,
            watch_registration: false,
            shown_error: None,
            next_request: 0,
            pending: std::collections::HashSet::new(),
            deferred_tx,
            deferred_rx,
        })
    }

    /// Runs until `exit` or the end of input.
    pub fn run(mut self, incoming: &Receiver<Incoming>) -> Exit {
        loop {
            select! {
                recv(incoming) -> message => match message {
                    Ok(Incoming::Message(Message::Notification(n))) if n.method == notif::Exit::METHOD => {
                        return if self.shutdown { Exit::Clean } else { Exit::Abrupt };
                    }
                    Ok(Incoming::Message(message)) => self.handle(message),
                    Ok(Incoming::Invalid { id, code, message }) => {
                        log(&format!("invalid message: {message}"));
                        self.send_raw(error_response(id, code, message));
                    }
                    Err(_) => return Exit::Abrupt,
                },
                recv(self.outcomes) -> outcome => {
                    if let Ok(outcome) = outcome {
                        self.apply(outcome);
                    }
                }
                recv(self.deferred_rx) -> answer => {
                    if let Ok((id, value)) = answer {
                        self.answer(id, value);
                    }
                }
            }
        }
    }

    fn handle(&mut self, message: Message) {
        match message {
            Message::Request(request) => {
                let id = request.id.clone();
                let response = match self.request(request) {
                    Ok(Reply::Now(value)) => Response::new_ok(id, value),
                    Ok(Reply::Later) => return,
                    Ok(Reply::Error(code, text)) | Err((code, text)) => {
                        Response::new_err(id, code as i32, text)
                    }
                };
                self.send(Message::Response(response));
            }
            Message::Notification(notification) => {
                if let Err(err) = self.notification(notification) {
                    log(&err);
                }
            }
            // Answers to our own requests (capability registration): nothing to do.
            Message::Response(_) => {}
        }
    }

    fn request(&mut self, request: Request) -> Result<Reply, (ErrorCode, String)> {
        let method = request.method.as_str();
        if method == req::Initialize::METHOD {
            if self.initialized {
                return Err((ErrorCode::InvalidRequest, "already initialized".into()));
            }
            let params: InitializeParams = parse(request.params)?;
            return self.initialize(params).map(Reply::Now);
        }
        if !self.initialized {
            return Err((ErrorCode::ServerNotInitialized, "initialize first".into()));
        }
        if self.shutdown {
            return Err((
                ErrorCode::InvalidRequest,
                "the server is shutting down".into(),
            ));
        }
        match method {
            req::Shutdown::METHOD => {
                self.shutdown = true;
                Ok(Reply::Now(Value::Null))
            }
            req::CodeActionRequest::METHOD => {
                let params: CodeActionParams = parse(request.params)?;
                Ok(self.code_actions(request.id, params))
            }
            req::CodeActionResolveRequest::METHOD => {
                let action: CodeAction = parse(request.params)?;
                Ok(self.resolve(request.id, action))
            }
            req::HoverRequest::METHOD => {
                let params: lsp_types::HoverParams = parse(request.params)?;
                let doc = params.text_document_position_params;
                let hover = document_findings(&self.state, &doc.text_document.uri)
                    .and_then(|found| crate::hover::hover(&found, doc.position));
                Ok(Reply::Now(json_value(hover)))
            }
            _ => Err((
                ErrorCode::MethodNotFound,
                format!("unsupported request `{method}`"),
            )),
        }
    }

    fn initialize(&mut self, params: InitializeParams) -> Result<Value, (ErrorCode, String)> {
        #[allow(deprecated)] // rootUri and rootPath: older clients send only these.
        let roots: Vec<PathBuf> = match &params.workspace_folders {
            Some(folders) => folders
                .iter()
                .filter_map(|f| crate::uri::to_path(&f.uri))
                .collect(),
            None => params
                .root_uri
                .as_ref()
                .and_then(crate::uri::to_path)
                .or_else(|| params.root_path.as_ref().map(PathBuf::from))
                .into_iter()
                .collect(),
        };
        self.state.folders = roots.iter().map(|p| normalize(p)).collect();
        if let Some(options) = &params.initialization_options {
            if let Some(url) = options.get("docsUrl").and_then(Value::as_str) {
                self.docs_url = url.to_string();
            }
            if let Some(ms) = options.get("debounceMs").and_then(Value::as_u64) {
                self.debounce = Duration::from_millis(ms.min(10_000));
            }
        }
        let text_document = params.capabilities.text_document.as_ref();
        self.resolve_support = text_document
            .and_then(|t| t.code_action.as_ref())
            .and_then(|c| c.resolve_support.as_ref())
            .is_some_and(|r| r.properties.iter().any(|p| p == "edit"));
        self.watch_registration = params
            .capabilities
            .workspace
            .as_ref()
            .and_then(|w| w.did_change_watched_files.as_ref())
            .and_then(|d| d.dynamic_registration)
            .unwrap_or(false);
        self.initialized = true;
        let result = InitializeResult {
            capabilities: capabilities(),
            server_info: Some(ServerInfo {
                name: "mleng".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
        };
        serde_json::to_value(result).map_err(|e| (ErrorCode::InternalError, e.to_string()))
    }

    fn notification(&mut self, n: Notification) -> Result<(), String> {
        if !self.initialized {
            return Ok(()); // dropped, as the protocol says
        }
        let bad = |e: (ErrorCode, String)| format!("{}: {}", n.method, e.1);
        match n.method.as_str() {
            notif::Initialized::METHOD => self.register_watchers(),
            notif::DidOpenTextDocument::METHOD => {
                let p: lsp_types::DidOpenTextDocumentParams =
                    parse(n.params.clone()).map_err(bad)?;
                let uri = p.text_document.uri.clone();
                self.state.docs.open(p.text_document);
                self.schedule_document(&uri, Duration::ZERO, false);
            }
            notif::DidChangeTextDocument::METHOD => {
                let p: lsp_types::DidChangeTextDocumentParams =
                    parse(n.params.clone()).map_err(bad)?;
                let doc = p.text_document;
                if !self
                    .state
                    .docs
                    .change(&doc.uri, doc.version, p.content_changes)
                {
                    return Err(format!(
                        "didChange for a document that is not open: {}",
                        doc.uri.as_str()
                    ));
                }
                self.schedule_document(&doc.uri, self.debounce, false);
            }
            notif::DidSaveTextDocument::METHOD => {
                let p: lsp_types::DidSaveTextDocumentParams =
                    parse(n.params.clone()).map_err(bad)?;
                self.schedule_document(&p.text_document.uri, Duration::ZERO, true);
            }
            notif::DidCloseTextDocument::METHOD => {
                let p: lsp_types::DidCloseTextDocumentParams =
                    parse(n.params.clone()).map_err(bad)?;
                let uri = p.text_document.uri;
                let path = self.state.docs.review_path(&uri);
                self.state.docs.close(&uri);
                self.clear_diagnostics(&uri);
                // The file on disk counts again for the project.
                if let Some(path) = path.filter(|p| is_python(p)) {
                    self.schedule_path(&path, false, self.debounce, true);
                }
            }
            notif::DidOpenNotebookDocument::METHOD => {
                let p: lsp_types::DidOpenNotebookDocumentParams =
                    parse(n.params.clone()).map_err(bad)?;
                if let Some(path) = self.state.docs.open_notebook(p) {
                    self.schedule_path(&path, true, Duration::ZERO, false);
                }
            }
            notif::DidChangeNotebookDocument::METHOD => {
                let p: lsp_types::DidChangeNotebookDocumentParams =
                    parse(n.params.clone()).map_err(bad)?;
                let uri = p.notebook_document.uri.clone();
                self.state.docs.change_notebook(p);
                self.schedule_notebook(&uri, self.debounce, false);
            }
            notif::DidSaveNotebookDocument::METHOD => {
                let p: lsp_types::DidSaveNotebookDocumentParams =
                    parse(n.params.clone()).map_err(bad)?;
                self.schedule_notebook(&p.notebook_document.uri, Duration::ZERO, true);
            }
            notif::DidCloseNotebookDocument::METHOD => {
                let p: lsp_types::DidCloseNotebookDocumentParams =
                    parse(n.params.clone()).map_err(bad)?;
                if let Some(notebook) = self.state.docs.close_notebook(&p.notebook_document.uri) {
                    for cell in &notebook.cells {
                        self.clear_diagnostics(&cell.uri);
                    }
                    self.schedule_path(&notebook.path, false, self.debounce, true);
                }
            }
            notif::DidChangeWatchedFiles::METHOD => {
                let p: lsp_types::DidChangeWatchedFilesParams =
                    parse(n.params.clone()).map_err(bad)?;
                let config_changed = p.changes.iter().any(|c| {
                    crate::uri::to_path(&c.uri).is_some_and(|p| {
                        p.file_name()
                            .is_some_and(|n| n == "mleng.toml" || n == "pyproject.toml")
                    })
                });
                if config_changed {
                    self.reviewers.invalidate();
                }
                // Files changed on disk (a checkout, a formatter): review every open scope.
                for scope in self.state.open_scopes() {
                    self.schedule(scope, Vec::new(), self.debounce, true);
                }
            }
            notif::DidChangeWorkspaceFolders::METHOD => {
                let p: lsp_types::DidChangeWorkspaceFoldersParams =
                    parse(n.params.clone()).map_err(bad)?;
                let removed: Vec<PathBuf> = p
                    .event
                    .removed
                    .iter()
                    .filter_map(|f| crate::uri::to_path(&f.uri))
                    .map(|p| normalize(&p))
                    .collect();
                self.state.folders.retain(|f| !removed.contains(f));
                for added in p
                    .event
                    .added
                    .iter()
                    .filter_map(|f| crate::uri::to_path(&f.uri))
                {
                    self.state.folders.push(normalize(&added));
                }
                for scope in self.state.open_scopes() {
                    self.schedule(scope, Vec::new(), Duration::ZERO, true);
                }
            }
            notif::Cancel::METHOD => {
                let p: lsp_types::CancelParams = parse(n.params.clone()).map_err(bad)?;
                self.cancel(p.id);
            }
            // Other requests are answered in order before the next message is read: by the
            // time their cancellation arrives there is nothing left to cancel.
            notif::SetTrace::METHOD | notif::DidChangeConfiguration::METHOD => {}
            other if other.starts_with("$/") => {}
            other => log(&format!("ignored notification `{other}`")),
        }
        Ok(())
    }

    fn schedule_document(&mut self, uri: &Uri, delay: Duration, full: bool) {
        if let Some(path) = self.state.docs.review_path(uri).filter(|p| is_python(p)) {
            self.schedule_path(&path, true, delay, full);
        }
    }

    fn schedule_notebook(&mut self, uri: &Uri, delay: Duration, full: bool) {
        if let Some(path) = self.state.docs.notebooks.get(uri).map(|n| n.path.clone()) {
            self.schedule_path(&path, true, delay, full);
        }
    }

    /// Reviews the scope of `path`, with `path` as a changed file when `changed`.
    fn schedule_path(
        &mut self,
        path: &std::path::Path,
        changed: bool,
        delay: Duration,
        full: bool,
    ) {
        let path = normalize(path);
        let scope = self.state.scope_of(&path);
        let changed = if changed { vec![path] } else { Vec::new() };
        self.schedule(scope, changed, delay, full);
    }

    fn schedule(&mut self, scope: Scope, changed: Vec<PathBuf>, delay: Duration, full: bool) {
        // The first review of a folder is whole: project rules need every file.
        let full = full || !self.state.seen.contains(&scope);
        let job = Job {
            buffers: self.state.buffers(&scope),
            scope,
            changed,
            full,
            delay,
        };
        if self.jobs.send(job).is_err() {
            log("the review worker has stopped");
        }
    }

    /// Takes a review's findings in and publishes what changed.
    fn apply(&mut self, outcome: Outcome) {
        let redone = outcome.reuse.map_or_else(String::new, |r| {
            format!(
                "; {} of {} files read, rules run on {}, models built: {}",
                r.loaded, r.files, r.checked, r.models_built
            )
        });
        log(&format!(
            "reviewed {} ({}) in {} ms{redone}",
            outcome.scope.root().display(),
            if outcome.full {
                "project"
            } else {
                "changed files"
            },
            outcome.elapsed.as_millis()
        ));
        if let Some(error) = outcome.config_error {
            if self.shown_error.as_ref() != Some(&error) {
                self.show_error(&format!(
                    "mleng: invalid configuration, using the previous settings: {error}"
                ));
                self.shown_error = Some(error);
            }
        }
        let text_of = |path: &PathBuf| -> Option<String> {
            outcome
                .buffers
                .iter()
                .find(|b| &b.path == path)
                .map(|b| b.text.clone())
        };
        let mut by_path: std::collections::HashMap<PathBuf, Vec<mleng_diagnostics::Finding>> =
            std::collections::HashMap::new();
        for finding in outcome.findings {
            by_path
                .entry(normalize(&finding.location.path))
                .or_default()
                .push(finding);
        }
        if outcome.full {
            self.state.seen.insert(outcome.scope.clone());
            let root = outcome.scope.root().clone();
            self.state
                .reviewed
                .retain(|path, _| !path.starts_with(&root));
            for buffer in &outcome.buffers {
                by_path.entry(buffer.path.clone()).or_default();
            }
            for (path, findings) in by_path {
                let text = text_of(&path);
                self.state
                    .reviewed
                    .insert(path, Reviewed { findings, text });
            }
        } else {
            // The changed files alone: their file-rule findings are new; their project-rule
            // findings come from the last whole review until the next one.
            let project_codes: Vec<&str> = registry::project_rules()
                .iter()
                .map(|p| p.rule.code)
                .collect();
            for path in &outcome.reviewed {
                let mut findings: Vec<_> = by_path
                    .remove(path)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|f| !project_codes.contains(&f.code.as_str()))
                    .collect();
                if let Some(previous) = self.state.reviewed.get(path) {
                    findings.extend(
                        previous
                            .findings
                            .iter()
                            .filter(|f| project_codes.contains(&f.code.as_str()))
                            .cloned(),
                    );
                }
                findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
                let text = text_of(path);
                self.state
                    .reviewed
                    .insert(path.clone(), Reviewed { findings, text });
            }
        }
        self.publish_changed();
    }

    fn publish_changed(&mut self) {
        for (uri, diagnostics) in publish::all_diagnostics(&self.state, &self.docs_url) {
            if self.state.published.get(&uri) == Some(&diagnostics) {
                continue;
            }
            self.state
                .published
                .insert(uri.clone(), diagnostics.clone());
            self.notify::<notif::PublishDiagnostics>(PublishDiagnosticsParams {
                uri,
                diagnostics,
                version: None,
            });
        }
    }

    fn clear_diagnostics(&mut self, uri: &Uri) {
        if self.state.published.remove(uri).is_some() {
            self.notify::<notif::PublishDiagnostics>(PublishDiagnosticsParams {
                uri: uri.clone(),
                diagnostics: Vec::new(),
                version: None,
            });
        }
    }

    /// Quick fixes at once; "fix all" unresolved, or (asked for by kind, as on save, or for a
    /// client that cannot resolve) computed on a thread, with the answer sent when it is done.
    fn code_actions(&mut self, id: RequestId, params: CodeActionParams) -> Reply {
        let uri = &params.text_document.uri;
        let Some(found) = document_findings(&self.state, uri) else {
            return Reply::Now(json_value(Vec::<CodeAction>::new()));
        };
        let only = params.context.only.as_deref();
        let wants = |kind: &str| {
            only.is_none_or(|kinds| {
                kinds
                    .iter()
                    .any(|k| kind == k.as_str() || kind.starts_with(&format!("{}.", k.as_str())))
            })
        };
        let mut actions = Vec::new();
        if wants(CodeActionKind::QUICKFIX.as_str()) {
            actions.extend(actions::quick_fixes(uri, &found, params.range));
        }
        if !(wants(actions::FIX_ALL_KIND) && actions::has_safe_fix(&found) && !found.stale) {
            return Reply::Now(json_value(actions));
        }
        let unresolved = actions::fix_all_unresolved(uri);
        if only.is_none() && self.resolve_support {
            actions.push(CodeActionOrCommand::CodeAction(unresolved));
            return Reply::Now(json_value(actions));
        }
        let Some(job) = FixAllJob::new(&self.state, &self.reviewers, uri) else {
            return Reply::Now(json_value(actions));
        };
        self.defer(id, move || {
            if let Some(edit) = job.run() {
                actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                    edit: Some(edit),
                    data: None,
                    ..unresolved
                }));
            }
            json_value(actions)
        })
    }

    /// `codeAction/resolve` for "fix all": computed on a thread.
    fn resolve(&mut self, id: RequestId, mut action: CodeAction) -> Reply {
        let job = fixall::action_uri(&action)
            .and_then(|uri| FixAllJob::new(&self.state, &self.reviewers, &uri));
        action.data = None;
        let Some(job) = job else {
            return Reply::Now(json_value(action));
        };
        self.defer(id, move || {
            action.edit = job.run();
            json_value(action)
        })
    }

    /// Answers request `id` with `compute`'s result, computed on a thread of its own, unless
    /// the client cancels it first.
    fn defer(&mut self, id: RequestId, compute: impl FnOnce() -> Value + Send + 'static) -> Reply {
        let results = self.deferred_tx.clone();
        let key = id.clone();
        let spawned = std::thread::Builder::new()
            .name("mleng-lsp-fix".into())
            .spawn(move || {
                let _ = results.send((key, compute()));
            });
        match spawned {
            Ok(_) => {
                self.pending.insert(id);
                Reply::Later
            }
            Err(err) => Reply::Error(
                ErrorCode::InternalError,
                format!("cannot start a thread: {err}"),
            ),
        }
    }

    /// A deferred answer is ready: sent unless the request was cancelled meanwhile.
    fn answer(&mut self, id: RequestId, value: Value) {
        if self.pending.remove(&id) {
            self.send(Message::Response(Response::new_ok(id, value)));
        }
    }

    /// `$/cancelRequest`: a request still being computed is answered "cancelled" now.
    fn cancel(&mut self, id: lsp_types::NumberOrString) {
        let id = match id {
            lsp_types::NumberOrString::Number(n) => RequestId::from(n),
            lsp_types::NumberOrString::String(s) => RequestId::from(s),
        };
        if self.pending.remove(&id) {
            self.send(Message::Response(Response::new_err(
                id,
                ErrorCode::RequestCanceled as i32,
                "cancelled".into(),
            )));
        }
    }

    fn register_watchers(&mut self) {
        if !self.watch_registration {
            return;
        }
        let watchers = [
            "**/mleng.toml",
            "**/pyproject.toml",
            "**/*.py",
            "**/*.ipynb",
            "**/requirements*.txt",
        ]
        .into_iter()
        .map(|glob| FileSystemWatcher {
            glob_pattern: GlobPattern::String(glob.into()),
            kind: None,
        })
        .collect();
        let options = DidChangeWatchedFilesRegistrationOptions { watchers };
        let params = RegistrationParams {
            registrations: vec![Registration {
                id: "mleng-watch".into(),
                method: notif::DidChangeWatchedFiles::METHOD.into(),
                register_options: serde_json::to_value(options).ok(),
            }],
        };
        self.next_request += 1;
        let request = Request::new(
            RequestId::from(format!("mleng-{}", self.next_request)),
            req::RegisterCapability::METHOD.into(),
            params,
        );
        self.send(Message::Request(request));
    }

    fn show_error(&self, message: &str) {
        log(message);
        self.notify::<notif::ShowMessage>(lsp_types::ShowMessageParams {
            typ: lsp_types::MessageType::ERROR,
            message: message.to_string(),
        });
    }

    fn notify<N: notif::Notification>(&self, params: N::Params) {
        self.send(Message::Notification(Notification::new(
            N::METHOD.into(),
            params,
        )));
    }

    fn send(&self, message: Message) {
        self.send_raw(Outgoing::Message(message));
    }

    fn send_raw(&self, outgoing: Outgoing) {
        // The writer is gone only when the client is: the loop ends at the next read.
        let _ = self.out.send(outgoing);
    }
}

fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(PositionEncodingKind::UTF16),
        text_document_sync: Some(TextDocumentSyncCapability::Options(
            TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::INCREMENTAL),
                will_save: None,
                will_save_wait_until: None,
                save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions {
                    include_text: Some(false),
                })),
            },
        )),
        notebook_document_sync: Some(OneOf::Left(NotebookDocumentSyncOptions {
            notebook_selector: vec![NotebookSelector::ByNotebook {
                notebook: lsp_types::Notebook::String("jupyter-notebook".into()),
                cells: Some(vec![NotebookCellSelector {
                    language: "python".into(),
                }]),
            }],
            save: Some(true),
        })),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![
                CodeActionKind::QUICKFIX,
                CodeActionKind::new(actions::FIX_ALL_KIND),
            ]),
            work_done_progress_options: WorkDoneProgressOptions::default(),
            resolve_provider: Some(true),
        })),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        ..ServerCapabilities::default()
    }
}

fn parse<T: serde::de::DeserializeOwned>(params: Value) -> Result<T, (ErrorCode, String)> {
    serde_json::from_value(params).map_err(|err| {
        (
            ErrorCode::InvalidParams,
            format!("invalid parameters: {err}"),
        )
    })
}

/// Logs go to stderr: stdout carries the protocol.
pub fn log(message: &str) {
    eprintln!("mleng server: {message}");
}
