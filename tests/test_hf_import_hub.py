"""`models add OWNER/NAME` downloads through huggingface_hub from HF_ENDPOINT: here a local HTTP server that
speaks the hub endpoints snapshot_download uses (model info at a revision, the file tree, resolve), never the
internet. Unreachable hubs, unknown revisions and cancelled downloads leave nothing behind."""
from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from app.core.errors import Cancelled, ModelError
from app.core.hf_import import download
from app.core.registry import Registry

SHA = "0123456789abcdef0123456789abcdef01234567"


class HubHandler(BaseHTTPRequestHandler):
    """GET /api/models/{repo}[/revision/{rev}], GET /api/models/{repo}/tree/{sha}, HEAD/GET /{repo}/resolve/{sha}/{file}."""

    repos: dict[str, Path] = {}
    log: list[str] = []

    def log_message(self, *args) -> None:  # quiet
        pass

    def _json(self, obj, status: int = 200, headers: dict | None = None) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _files(self, folder: Path) -> list[Path]:
        return sorted(p for p in folder.rglob("*") if p.is_file())

    def _route(self) -> None:
        path = unquote(urlparse(self.path).path)
        self.log.append(f"{self.command} {path}")
        m = re.fullmatch(r"/api/models/(.+?)(?:/revision/([^/]+))?", path)
        if m and "/tree/" not in path:
            repo, rev = m.group(1), m.group(2) or "main"
            if repo not in self.repos:
                return self._json({"error": "Repository not found"}, 404, {"X-Error-Code": "RepoNotFound"})
            if rev not in ("main", SHA):
                return self._json({"error": "Invalid rev id"}, 404, {"X-Error-Code": "RevisionNotFound"})
            folder = self.repos[repo]
            return self._json({"id": repo, "modelId": repo, "sha": SHA, "private": False,
                               "siblings": [{"rfilename": str(p.relative_to(folder))} for p in self._files(folder)]})
        m = re.fullmatch(r"/api/models/(.+?)/tree/([^/]+)(/.*)?", path)
        if m and m.group(1) in self.repos:
            folder = self.repos[m.group(1)]
            return self._json([{"type": "file", "path": str(p.relative_to(folder)), "size": p.stat().st_size,
                                "oid": hashlib.sha1(p.read_bytes()).hexdigest()} for p in self._files(folder)])
        m = re.fullmatch(r"/(.+?)/resolve/([^/]+)/(.+)", path)
        if m and m.group(1) in self.repos and (self.repos[m.group(1)] / m.group(3)).is_file():
            data = (self.repos[m.group(1)] / m.group(3)).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("ETag", f'"{hashlib.sha1(data).hexdigest()}"')
            self.send_header("X-Repo-Commit", SHA)
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(data)
            return None
        return self._json({"error": "Entry not found"}, 404, {"X-Error-Code": "EntryNotFound"})

    do_GET = do_HEAD = _route


@pytest.fixture()
def hub(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), HubHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    HubHandler.repos, HubHandler.log = {}, []
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield HubHandler
    server.shutdown()
    server.server_close()


@pytest.fixture()
def reg(tmp_path):
    user = tmp_path / "home" / "models"
    r = Registry(roots=[user], settings_file=tmp_path / "defaults.json")
    r.user_dir = user
    return r


def _small_repo(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"architectures": ["BertForSequenceClassification"]}))
    (folder / "README.md").write_text("---\nlicense: mit\n---\n")
    (folder / "model.safetensors").write_bytes(bytes(range(256)) * 400)
    (folder / "modeling_evil.py").write_text("raise SystemExit\n")  # never fetched: code is not downloaded
    return folder


def test_download_fetches_the_checkpoint_files_through_the_hub_endpoints(hub, tmp_path):
    src = _small_repo(tmp_path / "repo")
    hub.repos["someone/tiny-model"] = src
    seen = []
    folder, commit = download("someone/tiny-model", tmp_path / "dl", progress=lambda d, t: seen.append((d, t)))
    assert commit == SHA
    for name in ("config.json", "README.md", "model.safetensors"):
        assert (folder / name).read_bytes() == (src / name).read_bytes()
    assert not (folder / "modeling_evil.py").exists()
    assert seen and seen[-1][0] == sum((src / n).stat().st_size for n in ("config.json", "README.md",
                                                                            "model.safetensors"))
    assert f"GET /api/models/someone/tiny-model/tree/{SHA}" in hub.log
    assert f"GET /someone/tiny-model/resolve/{SHA}/model.safetensors" in hub.log


def test_unknown_models_and_revisions_are_named(hub, tmp_path):
    hub.repos["someone/tiny-model"] = _small_repo(tmp_path / "repo")
    with pytest.raises(ModelError, match="no such model on the hub"):
        download("someone/absent", tmp_path / "a")
    with pytest.raises(ModelError, match="no revision 'v9'"):
        download("someone/tiny-model", tmp_path / "b", revision="v9")


def test_an_unreachable_hub_names_the_folder_route_and_leaves_nothing(reg, monkeypatch):
    import socket

    from app.jobs.model_add import add_model

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(ModelError, match=r"not reachable.*huggingface-cli download someone/tiny-model --local-dir"):
        add_model("someone/tiny-model", reg)
    assert sorted(reg.user_dir.iterdir()) == []


def test_a_cancelled_download_leaves_nothing(hub, reg, tmp_path):
    from app.jobs.model_add import add_model

    hub.repos["someone/tiny-model"] = _small_repo(tmp_path / "repo")
    stages = []
    with pytest.raises(Cancelled):
        add_model("someone/tiny-model", reg, progress=lambda p: stages.append(p.stage),
                  cancelled=lambda: any(s.startswith("downloading someone/tiny-model:") for s in stages))
    assert sorted(reg.user_dir.iterdir()) == []


@pytest.mark.slow  # downloads, then exports an ALBERT checkpoint with torch
def test_a_hub_id_is_downloaded_exported_and_installed(hub, reg, tmp_path):
    pytest.importorskip("torch")
    from app.jobs.model_add import add_model
    from tests.hf_checkpoints import build_classifier

    hub.repos["someone/albert-tiny-sst2"] = build_classifier(tmp_path / "repo", "albert")
    fractions = []
    man = add_model("someone/albert-tiny-sst2", reg, revision="main", progress=lambda p: fractions.append(p.fraction))
    assert man.id == "albert-tiny-sst2" and man.task == "sentiment" and man.origin == "user"
    assert man.base_model == f"someone/albert-tiny-sst2@{SHA}" and man.license == "apache-2.0"
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert [p.name for p in reg.user_dir.iterdir()] == ["albert-tiny-sst2"]
