"""A real VS Code (code-server 4.100.3, VS Code 1.100.3) in headless Chromium, with the layercfg
extension installed from its .vsix, and what a user sees in it: squiggles and Problems entries,
hover documentation, a completion and a quick fix applied and saved, the deep check's findings,
and the extension's commands run from the command palette.

Everything is read from the DOM and the extension's log. One code-server and one browser serve
the whole module; each test works on its own file of the workspace. The extension runs its
bundled server with a venv's Python that has Keras and neither layercfg nor pygls
(`layercfg.python`, in the Remote settings, where a remote window such as code-server reads a
machine setting), and loads the catalog that the `plain_catalog` fixture built, copied into a
private cache, so it never builds one itself, except when a test asks it to.

`install_code_server.sh` (next to this file) installs code-server and Chromium. Without them
the tests skip, saying why, or fail when `CI` is set. On a failure, a screenshot and the logs
go to `tests/vscode/artifacts/<test>/` (or `$LAYERCFG_VSCODE_ARTIFACTS`) and the path is
printed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.vscode

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
EXTENSION = ROOT / "editors" / "vscode"
CODE_SERVER_VERSION = "4.100.3"
CODE_SERVER_DIR = Path(
    os.environ.get("LAYERCFG_CODE_SERVER_DIR", Path.home() / ".cache" / "layercfg-code-server")
)
CHROMIUM = os.environ.get("LAYERCFG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("LAYERCFG_VSCODE_ARTIFACTS", HERE / "artifacts"))

# Mistakes the fast checks find: a value that is not among the allowed ones, a typo'd key.
BROKEN = """\
{
  "module": "keras",
  "class_name": "Sequential",
  "config": {
    "name": "classifier",
    "layers": [
      {"module": "keras.layers", "class_name": "InputLayer",
       "config": {"batch_shape": [null, 28, 28, 1], "name": "image"}, "registered_name": null},
      {"module": "keras.layers", "class_name": "Conv2D",
       "config": {"name": "conv", "filters": 8, "kernel_size": [3, 3], "padding": "sme"},
       "registered_name": null},
      {"module": "keras.layers", "class_name": "Flatten", "config": {"name": "flat"},
       "registered_name": null},
      {"module": "keras.layers", "class_name": "Dense",
       "config": {"name": "head", "unitz": 10}, "registered_name": null}
    ]
  },
  "registered_name": null
}
"""

# The user has typed a comma and a new line (indented by the editor) and asks for completion
# there, at the end of line 7.
COMPLETE = """\
{
  "module": "keras.layers",
  "class_name": "Dense",
  "config": {
    "name": "head",
    "activation": "relu",
    <cursor>
  },
  "registered_name": null
}
""".replace("<cursor>", "")

TYPO = """\
{
  "module": "keras.layers",
  "class_name": "Dense",
  "config": {
    "unitz": 64,
    "activation": "relu"
  },
  "registered_name": null
}
"""

# Valid for the schema; only building it shows that the Dense layer, built for inputs of 32
# features, gets the Conv2D's (None, 26, 26, 4).
SHAPES = """\
{
  "module": "keras",
  "class_name": "Sequential",
  "config": {
    "name": "shapes",
    "layers": [
      {"module": "keras.layers", "class_name": "InputLayer",
       "config": {"batch_shape": [null, 28, 28, 1], "name": "image"}, "registered_name": null},
      {"module": "keras.layers", "class_name": "Conv2D",
       "config": {"name": "conv", "filters": 4, "kernel_size": [3, 3]}, "registered_name": null,
       "build_config": {"input_shape": [null, 28, 28, 1]}},
      {"module": "keras.layers", "class_name": "Dense",
       "config": {"name": "head", "units": 10}, "registered_name": null,
       "build_config": {"input_shape": [null, 32]}}
    ]
  },
  "registered_name": null,
  "build_config": {"input_shape": [null, 28, 28, 1]}
}
"""

# A custom layer of the workspace, and a document that gives it an argument it does not have
# yet; the test adds the argument to the Python file on disk.
MYLAYERS = """\
import keras


class Scale(keras.layers.Layer):
    \"\"\"Multiplies its input by a factor.\"\"\"

    def __init__(self, factor=1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs):
        return inputs * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}
"""

MYLAYERS_WITH_OFFSET = (
    MYLAYERS.replace("factor=1.0, **kwargs", "factor=1.0, offset=0.0, **kwargs")
    .replace("self.factor = factor\n", "self.factor = factor\n        self.offset = offset\n")
    .replace('"factor": self.factor}', '"factor": self.factor, "offset": self.offset}')
)

CUSTOM = """\
{
  "module": "mylayers",
  "class_name": "Scale",
  "config": {"name": "scale", "factor": 2.0, "offset": 1.0},
  "registered_name": "Scale"
}
"""

FILES = {
    "broken.layercfg.json": BROKEN,
    "custom.layercfg.json": CUSTOM,
    "complete.layercfg.json": COMPLETE,
    "typo.layercfg.json": TYPO,
    "shapes.layercfg.json": SHAPES,
}

SETTINGS = {
    "security.workspace.trust.enabled": False,
    "workbench.startupEditor": "none",
    "workbench.editor.enablePreview": False,
    "workbench.tips.enabled": False,
    "workbench.enableExperiments": False,
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "extensions.autoCheckUpdates": False,
    "extensions.autoUpdate": False,
    "extensions.ignoreRecommendations": True,
    "git.enabled": False,
    "files.autoSave": "off",
    "files.hotExit": "off",
    # A slow shared machine must not turn a deep check into a timeout finding.
    "layercfg.deepCheckTimeout": 120,
    # The DOM renderer: the terminal's text can be read.
    "terminal.integrated.gpuAcceleration": "off",
}


def unavailable(reason: str) -> None:
    """Skips, or fails when CI is set: CI must run this test, not skip it quietly."""
    if os.environ.get("CI"):
        pytest.fail(f"real VS Code test cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def position(text: str, token: str, occurrence: int = 0) -> tuple[int, int]:
    """1-based line and column of `token` in `text`, as the Problems view shows them."""
    index = -1
    for _ in range(occurrence + 1):
        index = text.index(token, index + 1)
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def wait_until(what: str, probe: Callable[[], Any], timeout: float, every: float = 0.25) -> Any:
    """The first truthy value of `probe()`, or a failure naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(
                f"timed out after {timeout:g} s waiting for {what}; last seen: {last!r}",
                pytrace=False,
            )
        time.sleep(every)


# -- code-server and the extension ------------------------------------------------------------


@dataclass
class CodeServer:
    url: str
    workspace: Path
    user_data: Path
    log: Path
    catalog: dict  # what the server loads: the session's plain catalog
    python: str  # layercfg.python: Keras, no layercfg

    @property
    def user_settings(self) -> Path:
        return self.user_data / "User" / "settings.json"

    @property
    def remote_settings(self) -> Path:
        """The Remote settings of code-server's window ("Machine" on the server's side)."""
        return self.user_data / "Machine" / "settings.json"

    def change_settings(self, file: Path, **changes: Any) -> None:
        """Sets (or, with None, removes) settings in a settings file, as an edit on disk."""
        values = json.loads(file.read_text()) if file.exists() else {}
        for key, value in changes.items():
            key = key.replace("__", ".")
            if value is None:
                values.pop(key, None)
            else:
                values[key] = value
        file.write_text(json.dumps(values, indent=2))

    def extension_log(self) -> str:
        """The layercfg output channel, as the extension host wrote it."""
        logs = sorted(self.user_data.glob("logs/*/exthost*/layercfg.layercfg/*.log"))
        return "\n".join(log.read_text(errors="replace") for log in logs)


def _browser_available() -> None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable("the playwright package is not installed (pip install playwright)")
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(
            f"{CHROMIUM} not found (apt-get install chromium, "
            f"or run tests/vscode/install_code_server.sh)"
        )


def _code_server_entry() -> Path:
    home = CODE_SERVER_DIR / CODE_SERVER_VERSION
    entry = home / "out" / "node" / "entry.js"
    if not (home / ".layercfg-installed").exists() or not entry.exists():
        unavailable(
            f"code-server {CODE_SERVER_VERSION} is not installed in {home}; "
            f"run tests/vscode/install_code_server.sh"
        )
    if shutil.which("node") is None:
        unavailable("node is not on PATH (code-server needs Node 20)")
    return entry


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _build_vsix(folder: Path) -> Path:
    """The extension as users install it: `vsce package` of editors/vscode."""
    given = os.environ.get("LAYERCFG_VSIX")
    if given:
        return Path(given)
    if shutil.which("npm") is None:
        unavailable("npm is not on PATH; it builds the extension's .vsix")
    vsix = folder / "layercfg.vsix"

    def npm(*args: str) -> None:
        done = subprocess.run(
            ["npm", *args], cwd=EXTENSION, capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            pytest.fail(
                f"npm {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}",
                pytrace=False,
            )

    if not (EXTENSION / "node_modules" / ".bin" / "vsce").exists():
        npm("ci", "--no-audit", "--no-fund")
    # vsce runs the vscode:prepublish script (the TypeScript build) first.
    npm("exec", "--no", "--", "vsce", "package", "--out", str(vsix))
    return vsix


def _code_server_command(entry: Path, base: Path, *args: str) -> list[str]:
    return [
        "node",
        str(entry),
        "--config",
        str(base / "config.yaml"),
        "--user-data-dir",
        str(base / "user-data"),
        "--extensions-dir",
        str(base / "extensions"),
        *args,
    ]


def _environment(base: Path, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VSCODE_", "ELECTRON_"))}
    env.update(
        {
            "LAYERCFG_CACHE_DIR": str(cache),
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "XDG_CONFIG_HOME": str(base / "xdg-config"),
            "XDG_DATA_HOME": str(base / "xdg-data"),
        }
    )
    return env


@pytest.fixture(scope="module")
def code_server(tmp_path_factory, request: pytest.FixtureRequest) -> Iterator[CodeServer]:
    entry = _code_server_entry()
    _browser_available()
    # Only now the catalog: a skip should not wait for it to be built.
    catalog: dict = request.getfixturevalue("plain_catalog")
    cache_dir: Path = request.getfixturevalue("cache_dir")
    python: str = request.getfixturevalue("keras_python")
    base = tmp_path_factory.mktemp("vscode")
    started = time.monotonic()
    vsix = _build_vsix(base)
    print(f"vscode: extension packaged in {time.monotonic() - started:.1f} s")

    # The catalog of this session, in a cache of code-server's own: a rebuild stays there.
    cache = base / "catalog-cache"
    shutil.copytree(cache_dir, cache)
    env = _environment(base, cache)

    installed = subprocess.run(
        _code_server_command(entry, base, "--install-extension", str(vsix), "--force"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if installed.returncode != 0 or "successfully installed" not in installed.stdout:
        pytest.fail(
            f"installing the .vsix failed:\n{installed.stdout}\n{installed.stderr}", pytrace=False
        )

    user = base / "user-data" / "User"
    user.mkdir(parents=True, exist_ok=True)
    (user / "settings.json").write_text(json.dumps(SETTINGS, indent=2))
    # A machine setting: in a remote window VS Code reads it from the Remote settings.
    machine = base / "user-data" / "Machine"
    machine.mkdir(parents=True, exist_ok=True)
    (machine / "settings.json").write_text(json.dumps({"layercfg.python": python}, indent=2))

    workspace = base / "workspace"
    workspace.mkdir()
    for name, text in FILES.items():
        (workspace / name).write_text(text)
    (workspace / "mylayers.py").write_text(MYLAYERS)

    port = _free_port()
    log = base / "code-server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            _code_server_command(
                entry,
                base,
                "--bind-addr",
                f"127.0.0.1:{port}",
                "--auth",
                "none",
                "--disable-telemetry",
                "--disable-update-check",
                "--disable-workspace-trust",
                "--ignore-last-opened",
                str(workspace),
            ),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if process.poll() is not None:
            pytest.fail(
                f"code-server exited ({process.returncode}):\n{log.read_text()}", pytrace=False
            )
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:
                return answer.status == 200
        except (urllib.error.URLError, OSError):
            return False

    try:
        wait_until("code-server to answer /healthz", healthy, timeout=60)
        print(f"vscode: code-server up {time.monotonic() - started:.1f} s after the start")
        yield CodeServer(
            url=url,
            workspace=workspace,
            user_data=base / "user-data",
            log=log,
            catalog=catalog,
            python=python,
        )
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    """Ends code-server's process group: code-server, its extension host and the server."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=5)


# -- the browser and the workbench ------------------------------------------------------------


@dataclass
class Problem:
    file: str
    message: str
    source: str
    code: str
    line: int
    column: int


class Workbench:
    """The VS Code page, driven by the keyboard and mouse as a user would."""

    def __init__(self, page: Any, server: CodeServer):
        self.page = page
        self.server = server

    # Files and editors.
    def open(self, name: str) -> None:
        """Quick Open (Ctrl+P), the file's name, Enter; returns once its editor is active."""
        self.page.keyboard.press("Escape")  # whatever a failed test left open
        self.quick_input("Control+P", name)
        self.choose(".quick-input-widget", name, navigate=False)
        self.editor(name).wait_for()
        self.page.locator(".tabs-container .tab.active", has_text=name).wait_for()

    def editor(self, name: str) -> Any:
        return self.page.locator(f'.editor-instance .monaco-editor[data-uri$="/{name}"]')

    def quick_input(self, keys: str, text: str) -> None:
        self.page.keyboard.press(keys)
        box = self.page.locator(".quick-input-widget input.input")
        box.wait_for()
        wait_until(
            "the quick input to take the focus",
            lambda: box.evaluate("e => e === document.activeElement"),
            timeout=10,
        )
        self.page.keyboard.type(text)

    def go_to(self, line: int, column: int) -> None:
        """Go to Line/Column (Ctrl+G)."""
        self.quick_input("Control+G", f"{line}:{column}")
        self.page.keyboard.press("Enter")
        self.page.locator(".quick-input-widget").wait_for(state="hidden")
        where = f"Ln {line}, Col {column}"
        wait_until(
            f"the cursor at {where}",
            lambda: where in self.status_text("status.editor.selection"),
            timeout=10,
        )

    def save(self, name: str) -> None:
        self.page.keyboard.press("Control+S")
        dirty = self.page.locator(".tabs-container .tab.dirty", has_text=name)
        wait_until(f"{name} saved", lambda: dirty.count() == 0, timeout=15)

    def choose(self, widget: str, label: str, navigate: bool = True) -> None:
        """Accepts with Enter the row of a list widget (quick input, suggestions, code actions)
        whose aria-label starts with `label`, once it has the focus: moved there with the arrow
        keys when `navigate`, else waited for (a list still filtering what was typed)."""
        rows = self.page.locator(f"{widget} .monaco-list-row")
        focused = self.page.locator(f"{widget} .monaco-list-row.focused").first
        self.page.locator(f'{widget} .monaco-list-row[aria-label^="{label}"]').first.wait_for()
        deadline = time.monotonic() + 20
        moves = rows.count() + 1 if navigate else 0

        def on_label() -> bool:
            return bool(focused.count()) and (focused.get_attribute("aria-label") or "").startswith(
                label
            )

        while not on_label():
            if time.monotonic() > deadline:
                shown = rows.evaluate_all(
                    "rows => rows.map(r => (r.classList.contains('focused')"
                    " ? '> ' : '  ') + r.getAttribute('aria-label'))"
                )
                pytest.fail(
                    f"the row {label!r} never had the focus in {widget}: {shown}", pytrace=False
                )
            if moves:
                moves -= 1
                self.page.keyboard.press("ArrowDown")
            else:
                time.sleep(0.1)
        self.page.keyboard.press("Enter")
        self.page.locator(widget).wait_for(state="hidden")

    def token(self, text: str) -> Any:
        """The rendered token whose text is exactly `text`."""
        return (
            self.page.locator(".view-lines .view-line span span")
            .filter(has_text=re.compile(f"^{re.escape(text)}$"))
            .first
        )

    # The palette, the status bar, notifications.
    def run_command(self, title: str) -> None:
        self.quick_input("Control+Shift+P", title)
        self.choose(".quick-input-widget", title, navigate=False)

    def status_text(self, item_id: str) -> str:
        item = self.page.locator(f'[id="{item_id}"]')
        return item.inner_text() if item.count() else ""

    def layercfg_status(self) -> str:
        return self.status_text("layercfg.layercfg.layercfg.status")

    def notifications(self) -> list[str]:
        """The notification toasts on screen, one string each."""
        return [
            " ".join(text.split())
            for text in self.page.locator(
                ".notifications-toasts .notification-toast"
            ).all_inner_texts()
        ]

    def layercfg_errors(self) -> list[str]:
        return [text for text in self.notifications() if "layercfg" in text.lower()]

    # The Problems view.
    def show_problems(self) -> None:
        if not self.page.locator(".markers-panel").is_visible():
            self.page.keyboard.press("Control+Shift+M")
            self.page.locator(".markers-panel").wait_for()

    def problems(self, name: str | None = None) -> list[Problem]:
        self.show_problems()
        rows = self.page.locator(".markers-panel .monaco-list-row").evaluate_all(
            "rows => rows.map(r => [r.getAttribute('aria-label') || '', r.innerText])"
        )
        found, current = [], ""
        for label, text in rows:
            heading = re.match(r"\d+ problems? in file (.+?) of folder", label)
            if heading:
                current = heading.group(1)
                continue
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            where = re.fullmatch(r"\[Ln (\d+), Col (\d+)\]", lines[-1]) if lines else None
            codes = [i for i, line in enumerate(lines) if re.fullmatch(r"LCF\d{3}", line)]
            if where and codes:
                i = codes[0]
                found.append(
                    Problem(
                        current,
                        " ".join(lines[: i - 1]),
                        lines[i - 1],
                        lines[i],
                        int(where.group(1)),
                        int(where.group(2)),
                    )
                )
        return [p for p in found if name is None or p.file == name]

    def codes(self, name: str) -> set[str]:
        return {p.code for p in self.problems(name)}


@pytest.fixture(scope="module")
def browser(code_server: CodeServer, tmp_path_factory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1400, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def workbench(browser: Any, code_server: CodeServer) -> Workbench:
    page = browser.pages[0] if browser.pages else browser.new_page()
    page.set_default_timeout(30_000)
    started = time.monotonic()
    page.goto(f"{code_server.url}/?folder={code_server.workspace}")
    page.locator(".monaco-workbench").wait_for(timeout=90_000)
    page.locator(".explorer-folders-view .monaco-list-row").first.wait_for(timeout=90_000)
    print(f"vscode: workbench ready in {time.monotonic() - started:.1f} s")
    bench = Workbench(page, code_server)
    bench.show_problems()
    return bench


@pytest.fixture(autouse=True)
def artifacts_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """On a failure: a screenshot, the notifications and the logs, kept for the reader."""
    folder = ARTIFACTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)  # an earlier run's, now out of date
    yield
    report = getattr(request.node, "report_call", None)
    if report is None or not report.failed or "workbench" not in request.fixturenames:
        return
    bench: Workbench = request.getfixturevalue("workbench")
    folder.mkdir(parents=True)
    try:
        bench.page.screenshot(path=str(folder / "screenshot.png"))
        (folder / "notifications.txt").write_text("\n".join(bench.notifications()) + "\n")
    except Exception as exc:  # the page may be gone; the logs still help
        (folder / "screenshot-failed.txt").write_text(f"{exc}\n")
    shutil.copy(bench.server.log, folder / "code-server.log")
    (folder / "layercfg-extension.log").write_text(bench.server.extension_log())
    for log in bench.server.user_data.glob("logs/*/exthost*/layercfg.layercfg/*.log"):
        shutil.copy(log, folder / f"{log.parent.parent.name}-{log.name}")
    print(f"vscode: artifacts of {request.node.name} in {folder}")


# -- the tests --------------------------------------------------------------------------------


def test_fast_findings_are_squiggles_and_problems_at_the_mistakes(workbench: Workbench):
    name = "broken.layercfg.json"
    workbench.open(name)
    expected = {"LCF105": position(BROKEN, '"sme"'), "LCF102": position(BROKEN, '"unitz"')}
    problems = wait_until(
        "LCF102 and LCF105 in Problems",
        lambda: (
            (found := workbench.problems(name))
            and set(expected) <= {p.code for p in found}
            and found
        ),
        timeout=120,
    )
    for code, (line, column) in expected.items():
        (problem,) = [p for p in problems if p.code == code]
        assert (problem.source, problem.line, problem.column) == ("layercfg", line, column), problem
    assert "'sme'" in next(p.message for p in problems if p.code == "LCF105")
    squiggles = workbench.editor(name).locator(".squiggly-error")
    assert squiggles.count() >= len(expected)


def test_hover_on_a_key_shows_the_keras_documentation(workbench: Workbench):
    workbench.open("broken.layercfg.json")
    (conv,) = [c for c in workbench.server.catalog["classes"] if c["id"] == "keras.layers.Conv2D"]
    description = " ".join(conv["params"]["filters"]["description"].replace("`", "").split())
    workbench.token('"filters"').hover()
    hover = workbench.page.locator(".monaco-hover:not(.hidden) .hover-contents")
    text = wait_until(
        "a hover with text", lambda: " ".join(" ".join(hover.all_inner_texts()).split()), timeout=30
    )
    assert "filters" in text
    assert description[:60] in text, text
    workbench.page.mouse.move(5, 5)


def test_an_accepted_completion_leaves_valid_json(workbench: Workbench):
    name = "complete.layercfg.json"
    workbench.open(name)
    wait_until(
        "the trailing comma reported (LCF001 or LCF002)",
        lambda: workbench.codes(name) & {"LCF001", "LCF002"},
        timeout=60,
    )
    workbench.go_to(COMPLETE.splitlines().index("    ") + 1, 5)
    workbench.page.keyboard.press("Control+Space")
    workbench.choose(".suggest-widget", "units,")
    workbench.page.keyboard.press("Escape")  # leave the snippet's placeholder
    workbench.save(name)
    path = workbench.server.workspace / name
    saved = wait_until(
        "the completion saved",
        lambda: path.read_text() != COMPLETE and path.read_text(),
        timeout=15,
    )
    document = json.loads(saved)  # no LCF001: the file is JSON
    assert isinstance(document["config"]["units"], int), saved
    wait_until(
        "LCF001, LCF002 and LCF103 gone from Problems",
        lambda: not workbench.codes(name) & {"LCF001", "LCF002", "LCF103"},
        timeout=30,
    )


def test_the_did_you_mean_quick_fix_changes_the_file(workbench: Workbench):
    name = "typo.layercfg.json"
    workbench.open(name)
    wait_until("LCF102 in Problems", lambda: "LCF102" in workbench.codes(name), timeout=60)
    line, column = position(TYPO, '"unitz"')
    workbench.go_to(line, column + 1)
    workbench.page.keyboard.press("Control+.")
    workbench.choose(".action-widget", "Change to 'units'")
    workbench.save(name)
    path = workbench.server.workspace / name
    saved = wait_until(
        "the fix saved", lambda: path.read_text() != TYPO and path.read_text(), timeout=15
    )
    assert json.loads(saved)["config"] == {"units": 64, "activation": "relu"}
    assert saved == TYPO.replace('"unitz"', '"units"')  # nothing else touched
    wait_until(
        "LCF102 gone from Problems", lambda: "LCF102" not in workbench.codes(name), timeout=30
    )


def test_a_deep_check_finding_appears_in_problems(workbench: Workbench):
    name = "shapes.layercfg.json"
    workbench.open(name)
    problems = wait_until(
        "LCF302 from the deep check in Problems",
        lambda: [p for p in workbench.problems(name) if p.code == "LCF302"],
        timeout=120,
    )
    (shape,) = problems
    assert shape.source == "keras"
    assert "'head'" in shape.message and "(None, 26, 26, 4)" in shape.message, shape
    dense_first, _ = position(SHAPES, '"class_name": "Dense"')
    assert dense_first <= shape.line <= dense_first + 2, shape


def test_show_the_generated_json_schema_opens_it_without_an_error(workbench: Workbench):
    workbench.open("typo.layercfg.json")
    before = set(workbench.layercfg_errors())
    workbench.run_command("layercfg: Show the Generated JSON Schema")
    schema = workbench.page.locator('.editor-instance .monaco-editor[data-uri^="untitled:"]')

    def outcome() -> str | None:
        errors = set(workbench.layercfg_errors()) - before
        if errors:
            return f"error notification: {sorted(errors)}"
        if schema.count() and "2020-12" in schema.first.locator(".view-lines").inner_text():
            return "opened"
        return None

    assert wait_until("the schema editor or an error", outcome, timeout=60) == "opened"
    time.sleep(1)  # an error shown right after the editor opened counts too
    assert set(workbench.layercfg_errors()) - before == set()


def test_rebuild_the_keras_catalog_runs_without_an_error(workbench: Workbench):
    workbench.open("typo.layercfg.json")
    before = set(workbench.layercfg_errors())
    seen: list[str] = []
    workbench.run_command("layercfg: Rebuild the Keras Catalog")

    def outcome() -> str | None:
        errors = set(workbench.layercfg_errors()) - before
        if errors:
            return f"error notification: {sorted(errors)}"
        status = " ".join(workbench.layercfg_status().split())
        if not seen or seen[-1] != status:
            seen.append(status)
        building = any("building catalog" in s for s in seen)
        if building and status.startswith("layercfg: Keras "):
            return "rebuilt"
        return None

    result = wait_until("the catalog rebuilt (status bar) or an error", outcome, timeout=240)
    assert result == "rebuilt", f"{result}; status bar seen: {seen}"
    assert set(workbench.layercfg_errors()) - before == set()


# -- the extension's own behaviour: status, settings, restarts, install help -----------------


def toast(workbench: Workbench, text: str) -> Any:
    return workbench.page.locator(".notifications-toasts .notification-toast", has_text=text)


def wait_running(workbench: Workbench, timeout: float = 180) -> str:
    return wait_until(
        "the status item to show the catalog's Keras",
        lambda: (
            (s := " ".join(workbench.layercfg_status().split())).startswith("layercfg: Keras ")
            and s
        ),
        timeout=timeout,
    )


def interpreter_lines(log: str) -> list[str]:
    return re.findall(r"Interpreter \((\w+)\): (\S+); server: (\w+)", log)


def test_the_status_item_names_keras_and_its_flavor_and_offers_the_checks(
    workbench: Workbench,
):
    workbench.open("typo.layercfg.json")
    keras = workbench.server.catalog["keras_version"]
    expected = f"layercfg: Keras {keras} (keras) · bundled"
    wait_until(  # once the first deep check, whose spinner follows, is over
        f"the status item to say {expected!r}",
        lambda: " ".join(workbench.layercfg_status().split()) == expected or None,
        timeout=180,
    )
    # The bundled server, run by the venv's Python that has Keras and no layercfg.
    python = workbench.server.python
    assert interpreter_lines(workbench.server.extension_log())[-1] == ("setting", python, "bundled")
    workbench.page.locator('[id="layercfg.layercfg.layercfg.status"]').click()
    rows = workbench.page.locator(".quick-input-widget .monaco-list-row")
    rows.first.wait_for()
    labels = [" ".join(t.split()) for t in rows.all_inner_texts()]
    workbench.page.keyboard.press("Escape")
    assert any("Run deep check on this file" in label for label in labels), labels
    assert any("Rebuild the Keras catalog" in label for label in labels), labels


def test_a_settings_ui_change_keeps_the_remote_python_setting(workbench: Workbench):
    # Issue 13, defect 4: layercfg.python, a machine setting, was lost after a change in the
    # Settings UI of a remote window. It belongs in the Remote settings; a change there in the
    # Settings UI keeps it, and the server keeps running with it.
    server = workbench.server
    workbench.open("typo.layercfg.json")
    wait_running(workbench)
    before = len(interpreter_lines(server.extension_log()))
    workbench.run_command("Preferences: Open Remote Settings")
    search = workbench.page.locator(".settings-editor .suggest-input-container textarea").first
    search.wait_for()
    search.fill("layercfg.deepCheckTimeout")
    box = workbench.page.locator('.settings-editor input[aria-label="layercfg.deepCheckTimeout"]')
    box.wait_for()
    box.fill("90")
    box.press("Enter")
    wait_until(
        "the Settings UI to write the value into the Remote settings",
        lambda: (
            json.loads(server.remote_settings.read_text()).get("layercfg.deepCheckTimeout") == 90
        ),
        timeout=20,
    )
    assert json.loads(server.remote_settings.read_text())["layercfg.python"] == server.python
    workbench.page.keyboard.press("Control+W")  # closes the Settings editor
    time.sleep(3)  # a restart with another interpreter would have begun by now
    lines = interpreter_lines(server.extension_log())
    assert all(line[:2] == ("setting", server.python) for line in lines[before:]), lines
    assert wait_running(workbench, timeout=30)
    server.change_settings(server.remote_settings, layercfg__deepCheckTimeout=None)


def test_a_wrong_setting_shows_one_message_per_change(workbench: Workbench):
    server = workbench.server
    workbench.open("typo.layercfg.json")
    wait_running(workbench)
    # A number VS Code accepts for the setting, and the server refuses (64 MB at least).
    start = len(server.extension_log())
    server.change_settings(server.remote_settings, layercfg__deepCheckMemoryMB=1)
    try:
        messages = toast(workbench, "deepCheckMemoryMB")
        wait_until("a message about deepCheckMemoryMB", lambda: messages.count(), timeout=30)
        time.sleep(5)  # a second or third copy of it would be here by now
        shown = [" ".join(t.split()) for t in messages.all_inner_texts()]
        assert len(shown) == 1, shown
        # VS Code folds identical messages into one toast; the server logs each one it shows.
        said = [
            line
            for line in server.extension_log()[start:].splitlines()
            if "settings:" in line and "deepCheckMemoryMB" in line
        ]
        assert len(said) == 1, said
    finally:
        server.change_settings(server.remote_settings, layercfg__deepCheckMemoryMB=None)
        # Dismissed, for the tests after this one (the button shows on hover only).
        for close in (
            toast(workbench, "deepCheckMemoryMB").locator(".codicon-notifications-clear").all()
        ):
            close.dispatch_event("click")


def test_restarting_the_server_logs_no_error(workbench: Workbench):
    server = workbench.server
    workbench.open("broken.layercfg.json")
    wait_running(workbench)
    start = len(server.extension_log())
    workbench.run_command("layercfg: Restart Server")
    wait_until(
        "a second start in the log",
        lambda: "Starting:" in server.extension_log()[start:],
        timeout=60,
    )
    wait_running(workbench)
    wait_until(
        "LCF102 in Problems again",
        lambda: "LCF102" in workbench.codes("broken.layercfg.json"),
        timeout=60,
    )
    log = server.extension_log()[start:]
    assert "exited with code" not in log, log
    assert re.search(r"Server process \d+ exited \(code 0\)", log), log
    assert not re.search(r"\[(error|warning)\]", log), log
    # One level per line, the LogOutputChannel's: no "[Info  - 10:00:00]" or "INFO:" inside.
    assert not re.search(r"\] \[(Info|Error|Warn|Trace)\s*-", log), log
    assert "Cancel notification for unknown message id" not in log, log


def test_the_install_offer_goes_when_the_server_starts_and_opens_the_remote_setting(
    workbench: Workbench,
):
    # Issue 13, defects 4 and 7: "Open Settings" showed "No Settings Found", "Install in
    # Terminal" offered what the package index cannot install, and the toast stayed.
    server = workbench.server
    workbench.open("broken.layercfg.json")  # its mistakes are still there
    wait_running(workbench)
    offer = toast(workbench, "layercfg is not installed")
    server.change_settings(server.remote_settings, layercfg__serverSource="environment")
    try:
        offer.first.wait_for(timeout=60_000)
        text = " ".join(offer.first.inner_text().split())
        assert "pip install layercfg" not in text, text
        buttons = [
            " ".join(b.split()) for b in offer.first.locator(".monaco-button").all_inner_texts()
        ]
        assert {"Use the Bundled Server", "Install in Terminal", "Open Settings"} <= set(buttons), (
            buttons
        )
        # Meanwhile the file is JSON, checked against the schema the extension carries.
        mode = workbench.page.locator('[id="status.editor.mode"]')
        wait_until(
            "the file shown as JSON", lambda: mode.inner_text().strip() == "JSON", timeout=30
        )
        squiggles = workbench.editor("broken.layercfg.json").locator(
            ".squiggly-warning, .squiggly-error"
        )
        wait_until(  # squiggles while no layercfg finding is left: JSON's own
            "the bundled schema's findings (and no layercfg ones)",
            lambda: squiggles.count() and not workbench.codes("broken.layercfg.json"),
            timeout=120,
        )
        # Back to the bundled server, the user's way round: the offer goes once it runs.
        server.change_settings(server.remote_settings, layercfg__serverSource=None)
        wait_running(workbench)
        wait_until("the install offer gone", lambda: offer.count() == 0, timeout=30)
        wait_until(
            "the file a layercfg file again",
            lambda: "layercfg" in mode.inner_text().lower(),
            timeout=30,
        )

        server.change_settings(server.remote_settings, layercfg__serverSource="environment")
        offer.first.wait_for(timeout=60_000)
        # A click event: the message's own hover may lie over the button.
        offer.first.locator(".monaco-button", has_text="Open Settings").dispatch_event("click")
        editor = workbench.page.locator(".settings-editor")
        editor.wait_for()
        row = editor.locator(".setting-item-contents", has_text="layercfg.python").first
        title = editor.locator(".setting-item-title", has_text="Python").first
        wait_until(
            "the Settings editor to show layercfg.python",
            lambda: title.is_visible() or row.is_visible(),
            timeout=20,
        )
        assert not editor.locator(".no-results-message").is_visible()
        tab = editor.locator(".settings-tabs-widget .checked").first
        tab.wait_for()
        assert "Remote" in tab.inner_text(), tab.inner_text()
        workbench.page.keyboard.press("Control+W")
    finally:
        server.change_settings(server.remote_settings, layercfg__serverSource=None)
    wait_running(workbench)


def test_install_in_terminal_keeps_the_terminal_open_with_the_error(
    workbench: Workbench, pipless_python: str
):
    server = workbench.server
    workbench.open("typo.layercfg.json")
    wait_running(workbench)
    offer = toast(workbench, "Keras is not installed")
    server.change_settings(server.remote_settings, layercfg__python=pipless_python)
    try:
        offer.first.wait_for(timeout=60_000)
        offer.first.locator(".monaco-button", has_text="Install Keras in Terminal").dispatch_event(
            "click"
        )
        rows = workbench.page.locator(".terminal-wrapper .xterm-rows")
        rows.first.wait_for(timeout=30_000)
        text = wait_until(
            "the install's failure in the terminal",
            lambda: "Press Enter to close" in (t := rows.first.inner_text()) and t,
            timeout=60,
        )
        assert "pip install keras tensorflow-cpu" in " ".join(text.split()), text
        assert "No module named pip" in text, text
        time.sleep(2)
        assert rows.first.is_visible()  # still open: the error can be read
        workbench.page.keyboard.press("Enter")
    finally:
        server.change_settings(server.remote_settings, layercfg__python=server.python)
    wait_running(workbench)


def test_a_custom_module_edited_on_disk_is_used_without_a_restart(workbench: Workbench):
    server = workbench.server
    name = "custom.layercfg.json"
    folder = server.workspace / ".vscode"
    folder.mkdir(exist_ok=True)
    settings = folder / "settings.json"
    server.change_settings(settings, layercfg__modules=["mylayers"])
    try:
        workbench.open(name)
        problems = wait_until(
            "LCF102 for the argument Scale does not have yet",
            lambda: [p for p in workbench.problems(name) if p.code == "LCF102"],
            timeout=300,
        )
        assert "offset" in problems[0].message, problems
        starts = server.extension_log().count("Starting:")
        (server.workspace / "mylayers.py").write_text(MYLAYERS_WITH_OFFSET)
        wait_until(
            "LCF102 gone once mylayers.py has the argument",
            lambda: "LCF102" not in workbench.codes(name),
            timeout=300,
        )
        assert server.extension_log().count("Starting:") == starts  # no restart
    finally:
        (server.workspace / "mylayers.py").write_text(MYLAYERS)
        settings.unlink()
