"""The manual's return-XML samples: extraction from the seed text, and the mechanical
repairs that make the typographic damage of the export well-formed again."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .model import Page, Spec

SAMPLES_DIR = Path(__file__).parent / "data" / "samples"
_BLOCK = re.compile(r"(?:<\?xml[^\n]*?\?>\s*)?<root>.*?</root>", re.S)


@dataclass(frozen=True)
class Sample:
    page: str
    name: str  # file name under spec/data/samples
    text: str


def extract(page: Page, seed_lines: list[str]) -> list[Sample]:
    """Every `<root>…</root>` block inside the page's V4.0 source range, verbatim."""
    first, last = page.source_lines
    text = "".join(seed_lines[first - 1:last])
    blocks = _BLOCK.findall(text)
    return [
        Sample(page.page, f"{page.stem}.xml" if i == 0 else f"{page.stem}.{i + 1}.xml", block.strip() + "\n")
        for i, block in enumerate(blocks)
    ]


def extract_all(spec: Spec, seeds: Path, out_dir: Path = SAMPLES_DIR) -> list[Path]:
    """Write the samples of every page that has one (`python -m spec samples SEEDS_DIR`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    seed_cache: dict[str, list[str]] = {}
    written = []
    for page in spec.pages:
        if page.direction == "rest":
            continue
        lines = seed_cache.setdefault(page.source_file, (seeds / page.source_file).read_text(encoding="utf-8").splitlines(True))
        for sample in extract(page, lines):
            path = out_dir / sample.name
            path.write_text(sample.text, encoding="utf-8")
            written.append(path)
    return written


def stored(out_dir: Path = SAMPLES_DIR) -> list[Path]:
    return sorted(out_dir.glob("*.xml"))


_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})
# The export turned "<!--" into "<!—" and "-->" into "(" (or dropped it).
_BROKEN_COMMENT = re.compile(r"<!—([^<]*)\(|<!—([^<]*?)(?=\n\s*<)")
_ELLIPSIS_ELEMENT = re.compile(r"<(\w+)>(?:\s|<!--[^>]*?-->)*[….]*…[….]*(?:\s|<!--[^>]*?-->)*</\1\s*>")
_HALF_COMMENT = re.compile(r"<!--([^<>\n]*?)\($", re.M)
_ELLIPSIS_LINE = re.compile(r"^\s*(?:……|…|\.\.\.)\s*$", re.M)
_SPACE_IN_END_TAG = re.compile(r"</\s*(\w+)\s*>")
_SPACE_IN_START_TAG = re.compile(r"<\s+(\w+)\s*>|<(\w+)\s+>")


def repair(text: str) -> str:
    """Fix the export's damage: typographic quotes, broken comment markers, stray spaces in
    tags, and the `……` placeholders that stand for "more records"."""
    text = text.translate(_QUOTES)
    text = _BROKEN_COMMENT.sub(lambda m: "<!--" + (m.group(1) or m.group(2) or "").replace("--", "- -") + "-->", text)
    text = _HALF_COMMENT.sub(lambda m: "<!--" + m.group(1) + "-->", text)
    text = _ELLIPSIS_ELEMENT.sub("", text)
    text = _ELLIPSIS_LINE.sub("", text)
    text = _SPACE_IN_END_TAG.sub(r"</\1>", text)
    text = _SPACE_IN_START_TAG.sub(lambda m: f"<{m.group(1) or m.group(2)}>", text)
    return text.strip() + "\n"


def page_of(sample_path: Path, spec: Spec) -> Page:
    return spec.page(sample_path.name.split(".")[0])
