"""pytest-lsp fixtures: `mleng server` started fresh for each test on a copy of
examples/flowers (a small project with a script, a model, a data module and a notebook)."""

import os
import shutil
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

REPO = Path(__file__).resolve().parents[3]
MLENG = os.environ.get("MLENG_BIN", str(REPO / "target" / "debug" / "mleng"))


@pytest.fixture()
def project(tmp_path):
    folder = tmp_path / "flowers"
    shutil.copytree(REPO / "examples" / "flowers", folder)
    return folder


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[MLENG, "server"]),
)
async def client(lsp_client: LanguageClient, project):
    capabilities = pytest_lsp.client_capabilities("visual-studio-code")
    lsp_client.registrations = []

    @lsp_client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(params: types.RegistrationParams):
        lsp_client.registrations.extend(params.registrations)

    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities,
            workspace_folders=[types.WorkspaceFolder(uri=project.as_uri(), name="flowers")],
            initialization_options={"debounceMs": 50},
        )
    )
    lsp_client.project = project
    yield
    await lsp_client.shutdown_session()
    # `exit` after `shutdown` is a clean exit.
    assert lsp_client._server.returncode == 0
