//! The MCP side: tools, prompts and resources on top of `tools`, over rmcp. Tool bodies run
//! on tokio's blocking pool (a review is CPU-bound and uses rayon), so the protocol loop keeps
//! answering pings and cancellations meanwhile.

use std::sync::Arc;

use rmcp::handler::server::router::prompt::PromptRouter;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams, PromptMessage,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate, Role, ServerCapabilities, ServerConfig,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{
    prompt, prompt_handler, prompt_router, tool, tool_handler, tool_router, ErrorData, Peer,
    RoleServer, ServerHandler,
};
use schemars::JsonSchema;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::error::ToolError;
use crate::resources;
use crate::roots::Roots;
use crate::tools::{code, models, recommend, rules, runs};

/// mleng as an MCP server. Cheap to clone: the state is shared.
#[derive(Clone)]
pub struct MlengServer {
    tool_router: ToolRouter<Self>,
    prompt_router: PromptRouter<Self>,
    /// Where paths may point when the client declares no roots: the folders given on the
    /// command line, or the working folder.
    fallback: Roots,
    /// The client's roots, fetched on first use and again after `roots/list_changed`
    /// (`None`: not fetched yet).
    client_roots: Arc<Mutex<Option<Option<Roots>>>>,
}

impl MlengServer {
    pub fn new(fallback: Roots) -> MlengServer {
        MlengServer {
            tool_router: Self::tool_router(),
            prompt_router: Self::prompt_router(),
            fallback,
            client_roots: Arc::new(Mutex::new(None)),
        }
    }

    /// The roots in force: the client's when it declares the roots capability, else the
    /// fallback.
    async fn roots(&self, peer: &Peer<RoleServer>) -> Roots {
        let mut cached = self.client_roots.lock().await;
        if cached.is_none() {
            *cached = Some(fetch_client_roots(peer).await);
        }
        cached
            .as_ref()
            .and_then(Option::as_ref)
            .unwrap_or(&self.fallback)
            .clone()
    }

    async fn run<A, F>(&self, peer: &Peer<RoleServer>, args: A, work: F) -> CallToolResult
    where
        A: Send + 'static,
        F: FnOnce(&Roots, &A) -> Result<serde_json::Value, ToolError> + Send + 'static,
    {
        let roots = self.roots(peer).await;
        let outcome = tokio::task::spawn_blocking(move || work(&roots, &args)).await;
        match outcome {
            Ok(Ok(value)) => CallToolResult::structured(value),
            // Tool errors go back as results with isError, so the agent reads the sentence
            // and can correct the call.
            Ok(Err(err)) => CallToolResult::error(vec![ContentBlock::text(err.to_string())]),
            Err(join) => CallToolResult::error(vec![ContentBlock::text(format!(
                "mleng failed on this input (a bug of ours, please report it): {join}"
            ))]),
        }
    }
}

/// Asks the client for its roots when it says it has any. Protocol revisions from
/// 2026-07-28 on forbid server-to-client requests; the call then fails and the fallback holds.
#[allow(deprecated)] // Roots are deprecated from 2026-07-28 on (SEP-2577); clients still send them.
async fn fetch_client_roots(peer: &Peer<RoleServer>) -> Option<Roots> {
    let declares = peer
        .peer_info()
        .is_some_and(|info| info.capabilities.roots.is_some());
    if !declares {
        return None;
    }
    let answer = peer.list_roots().await;
    match answer {
        Ok(list) => {
            let roots = Roots::from_uris(list.roots.iter().map(|r| r.uri.as_str()));
            if roots.is_none() {
                eprintln!("mleng mcp: the client declared no usable file:// root; using the working folder");
            }
            roots
        }
        Err(err) => {
            eprintln!(
                "mleng mcp: could not list the client's roots ({err}); using the working folder"
            );
            None
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SetupPromptArgs {
    /// The project folder or training script to review (default: the workspace root).
    pub path: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct RunPromptArgs {
    /// The run folder or log file (TensorBoard, Lightning, Hugging Face, MLflow, W&B, CSV).
    pub run: String,
    /// The training code that produced the run, if known.
    pub code: Option<String>,
}

#[tool_router]
impl MlengServer {
    #[tool(
        name = "review",
        description = "Review PyTorch training code and notebooks for ML-engineering mistakes that do not crash but cost accuracy, memory or GPU days (gradient clipping with AMP, scheduler order, eval/train modes, softmax fed to cross-entropy, normalization that does not match pretrained weights, unseeded runs...). Call it after writing or changing a training loop, model, data pipeline or notebook, or when asked to review ML code. Give `paths` (files or folders) or a `code` snippet with its `file_name`. Returns the findings in mleng's JSON format (rule code, severity, location, message, evidence, fix), paged by `offset`/`limit`."
    )]
    async fn review(
        &self,
        Parameters(args): Parameters<code::ReviewArgs>,
        peer: Peer<RoleServer>,
    ) -> CallToolResult {
        self.run(&peer, args, code::review).await
    }

    #[tool(
        name = "fix",
        description = "Compute mleng's safe fixes (those that do not change behaviour beyond the bug) for files, folders or a code snippet, and return them as a unified diff. Call it after `review` when findings are fixable, to show or apply the corrections. Writes nothing unless `write: true` (then it rewrites the files in place, atomically, and only if each still parses)."
    )]
    async fn fix(
        &self,
        Parameters(args): Parameters<code::FixArgs>,
        peer: Peer<RoleServer>,
    ) -> CallToolResult {
        self.run(&peer, args, code::fix).await
    }

    #[tool(
        name = "explain_rule",
        description = "Explain an mleng rule or check by its code (TRN002, CV001, RUN003, ONX002) or name: what it finds, why it matters (with references), an example and what to use instead. Call it to understand a finding from `review`, `diagnose_run` or `inspect_model` before explaining or fixing it."
    )]
    async fn explain_rule(
        &self,
        Parameters(args): Parameters<rules::ExplainArgs>,
        peer: Peer<RoleServer>,
    ) -> CallToolResult {
        self.run(&peer, args, |_, args| rules::explain_rule(args))
            .await
    }

    #[tool(
        name = "list_rules",
        description = "List mleng's rules (code, name, area, severity, fixable, enabled by default, summary) and the checks of diagnose_run and inspect_model. Call it to find which rules exist for an area (training, architecture, cv, experiment, performance, security) or to choose `select`/`ignore` codes for `review`."
    )]
    async fn list_rules(
        &self,
        Parameters(args): Parameters<rules::ListRulesArgs>,
        peer: Peer<RoleServer>,
    ) -> CallToolResult {
        self.run(&peer, args, |_, args| rules::list_rules(args))
            .await
    }

    #[tool(
        name = "diagnose_run",
        description = "Diagnose a training run from its logs (TensorBoard event files, Lightning metrics.csv, Hugging Face trainer_state.json, MLflow, W&B, CSV): NaN/Inf, divergence, exploding or vanishing gradients, loss spikes, plateaus, overfitting, LR schedule anomalies, throughput stalls. Call it when a run is unstable, stopped learning or looks wrong, or before trusting its results. Returns per run a verdict, a summary and events with their evidence (step, values), and the findings."
    )]
    async fn diagnose_run(
        &self,
        Parameters(args): Parameters<runs::DiagnoseArgs>,
        peer: Peer<RoleServer>,
    ) -> CallToolResult {
        self.run(&peer, args, runs::diagnose_run).await
    }

    #[tool(
        name = "inspect_model",
        description = "Inspect an exported model or checkpoint without running it: ONNX graphs (parameters, FLOPs, memory, bottleneck layers, training-mode exports, softmax before the loss) and checkpoints (.safetensors, PyTorch .pt/.pth/.bin zip; NaN/Inf and dead or exploding weights, dtypes). Pickles are read by a restricted reader, never executed. With `train: true` and `batch` (and `optimizer`, `precision`) it also estimates the GPU memory one training step of an ONNX graph needs (each graph's `training` object). Call it to check a checkpoint or export before using or shipping it, to ask whether training a model will fit on a GPU, or to compare two checkpoints (`diff: true`)."
    )]
    async fn inspect_model(
        &self,
        Parameters(args): Parameters<models::InspectArgs>,
        peer: Peer<RoleServer>,
    ) -> CallToolResult {
        self.run(&peer, args, models::inspect_model).await
    }

    #[tool(
        name = "model_map",
        description = "Map a PyTorch model statically from its source: each nn.Module class and nn.Sequential with its layers in forward order, their arguments, exact parameter counts where the arguments are literals, each layer's share and the bottleneck layers. Call it to understand a model's size and structure, or to find where its parameters are, without running Python."
    )]
    async fn model_map(
        &self,
        Parameters(args): Parameters<models::ModelMapArgs>,
        peer: Peer<RoleServer>,
    ) -> CallToolResult {
        self.run(&peer, args, models::model_map).await
    }

    #[tool(
        name = "recommend",
        description = "Computer-vision advice for a task (classification, detection, segmentation, keypoints, anomaly detection): architectures, pretrained weights, losses, augmentation, training recipe and metrics, narrowed by data size, latency and device, each with references. With `project`, detects the project's task from its code and compares what it does with the advice. Call it when choosing a model or recipe, or when asked how to improve a vision project."
    )]
    async fn recommend(
        &self,
        Parameters(args): Parameters<recommend::RecommendArgs>,
        peer: Peer<RoleServer>,
    ) -> CallToolResult {
        self.run(&peer, args, recommend::recommend).await
    }
}

#[prompt_router]
impl MlengServer {
    #[prompt(
        name = "review-training-setup",
        description = "Review my training setup: code review, rule explanations, model map, task advice and safe fixes, chained"
    )]
    async fn review_training_setup(
        &self,
        Parameters(args): Parameters<SetupPromptArgs>,
    ) -> Vec<PromptMessage> {
        let path = args.path.unwrap_or_else(|| ".".to_string());
        vec![PromptMessage::new_text(
            Role::User,
            crate::prompts::review_training_setup(&path),
        )]
    }

    #[prompt(
        name = "debug-unstable-run",
        description = "Debug my unstable run: diagnose the logs, explain the findings, review the training code for the cause"
    )]
    async fn debug_unstable_run(
        &self,
        Parameters(args): Parameters<RunPromptArgs>,
    ) -> Vec<PromptMessage> {
        vec![PromptMessage::new_text(
            Role::User,
            crate::prompts::debug_unstable_run(&args.run, args.code.as_deref()),
        )]
    }
}

#[tool_handler(router = self.tool_router)]
#[prompt_handler(router = self.prompt_router)]
impl ServerHandler for MlengServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .enable_resources()
                .build(),
        )
        // rmcp's default identity is its own crate's name and version.
        .with_server_info(Implementation::new("mleng", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "mleng is an advisory ML engineer for PyTorch: it reviews training code (`review`, `fix`), \
             training logs (`diagnose_run`), model files (`inspect_model`), model definitions (`model_map`) \
             and gives task-aware vision advice (`recommend`). It never executes code. Paths are relative \
             to the workspace root and must stay inside it.",
        )
    }

    /// Refuses unknown argument names before the arguments are parsed: a misspelt `path` for
    /// `paths` would otherwise silently review the whole workspace.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if let (Some(tool), Some(args)) = (self.tool_router.get(&request.name), &request.arguments)
        {
            let known = tool
                .input_schema
                .get("properties")
                .and_then(|p| p.as_object());
            let unknown: Vec<&String> = args
                .keys()
                .filter(|k| !known.is_some_and(|p| p.contains_key(k.as_str())))
                .collect();
            if let Some(first) = unknown.first() {
                let expected: Vec<&String> = known.map(|p| p.keys().collect()).unwrap_or_default();
                // An input error is a tool error (isError), as rmcp reports arguments that do
                // not parse, so the agent reads it and corrects the call.
                let message = format!(
                    "unknown argument `{first}` for `{}`; its arguments are: {}",
                    request.name,
                    expected
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                return Ok(CallToolResult::error(vec![ContentBlock::text(message)]).into());
            }
        }
        let context = ToolCallContext::new(self, request, context);
        self.tool_router.call(context).await
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let resources = resources::list()
            .into_iter()
            .map(|(uri, name, description)| {
                let mime = if uri == resources::CATALOG_URI {
                    "application/json"
                } else {
                    "text/markdown"
                };
                Resource::new(uri, name)
                    .with_description(description)
                    .with_mime_type(mime)
            })
            .collect();
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let template = ResourceTemplate::new(resources::RULE_URI_TEMPLATE, "mleng rule")
            .with_description("A rule's or check's documentation by its code (TRN002, RUN001)")
            .with_mime_type("text/markdown");
        Ok(ListResourceTemplatesResult::with_all_items(vec![template]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let Some((text, mime)) = resources::read(&request.uri) else {
            return Err(ErrorData::resource_not_found(
                format!(
                    "no resource `{}` (mleng://rules, or mleng://rules/CODE with a code from it)",
                    request.uri
                ),
                None,
            ));
        };
        let contents = ResourceContents::text(text, request.uri).with_mime_type(mime);
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    async fn on_roots_list_changed(&self, _context: NotificationContext<RoleServer>) {
        *self.client_roots.lock().await = None;
    }
}
