"""Languages: non-English tickets go to the multilingual encoder; English ones stay on the default."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mvr.config import ConfigError, Settings
from mvr.inference.engine import Engine
from mvr.inference.language import ENGLISH, LanguageDetector


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    engine = Engine.from_settings(Settings())
    yield engine
    engine.close()


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Ich kann mich seit dem Update nicht mehr einloggen.", "de"),
        ("La plataforma está caída y nadie puede iniciar sesión.", "es"),
        ("Bonjour, ma facture de ce mois est fausse, merci de la corriger.", "fr"),
        ("O sistema está fora do ar e ninguém consegue entrar.", "pt"),
        ("My invoice is wrong, please fix it.", ENGLISH),
        ("VPN", ENGLISH),  # too short to tell: stays on the English encoder
    ],
)
def test_detector_names_the_language_or_says_english_when_unsure(text: str, language: str) -> None:
    assert LanguageDetector().language(text) == language


def test_non_english_tickets_are_read_by_the_multilingual_encoder(engine: Engine) -> None:
    german, english = engine.decide_many(
        [
            "Unsere Rechnung wurde doppelt belastet, bitte erstatten Sie den Betrag.",
            "Our invoice was charged twice, please refund the amount.",
        ]
    )
    assert german.explanation["language"] == "de"
    assert german.explanation["model"].startswith("multilingual-e5-small")
    assert german.category == "Billing"
    assert english.explanation["language"] == ENGLISH
    assert english.explanation["model"] == "all-MiniLM-L6-v2-int8"
    assert english.category == "Billing"


def test_multilingual_encoder_can_be_switched_off() -> None:
    engine = Engine.from_settings(Settings(multilingual_encoder="off"))
    try:
        decision = engine.decide("Unsere Rechnung wurde doppelt belastet.")
    finally:
        engine.close()
    assert "language" not in decision.explanation
    assert decision.explanation["model"] == "all-MiniLM-L6-v2-int8"


def test_unknown_multilingual_encoder_is_refused() -> None:
    with pytest.raises(ConfigError, match="MVR_MULTILINGUAL_ENCODER"):
        Settings.from_env({"MVR_MULTILINGUAL_ENCODER": "bert"})


def test_router_reports_the_english_backends_category_method(engine: Engine) -> None:
    assert engine.backend.category_method == "prototypes"  # type: ignore[attr-defined]
