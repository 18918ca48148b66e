"""`mvo lineage --format html` opened in a real headless Chromium: every node is in the
rendered DOM and painted on the screenshot (kept in test-artifacts/)."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from mv_orchestration.cli import main
from mv_orchestration.lineage.render import _COLOURS
from mv_orchestration.registry import connect
from tests.core.lineage_helpers import model_files, write_table

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
WIDTH, HEIGHT = 1100, 700


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI") == "true":
        pytest.fail("Chromium is required in CI (apt-get install -y chromium)")
    pytest.skip("Chromium not installed")


def decode_png(data: bytes) -> tuple[int, int, int, bytes]:
    """Width, height, channels and raw 8-bit pixels of an RGB/RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    out = bytearray(height * stride)
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 0xFF
        out[y * stride : (y + 1) * stride] = line
        previous = line
    return width, height, channels, bytes(out)


def pixels_of(colour: str, channels: int, pixels: bytes) -> int:
    rgb = bytes.fromhex(colour.lstrip("#"))
    pattern = rgb + (b"\xff" if channels == 4 else b"")
    return pixels.count(pattern)


def test_html_lineage_renders_every_node_in_chromium(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    browser = chromium()
    db, store = f"sqlite:///{tmp_path / 'reg.db'}", (tmp_path / "store").as_uri()
    registry = connect(db, store)
    try:
        table = write_table(tmp_path / "train.parquet", 12)
        with registry.run("churn", seed=1) as run:
            run.log_params({"lr": 0.1})
            run.log_dataset("train", table)
            parent = run.register_model(model_files(tmp_path / "m1", "one"))
        with registry.run("churn", seed=2) as run:
            run.log_params({"lr": 0.2})
            run.log_dataset("train", table)
            child = run.register_model(model_files(tmp_path / "m2", "two"), parent=parent)
        graph = registry.lineage(child.ref)
    finally:
        registry.close()
    page = tmp_path / "lineage.html"
    assert (
        main(
            [
                "--registry",
                db,
                "--store",
                store,
                "lineage",
                child.ref,
                "--format",
                "html",
                "--out",
                str(page),
            ]
        )
        == 0
    )
    capsys.readouterr()

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "lineage-html.png"
    shot.unlink(missing_ok=True)
    result = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            f"--window-size={WIDTH},{HEIGHT}",
            f"--screenshot={shot}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]

    dom = result.stdout
    rendered = set(re.findall(r'<g class="node" data-id="([^"]+)"', dom))
    assert rendered == set(graph.nodes) and len(rendered) >= 5
    kinds = {node.kind for node in graph.nodes.values()}
    assert {"version", "dataset", "config", "run"} <= kinds
    assert dom.count('<g class="edge">') == len(graph.edges)

    width, height, channels, pixels = decode_png(shot.read_bytes())
    assert (width, height) == (WIDTH, HEIGHT)
    assert len(set(pixels[i : i + channels] for i in range(0, len(pixels), channels * 97))) > 3
    box = 200 * 30  # most of one node's fill
    for kind in kinds & set(_COLOURS):
        nodes_of_kind = sum(1 for n in graph.nodes.values() if n.kind == kind)
        assert pixels_of(_COLOURS[kind], channels, pixels) >= box * nodes_of_kind, kind
