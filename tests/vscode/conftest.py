"""The `vscode` marker, and each test's outcome kept on its item so that fixtures can save
what the browser showed when a test failed."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "vscode: drives a real VS Code (code-server) in headless Chromium"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report
