"""Shared fixtures: one catalog per test session, built in its own cache folder."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"

# One catalog cache per test session, known before any server or worker process is spawned.
# LAYERCFG_TEST_CACHE names a folder to keep between local runs instead (catalogs are keyed
# by Keras version and source hashes, so a stale one is never used); CI leaves it unset.
_KEPT_CACHE = os.environ.get("LAYERCFG_TEST_CACHE")
_SESSION_CACHE = _KEPT_CACHE or tempfile.mkdtemp(prefix="layercfg-test-cache-")
if _KEPT_CACHE:
    os.makedirs(_KEPT_CACHE, exist_ok=True)
os.environ["LAYERCFG_CACHE_DIR"] = _SESSION_CACHE
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
CUSTOM_MODULES = ("custom.good_layers", "custom.registered_layers", "custom.defective_layers")


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


# The fast tier (`pytest -m fast`): pure service tests on the frozen catalogs (tests/frozen.py),
# no TensorFlow, about a minute. Every other test module, and any new one until it is listed
# here, is in the full tier; `pytest` with no -m runs both.
FAST_MODULES = {
    "test_attack_round4_fast.py",
    "test_attack_round5_fast.py",
    "test_attack_round6_fast.py",
    "test_attack_round7_fast.py",
    "test_attack_round8_fast.py",
    "test_cache_files.py",
    "test_codes.py",
    "test_docstrings.py",
    "test_document.py",
    "test_edit_paths.py",
    "test_error_notices.py",
    "test_hover_markdown.py",
    "test_idle_gc.py",
    "test_incremental.py",
    "test_layer_graph.py",
    "test_module_names.py",
    "test_positions.py",
    "test_publisher_inline.py",
    "test_robustness.py",
    "test_services.py",
    "test_session.py",
    "test_settings.py",
    "test_stdio.py",
}
HEAVY = ("tensorflow", "keras", "tf_keras", "keras_hub")


def _fast_tier(config: pytest.Config) -> bool:
    return (config.option.markexpr or "").strip() == "fast"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kerashub: KerasHub models built in the session")
    if _fast_tier(config):
        from frozen import seed

        seed(Path(_SESSION_CACHE))


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """In the fast tier, full-tier modules are not even imported (several import Keras)."""
    if _fast_tier(config) and collection_path.suffix == ".py":
        if collection_path.name.startswith("test_") and collection_path.name not in FAST_MODULES:
            return True
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fast = item.path.name in FAST_MODULES and item.path.parent.name == "tests"
        item.add_marker(pytest.mark.fast if fast else pytest.mark.full)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _skips_fail_in_ci(session)
    if _fast_tier(session.config):
        loaded = [name for name in HEAVY if name in sys.modules]
        if loaded:
            print(f"\nfast tier: imported {', '.join(loaded)}; a test needing it is full tier")
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _skips_fail_in_ci(session: pytest.Session) -> None:
    """With ``CI`` set (``.ci/run`` sets it), a skipped test or module fails the run with its
    reason: CI installs every tool the tests use, so a skip there means one is missing."""
    if not os.environ.get("CI"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if not skipped:
        return
    print(f"\nCI is set and {len(skipped)} test(s) or module(s) were skipped:")
    for report in skipped:
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        print(f"  {report.nodeid}: {reason}")
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"keras {_version('keras')}, tensorflow-cpu {_version('tensorflow-cpu')}, "
        f"pygls {_version('pygls')}, lsprotocol {_version('lsprotocol')}"
    ]


@pytest.fixture(scope="session")
def cache_dir() -> Iterator[Path]:
    """The catalog cache of this session; subprocesses get it through the environment."""
    yield Path(_SESSION_CACHE)
    if not _KEPT_CACHE:
        shutil.rmtree(_SESSION_CACHE, ignore_errors=True)


@pytest.fixture(scope="session")
def fixtures_on_path() -> Path:
    if str(FIXTURES) not in sys.path:
        sys.path.insert(0, str(FIXTURES))
    return FIXTURES


@pytest.fixture(scope="session")
def catalog(cache_dir: Path, fixtures_on_path: Path) -> dict:
    """The catalog of the installed Keras plus the custom fixture modules (built once)."""
    from layercfg.schema_builder.catalog import load_or_build

    return load_or_build(CUSTOM_MODULES)


@pytest.fixture(scope="session")
def plain_catalog(cache_dir: Path) -> dict:
    """The catalog without custom modules: what a server in an untrusted workspace uses."""
    from layercfg.schema_builder.catalog import load_or_build

    return load_or_build(())


@pytest.fixture(scope="session")
def schema_validator(catalog: dict):
    import jsonschema

    return jsonschema.Draft202012Validator(catalog["schema"])


@pytest.fixture
def subprocess_env(cache_dir: Path, fixtures_on_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["LAYERCFG_CACHE_DIR"] = str(cache_dir)
    env["PYTHONPATH"] = os.pathsep.join([str(fixtures_on_path), env.get("PYTHONPATH", "")])
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env
