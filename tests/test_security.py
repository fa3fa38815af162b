"""A hostile visitor against `python app.py` on 127.0.0.1, over raw HTTP as an attacker would
(Gradio's queue: POST /gradio_api/queue/join, then the event stream), and in Chromium.

- Only this visitor's uploads (Gradio's upload folder) and the app's samples may be opened: a path
  from anywhere else is refused with one message, whether a file is there or not.
- A value from a link or the API never reaches a toast or the page as HTML.
- Every endpoint, fed wrong types, answers with a message that says what to send, and the server
  keeps serving.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from appserver import running_app
from PIL import Image

from fcn_demo.core.samples import list_samples

INTERNAL = "Something went wrong on our side"  # friendly()'s answer to a bug: never the answer to an input
MARK = '<b id="injected">x</b>'  # HTML that must never come back as HTML


class Attacker:
    """Gradio's queue protocol by hand: any endpoint by its id, any JSON as its data."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=120)
        config = self.http.get("/config").json()
        self.components = {c["id"]: c for c in config["components"]}
        # Every event with a server function, by api_name (private ones too: the page calls them by id).
        self.events = {d["api_name"]: d for d in config["dependencies"] if d.get("backend_fn") and d.get("api_name")}

    def upload(self, path: Path) -> dict:
        """A file uploaded the way the page and gradio_client upload it: its FileData."""
        with open(path, "rb") as f:
            (server_path,) = self.http.post("/gradio_api/upload", files={"files": (path.name, f)}).json()
        return {"path": server_path, "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}

    def call(self, api_name: str, data: list, session: str | None = None, event_data=None) -> dict:
        """One event: {"success", "output" (the data or the error), "title", "logs": [toasts]}."""
        session = session or uuid.uuid4().hex[:12]
        dep = self.events[api_name]
        body = {"data": data, "fn_index": dep["id"], "session_hash": session, "event_data": event_data,
                "trigger_id": None}  # fmt: skip
        # Sent as Python writes JSON: NaN and Infinity too, as a hand-made request may.
        joined = self.http.post("/gradio_api/queue/join", content=json.dumps(body),
                                headers={"content-type": "application/json"})  # fmt: skip
        if joined.status_code != 200:
            return {"success": False, "output": joined.text, "title": None, "logs": [], "status": joined.status_code}
        logs = []
        with self.http.stream("GET", f"/gradio_api/queue/data?session_hash={session}") as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                msg = json.loads(line[5:])
                if msg.get("msg") == "log":
                    logs.append(msg)
                if msg.get("msg") == "process_completed":
                    out = msg.get("output") or {}
                    return {"success": msg.get("success"), "output": out.get("data", out.get("error")),
                            "title": msg.get("title"), "logs": logs}  # fmt: skip
        raise AssertionError(f"{api_name}: the event stream ended without an answer")

    def defaults(self, api_name: str) -> list:
        """What the page would send for this event's inputs before anything is changed."""
        return [self.components[i]["props"].get("value") for i in self.events[api_name]["inputs"]]


@pytest.fixture(scope="module")
def site(app_checkpoints, tmp_path_factory):
    """The server, its upload folder, and a private picture beside it that no visitor may read."""
    root = tmp_path_factory.mktemp("security")
    uploads, private, tmp = root / "uploads", root / "private", root / "tmp"
    for d in (uploads, private, tmp):
        d.mkdir()
    secret = private / "secret.png"
    with Image.open(list_samples()[0].image) as im:
        im.convert("RGB").crop((0, 0, 200, 160)).save(secret)
    log = root / "app.log"
    with running_app(log, {"GRADIO_TEMP_DIR": str(uploads), "TMPDIR": str(tmp)}) as url:
        yield {"url": url, "uploads": uploads, "secret": secret, "log": log, "attacker": Attacker(url)}


def _image_inputs(attacker: Attacker) -> list[tuple[str, int, list]]:
    """(endpoint, position of its image input, the rest of its data as the page sends it)."""
    out = []
    for name in ("segment", "segment_photo", "probe"):
        data = attacker.defaults(name)
        if name == "probe":
            data[1:] = [10, 10]
        out.append((name, 0, data))
    return out


def test_a_path_from_elsewhere_is_refused_with_one_message_whether_it_exists_or_not(site):
    attacker, secret, uploads = site["attacker"], site["secret"], site["uploads"]
    missing = secret.with_name("no-such-file.png")
    inside = attacker.upload(list_samples()[1].image)  # a real upload, to climb out of
    climb = f"{Path(inside['path']).parent}/../../private"
    for target in (secret, missing):  # links in the upload folder that point outside
        (uploads / f"link-{target.name}").symlink_to(target)
    ways = {  # how to name a file: the private one, and one that is not there
        "path": lambda f: {"path": str(f)},
        "bare path": str,
        "dot-dot": lambda f: {"path": f"{climb}/{f.name}"},
        "symlink": lambda f: {"path": str(uploads / f"link-{f.name}")},
        "relative": lambda f: {"path": f"../../../../../../..{f}"},
        "file url": lambda f: {"path": f"file://{f}"},
        "marked": lambda f: {"path": str(f), "meta": {"_type": "gradio.FileData"}},  # Gradio's own check
    }
    for name, pos, data in _image_inputs(attacker):
        ours = set()
        for way, naming in ways.items():
            said = []
            for target in (secret, missing):
                sent = list(data)
                sent[pos] = naming(target)
                got = attacker.call(name, sent)
                assert got["success"] is False, f"{name} opened the file named by {way}: {str(got['output'])[:300]}"
                # Gradio's own refusals repeat what was sent (cut short): that says nothing of the file.
                said.append(re.sub(r"input_value=.*?, input_type|Cannot move \S+", "...", got["output"]))
            assert said[0] == said[1], f"{name}, {way}: the messages tell a file from no file: {said}"
            if "validation error" not in said[0] and "Cannot move" not in got["output"]:
                ours.add(said[0])
        assert len(ours) == 1, f"{name}: more than one refusal: {ours}"
        message = ours.pop()
        assert not any(w in message for w in (secret.name, missing.name, str(secret.parent))), message
    # What is allowed still works: this visitor's upload, and a sample.
    assert attacker.call("segment", [inside])["success"] is True
    assert attacker.call("segment", [{"path": str(list_samples()[2].image)}])["success"] is True


def test_a_link_cannot_put_html_in_a_toast(site):
    attacker = site["attacker"]
    evil = '<img src="http://127.0.0.1:9/leak.png"><form><input type=password></form><b style="font-size:90px">x</b>'
    got = attacker.call("restore", [f"?sample={quote(evil)}&tab=maps", "en"])
    assert got["success"] is True
    toasts = [m["log"] for m in got["logs"]]
    assert toasts, "the unknown sample is not reported"
    for toast in toasts:
        assert "<" not in toast and ">" not in toast, toast
        assert "&lt;img" in toast  # shown as the text it is


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.hits.append(self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.mark.slow
def test_a_link_cannot_put_html_in_the_page(site):
    """In Chromium: the toast shows the link's text as text, and nothing it names is fetched."""
    sync_api = pytest.importorskip("playwright.sync_api")
    from browser import ARGS, CHROMIUM

    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed")
    spy = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=spy.serve_forever, daemon=True).start()
    leak = f"http://127.0.0.1:{spy.server_address[1]}/leak.png"
    evil = f'<img src="{leak}"><b id="injected">bold</b>'
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.goto(f"{site['url']}/?sample={quote(evil)}")
            toast = page.locator(".toast-body").first
            toast.wait_for(timeout=60_000)
            shown = toast.inner_text()
            injected = page.locator("#injected").count() + page.locator(f'img[src="{leak}"]').count()
            browser.close()
    finally:
        spy.shutdown()
    assert evil in shown, shown  # the link's text, as text
    assert injected == 0 and not _Recorder.hits


BAD = {
    "None": None,
    "number": 42,
    "huge number": -1e308,
    "huge string": "x" * 200_000,
    "dict": {"a": 1},
    "list": [1, [2]],
    "bool": True,
    "path": {"path": "/etc/passwd"},
    "nul": {"path": "a\x00b"},
    "url": {"url": "http://127.0.0.1:9/x.png"},
    "data url": {"url": "data:image/png;base64,%%%"},
    "html": MARK,
}


def _wrong_answers(attacker: Attacker, name: str, dep: dict, good: dict) -> list[str]:
    """Every answer of endpoint ``name`` to the BAD values that is not a clear refusal or a sane result."""
    session = uuid.uuid4().hex[:12]
    base = attacker.defaults(name)
    for i, comp in enumerate(dep["inputs"]):
        if attacker.components[comp]["type"] == "image":
            base[i] = good
    if name == "probe":
        base[1:] = [10, 10]
    cases = [("all", label, [bad] * len(base)) for label, bad in BAD.items()]
    # One bad input among good ones: each input gets a third of the values, in turn, so that every
    # value meets every third input (all of them meet every input at once, above).
    values = list(BAD.items())
    cases += [(f"input {i}", label, base[:i] + [bad] + base[i + 1 :])
              for i in range(len(base)) for label, bad in values[i % 3 :: 3]]  # fmt: skip
    wrong = []
    for where, label, data in cases:
        got = attacker.call(name, data, session)
        out, case = got["output"], f"{name} ({where} = {label})"
        # A refusal must say what to do: not empty, not the answer to a bug, not a traceback.
        if got["success"] is False and not (isinstance(out, str) and out.strip()):
            wrong.append(f"{case}: no message: {out!r}")
        elif got["success"] is False and (INTERNAL in out or "Traceback" in out):
            wrong.append(f"{case}: {out[:200]}")
        if any("<" in m["log"] for m in got["logs"]):
            wrong.append(f"{case}: HTML in a toast: {got['logs']}")
        if got["success"] and MARK in json.dumps(out):
            wrong.append(f"{case}: the input came back as HTML")
    return wrong


def families(events: dict) -> dict:
    """One event of each server function, the one with the most inputs: Gradio names a function's
    further events after it with a number ("ensure_3"), and the lesson's check and reveal of each step
    are one factory's ("lesson_check_field"); those run the same code on the same kinds of input."""
    of = {}
    for name, dep in events.items():
        family = re.sub(r"^(lesson_(check|reveal))_\w+$", r"\1", re.sub(r"_\d+$", "", name))
        if family not in of or len(dep["inputs"]) > len(of[family][1]["inputs"]):
            of[family] = (name, dep)
    return dict(of.values())


def test_every_endpoint_answers_wrong_types_with_a_message_and_keeps_serving(site):
    attacker, log = site["attacker"], site["log"]
    good = attacker.upload(list_samples()[3].image)
    chosen = families(attacker.events)
    assert {"segment", "probe", "lesson_check_yourturn", "lesson_reveal_yourturn", "ensure"} <= set(chosen), chosen
    # The endpoints side by side, each in a session of its own, as several visitors would send them.
    with ThreadPoolExecutor(4) as pool:
        answers = pool.map(lambda item: _wrong_answers(attacker, *item, good), chosen.items())
        wrong = [w for ws in answers for w in ws]  # listed together
    assert not wrong, "\n".join(wrong)
    # The server is still serving, and nothing above was a bug (friendly() logs those).
    assert attacker.call("segment", [good])["success"] is True
    assert not re.search(r"handler \w+ failed", log.read_text())  # friendly() logs a bug so


def test_forged_click_data_is_refused_with_a_message(site):
    """The page sends where a click landed (event data); an attacker sends anything."""
    attacker = site["attacker"]
    session = uuid.uuid4().hex[:12]
    good = attacker.upload(list_samples()[4].image)
    data = attacker.defaults("segment_photo")
    data[0] = good
    assert attacker.call("segment_photo", data, session)["success"] is True
    forged = [None, {}, {"index": "x"}, {"index": [1e308, 5]}, {"index": [-3, 5]}, {"index": [5]},
              {"index": [True, False]}, {"index": {"a": 1}}, {"index": [float("nan"), 1]}]  # fmt: skip
    for event_data in forged:
        got = attacker.call("probe_click", [None, None], session, event_data)
        out = got["output"]
        assert got["success"] is False and isinstance(out, str) and INTERNAL not in out, (event_data, out)
    for event_data in forged[:3] + [{"index": 10_000}, {"index": -1}, {"index": "0"}]:
        attacker.call("choose", [], session, event_data)
        got = attacker.call("pick", attacker.defaults("pick"), session)
        assert got["success"] is False and INTERNAL not in got["output"], (event_data, got["output"])
    assert attacker.call("probe_click", [None, None], session, {"index": [10, 10], "value": None})["success"]
