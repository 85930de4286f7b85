"""The README and docs/ stay findable: every relative link resolves to a file, and every #anchor to a heading of
that page (GitHub's slugs), so moving a section without its links fails here."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def slug(heading: str) -> str:
    # GitHub keeps letters, digits, "_", "-" and spaces, lowercased; spaces become "-".
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def prose_lines(path: Path):
    """The page's lines outside fenced code blocks."""
    fenced = False
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            yield line


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in prose_lines(path):
        if heading := re.match(r"^#{1,6} (.*)", line):
            name = slug(heading.group(1))
            count = seen.get(name, 0)
            found.add(name if count == 0 else f"{name}-{count}")
            seen[name] = count + 1
    return found


def links(path: Path):
    for line in prose_lines(path):
        yield from LINK.findall(re.sub(r"`[^`]*`", "", line))


def test_every_relative_link_resolves():
    broken = []
    for page in PAGES:
        for target in links(page):
            if re.match(r"^[a-z]+:", target):
                continue  # http:, https:, mailto:
            file_part, _, anchor = target.partition("#")
            destination = (page.parent / file_part).resolve() if file_part else page
            if not destination.exists():
                broken.append(f"{page.relative_to(ROOT)}: no file {target}")
            elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
                broken.append(f"{page.relative_to(ROOT)}: no heading for {target}")
    assert not broken, "\n".join(broken)


def test_the_readme_stays_sized_for_its_reader():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 300
