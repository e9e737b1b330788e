"""``zoo features fetch inception`` (zoo.metrics.fetch) against a local HTTP server: the file arrives whole,
checked, once; a damaged, truncated or missing download or no network is one line and leaves nothing.

The real host is never contacted: every test points ``$ZOO_INCEPTION_URL`` at 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import io
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

import zoo.metrics.fetch
from zoo import cli
from zoo.metrics.fetch import URL_ENV
from zoo.metrics.inception import INCEPTION_ENV, INCEPTION_WEIGHTS, inception_weights_path


def torch_file() -> bytes:
    buffer = io.BytesIO()
    torch.save({"conv.weight": torch.arange(12.0).reshape(3, 4), "fc.bias": torch.ones(5)}, buffer)
    return buffer.getvalue()


VALID = torch_file()
CORRUPTED = VALID[:100] + bytes([VALID[100] ^ 0xFF]) + VALID[101:]  # one flipped byte
NOT_WEIGHTS = b"this is not a torch file" * 10


class Server:
    """Serves ``routes`` (path -> body) on an ephemeral 127.0.0.1 port; ``/truncated`` promises more bytes than
    it sends; any other path is a 404. Counts the requests per path."""

    def __init__(self) -> None:
        self.routes = {"/valid": VALID, "/corrupted": CORRUPTED, "/not-weights": NOT_WEIGHTS}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server.requests.append(self.path)
                if self.path == "/truncated":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(VALID)))
                    self.end_headers()
                    self.wfile.write(VALID[: len(VALID) // 2])
                    self.close_connection = True
                    return
                body = server.routes.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


def closed_port() -> int:
    """A port nothing listens on: bound, then closed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The torch hub cache of this test only; the expected hash is the valid file's; no proxy, and a URL that
    refuses unless the test names one."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv(URL_ENV, f"http://127.0.0.1:{closed_port()}/never")
    monkeypatch.setattr(zoo.metrics.fetch, "INCEPTION_SHA256", hashlib.sha256(VALID).hexdigest())
    return tmp_path / "torch" / "hub" / "checkpoints"


def fetch(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    code = cli.main(["features", "fetch", "inception", *extra])
    out, err = capsys.readouterr()
    return code, " ".join(out.split()), err


def one_line(err: str) -> str:
    err = err.strip()  # a progress bar that was never drawn (no terminal) leaves a blank line
    assert "Traceback" not in err and err.startswith("error:"), err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_fetch_downloads_once_checks_and_the_extractor_finds_the_file(
    hub: Path, server: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(URL_ENV, f"{server.url}/valid")
    code, out, _ = fetch(capsys)
    assert code == 0 and f"downloaded {INCEPTION_WEIGHTS}" in out and "2 tensors load" in out
    assert (hub / INCEPTION_WEIGHTS).read_bytes() == VALID
    assert [p.name for p in hub.iterdir()] == [INCEPTION_WEIGHTS]  # no temporary, no lock file left
    assert inception_weights_path() == hub / INCEPTION_WEIGHTS  # where `zoo evaluate --feature inception` looks
    asked = len(server.requests)
    code, out, _ = fetch(capsys, "--json")
    fetched = json.loads(out)
    assert code == 0 and fetched["downloaded"] is False and fetched["path"] == str(hub / INCEPTION_WEIGHTS)
    assert fetched["sha256"] == hashlib.sha256(VALID).hexdigest() and fetched["size"] == len(VALID)
    assert len(server.requests) == asked  # already there: checked again, not downloaded again


def test_fetch_puts_the_file_where_zoo_inception_weights_points(
    hub: Path, tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "models" / "inception.pth"
    monkeypatch.setenv(INCEPTION_ENV, str(target))
    monkeypatch.setenv(URL_ENV, f"{server.url}/valid")
    assert fetch(capsys)[0] == 0
    assert target.read_bytes() == VALID and not hub.exists() and inception_weights_path() == target


@pytest.mark.parametrize(
    ("route", "needles"),
    [
        ("/corrupted", ["is not the published", "SHA-256"]),
        ("/truncated", [f"stopped after {len(VALID) // 2:,} of {len(VALID):,} bytes"]),
        ("/missing", ["HTTP 404"]),
        ("/not-weights", ["is not the FID Inception-v3 weights"]),  # the right hash (set below), but no tensors
        (None, ["Connection refused", "(offline?)"]),  # a closed port: no network
    ],
    ids=["corrupted", "truncated", "404", "not-loadable", "offline"],
)
def test_a_failed_download_is_one_line_naming_the_way_round_it_and_leaves_nothing(
    route: str | None, needles: list[str], hub: Path, server: Server, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    url = f"{server.url}{route}" if route else f"http://127.0.0.1:{closed_port()}/{INCEPTION_WEIGHTS}"
    monkeypatch.setenv(URL_ENV, url)
    if route == "/not-weights":
        monkeypatch.setattr(zoo.metrics.fetch, "INCEPTION_SHA256", hashlib.sha256(NOT_WEIGHTS).hexdigest())
    code, _, err = fetch(capsys)
    message = " ".join(one_line(err).split())
    assert code == 2
    for needle in (*needles, url, INCEPTION_WEIGHTS, "nothing was written"):
        assert needle in message, message
    if route != "/not-weights":  # the download's own failures say how to get the file by hand
        assert f"put the file in {hub}/" in message and f"${INCEPTION_ENV}" in message
    assert not hub.exists() or list(hub.iterdir()) == []  # no partial file, no temporary, no lock


def test_a_damaged_file_already_there_is_named_and_left_alone(hub: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hub.mkdir(parents=True)
    (hub / INCEPTION_WEIGHTS).write_bytes(CORRUPTED)
    code, _, err = fetch(capsys)
    assert code == 2 and "is there but is not the published" in one_line(err) and "delete it" in err
    assert (hub / INCEPTION_WEIGHTS).read_bytes() == CORRUPTED


def test_the_published_hash_matches_the_name() -> None:
    """torch.hub's convention: the hex digits after the last '-' of the name begin the file's SHA-256."""
    published = zoo.metrics.fetch.INCEPTION_SHA256  # not patched: this test takes no `hub`
    assert published.startswith(INCEPTION_WEIGHTS.rsplit("-", 1)[1].split(".")[0]) and len(published) == 64


def test_zoo_inception_weights_naming_a_folder_is_one_line(
    hub: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(INCEPTION_ENV, str(tmp_path))
    code, _, err = fetch(capsys)
    assert code == 2 and "names a folder" in one_line(err)


@pytest.mark.parametrize(
    ("words", "needle"),
    [
        (["fetch"], "needs an extractor name, e.g. `zoo features fetch inception`"),
        (["fetsh", "inception"], "did you mean 'fetch'"),
        (["fetch", "digits"], "has no weights to download"),
        (["fetch", "incepton"], "did you mean 'inception'"),
        (["fetch", "inception", "--info"], "--info does not go with fetch"),
    ],
)
def test_fetch_is_an_action_never_taken_for_an_extractor_name(
    words: list[str], needle: str, hub: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["features", *words]) == 2
    assert needle in " ".join(one_line(capsys.readouterr().err).split())
    assert not hub.exists()
