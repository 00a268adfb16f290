"""End-to-end tests of `mleng server` with a real LSP client (pytest-lsp / pygls): document
sync, diagnostics, notebooks, code actions, hover, configuration reload, odd requests."""

import asyncio
import json

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcMethodNotFound

pytestmark = pytest.mark.asyncio


async def diagnostics_for(client, uri, predicate=lambda d: True, timeout=20.0):
    """Waits until the diagnostics last published for `uri` satisfy `predicate`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = client.diagnostics.get(uri)
        if found is not None and predicate(found):
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no matching diagnostics for {uri}: {found}")
        await asyncio.sleep(0.02)


def codes(diagnostics):
    return sorted(d.code for d in diagnostics)


def open_file(client, path, text=None, version=1):
    text = path.read_text() if text is None else text
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)
        )
    )
    return uri, text


def replace_all(client, uri, text, version):
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


def apply_edits(text, edits):
    """Applies LSP text edits (UTF-16 positions) to a text, last first."""
    lines = text.splitlines(keepends=True) + [""]

    def offset(pos):
        before = sum(len(l) for l in lines[: pos.line])
        line = lines[pos.line] if pos.line < len(lines) else ""
        units, chars = 0, 0
        for ch in line:
            if units >= pos.character:
                break
            units += 2 if ord(ch) > 0xFFFF else 1
            chars += 1
        return before + chars

    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        a, b = offset(edit.range.start), offset(edit.range.end)
        text = text[:a] + edit.new_text + text[b:]
    return text


async def test_open_publishes_diagnostics_with_codes_docs_and_project_rules(client):
    uri, _ = open_file(client, client.project / "train.py")
    found = await diagnostics_for(client, uri, lambda d: "TRN002" in codes(d))
    trn002 = next(d for d in found if d.code == "TRN002")
    assert trn002.severity == types.DiagnosticSeverity.Error
    assert trn002.source == "mleng"
    assert trn002.range.start == types.Position(line=37, character=8)
    assert "trn002" in trn002.code_description.href
    assert "scaler.unscale_" in trn002.message
    # A project rule (seeding is looked for across the project) reports at the entry point.
    assert "EXP002" in codes(found)
    assert next(d for d in found if d.code == "TRN001").severity == types.DiagnosticSeverity.Warning


async def test_change_save_close(client):
    path = client.project / "train.py"
    uri, text = open_file(client, path)
    await diagnostics_for(client, uri, lambda d: "TRN002" in codes(d))
    fixed = text.replace(
        "        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)",
        "        scaler.unscale_(optimizer)\n        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)",
    )
    assert fixed != text
    replace_all(client, uri, fixed, 2)
    await diagnostics_for(client, uri, lambda d: "TRN002" not in codes(d) and "TRN001" in codes(d))
    path.write_text(fixed)
    client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    await diagnostics_for(client, uri, lambda d: len(d) == 0)


async def test_incremental_change_with_non_ascii_text(client):
    path = client.project / "train.py"
    text = "# modèle 😀 entraînement\n" + path.read_text()
    uri, _ = open_file(client, path, text)
    found = await diagnostics_for(client, uri, lambda d: "TRN002" in codes(d))
    assert next(d for d in found if d.code == "TRN002").range.start.line == 38
    # Delete the emoji (two UTF-16 units at character 7): the comment line stays valid.
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(start=types.Position(line=0, character=7), end=types.Position(line=0, character=9)),
                    text="",
                ),
                # Then remove the first line entirely: TRN002 moves back to line 37.
                types.TextDocumentContentChangePartial(
                    range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=1, character=0)),
                    text="",
                ),
            ],
        )
    )
    await diagnostics_for(
        client, uri, lambda d: any(x.code == "TRN002" and x.range.start.line == 37 for x in d)
    )


async def test_a_file_that_does_not_parse_keeps_other_files_diagnostics(client):
    model_uri, _ = open_file(client, client.project / "model.py")
    train_uri, _ = open_file(client, client.project / "train.py")
    await diagnostics_for(client, model_uri, lambda d: "ARC001" in codes(d))
    replace_all(client, train_uri, "def broken(:\n    pass\n", 2)
    await diagnostics_for(client, train_uri, lambda d: codes(d) == ["INP002"])
    assert "ARC001" in codes(client.diagnostics[model_uri])


async def test_notebook_cells_get_their_own_diagnostics(client):
    path = client.project / "explore.ipynb"
    notebook = json.loads(path.read_text())
    cells, documents = [], []
    for i, cell in enumerate(notebook["cells"]):
        uri = f"vscode-notebook-cell:{path.as_posix()}#C{i}"
        code = cell["cell_type"] == "code"
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        cells.append(types.NotebookCell(kind=types.NotebookCellKind.Code if code else types.NotebookCellKind.Markup, document=uri))
        documents.append(types.TextDocumentItem(uri=uri, language_id="python" if code else "markdown", version=1, text=source))
    client.notebook_document_did_open(
        types.DidOpenNotebookDocumentParams(
            notebook_document=types.NotebookDocument(uri=path.as_uri(), notebook_type="jupyter-notebook", version=1, cells=cells),
            cell_text_documents=documents,
        )
    )
    cell3 = documents[2].uri  # cell 3 as Jupyter counts (markdown cells included)
    found = await diagnostics_for(client, cell3, lambda d: "CV001" in codes(d))
    cv001 = next(d for d in found if d.code == "CV001")
    assert cv001.range.start == types.Position(line=6, character=4)
    # The evidence names the cell that loads the weights: related information points there.
    assert cv001.related_information and cv001.related_information[0].location.uri == cell3
    assert "EXP002" in codes(await diagnostics_for(client, documents[3].uri, lambda d: "EXP002" in codes(d)))
    # Fix the statistics in cell 3: its CV001 goes away.
    fixed = documents[2].text.replace("[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]", "[0.485, 0.456, 0.406], [0.229, 0.224, 0.225]")
    assert fixed != documents[2].text
    client.notebook_document_did_change(
        types.DidChangeNotebookDocumentParams(
            notebook_document=types.VersionedNotebookDocumentIdentifier(version=2, uri=path.as_uri()),
            change=types.NotebookDocumentChangeEvent(
                cells=types.NotebookDocumentCellChanges(
                    text_content=[
                        types.NotebookDocumentCellContentChanges(
                            document=types.VersionedTextDocumentIdentifier(uri=cell3, version=2),
                            changes=[types.TextDocumentContentChangeWholeDocument(text=fixed)],
                        )
                    ]
                )
            ),
        )
    )
    await diagnostics_for(client, cell3, lambda d: "CV001" not in codes(d))
    client.notebook_document_did_close(
        types.DidCloseNotebookDocumentParams(
            notebook_document=types.NotebookDocumentIdentifier(uri=path.as_uri()),
            cell_text_documents=[types.TextDocumentIdentifier(uri=d.uri) for d in documents],
        )
    )
    await diagnostics_for(client, documents[3].uri, lambda d: len(d) == 0)


async def code_actions(client, uri, diagnostic, only=None):
    return await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=diagnostic.range,
            context=types.CodeActionContext(diagnostics=[diagnostic], only=only),
        )
    )


async def test_quick_fix_noqa_and_fix_all(client):
    uri, text = open_file(client, client.project / "train.py")
    found = await diagnostics_for(client, uri, lambda d: "TRN002" in codes(d))
    trn002 = next(d for d in found if d.code == "TRN002")
    actions = await code_actions(client, uri, trn002)
    titles = [a.title for a in actions]
    fix = next(a for a in actions if a.title.startswith("TRN002:"))
    assert "(safe fix)" in fix.title and fix.kind == types.CodeActionKind.QuickFix
    fixed = apply_edits(text, fix.edit.changes[uri])
    lines = fixed.splitlines()
    assert lines[37].strip() == "scaler.unscale_(optimizer)", lines[36:40]
    assert lines[38].strip().startswith("torch.nn.utils.clip_grad_norm_")

    noqa = next(a for a in actions if a.title == "Disable TRN002 for this line")
    silenced = apply_edits(text, noqa.edit.changes[uri])
    assert silenced.splitlines()[37].endswith("max_norm=1.0)  # noqa: TRN002")
    replace_all(client, uri, silenced, 2)
    await diagnostics_for(client, uri, lambda d: "TRN002" not in codes(d))

    # "Fix all" offered lazily, resolved on demand (the client supports resolve)...
    replace_all(client, uri, text, 3)
    found = await diagnostics_for(client, uri, lambda d: "TRN002" in codes(d))
    trn002 = next(d for d in found if d.code == "TRN002")
    actions = await code_actions(client, uri, trn002)
    lazy = next(a for a in actions if a.kind == "source.fixAll.mleng")
    assert lazy.edit is None
    resolved = await client.code_action_resolve_async(lazy)
    all_fixed = apply_edits(text, resolved.edit.changes[uri])
    assert "scaler.unscale_(optimizer)" in all_fixed
    # ...and computed at once when asked for by kind (fix on save).
    eager = await code_actions(client, uri, trn002, only=[types.CodeActionKind.SourceFixAll])
    assert apply_edits(text, eager[0].edit.changes[uri]) == all_fixed
    assert titles


async def test_hover_shows_the_rule_docs(client):
    uri, _ = open_file(client, client.project / "train.py")
    found = await diagnostics_for(client, uri, lambda d: "TRN002" in codes(d))
    trn002 = next(d for d in found if d.code == "TRN002")
    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=trn002.range.start)
    )
    assert hover.contents.kind == types.MarkupKind.Markdown
    assert "TRN002" in hover.contents.value and "Why" in hover.contents.value
    nothing = await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=0, character=0))
    )
    assert nothing is None


async def test_configuration_change_is_picked_up(client):
    uri, text = open_file(client, client.project / "train.py")
    await diagnostics_for(client, uri, lambda d: "TRN002" in codes(d))
    pyproject = client.project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("[tool.mleng]\n", '[tool.mleng]\nignore = ["TRN002"]\n'))
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(changes=[types.FileEvent(uri=pyproject.as_uri(), type=types.FileChangeType.Changed)])
    )
    await diagnostics_for(client, uri, lambda d: "TRN002" not in codes(d) and "TRN001" in codes(d))


async def test_odd_requests_get_errors_and_the_server_stays_up(client):
    with pytest.raises(JsonRpcMethodNotFound):
        await client.protocol.send_request_async("mleng/nonsense", {})
    # A change for a document that was never opened, and an unknown notification: ignored.
    replace_all(client, (client.project / "ghost.py").as_uri(), "x = 1\n", 2)
    client.protocol.notify("mleng/whatever", {})
    uri, _ = open_file(client, client.project / "train.py")
    await diagnostics_for(client, uri, lambda d: "TRN002" in codes(d))
