"""The commands README.md and docs/*.md show, read the one way every test reads them.

A fenced block whose info string is `sh` is run against a local stack, in the page's order, in one
shell per page (tests/stack/test_docs_commands.py); `sh dry-run` marks a block that needs a real
AWS account or is the set-up itself: it is checked without running (tests/infra/test_docs_dry_run.py).
A command is one shell command: lines ending in `\\` and lines inside an open quote continue it. A
comment after two spaces (`  # ...`) is dropped, and when it starts with a three-digit HTTP status
(`# 401`), the command's output must show that status. Lines that are only a comment (`# {...}`,
an output shown) are not commands.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
RUN = "sh"
DRY_RUN = "sh dry-run"
_FENCE = re.compile(r"^(?P<indent> *)```(?P<info>[^`\n]*)\n(?P<body>.*?)^(?P=indent)```", re.M | re.S)
_STATUS = re.compile(r"^#\s*(\d{3})\b")


def pages() -> list[Path]:
    """README.md first (its quick start makes the first acknowledged result), then docs/ by name."""
    return [README, *sorted(DOCS.glob("*.md"))]


@dataclass(frozen=True)
class Command:
    page: Path
    text: str  # as written, without its comments; continuation lines kept
    status: str | None  # the HTTP status its output must show, from `# NNN`

    @property
    def words(self) -> list[str]:
        return shlex.split(self.text)


@dataclass(frozen=True)
class Block:
    page: Path
    info: str
    body: str

    def commands(self) -> list[Command]:
        found: list[Command] = []
        pending: list[str] = []
        status: str | None = None
        for raw in self.body.splitlines():
            line = raw.strip()
            if not pending and (not line or line.startswith("#")):
                continue
            code, _, comment = line.partition("  #")
            expected = _STATUS.match("#" + comment.strip()) if comment else None
            status = expected.group(1) if expected else status
            pending.append(code.rstrip() if comment else line)
            text = "\n".join(pending)
            if text.endswith("\\") or not _complete(text):
                continue
            found.append(Command(self.page, text, status))
            pending, status = [], None
        assert not pending, f"{self.page.name}: an unfinished command: {pending}"
        return found


def _complete(text: str) -> bool:
    try:
        shlex.split(text)
    except ValueError:  # an open quote: the command goes on on the next line
        return False
    return True


def blocks(page: Path, info: str | None = None) -> list[Block]:
    """The page's fenced blocks (indented ones included), those with this info string if given."""
    found = [
        Block(page, m["info"].strip(), "\n".join(line[len(m["indent"]) :] for line in m["body"].splitlines()))
        for m in _FENCE.finditer(page.read_text(encoding="utf-8"))
    ]
    return [b for b in found if info is None or b.info == info]


def commands(page: Path, info: str) -> list[Command]:
    return [command for block in blocks(page, info) for command in block.commands()]
