"""End-to-end tests of `mleng mcp` with the official MCP Python SDK as the client.

The SDK starts the server binary over stdio, as Claude Code or Cursor would, and speaks the
protocol to it: initialize, list and call every tool on the repository's fixtures, resources,
prompts, and the error cases (paths outside the roots, unknown rules, bad arguments).
Run by scripts/test-mcp.sh, which builds the binary and the client's virtual environment.
"""

import json
import os
import shutil
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp import types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError

REPO = Path(__file__).resolve().parents[2]
FIXTURES = (REPO.parent / "shared" / "fixtures").resolve()
BINARY = Path(os.environ.get("MLENG_BIN", REPO / "target" / "debug" / "mleng")).resolve()
CODE_FIXTURES = REPO / "crates" / "mleng_rules" / "tests" / "fixtures"

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


@asynccontextmanager
async def connect(roots=None, cwd=REPO):
    """A session with `mleng mcp`; `roots` are the folders the client declares (None: none).
    The list is read at each `roots/list`, so a test may change it and notify the server."""
    params = StdioServerParameters(command=str(BINARY), args=["mcp"], cwd=str(cwd))
    callback = None
    if roots is not None:

        async def callback(_context):
            return types.ListRootsResult(
                roots=[types.Root(uri=Path(r).resolve().as_uri()) for r in list(roots)]
            )

    with open(os.devnull, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write, list_roots_callback=callback) as session:
                await session.initialize()
                yield session


async def call(session, name, arguments):
    """Calls a tool that must succeed; returns its structured result."""
    result = await session.call_tool(name, arguments)
    assert not result.is_error, f"{name} failed: {result.content}"
    assert result.structured_content is not None
    # The text content is the same JSON, for clients that do not read structured content.
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content


async def call_error(session, name, arguments):
    """Calls a tool that must fail as a tool error (isError); returns the message."""
    result = await session.call_tool(name, arguments)
    assert result.is_error, f"{name} should have failed: {result.structured_content}"
    return result.content[0].text


def requires_fixtures():
    if not FIXTURES.is_dir():
        pytest.skip(f"{FIXTURES} is missing (check the repository out next to shared/)")


async def test_initialize_and_list_everything():
    async with connect(roots=[REPO]) as session:
        init = session.initialize_result
        assert init.server_info.name == "mleng"
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert set(tools) == {
            "review", "fix", "explain_rule", "list_rules", "diagnose_run",
            "inspect_model", "model_map", "recommend",
        }
        for tool in tools.values():
            assert "Call it" in tool.description, tool.name
            assert tool.input_schema["type"] == "object"
        assert "paths" in tools["review"].input_schema["properties"]
        assert "code" in tools["review"].input_schema["properties"]
        assert "write" in tools["fix"].input_schema["properties"]
        prompts = {p.name for p in (await session.list_prompts()).prompts}
        assert prompts == {"review-training-setup", "debug-unstable-run"}
        resources = (await session.list_resources()).resources
        uris = {str(r.uri) for r in resources}
        assert "mleng://rules" in uris and "mleng://rules/TRN002" in uris
        templates = (await session.list_resource_templates()).resource_templates
        assert templates[0].uri_template == "mleng://rules/{code}"


async def test_review_paths_and_snippets():
    async with connect(roots=[REPO]) as session:
        positive = CODE_FIXTURES / "TRN002" / "positive.py"
        result = await call(session, "review", {"paths": [str(positive)], "select": ["TRN002"]})
        codes = {f["code"] for f in result["findings"]}
        assert codes == {"TRN002"}, result
        assert result["files_reviewed"] == 1
        assert result["counts"]["error"] >= 1
        finding = result["findings"][0]
        assert finding["location"]["path"].endswith("positive.py")
        assert finding["location"]["span"]["start_line"] > 0

        negative = "crates/mleng_rules/tests/fixtures/TRN002/negative.py"
        clean = await call(session, "review", {"paths": [negative], "select": ["TRN002"]})
        assert clean["findings"] == []

        snippet = positive.read_text()
        from_code = await call(
            session, "review",
            {"code": snippet, "file_name": "scratch/train.py", "select": ["TRN"], "ignore": ["TRN001"]},
        )
        assert "TRN002" in {f["code"] for f in from_code["findings"]}
        assert all(f["code"] != "TRN001" for f in from_code["findings"])
        assert not (REPO / "scratch").exists(), "a snippet must not be written"

        # Paging: many findings come a page at a time, with where the next page starts.
        whole = await call(session, "review", {"paths": ["examples/flowers"]})
        total = whole["findings_page"]["total"]
        assert total > 2
        page = await call(session, "review", {"paths": ["examples/flowers"], "limit": 2})
        assert len(page["findings"]) == 2
        assert page["findings_page"]["next_offset"] == 2
        assert "offset=2" in page["findings_page"]["note"]
        rest = await call(session, "review", {"paths": ["examples/flowers"], "offset": 2, "limit": 1000})
        assert len(rest["findings"]) == total - 2


async def test_rules_catalog_and_explanations():
    async with connect(roots=[REPO]) as session:
        listed = await call(session, "list_rules", {"area": "training"})
        assert listed["rules"] and all(r["area"] == "training" for r in listed["rules"])
        everything = await call(session, "list_rules", {})
        assert any(c["code"].startswith("RUN") for c in everything["checks"])
        explained = await call(session, "explain_rule", {"code": "TRN002"})
        assert explained["markdown"].startswith("# TRN002 clip-grad-without-unscale")
        by_name = await call(session, "explain_rule", {"code": "clip-grad-without-unscale"})
        assert by_name["markdown"] == explained["markdown"]
        run_check = await call(session, "explain_rule", {"code": "RUN001"})
        assert "mleng diagnose" in run_check["markdown"]
        message = await call_error(session, "explain_rule", {"code": "NOPE123"})
        assert "unknown rule `NOPE123`" in message

        catalog = await session.read_resource("mleng://rules")
        data = json.loads(catalog.contents[0].text)
        assert any(r["code"] == "TRN002" for r in data["rules"])
        doc = await session.read_resource("mleng://rules/TRN002")
        assert doc.contents[0].text == explained["markdown"]
        with pytest.raises(MCPError):
            await session.read_resource("mleng://rules/NOPE123")


async def test_diagnose_inspect_and_map_on_fixtures():
    requires_fixtures()
    async with connect(roots=[REPO, FIXTURES]) as session:
        run = await call(session, "diagnose_run", {"paths": [str(FIXTURES / "runs" / "diverge_nan_sgd_lr5")]})
        assert run["runs"][0]["verdict"].startswith("FAILED")
        assert "RUN001" in {f["code"] for f in run["findings"]}
        assert run["runs"][0]["events"], "events carry the evidence"
        healthy = await call(session, "diagnose_run", {"paths": [str(FIXTURES / "runs" / "hf_trainer")]})
        assert healthy["runs"]

        onnx = FIXTURES / "onnx" / "smallcnn_bn_after_dropout_train.legacy.onnx"
        graph = await call(session, "inspect_model", {"paths": [str(onnx)]})
        report = graph["graphs"][0]
        assert report["total_params"] == 151_658 or report["total_params"] > 0
        assert "ONX004" in {f["code"] for f in report["findings"]}
        vit = FIXTURES / "onnx" / "timm_vit_tiny_patch16_224.dynamo.onnx"
        big = await call(session, "inspect_model", {"paths": [str(vit)], "layers_limit": 10})
        layers = big["graphs"][0]["layers_page"]
        assert len(big["graphs"][0]["layers"]) == 10 and layers["total"] > 10
        assert layers["next_offset"] == 10
        # The training-memory estimate of `mleng inspect --train`, with the same inputs.
        schema = {t.name: t for t in (await session.list_tools()).tools}["inspect_model"].input_schema
        assert "adamw" in schema["properties"]["optimizer"]["enum"]
        assert "pure-bf16" in schema["properties"]["precision"]["enum"]
        small = FIXTURES / "onnx" / "smallcnn_ok.legacy.onnx"
        trained = await call(
            session, "inspect_model",
            {"paths": [str(small)], "train": True, "batch": 16, "optimizer": "sgd-momentum", "precision": "bf16"},
        )
        estimate = trained["graphs"][0]["training"]
        assert (estimate["batch"], estimate["optimizer"], estimate["precision"]) == (16, "sgd-momentum", "bf16")
        assert estimate["total"] > estimate["weights"] > 0 and estimate["dominant"]
        plain = await call(session, "inspect_model", {"paths": [str(small)], "batch": 16})
        assert "training" not in plain["graphs"][0]
        message = await call_error(session, "inspect_model", {"paths": [str(small)], "train": True})
        assert "`train` needs `batch`" in message, message
        message = await call_error(
            session, "inspect_model", {"paths": [str(small)], "train": True, "batch": 4, "optimizer": "lamb"},
        )
        assert "valid: sgd" in message, message
        ckpt = await call(session, "inspect_model", {"paths": [str(FIXTURES / "ckpt" / "smallcnn_healthy.pt")]})
        assert ckpt["checkpoints"][0]["format"]
        pair = await call(
            session, "inspect_model",
            {"paths": [str(FIXTURES / "ckpt" / "smallcnn_healthy.pt"),
                       str(FIXTURES / "ckpt" / "smallcnn_healthy.safetensors")], "diff": True},
        )
        assert "matched" in pair["diff"]

        mapped = await call(session, "model_map", {"path": "examples/flowers/model.py"})
        assert mapped["models"] and mapped["models"][0]["layers"]
        one = await call(session, "model_map", {"path": "examples/flowers/model.py", "class_name": "Head"})
        assert [m["name"] for m in one["models"]] == ["Head"]
        message = await call_error(session, "model_map", {"path": "examples/flowers/model.py::Nope"})
        assert "no nn.Module class" in message


async def test_recommend_and_fix():
    async with connect(roots=[REPO]) as session:
        tasks = await call(session, "recommend", {})
        assert any(t["id"] == "detection" for t in tasks["tasks"])
        advice = await call(
            session, "recommend",
            {"task": "detection", "data_size": "small", "latency": "realtime", "device": "edge"},
        )
        assert advice["constraints"]["device"] == "edge"
        project = await call(session, "recommend", {"project": "examples/flowers"})
        assert project["files"] == 4 and "tasks" in project and "advice" in project
        message = await call_error(session, "recommend", {"task": "astrology"})
        assert "unknown task" in message

        train = REPO / "examples" / "flowers" / "train.py"
        before = train.read_text()
        fixed = await call(session, "fix", {"paths": ["examples/flowers"]})
        assert fixed["fixes_applied"] > 0
        assert fixed["diff"].startswith("---") and "+++" in fixed["diff"]
        assert fixed["written"] == []
        assert train.read_text() == before, "fix must not write without write: true"
        snippet = await call(session, "fix", {"code": before, "file_name": "train.py"})
        assert snippet["fixed_code"] and snippet["fixed_code"] != before


async def test_fix_writes_only_when_asked(tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    shutil.copy(REPO / "examples" / "flowers" / "train.py", project / "train.py")
    before = (project / "train.py").read_text()
    async with connect(roots=[project], cwd=project) as session:
        dry = await call(session, "fix", {"paths": ["train.py"]})
        assert dry["fixes_applied"] > 0 and (project / "train.py").read_text() == before
        done = await call(session, "fix", {"paths": ["train.py"], "write": True})
        assert done["written"] == [str((project / "train.py").resolve())]
        assert (project / "train.py").read_text() != before
        message = await call_error(session, "fix", {"code": "x = 1\n", "write": True})
        assert "snippet" in message


async def test_paths_outside_the_roots_are_refused(tmp_path):
    outside = tmp_path / "secret.py"
    outside.write_text("import torch\n")
    project = tmp_path / "proj"
    project.mkdir()
    (project / "train.py").write_text("import torch\n")
    (project / "escape.py").symlink_to(outside)
    (project / "models").mkdir()
    (tmp_path / "private.onnx").write_bytes(b"not read")
    (project / "models" / "leak.onnx").symlink_to(tmp_path / "private.onnx")
    async with connect(roots=[project], cwd=project) as session:
        for arguments in (
            {"paths": [str(outside)]},
            {"paths": ["../secret.py"]},
            {"paths": ["escape.py"]},
            {"paths": ["/etc"]},
            {"code": "x = 1\n", "file_name": "../snippet.py"},
        ):
            message = await call_error(session, "review", arguments)
            assert "outside the folders this server may read" in message, (arguments, message)
        for name, arguments in (
            ("diagnose_run", {"paths": [str(REPO)]}),
            ("inspect_model", {"paths": [str(outside)]}),
            ("model_map", {"path": str(outside)}),
            ("recommend", {"project": str(REPO)}),
            ("fix", {"paths": [str(outside)], "write": True}),
            ("inspect_model", {"paths": ["models"]}),
        ):
            message = await call_error(session, name, arguments)
            assert "outside" in message, (name, message)
        assert outside.read_text() == "import torch\n"
        ok = await call(session, "review", {"paths": ["train.py"]})
        assert ok["files_reviewed"] == 1


async def test_roots_follow_the_client_list_changed_notification(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for folder in (first, second):
        folder.mkdir()
        (folder / "train.py").write_text("import torch\n")
    roots = [first]
    async with connect(roots=roots, cwd=first) as session:
        await call(session, "review", {"paths": [str(first / "train.py")]})
        message = await call_error(session, "review", {"paths": [str(second / "train.py")]})
        assert "outside" in message
        roots[:] = [second]
        await session.send_roots_list_changed()
        ok = await call(session, "review", {"paths": [str(second / "train.py")]})
        assert ok["files_reviewed"] == 1
        message = await call_error(session, "review", {"paths": [str(first / "train.py")]})
        assert "outside" in message


async def test_without_client_roots_the_working_folder_is_the_boundary():
    async with connect(roots=None, cwd=REPO / "examples") as session:
        ok = await call(session, "review", {"paths": ["flowers/model.py"]})
        assert ok["files_reviewed"] == 1
        message = await call_error(session, "review", {"paths": [str(REPO / "README.md")]})
        assert "outside" in message


async def test_bad_arguments_are_tool_errors():
    # Input errors come back as tool errors (isError) that say what is wrong, so the agent can
    # correct its call (MCP 2025-11-25: input validation errors are tool execution errors).
    async with connect(roots=[REPO]) as session:
        message = await call_error(session, "review", {"paths": "examples"})
        assert "expected a sequence" in message
        message = await call_error(session, "review", {"path": ["examples"]})
        assert "unknown argument `path`" in message and "paths" in message
        message = await call_error(session, "explain_rule", {})
        assert "missing field `code`" in message
        message = await call_error(session, "recommend", {"task": "detection", "device": "toaster"})
        assert "unknown variant `toaster`" in message
        message = await call_error(session, "recommend", {"task": "detection", "project": "."})
        assert "not both" in message
        message = await call_error(session, "review", {"paths": ["no/such/file.py"]})
        assert "does not exist" in message
        message = await call_error(session, "review", {"paths": ["examples"], "select": ["NOPE999"]})
        assert "NOPE999" in message
        message = await call_error(session, "diagnose_run", {"paths": []})
        assert "at least one" in message
        message = await call_error(session, "inspect_model", {"paths": ["README.md"], "input_shape": "1xA"})
        assert "input_shape" in message
        with pytest.raises(MCPError):
            await session.call_tool("no_such_tool", {})


async def test_prompts_chain_the_tools():
    async with connect(roots=[REPO]) as session:
        setup = await session.get_prompt("review-training-setup", {"path": "examples/flowers"})
        text = setup.messages[0].content.text
        for tool in ("`review`", "`explain_rule`", "`model_map`", "`recommend`", "`fix`"):
            assert tool in text
        debug = await session.get_prompt("debug-unstable-run", {"run": "runs/exp1", "code": "train.py"})
        text = debug.messages[0].content.text
        assert "`diagnose_run`" in text and "train.py" in text
