"""The docs' shape: a short README with a quick start and the two set-up commands, pages by topic that
each say what they are for and who reads them, links that lead somewhere, and every command block
marked as one the tests run (`sh`) or check dry (`sh dry-run`): tests/docs.py's rules."""

from __future__ import annotations

import re

from tests import docs

KNOWN_BLOCKS = {docs.RUN, docs.DRY_RUN, "text"}
TOPICS = {
    "architecture.md",
    "france.md",
    "psc.md",
    "journal.md",
    "export.md",
    "retention.md",
    "deployment.md",
    "operations.md",
    "sources.md",
}


def _section(text: str, title: str) -> str:
    start = text.index(f"\n## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else len(text)]


def test_the_readme_is_at_most_250_lines() -> None:
    assert len(docs.README.read_text(encoding="utf-8").splitlines()) <= 250


def test_the_quick_start_reaches_an_acknowledged_result_in_under_40_lines() -> None:
    quick = _section(docs.README.read_text(encoding="utf-8"), "Quick start")
    assert len(quick.strip().splitlines()) < 40
    assert "/delivery" in quick and "acknowledged" in quick
    assert [c for c in docs.commands(docs.README, docs.RUN) if "POST" in c.text and "/v1/tests" in c.text]


def test_the_readme_gives_make_test_s_duration_and_two_set_up_commands() -> None:
    text = docs.README.read_text(encoding="utf-8")
    assert re.search(r"`make test` .*about 15 minutes on a fresh clone on 2 cores", text, flags=re.S)
    assert [c.text for c in docs.commands(docs.README, docs.DRY_RUN)] == ["make run", "make test"]
    assert not [
        c for c in docs.commands(docs.README, docs.RUN) if c.words[0] == "make" and "login" not in c.words
    ]


def test_every_topic_has_its_page_and_the_readme_leads_to_each_page() -> None:
    pages = {page.name for page in docs.DOCS.glob("*.md")}
    assert pages >= TOPICS
    readme = docs.README.read_text(encoding="utf-8")
    for name in pages:
        assert f"(docs/{name})" in readme, name


def test_each_page_starts_with_what_it_is_for_and_who_reads_it() -> None:
    for page in docs.DOCS.glob("*.md"):
        title, blank, *rest = page.read_text(encoding="utf-8").splitlines()
        assert title.startswith("# ") and blank == "", page.name
        purpose = " ".join(rest[: rest.index("")])
        assert re.search(r"\bFor \w", purpose), (page.name, purpose)


def test_every_block_is_marked_run_dry_run_or_text() -> None:
    for page in docs.pages():
        for block in docs.blocks(page):
            assert block.info in KNOWN_BLOCKS, (page.name, block.info)


def test_every_relative_link_leads_to_a_file() -> None:
    for page in docs.pages():
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            path = (page.parent / target).resolve()
            if "://" in target or not path.is_relative_to(docs.ROOT):  # the contract lives beside the repo
                continue
            assert path.exists(), (page.name, target)


def test_no_page_cites_a_readme_section() -> None:
    """The README's sections moved to docs/: a page that sends a reader to one sends them nowhere."""
    for page in docs.pages():
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"README[,:]? [\"'“(]", text), page.name
