"""Urgency S: the combination formula and the SST-2 sentiment head on real embeddings."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mvr.config import DEFAULT_MODELS_DIR
from mvr.errors import InferenceFailed
from mvr.inference.cues import LANGUAGES, cue_score, match_cues
from mvr.inference.encoder import Encoder
from mvr.inference.linear import LinearHead
from mvr.inference.urgency import FORMULA, FORMULA_WITH_PRIORITY, SentimentHead, combine_urgency

#: (language, ticket, cues it must raise): one outage-and-locked-out ticket and one more per language.
URGENT_TICKETS = [
    ("en", "We have lost all orders from last night and payroll runs tomorrow.", {"data_loss", "money"}),
    ("en", "Nobody can log in and all our customers see errors.", {"outage", "locked_out", "wide_impact"}),
    ("en", "The release is blocked, please fix it by Friday.", {"blocking", "deadline"}),
    ("de", "Die Plattform ist ausgefallen, niemand kann sich anmelden. Dringend!", {"outage", "asap"}),
    ("de", "Wir können uns nicht anmelden und alle Kunden sind betroffen.", {"locked_out", "wide_impact"}),
    ("de", "Datenverlust nach dem Update, unser Anwalt ist informiert.", {"data_loss", "legal_threat"}),
    (
        "es",
        "La plataforma está caída, no podemos iniciar sesión, es urgente.",
        {"outage", "locked_out", "asap"},
    ),
    ("es", "Nos han cobrado dos veces y la nómina vence mañana.", {"money"}),
    ("es", "Hemos perdido los datos de todos nuestros clientes.", {"data_loss", "wide_impact"}),
    ("fr", "Le site est en panne, impossible de nous connecter. Urgent.", {"outage", "locked_out", "asap"}),
    ("fr", "Perte de données après la mise à jour, date limite demain.", {"data_loss", "deadline"}),
    ("fr", "Notre compte a été piraté, tous nos clients sont touchés.", {"security", "wide_impact"}),
    ("pt", "O sistema está fora do ar e ninguém consegue entrar, urgente!", {"outage", "asap"}),
    ("pt", "Não conseguimos acessar e perdemos dados importantes.", {"locked_out", "data_loss"}),
    ("pt", "Fui cobrado duas vezes, o prazo é amanhã.", {"money", "deadline"}),
]
#: Calm tickets in each language: no cue at all.
CALM_TICKETS = [
    ("en", "Could you tell me how to change the font of my invoices? Thanks a lot."),
    ("de", "Könnten Sie mir bitte erklären, wie ich mein Profilbild ändere? Vielen Dank."),
    ("es", "¿Podrían explicarme cómo cambio la foto de mi perfil? Muchas gracias."),
    ("fr", "Pourriez-vous m'expliquer comment changer ma photo de profil ? Merci beaucoup."),
    ("pt", "Vocês podem me explicar como mudo a foto do meu perfil? Muito obrigado."),
]


@pytest.mark.parametrize(
    ("p_negative", "text", "expected"),
    [
        (0.0, "A question about fonts.", 0.0),
        (1.0, "A question about fonts.", 0.6),
        (0.5, "A question about fonts.", 0.3),
        (0.0, "Please call me back asap.", 0.65),
        (1.0, "Please call me back asap.", 1 - 0.4 * 0.35),
    ],
)
def test_combine_urgency_follows_the_formula(p_negative: float, text: str, expected: float) -> None:
    s, _ = combine_urgency(p_negative, text)
    assert s == pytest.approx(expected)


@pytest.mark.parametrize(
    ("p_negative", "p_high", "expected"),
    [(1.0, 0.0, 0.2), (0.0, 0.5, 0.5), (0.0, 1.0, 1.0), (1.0, 0.5, 1 - 0.8 * 0.5)],
)
def test_with_a_priority_head_tone_weighs_less(p_negative: float, p_high: float, expected: float) -> None:
    s, explanation = combine_urgency(p_negative, "A question about fonts.", p_high)
    assert s == pytest.approx(expected)
    assert explanation["formula"] == FORMULA_WITH_PRIORITY
    assert explanation["priority_high"] == p_high


def test_explanation_shows_each_part() -> None:
    s, explanation = combine_urgency(0.25, "Production is down and this is urgent")
    assert explanation["sentiment_negative"] == 0.25
    assert {"outage", "asap"} <= set(explanation["cues"])
    assert explanation["cue_score"] == pytest.approx(1 - (1 - 0.9) * (1 - 0.65) * (1 - 0.9), abs=1e-4)
    assert explanation["formula"] == FORMULA
    assert s > 0.99


@given(st.floats(min_value=-1.0, max_value=2.0), st.text(max_size=300))
def test_s_is_always_in_unit_interval(p_negative: float, text: str) -> None:
    s, _ = combine_urgency(p_negative, text)
    assert 0.0 <= s <= 1.0


@given(st.floats(min_value=0.0, max_value=1.0), st.floats(min_value=0.0, max_value=1.0))
def test_more_negative_is_never_less_urgent(a: float, b: float) -> None:
    text = "The invoice is wrong, fix it by tomorrow."
    low, high = sorted((a, b))
    assert combine_urgency(low, text)[0] <= combine_urgency(high, text)[0]


@pytest.mark.parametrize(("language", "text", "expected"), URGENT_TICKETS)
def test_cues_find_urgency_in_each_language(language: str, text: str, expected: set[str]) -> None:
    found = {cue.name for cue in match_cues(text)}
    assert expected <= found, f"{language}: {text!r} raised {found}"


@pytest.mark.parametrize(("language", "text"), CALM_TICKETS)
def test_calm_tickets_raise_no_cue(language: str, text: str) -> None:
    assert match_cues(text) == [], language


def test_every_language_is_covered_by_the_cue_tests() -> None:
    assert {lang for lang, *_ in URGENT_TICKETS} == {lang for lang, _ in CALM_TICKETS} == set(LANGUAGES)


def test_cues_accept_missing_accents() -> None:
    assert {c.name for c in match_cues("la plataforma esta caida, no podemos iniciar sesion")} >= {
        "outage",
        "locked_out",
    }


def test_cues_match_whole_words_only() -> None:
    # "sue" inside "issue", "court" inside "courtesy", "caiu" inside another word: no cue.
    assert match_cues("An issue about courtesy emails") == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_urgent_ticket_is_high_even_with_a_neutral_tone(language: str) -> None:
    text = next(t for lang, t, _ in URGENT_TICKETS if lang == language)
    s, explanation = combine_urgency(0.2, text)
    assert s > 0.8, (language, explanation)
    assert explanation["cue_score"] == pytest.approx(cue_score(match_cues(text)), abs=1e-4)


def test_sentiment_head_ranks_angry_above_happy() -> None:
    encoder = Encoder.from_dir(DEFAULT_MODELS_DIR, threads=1)
    head = SentimentHead.load(DEFAULT_MODELS_DIR / "sentiment_head.npz")
    angry = ["This is the worst service I have ever used, I am furious.", "Terrible, nobody helps."]
    happy = ["Thank you so much, the new version is wonderful!", "Great support, quick and friendly."]
    p = head.p_negative(encoder.features(angry + happy))
    assert p[:2].min() > 0.5 > p[2:].max()


def test_heads_read_the_leading_features_they_were_fitted_on() -> None:
    weights = np.array([[8.0, 0.0], [0.0, 0.0]], np.float32)
    head = SentimentHead(LinearHead(weights, np.zeros(2, np.float32), ("negative", "other")))
    # Columns after the head's width (an encoder's extra features) are not read.
    p = head.p_negative(np.array([[1.0, 0.0, 9.0], [-1.0, 0.0, -9.0]], np.float32))
    assert p[0] > 0.99 and p[1] < 0.01
    with pytest.raises(InferenceFailed, match="reads 2 features, the encoder gives 1"):
        head.p_negative(np.ones((1, 1), np.float32))


def test_sentiment_head_needs_a_negative_class() -> None:
    head = LinearHead(np.zeros((4, 2), np.float32), np.zeros(2, np.float32), ("good", "bad"))
    with pytest.raises(InferenceFailed, match="negative"):
        SentimentHead(head)
