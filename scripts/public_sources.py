"""Public training and evaluation data for the urgency heads, read from pinned Git commits.

Nothing here is committed data: each source names a public GitHub repository, a commit and the
files it reads. Bring the repositories here first (one bare mirror per repository) and point
``--sources`` at the directory holding them. Accepted layouts, for ``owner/name``:
``<dir>/owner+name/repo`` (what the project's ``fetch`` tool writes), ``<dir>/owner+name`` or
``<dir>/owner/name`` (a plain ``git clone``). Files are read with ``git show COMMIT:PATH``, so a
later commit of the repository never changes a rebuilt head.

Embeddings are cached per encoder and source under ``--cache`` (default ``.cache/heads``, not
committed) so that trying another lever does not embed everything again.
"""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mvr.inference.encoder import INT8_MODEL, Encoder, Manifest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
DEFAULT_SOURCES = Path("/work/.mirror")
DEFAULT_CACHE = ROOT / ".cache" / "heads"
#: Text batch size for embedding (texts are sorted by length first, so batches are deterministic).
BATCH = 64


@dataclass(frozen=True)
class GitSource:
    """Files of one public repository at one commit."""

    repo: str
    commit: str
    licence: str

    def read(self, sources: Path, path: str) -> str:
        """Return the text of ``path`` at this commit.

        Raises:
            FileNotFoundError: The repository is not under ``sources`` or lacks the file.
        """
        git_dir = self.git_dir(sources)
        done = subprocess.run(
            ["git", "--git-dir", str(git_dir), "show", f"{self.commit}:{path}"],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            raise FileNotFoundError(f"{self.repo}@{self.commit[:8]}:{path}: {done.stderr.decode().strip()}")
        return done.stdout.decode("utf-8")

    def git_dir(self, sources: Path) -> Path:
        """The Git directory of this repository under ``sources``."""
        owner, name = self.repo.split("/")
        for candidate in (
            sources / f"{owner}+{name}" / "repo",
            sources / f"{owner}+{name}",
            sources / owner / name,
        ):
            if (candidate / "HEAD").is_file():
                return candidate
            if (candidate / ".git").exists():
                return candidate / ".git"
        raise FileNotFoundError(f"{self.repo} is not under {sources} (fetch github:{self.repo} first)")


TWEETEVAL = GitSource(
    "cardiffnlp/tweeteval",
    "4fbd22cd78421f05b1ecdb4fc5725bc7a7bd8f66",
    "TweetEval: no restrictions from its authors; tweets under Twitter's terms; SemEval-2017 Task 4 "
    "(sentiment) and SemEval-2018 Task 1 (emotion) terms apply",
)
#: Apache Jira issues (public issue tracker), as scraped into these repositories.
JIRA_NUTCH = GitSource(
    "IshangKansal/jira-scraper",
    "5e6c0cae292d8c21b82369ddbaf6d756352e6842",
    "Apache Nutch issues from the ASF's public Jira (issues.apache.org); the scraper repository states "
    "no data licence",
)
JIRA_KAFKA_SPARK = GitSource(
    "kunal29july/Jira-Scraper-ETL",
    "0c33b05199efa3d31c74a934292af7b67e83b687",
    "Apache Kafka and Spark issues from the ASF's public Jira; the scraper repository states no data licence",
)


def tweeteval(sources: Path, task: str, splits: Sequence[str]) -> tuple[list[str], list[str]]:
    """Texts and label names of TweetEval ``task`` (``sentiment`` or ``emotion``) for ``splits``."""
    mapping = [
        line.split("\t")[1].strip()
        for line in _lines(TWEETEVAL.read(sources, f"datasets/{task}/mapping.txt"))
    ]
    texts: list[str] = []
    labels: list[str] = []
    for split in splits:
        split_texts = _lines(TWEETEVAL.read(sources, f"datasets/{task}/{split}_text.txt"))
        split_labels = _lines(TWEETEVAL.read(sources, f"datasets/{task}/{split}_labels.txt"))
        if len(split_texts) != len(split_labels):
            raise ValueError(
                f"tweeteval {task}/{split}: {len(split_texts)} texts, {len(split_labels)} labels"
            )
        texts += [t.strip() for t in split_texts]
        labels += [mapping[int(label)] for label in split_labels]
    return texts, labels


def jira_issues(sources: Path) -> dict[str, list[tuple[str, str]]]:
    """(title + description, Jira priority) per Apache project, deduplicated by issue key."""
    files = {
        "NUTCH": (JIRA_NUTCH, "data/processed/shards/shard_1.jsonl"),
        "KAFKA": (JIRA_KAFKA_SPARK, "data/processed/KAFKA_issues.jsonl"),
        "SPARK": (JIRA_KAFKA_SPARK, "data/processed/SPARK_issues.jsonl"),
    }
    projects: dict[str, list[tuple[str, str]]] = {}
    for project, (source, path) in files.items():
        seen: dict[str, tuple[str, str]] = {}
        for line in _lines(source.read(sources, path)):
            issue = json.loads(line)
            key = issue.get("issue_id") or issue.get("id")
            text = f"{issue.get('title') or ''}\n{issue.get('description') or ''}".strip()
            if key and text and issue.get("priority"):
                seen[key] = (text, str(issue["priority"]))
        projects[project] = [seen[k] for k in sorted(seen)]
    return projects


def sst2(path: Path) -> tuple[list[str], list[str]]:
    """SST-2 train sentences and ``negative``/``positive`` labels."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = [
            (r["sentence"].strip(), ("negative", "positive")[int(r["label"])]) for r in csv.DictReader(fh)
        ]
    return [r[0] for r in rows], [r[1] for r in rows]


def airline_dev(path: Path) -> tuple[list[str], list[bool]]:
    """Airline tweets and whether each is negative (the measuring set; never trained on)."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r["text"] for r in rows], [r["sentiment"] == "negative" for r in rows]


def load_encoder(models_dir: Path, threads: int = 0) -> tuple[Callable[[list[str]], np.ndarray], str]:
    """An embedding function for ``models_dir`` and an id of its model (for the cache).

    This is the one place that knows how to run an encoder; another encoder plugs in here.
    """
    encoder = Encoder.from_dir(models_dir, threads=threads)
    model_id = Manifest.load(models_dir).verify(INT8_MODEL)

    def embed(texts: list[str]) -> np.ndarray:
        ids = encoder.tokenize(texts)
        order = np.argsort([len(x) for x in ids], kind="stable")
        out = np.zeros((len(texts), encoder.dimension), dtype=np.float32)
        for start in range(0, len(order), BATCH):
            chunk = order[start : start + BATCH]
            out[chunk] = encoder.embed_ids([ids[i] for i in chunk])
        return out

    return embed, model_id


def embed_cached(
    embed: Callable[[list[str]], np.ndarray], model_id: str, texts: list[str], cache: Path | None
) -> np.ndarray:
    """``embed(texts)``, read from or written to ``cache`` (keyed by model and texts)."""
    if cache is None:
        return embed(texts)
    digest = hashlib.sha256(model_id.encode())
    for text in texts:
        digest.update(hashlib.sha256(text.encode("utf-8")).digest())
    path = cache / f"{digest.hexdigest()[:32]}.npy"
    if path.is_file():
        return np.load(path)
    features = embed(texts)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, features)
    return features


def _lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip()]
