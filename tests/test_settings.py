"""Settings: defaults, precedence, and invalid values replaced by defaults with a reason."""

from layercfg.server import settings
from layercfg.server.settings import Settings


def test_defaults():
    s = Settings()
    assert (s.deepCheck, s.deepCheckTimeout, s.deepCheckMemoryMB) == ("onType", 20.0, 2048)
    assert s.trustWorkspace is False and s.modules == ()


def test_valid_values_are_taken_and_the_section_may_be_nested():
    s, problems = settings.merge(
        Settings(),
        {"layercfg": {"modules": "a, b", "deepCheck": "off", "severity": {"LCF102": "warning"}}},
        "x",
    )
    assert problems == []
    assert s.modules == ("a", "b") and s.deepCheck == "off"
    assert s.severity_for("LCF102", 1) == 2 and s.severity_for("LCF101", 1) == 1


def test_invalid_values_are_reported_and_replaced_by_defaults():
    raw = {
        "deepCheck": "always",
        "deepCheckTimeout": -1,
        "severity": {"LCF102": "loud"},
        "trustWorkspace": "yes",
        "colour": "blue",
    }
    s, problems = settings.merge(Settings(), raw, "initializationOptions")
    assert s == Settings()
    assert len(problems) == 5
    assert any("deepCheck: expected one of onType, onSave, off" in p for p in problems)
    assert any("unknown setting 'colour'" in p for p in problems)
    _, problems = settings.merge(Settings(), ["not", "an", "object"], "x")
    assert problems == ["x: settings must be an object, got list"]


def test_off_turns_a_code_off():
    s, _ = settings.merge(Settings(), {"severity": {"LCF105": "off"}}, "x")
    assert s.severity_for("LCF105", 1) is None


def test_pyproject_gives_project_settings_but_never_trust(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.layercfg]\nmodules = ["my_layers"]\ntrustWorkspace = true\npython = "/bin/evil"\n'
    )
    s, problems = settings.resolve(workspace_root=tmp_path)
    assert s.modules == ("my_layers",)
    assert s.trustWorkspace is False and s.python is None
    assert len(problems) == 2


def test_precedence_pyproject_then_init_options_then_configuration(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.layercfg]\ndeepCheck = "onSave"\n')
    s, _ = settings.resolve(None, None, tmp_path)
    assert s.deepCheck == "onSave"
    s, _ = settings.resolve({"deepCheck": "off"}, None, tmp_path)
    assert s.deepCheck == "off"
    s, _ = settings.resolve({"deepCheck": "off"}, {"deepCheck": "onType"}, tmp_path)
    assert s.deepCheck == "onType"


def test_broken_pyproject_is_reported(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.layercfg\n")
    s, problems = settings.resolve(workspace_root=tmp_path)
    assert s == Settings() and "cannot read" in problems[0]


def test_a_nested_table_cannot_smuggle_user_settings_in(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.layercfg]\ndeepCheck = "onSave"\n'
        '[tool.layercfg.layercfg]\ntrustWorkspace = true\npython = "/tmp/evil"\n'
        'modules = ["evil"]\n',
        encoding="utf-8",
    )
    s, problems = settings.resolve(workspace_root=tmp_path)
    assert s.trustWorkspace is False and s.python is None and s.modules == ()
    assert s.deepCheck == "onSave"
    assert any("unknown table 'layercfg' ignored" in p for p in problems)


def test_unknown_pyproject_keys_are_reported_and_ignored(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.layercfg]\ncolour = "blue"\n[tool.layercfg.extra]\nx = 1\n', encoding="utf-8"
    )
    s, problems = settings.resolve(workspace_root=tmp_path)
    assert s == Settings()
    assert sorted(problems) == [
        "pyproject.toml [tool.layercfg]: unknown setting 'colour' ignored",
        "pyproject.toml [tool.layercfg]: unknown table 'extra' ignored",
    ]


def test_a_workspace_cannot_silence_security_findings_but_the_user_can(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.layercfg.severity]\nLCF303 = "off"\nLCF501 = "hint"\nLCF102 = "warning"\n',
        encoding="utf-8",
    )
    s, problems = settings.resolve(workspace_root=tmp_path)
    assert s.severity == {"LCF102": "warning"}
    assert len([p for p in problems if "security finding" in p]) == 2
    s, problems = settings.resolve(
        configuration={"severity": {"LCF303": "warning"}}, workspace_root=tmp_path
    )
    assert s.severity_for("LCF303", 1) == 2


def test_limits_have_upper_bounds():
    for raw in (
        {"deepCheckTimeout": 10_000},
        {"deepCheckMemoryMB": 10**9},
        {"deepCheckMemoryMB": 1},
        {"deepCheckTimeout": float("nan")},
    ):
        s, problems = settings.merge(Settings(), raw, "x")
        assert s == Settings() and len(problems) == 1, (raw, problems)
    s, problems = settings.merge(
        Settings(), {"deepCheckTimeout": 600, "deepCheckMemoryMB": 16384}, "x"
    )
    assert problems == [] and (s.deepCheckTimeout, s.deepCheckMemoryMB) == (600.0, 16384)
