"""Categories: names, descriptions, example sentences and keywords, read by the API and the workers.

The defaults (``default_categories.json``) were written by the MVR authors.
Users replace them with their own JSON file (``MVR_CATEGORIES_FILE``): a list of
objects with ``name``, ``description``, ``examples`` (list of sentences) and
optional ``keywords``: words and phrases matched whole and case-insensitively, where a trailing
``*`` matches any ending (``rechnung*`` finds "Rechnungsadresse"). The keyword baseline routes by
them, and tickets read by the multilingual encoder count them as evidence (``KeywordPrior``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from mvr.errors import CategoriesFileInvalid

__all__ = ["DEFAULT_CATEGORIES_FILE", "Category", "load_categories"]

#: The categories MVR ships with: Billing, Technical, Legal.
DEFAULT_CATEGORIES_FILE = Path(__file__).with_name("default_categories.json")


@dataclass(frozen=True)
class Category:
    """One routing category."""

    name: str
    description: str
    examples: tuple[str, ...]
    keywords: tuple[str, ...] = ()

    def keyword_pattern(self) -> re.Pattern[str]:
        """Return the pattern that finds the keywords (the lower-case name when there are none)."""
        words = sorted(self.keywords or (self.name.lower(),), key=len, reverse=True)
        alternatives = "|".join(
            re.escape(w[:-1]) + r"\w*" if w.endswith("*") else re.escape(w) for w in words
        )
        return re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE)


def load_categories(path: Path | None = None) -> list[Category]:
    """Read categories from ``path`` (default: MVR's own).

    Raises:
        CategoriesFileInvalid: The file is missing, not JSON, or malformed.
    """
    source = path or DEFAULT_CATEGORIES_FILE
    try:
        raw = json.loads(Path(source).read_text(encoding="utf-8"))
    except (OSError, ValueError) as ex:
        raise CategoriesFileInvalid(f"cannot read categories file {source}: {ex}") from ex
    if not isinstance(raw, list) or len(raw) < 2:
        raise CategoriesFileInvalid(f"{source}: expected a JSON list of at least 2 categories")
    categories = [_category(item, source) for item in raw]
    names = [c.name for c in categories]
    if len(set(names)) != len(names):
        raise CategoriesFileInvalid(f"{source}: category names must be unique, got {names}")
    return categories


def _category(item: object, source: Path) -> Category:
    if not isinstance(item, dict) or not str(item.get("name", "")).strip():
        raise CategoriesFileInvalid(f"{source}: every category needs a non-empty 'name'")
    examples = item.get("examples", [])
    keywords = item.get("keywords", [])
    if not all(isinstance(x, str) for x in [*examples, *keywords]):
        raise CategoriesFileInvalid(f"{source}: 'examples' and 'keywords' must be lists of strings")
    return Category(
        name=str(item["name"]).strip(),
        description=str(item.get("description", "")),
        examples=tuple(examples),
        keywords=tuple(k.lower() for k in keywords),
    )
