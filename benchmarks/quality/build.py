"""Rebuild the external routing benchmark's CSV files from pinned public repositories.

Usage:
    .venv/bin/python benchmarks/quality/build.py [--mirrors DIR] [--out DIR]

Every source is read with ``git show COMMIT:PATH`` from a bare mirror of its
repository (``DIR/<owner>+<name>/repo``, as the ``fetch`` tool lays them out), at
the commit pinned in ``SOURCES``; nothing is downloaded. Sampling is seeded and
the inputs are sorted first, so the same commits give byte-identical files.
See README.md in this directory for the sources, licences and label mappings.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import re
import subprocess
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Seed of every sample drawn here.
SEED = 20261201
#: Longest text kept (characters, cut at a word boundary).
MAX_CHARS = 1500
#: Columns of every CSV written here.
COLUMNS = ("subject", "body", "category", "source", "source_label")


@dataclass(frozen=True)
class Pin:
    """One file of a public repository at a fixed commit."""

    repo: str
    commit: str
    path: str


CLINC = Pin("clinc/oos-eval", "828f8093932c8fe6ca7936c3d2e52903b1c523de", "data/data_full.json")
POLICYQA = (
    Pin("wasiahmad/PolicyQA", "775538bc6d932e9d0dd16975d4373659cf8964fe", "data/dev.json"),
    Pin("wasiahmad/PolicyQA", "775538bc6d932e9d0dd16975d4373659cf8964fe", "data/test.json"),
)
IT_TICKETS = Pin(
    "Lunalykaya/IT-Service-Ticket-Classification",
    "8603bdc49c1b56ec881e4bb954a2d0905a749e2f",
    "data/archive (50).zip",
)
VSCODE = Pin(
    "av9ash/gitbugs",
    "0e02fec8207f1f2aba0d523cbe39307e89332f24",
    "ms_vscode_bugs/microsoft_vscodebugs_sample.csv",
)
# Held-out sets: never read while writing category texts, never shown row by row (README.md).
RASA_FINANCE = Pin("RasaHQ/financial-demo", "7627cebef1571d55855b886cf4ac20459af9566c", "data/nlu/nlu.yml")
RASA_HELPDESK = Pin("RasaHQ/helpdesk-assistant", "2e9f2258c6648488bd02af86ea2803de5a9fde04", "data/nlu.yml")
#: The English ToS of the CLAUDETTE multilingual corpus: one sentence per line, tags on the same line.
UNFAIR_TOS_REPO, UNFAIR_TOS_COMMIT = (
    "nlp-unibo/Multilingual-Unfair-Clause-Detection",
    "04d9878bfca0e1e17e7dd1cf7bd17fc4ce5fcd12",
)
UNFAIR_TOS_LIST = "corpus/lists/LIST_ALL.txt"
UNFAIR_TOS_SENTENCES, UNFAIR_TOS_TAGS = "corpus/sentences/en/original", "corpus/tags/en/original"

#: CLINC150 intents kept for the three-class set, and where each goes.
CLINC_ROUTING = {
    "bill_balance": "billing",
    "bill_due": "billing",
    "pay_bill": "billing",
    "min_payment": "billing",
    "transactions": "billing",
    "card_declined": "billing",
    "international_fees": "billing",
    "apr": "billing",
    "account_blocked": "technical",
    "pin_change": "technical",
    "reset_settings": "technical",
    "sync_device": "technical",
}
#: Utterances drawn per CLINC intent (from the train split): 8 x 40 billing, 4 x 75 technical.
CLINC_PER_INTENT = {"billing": 40, "technical": 75}
#: CLINC150 domains of the custom taxonomy and the category name each gets in clinc_taxonomy.json.
CLINC_DOMAINS = {
    "banking": "Banking",
    "credit_cards": "Credit cards",
    "kitchen_and_dining": "Food and dining",
    "home": "Home and shopping",
    "auto_and_commute": "Car and commute",
    "travel": "Travel",
    "work": "Work and HR",
}
#: Utterances per intent of the taxonomy set (from the test split): 15 intents x 6 = 90 per domain.
TAXONOMY_PER_INTENT = 6
#: IT service ticket topic groups kept, all technical; the others are HR, purchasing or unclear.
IT_TOPICS = ("Hardware", "Access", "Storage", "Administrative rights")
IT_PER_TOPIC = 100
#: PolicyQA questions kept (distinct, case-insensitively).
POLICYQA_ROWS = 400
#: Rasa financial-demo intents kept, all billing (money matters with a bank); the rest are chit-chat,
#: hand-off or slot answers.
RASA_FINANCE_INTENTS = {
    intent: "billing"
    for intent in (
        "ask_transfer_charge",
        "check_balance",
        "check_earnings",
        "pay_cc",
        "search_transactions",
        "transfer_money",
    )
}
#: Rasa helpdesk-assistant intents kept, all technical (IT service desk); ``incident_status`` (asks
#: after a ticket, names no problem), chit-chat, hand-off and slot answers are dropped.
RASA_HELPDESK_INTENTS = {
    intent: "technical" for intent in ("open_incident", "password_reset", "problem_email")
}
#: ToS clauses kept: a seeded sample of those tagged potentially (2) or clearly (3) unfair.
UNFAIR_TOS_ROWS = 300

_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_URL = re.compile(r"https?://\S+")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_SPACE = re.compile(r"\s+")
_RASA_INTENT = re.compile(r"^- intent: *(\S+)")
_RASA_EXAMPLE = re.compile(r"^ +- (.+)$")
_RASA_ENTITY = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")


def git_show(mirrors: Path, pin: Pin) -> bytes:
    """Return the bytes of ``pin.path`` at ``pin.commit`` from the mirror of ``pin.repo``."""
    git_dir = mirrors / pin.repo.replace("/", "+") / "repo"
    return subprocess.run(
        ["git", "--git-dir", str(git_dir), "show", f"{pin.commit}:{pin.path}"],
        check=True,
        capture_output=True,
    ).stdout


def clean(text: str) -> str:
    """Strip HTML comments, images, URLs and e-mail addresses; collapse whitespace; cap the length."""
    text = _HTML_COMMENT.sub(" ", text)
    text = _MD_IMAGE.sub(" ", text)
    text = _URL.sub("[URL]", text)
    text = _EMAIL.sub("[EMAIL]", text)
    text = _SPACE.sub(" ", text).strip()
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS].rsplit(" ", 1)[0]
    return text


def row(body: str, category: str, source: str, label: str, subject: str = "") -> dict[str, str]:
    return {
        "subject": clean(subject),
        "body": clean(body),
        "category": category,
        "source": source,
        "source_label": label,
    }


def sample_per_label(
    items: Iterable[tuple[str, str]], per_label: Callable[[str], int], rng: random.Random
) -> list[tuple[str, str]]:
    """Draw ``per_label(label)`` distinct texts of each label from (text, label) pairs, in a fixed order."""
    by_label: dict[str, dict[str, None]] = {}
    for text, label in items:
        by_label.setdefault(label, {})[text] = None
    drawn: list[tuple[str, str]] = []
    for label in sorted(by_label):
        texts = sorted(by_label[label])
        drawn += [(t, label) for t in rng.sample(texts, min(per_label(label), len(texts)))]
    return drawn


def clinc_rows(mirrors: Path) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The three-class CLINC150 set (train split) and the seven-domain taxonomy set (test split)."""
    data = json.loads(git_show(mirrors, CLINC))
    domains = json.loads(git_show(mirrors, Pin(CLINC.repo, CLINC.commit, "data/domains.json")))
    routing = [(t, i) for t, i in data["train"] if i in CLINC_ROUTING]
    drawn = sample_per_label(routing, lambda i: CLINC_PER_INTENT[CLINC_ROUTING[i]], random.Random(SEED))
    three = [row(t, CLINC_ROUTING[i], "clinc150", i) for t, i in drawn]
    domain_of = {i: CLINC_DOMAINS[d] for d, intents in domains.items() if d in CLINC_DOMAINS for i in intents}
    test = [(t, i) for t, i in data["test"] if i in domain_of]
    drawn = sample_per_label(test, lambda _: TAXONOMY_PER_INTENT, random.Random(SEED + 1))
    taxonomy = [row(t, domain_of[i], "clinc150", i) for t, i in drawn]
    return three, taxonomy


def policyqa_rows(mirrors: Path) -> list[dict[str, str]]:
    """Distinct PolicyQA questions (dev and test files), all legal."""
    seen: dict[str, str] = {}
    for pin in POLICYQA:
        for article in json.loads(git_show(mirrors, pin))["data"]:
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    question = _SPACE.sub(" ", qa["question"]).strip()
                    seen.setdefault(question.lower(), question)
    questions = sorted(seen.values())
    drawn = random.Random(SEED + 2).sample(questions, min(POLICYQA_ROWS, len(questions)))
    return [row(q, "legal", "policyqa", "privacy_question") for q in sorted(drawn)]


def it_ticket_rows(mirrors: Path) -> list[dict[str, str]]:
    """IT service desk tickets of the technical topic groups."""
    archive = zipfile.ZipFile(io.BytesIO(git_show(mirrors, IT_TICKETS)))
    (name,) = [n for n in archive.namelist() if n.endswith(".csv")]
    reader = csv.DictReader(io.TextIOWrapper(archive.open(name), encoding="utf-8"))
    items = [(r["Document"], r["Topic_group"]) for r in reader if r["Topic_group"] in IT_TOPICS]
    drawn = sample_per_label(items, lambda _: IT_PER_TOPIC, random.Random(SEED + 3))
    return [row(t, "technical", "it_tickets", topic) for t, topic in drawn]


def vscode_rows(mirrors: Path) -> list[dict[str, str]]:
    """The 100 VS Code bug reports of GitBugs' sample file (title as subject)."""
    reader = csv.DictReader(io.StringIO(git_show(mirrors, VSCODE).decode("utf-8")))
    rows = [
        row(r["body"], "technical", "gitbugs_vscode", r["labels"].split(":")[0], subject=r["title"])
        for r in reader
    ]
    return sorted((r for r in rows if r["body"] or r["subject"]), key=lambda r: (r["subject"], r["body"]))


def rasa_rows(mirrors: Path, pin: Pin, routing: dict[str, str], source: str) -> list[dict[str, str]]:
    """Every distinct example of the ``routing`` intents of a Rasa NLU file, entity markup removed."""
    intent, items = "", []
    for line in git_show(mirrors, pin).decode("utf-8").splitlines():
        if found := _RASA_INTENT.match(line):
            intent = found.group(1)
        elif (found := _RASA_EXAMPLE.match(line)) and intent in routing:
            items.append((_RASA_ENTITY.sub(r"\1", found.group(1)).strip(), intent))
        elif line and not line.startswith(" "):
            intent = ""
    return [row(t, routing[i], source, i) for t, i in sorted(set(items), key=lambda x: (x[1], x[0]))]


def unfair_tos_rows(mirrors: Path) -> list[dict[str, str]]:
    """A seeded sample of potentially or clearly unfair clauses of the 50 English ToS, all legal."""

    def lines(path: str) -> list[str]:
        return git_show(mirrors, Pin(UNFAIR_TOS_REPO, UNFAIR_TOS_COMMIT, path)).decode("utf-8").split("\n")

    items: dict[str, str] = {}
    for name in sorted(n.strip() for n in lines(UNFAIR_TOS_LIST) if n.strip()):
        sentences = lines(f"{UNFAIR_TOS_SENTENCES}/{name}")
        tags = lines(f"{UNFAIR_TOS_TAGS}/{name}")
        for sentence, tag in zip(sentences, tags, strict=True):
            unfair = sorted(t for t in tag.split() if t[-1] in "23")
            if unfair and sentence.strip():
                items.setdefault(_SPACE.sub(" ", sentence).strip(), " ".join(unfair))
    drawn = random.Random(SEED + 5).sample(sorted(items), min(UNFAIR_TOS_ROWS, len(items)))
    return [row(t, "legal", "unfair_tos", items[t]) for t in sorted(drawn)]


def write(path: Path, rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"{path.name}: {len(rows)} rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mirrors", type=Path, default=Path("/work/.mirror"), help="directory of bare mirrors"
    )
    parser.add_argument("--out", type=Path, default=HERE, help="where the CSV files go")
    args = parser.parse_args()
    three, taxonomy = clinc_rows(args.mirrors)
    write(args.out / "clinc150.csv", three)
    write(args.out / "clinc150_domains.csv", taxonomy)
    write(args.out / "policyqa.csv", policyqa_rows(args.mirrors))
    write(args.out / "it_tickets.csv", it_ticket_rows(args.mirrors))
    write(args.out / "gitbugs_vscode.csv", vscode_rows(args.mirrors))
    write(
        args.out / "rasa_finance.csv",
        rasa_rows(args.mirrors, RASA_FINANCE, RASA_FINANCE_INTENTS, "rasa_finance"),
    )
    write(
        args.out / "rasa_helpdesk.csv",
        rasa_rows(args.mirrors, RASA_HELPDESK, RASA_HELPDESK_INTENTS, "rasa_helpdesk"),
    )
    write(args.out / "unfair_tos.csv", unfair_tos_rows(args.mirrors))


if __name__ == "__main__":
    main()
