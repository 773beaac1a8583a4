"""The public-data readers of the training scripts, on small Git repositories built here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import public_sources as ps  # noqa: E402


def _commit(repo: Path, files: dict[str, str]) -> str:
    """Commit ``files`` into a new repository at ``repo``; return the commit id."""
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text, encoding="utf-8")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "data"], check=True)
    done = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True)
    return done.stdout.strip()


def _fluid_issue(key: str, summary: str, priority: str | None, body: str) -> str:
    front = {"title": key, "summary": summary, "project": {"key": key.split("-")[0]}, "priority": priority}
    return f"---json\n{json.dumps(front, indent=2)}\n---\n{body}\n\n        "


def test_fluid_issues_reads_summary_description_and_priority_per_project(tmp_path: Path) -> None:
    commit = _commit(
        tmp_path / "owner" / "fluid",
        {
            "src/issues/FLUID-1.md": _fluid_issue("FLUID-1", "Reorderer broken", "Blocker", "Throws in IE."),
            "src/issues/FLUID-2.md": _fluid_issue("FLUID-2", "Typo on a page", "Minor", ""),
            "src/issues/VP-7.md": _fluid_issue("VP-7", "No priority here", None, "Dropped."),
            "src/issues/issues.11tydata.js": "export default {}\n",
        },
    )
    source = ps.GitSource("owner/fluid", commit, "test data")

    projects = ps.fluid_issues(tmp_path, source)

    assert projects == {
        "FLUID": [("Reorderer broken\nThrows in IE.", "Blocker"), ("Typo on a page", "Minor")]
    }


def test_review_sentences_reads_tab_separated_scores_and_skips_headers(tmp_path: Path) -> None:
    files = {path: "sentence\tscore\n" for path in ps.REVIEW_FILES}
    files[ps.REVIEW_FILES[0]] += "Great value.\t1\nBroke after a day.  \t0\n"
    commit = _commit(tmp_path / "hhachiya" / "intelligentSystemTraining", files)
    source = ps.GitSource(ps.REVIEW_SENTENCES.repo, commit, "test data")

    texts, labels = ps.review_sentences(tmp_path, source)

    assert texts == ["Great value.", "Broke after a day."]
    assert labels == ["positive", "negative"]
