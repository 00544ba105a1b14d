"""One editor session: its open documents, its settings, and what its client can do.

Made at ``initialize``; the client's capabilities are read once, here, into ``ClientCaps``.
Nothing here knows pygls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from .capabilities import ClientCaps
from .document import Document
from .services.code_actions import ActionSupport
from .services.completion import ClientSupport
from .settings import Settings, resolve


def _problem_key(problem: str) -> str:
    """A settings problem without the origin it was read from: VS Code sends the same values
    as initialization options and as workspace/configuration, one problem, said once."""
    for origin in ("initializationOptions: ", "workspace/configuration: "):
        if problem.startswith(origin):
            return problem[len(origin) :]
    return problem


@dataclass
class Session:
    caps: ClientCaps = field(default_factory=ClientCaps)
    settings: Settings = field(default_factory=Settings)
    workspace_root: Path | None = None
    init_options: Any = None
    documents: dict[str, Document] = field(default_factory=dict)
    # the last workspace/configuration answer (or pushed settings)
    last_configuration: Any = None
    # settings problems already shown to the user (without their origin)
    _shown_problems: frozenset[str] = frozenset()

    @classmethod
    def start(
        cls, capabilities: Any, root_uri: str | None, root_path: str | None, init_options: Any
    ) -> Session:
        """The session an ``initialize`` request opens (its capabilities as JSON)."""
        root = None
        if root_uri:
            root = Path(fs_path(root_uri) or ".")
        elif root_path:
            root = Path(root_path)
        return cls(
            ClientCaps.from_json(capabilities), workspace_root=root, init_options=init_options
        )

    @property
    def encoding(self) -> str:
        return self.caps.encoding

    @property
    def support(self) -> ClientSupport:
        """What completion and hover may answer with."""
        caps = self.caps
        return ClientSupport(snippets=caps.snippets, markdown=caps.markdown, encoding=caps.encoding)

    @property
    def action_support(self) -> ActionSupport:
        """What code actions and workspace edits may use."""
        caps = self.caps
        return ActionSupport(
            snippet_edits=caps.snippet_edits,
            document_changes=caps.document_changes,
            resolve_edits=caps.resolve_edits,
            disabled=caps.disabled_actions,
        )

    @property
    def workspace(self) -> str | None:
        return str(self.workspace_root) if self.workspace_root else None

    def document(self, uri: str) -> Document | None:
        return self.documents.get(uri)

    def is_current(self, document: Document) -> bool:
        return self.documents.get(document.uri) is document

    def modules(self) -> tuple[str, ...]:
        """Custom modules are imported only in a trusted workspace."""
        return self.settings.modules if self.settings.trustWorkspace else ()

    def apply_settings(
        self, configuration: Any, remember: bool = True
    ) -> tuple[Settings, list[str]]:
        """Resolve the settings again (pyproject.toml, initialization options, then
        ``configuration``). Returns the previous settings and the problems to show: each one
        once, when it appears (a problem still there after a later change is not said again;
        one that went away and came back is). ``remember``: False when the problems are not
        shown now (they will be when the settings are resolved next)."""
        before = self.settings
        self.last_configuration = configuration
        self.settings, problems = resolve(self.init_options, configuration, self.workspace_root)
        keys: dict[str, str] = {}
        for problem in problems:
            keys.setdefault(_problem_key(problem), problem)
        new = [problem for key, problem in keys.items() if key not in self._shown_problems]
        if remember:
            self._shown_problems = frozenset(keys)
        return before, new


def fs_path(uri: str) -> str | None:
    """The file system path of a ``file:`` URI; None for any other scheme."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    path = unquote(parsed.path)
    if len(path) > 2 and path[0] == "/" and path[2] == ":" and path[1].isalpha():
        path = path[1:]  # /c:/folder -> c:/folder
    if parsed.netloc and parsed.netloc != "localhost":
        path = f"//{parsed.netloc}{path}"
    return path
