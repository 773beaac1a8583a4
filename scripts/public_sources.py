"""Public training and evaluation data for the heads, read from pinned Git commits.

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
import io
import json
import re
import subprocess
import sys
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mvr.inference import encoders
from mvr.inference.encoder import Manifest
from mvr.inference.model_files import MANIFEST
from mvr.ticket import ticket_text

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
DEFAULT_SOURCES = Path("/work/.mirror")
DEFAULT_CACHE = ROOT / ".cache" / "heads"
#: An embedding function: texts -> unit vectors [n, d].
Embed = Callable[[list[str]], np.ndarray]
#: Text batch size for embedding (texts are sorted by length first, so batches are deterministic).
BATCH = 64


@dataclass(frozen=True)
class GitSource:
    """Files of one public repository at one commit."""

    repo: str
    commit: str
    licence: str

    def read(self, sources: Path, path: str, encoding: str = "utf-8") -> str:
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
        return done.stdout.decode(encoding)

    def read_folder(self, sources: Path, folder: str) -> dict[str, str]:
        """Return the text of every file directly or indirectly under ``folder``, by path below it."""
        done = subprocess.run(
            ["git", "--git-dir", str(self.git_dir(sources)), "archive", self.commit, folder],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            raise FileNotFoundError(f"{self.repo}@{self.commit[:8]}:{folder}: {done.stderr.decode().strip()}")
        with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
            return {
                member.name.removeprefix(folder + "/"): archive.extractfile(member).read().decode("utf-8")  # type: ignore[union-attr]
                for member in archive.getmembers()
                if member.isfile()
            }

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


def source_entry(source: GitSource, paths: Sequence[str]) -> dict[str, object]:
    """How a manifest names one Git source."""
    return {"repo": source.repo, "commit": source.commit, "paths": list(paths), "licence": source.licence}


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
JIRA_ACE_AMQCPP = GitSource(
    "Mainak431/Jira-scrapper-for-LLM",
    "a78d149d30fefb41e057497cd878623c05f04e44",
    "Apache ACE and ActiveMQ-CPP issues from the ASF's public Jira; the scraper repository states no data "
    "licence",
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


APPLE_TWEETS = GitSource(
    "DataForScience/NLP",
    "e060ffabe6620f9c6034ee76018551f9dbf5fc19",
    "Apple Twitter Sentiment (CrowdFlower 'Data for Everyone', 2014; the copy states no licence for the "
    "data, the repository is MIT); tweets under Twitter's terms",
)
BRAND_TWEETS = GitSource(
    "AlvinKN/Phase4Project",
    "4d87a68d03a59be3171647148db62a1badd77e7e",
    "Brands and Product Emotions, SXSW 2013 tweets (CrowdFlower 'Data for Everyone'; the copy states no "
    "licence); tweets under Twitter's terms",
)
#: Sentiment of the Apple tweets (1 negative, 3 neutral, 5 positive; ``not_relevant`` dropped).
APPLE_SENTIMENT = {"1": "negative", "3": "neutral", "5": "positive"}
#: Sentiment of the brand tweets ("I can't tell" dropped).
BRAND_SENTIMENT = {
    "Negative emotion": "negative",
    "No emotion toward brand or product": "neutral",
    "Positive emotion": "positive",
}


SENTIMENT140 = GitSource(
    "geraldzakwan/iykra-sentiment-analysis",
    "0f8dae787c1e4d239f8b03a04dccfd6ddb77a6cc",
    "Sentiment140 (Go, Bhayani and Huang, 2009; labels from emoticons), a 100k sample split into "
    "positive/negative lines; the repository is MIT, the data states no licence; tweets under Twitter's "
    "terms",
)
REVIEW_SENTENCES = GitSource(
    "hhachiya/intelligentSystemTraining",
    "78c693ed20203de78d6bd2497dc397ee6c7630e4",
    "UCI 'Sentiment Labelled Sentences' (Kotzias et al., KDD 2015; cite the paper): Amazon, IMDb and Yelp "
    "review sentences; the copy states no licence",
)
#: Files of the review sentences (``sentence TAB 0|1`` per line).
REVIEW_FILES = tuple(
    f"sentiment_labelled_sentences/{site}_labelled.txt" for site in ("amazon_cells", "imdb", "yelp")
)


#: How the manifest names each sentiment training source.
SENTIMENT_SOURCES: dict[str, dict[str, object]] = {
    "sst2": {
        "data": "GLUE SST-2 train split, ../shared/data/sst2_train.csv "
        "(from awake020/pytorch_Bert_sst2 @ ce2ab171, SST-2/train.tsv)",
        "licence": "SST terms: research use with citation of Socher et al. (2013); not redistributed",
    },
    "tweeteval": source_entry(
        TWEETEVAL, [f"datasets/sentiment/{s}_{k}.txt" for s in ("val", "test") for k in ("text", "labels")]
    ),
    "emotion": source_entry(
        TWEETEVAL,
        [f"datasets/emotion/{s}_{k}.txt" for s in ("train", "val", "test") for k in ("text", "labels")],
    ),
    "apple": source_entry(APPLE_TWEETS, ["data/Apple-Twitter-Sentiment-DFE.csv"]),
    "brands": source_entry(BRAND_TWEETS, ["judge-1377884607_tweet_product_company.csv"]),
    "sentiment140": source_entry(
        SENTIMENT140, [f"data/tweets_100k/{k}.txt" for k in ("negative", "positive")]
    ),
    "reviews": source_entry(REVIEW_SENTENCES, list(REVIEW_FILES)),
}


def sentiment140(sources: Path) -> tuple[list[str], list[str]]:
    """Texts and ``negative``/``positive`` labels of the Sentiment140 sample (one tweet a line)."""
    texts: list[str] = []
    labels: list[str] = []
    for label in ("negative", "positive"):
        lines = [t.strip() for t in _lines(SENTIMENT140.read(sources, f"data/tweets_100k/{label}.txt"))]
        texts += lines
        labels += [label] * len(lines)
    return texts, labels


def review_sentences(sources: Path, source: GitSource = REVIEW_SENTENCES) -> tuple[list[str], list[str]]:
    """Texts and ``negative``/``positive`` labels of the Amazon, IMDb and Yelp review sentences."""
    texts: list[str] = []
    labels: list[str] = []
    for path in REVIEW_FILES:
        for line in _lines(source.read(sources, path)):
            text, _, score = line.rpartition("\t")
            if text.strip() and score.strip() in ("0", "1"):
                texts.append(text.strip())
                labels.append(("negative", "positive")[int(score)])
    return texts, labels


def crowdflower_tweets(sources: Path, which: str) -> tuple[list[str], list[str]]:
    """Texts and sentiment names of the ``apple`` or ``brands`` tweets (rows without a label dropped)."""
    source, path, text_column, label_column, mapping = {
        "apple": (APPLE_TWEETS, "data/Apple-Twitter-Sentiment-DFE.csv", "text", "sentiment", APPLE_SENTIMENT),
        "brands": (
            BRAND_TWEETS,
            "judge-1377884607_tweet_product_company.csv",
            "tweet_text",
            "is_there_an_emotion_directed_at_a_brand_or_product",
            BRAND_SENTIMENT,
        ),
    }[which]
    rows = csv.DictReader(io.StringIO(source.read(sources, path, encoding="latin-1"), newline=""))
    kept = [(r[text_column].strip(), mapping[r[label_column]]) for r in rows if r[label_column] in mapping]
    kept = [(t, label) for t, label in kept if t]
    return [t for t, _ in kept], [label for _, label in kept]


#: Apache Jira issues never trained on (evaluation): project -> (source, path).
JIRA_EVAL = {
    "NUTCH": (JIRA_NUTCH, "data/processed/shards/shard_1.jsonl"),
    "KAFKA": (JIRA_KAFKA_SPARK, "data/processed/KAFKA_issues.jsonl"),
    "SPARK": (JIRA_KAFKA_SPARK, "data/processed/SPARK_issues.jsonl"),
}
#: Apache Jira issues the priority head trains on (other projects than the evaluation ones).
JIRA_TRAIN = {
    "ACE": (JIRA_ACE_AMQCPP, "output/ace_issues.jsonl"),
    "AMQCPP": (JIRA_ACE_AMQCPP, "output/amqcpp_issues.jsonl"),
}


#: The Fluid Project's Jira (issues.fluidproject.org), archived one Markdown file per issue.
FLUID_JIRA = GitSource(
    "fluid-project/jira-to-11ty",
    "ef5a2349bf6eb1f608bed6d709a78189b6e48c34",
    "Fluid Project public Jira issues (FLUID, ENGAGE, FLOE, SJRK, ...), archived by the Fluid Project; "
    "repository BSD-3-Clause",
)
#: Folder of the Fluid issue files (``KEY-N.md``: a JSON front matter, then the description).
FLUID_ISSUES = "src/issues"


def fluid_issues(sources: Path, source: GitSource = FLUID_JIRA) -> dict[str, list[tuple[str, str]]]:
    """(summary + description, Jira priority) per Fluid project, issues without a priority dropped."""
    projects: dict[str, list[tuple[str, str]]] = {}
    for name, text in sorted(source.read_folder(sources, FLUID_ISSUES).items()):
        if not name.endswith(".md"):
            continue
        head, _, body = text.removeprefix("---json\n").partition("\n---\n")
        issue = json.loads(head)
        if issue.get("priority"):
            summary = f"{issue.get('summary') or ''}\n{body.strip()}".strip()
            projects.setdefault(issue["project"]["key"], []).append((summary, str(issue["priority"])))
    return projects


def jira_issues(sources: Path, files: dict[str, tuple[GitSource, str]]) -> dict[str, list[tuple[str, str]]]:
    """(title + description, Jira priority) per Apache project of ``files``, deduplicated by issue key."""
    projects: dict[str, list[tuple[str, str]]] = {}
    for project, (source, path) in files.items():
        seen: dict[str, tuple[str, str]] = {}
        for line in _lines(source.read(sources, path)):
            issue = json.loads(line)
            key = issue.get("issue_key") or issue.get("issue_id") or issue.get("id")
            text = f"{issue.get('title') or ''}\n{issue.get('description') or ''}".strip()
            if key and text and issue.get("priority"):
                seen[key] = (text, str(issue["priority"]))
        projects[project] = [seen[k] for k in sorted(seen)]
    return projects


#: More Apache Jira issues for the priority head (``train_urgency_head.py --data apache``).
JIRA_SPEAR = GitSource(
    "SPEAR-SE/LogInBugReportsEmpirical_Data",
    "ab9603c66899b48b0b86bdf63ae7f7a604212b29",
    "Apache ActiveMQ, Hive, Storm and ZooKeeper bug reports from the ASF's public Jira (REST API JSON), "
    "collected for 'logs in bug reports' research (SPEAR lab, Concordia); the repository states no licence",
)
#: Folders of JIRA_SPEAR read (one ``KEY-N.json`` per issue; its Hadoop, HDFS, MapReduce and YARN
#: folders are never read).
SPEAR_FOLDERS = tuple(f"bug_reports/{name}" for name in ("ActiveMQ", "Hive", "Storm", "Zookeeper"))
JIRA_HIGH_IMPACT = GitSource(
    "luisarojas/bug-priority-prediction",
    "9954928c94641bd85eaa09b27b0f48e2f296ba51",
    "Ohira et al., 'A Dataset of High Impact Bugs: Manually-Classified Issue Reports' (MSR 2015): Apache "
    "Ambari, Camel, Derby and Wicket issues from the ASF's public Jira (cite the paper); repository MIT",
)
#: Files of JIRA_HIGH_IMPACT by project (CSV with ``\r`` line ends; commas in texts written as spaces).
HIGH_IMPACT_FILES = {p.upper(): f"dataset/_{p}.csv" for p in ("ambari", "camel", "derby", "wicket")}
JIRA_ZOOKEEPER_NEW = GitSource(
    "prab0007al/jira_scraper",
    "b95441be60d320732c38327372a35362df4c1c6d",
    "Apache ZooKeeper issues (REST API pages) from the ASF's public Jira; repository MIT, the data states "
    "no licence",
)
ZOOKEEPER_PAGES = tuple(f"data/ZOOKEEPER_page_{i}.json" for i in range(4))
#: Apache projects never trained on: the evaluation ones and Hadoop's (reserved elsewhere).
APACHE_EXCLUDED = frozenset({"NUTCH", "KAFKA", "SPARK", "HADOOP", "HDFS", "MAPREDUCE", "YARN", "COMMON"})


def apache_issues(sources: Path) -> dict[str, list[tuple[str, str]]]:
    """(title + description, Jira priority) per project of the JIRA_SPEAR, JIRA_HIGH_IMPACT and
    JIRA_ZOOKEEPER_NEW issues, deduplicated by issue key (first source wins), APACHE_EXCLUDED left out.
    """
    issues: dict[str, tuple[str, str]] = {}

    def add(key: str, title: str, description: str, priority: str) -> None:
        text = f"{title.strip()}\n{description.strip()}".strip()
        if key not in issues and text and priority.strip():
            issues[key] = (text, priority.strip())

    def add_rest(issue: dict[str, object]) -> None:
        fields = issue["fields"]
        assert isinstance(fields, dict)
        add(
            str(issue["key"]),
            fields.get("summary") or "",
            fields.get("description") or "",
            (fields.get("priority") or {}).get("name") or "",
        )

    for folder in SPEAR_FOLDERS:
        for name, text in JIRA_SPEAR.read_folder(sources, folder).items():
            if "/" not in name:  # one KEY-N.json per issue; its comments/ and details/ are not read
                add_rest(json.loads(text))
    for project, path in HIGH_IMPACT_FILES.items():
        rows = list(csv.reader(JIRA_HIGH_IMPACT.read(sources, path).lstrip("\ufeff").splitlines()))
        column = {_column_name(name): i for i, name in reversed(list(enumerate(rows[0])))}
        for r in rows[1:]:
            add(
                f"{project}-{r[column['issueid']].strip()}",
                r[column["summary"]],
                r[column["description"]],
                r[column["priority"]],
            )
    for path in ZOOKEEPER_PAGES:
        for issue in json.loads(JIRA_ZOOKEEPER_NEW.read(sources, path)):
            add_rest(issue)
    projects: dict[str, list[tuple[str, str]]] = {}
    for key in sorted(issues):
        project = key.rsplit("-", 1)[0]
        if project not in APACHE_EXCLUDED:
            projects.setdefault(project, []).append(issues[key])
    return dict(sorted(projects.items()))


#: Tobi Bueck's "Customer Support Tickets" (synthetic tickets with queue and language), as copied to GitHub.
TOBI_BUECK = GitSource(
    "kishorekumar1111/Ticket-Hackthon",
    "fd8a959285a24a6611b36fdc16e7b22ecb0f2a1b",
    "CC BY-NC 4.0 (Tobi Bueck, Customer Support Tickets; non-commercial)",
)
#: Files of TOBI_BUECK that ../shared/data's tickets (dev and held-out halves) were built from.
TOBI_BUECK_SHARED = (
    "data/dataset-tickets-multi-lang3-4k.csv",
    "data/dataset-tickets-multi-lang-4-20k.csv",
    "data/aa_dataset-tickets-multi-lang-5-2-50-version.csv",
)


def tobi_bueck_tickets(sources: Path, path: str) -> list[dict[str, str]]:
    """Rows of one TOBI_BUECK file: ``text`` (subject + body, literal ``\\n`` and ``<br>`` as breaks,
    whitespace collapsed as in ../shared/data), ``queue`` and ``language``; rows without a body dropped.
    """
    rows = csv.DictReader(io.StringIO(TOBI_BUECK.read(sources, path), newline=""))
    return [
        {
            "text": ticket_text(_collapse(r.get("subject") or ""), _collapse(r["body"])),
            "queue": (r.get("queue") or "").strip(),
            "language": (r.get("language") or "").strip(),
        }
        for r in rows
        if (r.get("body") or "").strip()
    ]


def same_text(text: str) -> str:
    """The key under which two ticket texts count as the same row (case and whitespace ignored)."""
    return " ".join(text.lower().split())


def _collapse(text: str) -> str:
    return " ".join(text.replace("\\n", "\n").replace("<br>", "\n").split())


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


def load_encoder(name: str, threads: int = 0, *, features: bool = False) -> tuple[Embed, str, Path]:
    """An embedding function for encoder ``name`` (``MVR_ENCODER``), an id of its model, and its directory.

    With ``features`` the function returns the encoder's whole features (``TextEncoder.features``:
    what the sentiment head reads), otherwise the sentence embeddings alone. The id (for the
    cache) is the encoder's name, its manifest's model files (heads left out) and that choice.
    """
    models = ROOT / "models_export"
    encoder = encoders.load_encoder(name, models, threads=threads)
    directory = encoders.encoder_dir(models, name)
    files = Manifest.load(directory).data.get("files", {})
    model_files = (
        {k: v for k, v in files.items() if not str(k).endswith(".npz")} if isinstance(files, dict) else files
    )
    model_id = name + ":" + hashlib.sha256(json.dumps(model_files, sort_keys=True).encode()).hexdigest()
    if features:
        model_id += ":features"
    width = None if features else encoder.dimension

    def embed(texts: list[str]) -> np.ndarray:
        ids = encoder.tokenize(texts)
        order = np.argsort([len(x) for x in ids], kind="stable")
        out: np.ndarray | None = None
        for start in range(0, len(order), BATCH):
            chunk = order[start : start + BATCH]
            part = encoder.embed_ids([ids[i] for i in chunk])[:, :width]
            if out is None:
                out = np.zeros((len(texts), part.shape[1]), dtype=np.float32)
            out[chunk] = part
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)

    return embed, model_id, directory


def embed_cached(embed: Embed, model_id: str, texts: list[str], cache: Path | None) -> np.ndarray:
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


def record_head(models_dir: Path, file_name: str, info: dict[str, object]) -> None:
    """Write ``info`` (sources, licences, rows, figures) as ``heads.<file_name>`` of the manifest; rehash.

    Only ``models_dir``'s own manifest is touched; ``scripts/export_onnx.py --rehash`` keeps this entry.
    """
    path = models_dir / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest.setdefault("heads", {})[file_name] = info
    manifest["heads"] = dict(sorted(manifest["heads"].items()))
    path.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "export_onnx.py"), "--rehash", "--out", str(models_dir)],
        check=True,
    )


def _column_name(name: str) -> str:
    """A CSV header in one spelling: ``issue_id``, ``IssueId `` and ``issueid`` are the same."""
    return name.strip().lower().replace("_", "")


def _lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip()]


# --- English category head (billing / technical / legal) ------------------------------------------------

#: Google's Schema-Guided Dialogue (DSTC8; not DSTC11): user requests of its Banks and Payment services.
SGD = GitSource(
    "google-research-datasets/dstc8-schema-guided-dialogue",
    "e852981ae34990f4358979625854259302feaa78",
    "CC BY-SA 4.0 (repository LICENSE.txt); Rastogi et al. (2020), Schema-Guided Dialogue",
)
#: The SGD dialogue files holding Banks_1, Banks_2 or Payment_1 dialogues (the others are not read).
SGD_FILES = (
    *(f"dev/dialogues_{i:03d}.json" for i in (4, 5, 8, 9, 11, 12)),
    *(f"test/dialogues_{i:03d}.json" for i in (8, 13, 24, 25)),
    *(f"train/dialogues_{i:03d}.json" for i in (32, 39, 40, 64, 65, 96, 97, 98, 99)),
)
SGD_SERVICES = ("Banks_1", "Banks_2", "Payment_1")

#: PolyAI's NLU++ (banking domain; not BANKING77): multi-label intents of online-banking queries.
NLUPP = GitSource(
    "PolyAI-LDN/task-specific-datasets",
    "57ec275d8078af65b7731c2a98be812d844a6d6b",
    "CC BY 4.0 (repository LICENSE); Casanueva et al. (2022), NLU++",
)
NLUPP_FILES = tuple(f"nlupp/data/banking/fold{i}.json" for i in range(20))
#: NLU++ intents that make a query billing (money moved, charged, owed or refunded).
NLUPP_BILLING = frozenset(
    {
        "transfer_payment_deposit",
        "fees_interests",
        "balance",
        "refund",
        "direct_debit",
        "standing_order",
        "overdraft",
    }
)
#: NLU++ intents that make a query technical (PIN / card access), when no billing intent is present.
NLUPP_TECHNICAL = frozenset({"pin"})

#: Stack Exchange questions (Ask Ubuntu, Web Applications) of Braun et al. (SIGdial 2017).
SEBIS = GitSource(
    "sebischair/NLU-Evaluation-Corpora",
    "9bac08b980f0f570c4166e2d7243c2971df50d8f",
    "CC BY-SA 3.0 (repository README and LICENSE); questions from askubuntu.com and "
    "webapps.stackexchange.com",
)
SEBIS_FILES = ("AskUbuntuCorpus.json", "WebApplicationsCorpus.json")

#: PrivacyQA: crowd-written questions about mobile apps' privacy policies (not OPP-115's policies).
PRIVACYQA = GitSource(
    "AbhilashaRavichander/PrivacyQA_EMNLP",
    "5178ff3eaf61cbdaea03d85ff23b676b3fea451f",
    "MIT (repository LICENSE); Ravichander et al. (EMNLP 2019), Question Answering for Privacy Policies",
)
PRIVACYQA_FILES = tuple(
    f"data/meta-annotations/OPP-115 Annotations/{split}_opp_annotations.csv" for split in ("train", "test")
)
#: Question categories (OPP-115 scheme) that make a PrivacyQA question a privacy/legal one.
PRIVACYQA_LEGAL = ("first", "third", "datasecurity", "dataretention", "user_access", "user_choice")

#: Terms of Service; Didn't Read: clauses quoted from services' terms and privacy policies.
TOSDR = GitSource(
    "tosdr/tosdr.org",
    "6cb7f74e02c98cbfb1feb323444ee95e91b47a2c",
    "ToS;DR data (the points' JSON) CC BY-SA, site code AGPL-3.0 (repository README); the quotes are "
    "excerpts of the services' own terms",
)
TOSDR_POINTS = "src/points"


def sgd_requests(sources: Path, source: GitSource = SGD) -> list[tuple[str, str]]:
    """(utterance, ``SGD service:intent``) of the user turn that opens each Banks/Payment intent."""
    rows = []
    for path in SGD_FILES:
        for dialogue in json.loads(source.read(sources, path)):
            seen: set[tuple[str, str]] = set()
            for turn in dialogue["turns"]:
                if turn["speaker"] != "USER":
                    continue
                for frame in turn["frames"]:
                    key = (frame["service"], frame["state"]["active_intent"])
                    if key[0] in SGD_SERVICES and key[1] != "NONE" and key not in seen:
                        seen.add(key)
                        rows.append((turn["utterance"].strip(), ":".join(key)))
    return rows


def nlupp_queries(sources: Path, source: GitSource = NLUPP) -> list[tuple[str, str]]:
    """(query, ``billing`` | ``technical``) of the NLU++ banking queries that map to a category."""
    rows = []
    for path in NLUPP_FILES:
        for item in json.loads(source.read(sources, path)):
            intents = set(item.get("intents", []))
            if intents & NLUPP_BILLING:
                rows.append((item["text"].strip(), "billing"))
            elif intents & NLUPP_TECHNICAL:
                rows.append((item["text"].strip(), "technical"))
    return rows


def sebis_questions(sources: Path, source: GitSource = SEBIS) -> list[tuple[str, str]]:
    """(question, corpus intent) of the Ask Ubuntu and Web Applications corpora."""
    return [
        (s["text"].strip(), s.get("intent") or "None")
        for path in SEBIS_FILES
        for s in json.loads(source.read(sources, path))["sentences"]
    ]


def privacyqa_questions(sources: Path, source: GitSource = PRIVACYQA) -> list[tuple[str, str]]:
    """(question, its OPP-115-scheme categories) of the PrivacyQA questions with a privacy category."""
    rows = []
    for path in PRIVACYQA_FILES:
        for r in csv.DictReader(io.StringIO(source.read(sources, path), newline=""), delimiter="\t"):
            labels = [c for c in PRIVACYQA_LEGAL if (r.get(c) or "").strip() == "1"]
            if labels and (r.get("Query") or "").strip():
                rows.append((r["Query"].strip(), "+".join(labels)))
    return rows


def tosdr_quotes(sources: Path, source: GitSource = TOSDR) -> list[tuple[str, str]]:
    """(quoted clause, point id) of the ToS;DR points with a quote, moderated and not marked irrelevant."""
    rows = []
    for name, text in sorted(source.read_folder(sources, TOSDR_POINTS).items()):
        if not name.endswith(".json"):
            continue
        point = json.loads(text)
        quote = " ".join(re.sub(r"<[^>]*>", " ", str(point.get("quoteText") or "")).split())
        if (point.get("tosdr") or {}).get("irrelevant") or point.get("needModeration") or len(quote) < 40:
            continue
        rows.append((quote, str(point.get("id", name))))
    return rows
