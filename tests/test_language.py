"""Languages: non-English tickets go to the multilingual encoder; English ones stay on the default."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

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
    assert engine.backend.category_method == "prototypes+head"  # type: ignore[attr-defined]


def test_german_tickets_are_routed_by_prototypes_and_the_shipped_head(engine: Engine) -> None:
    billing, technical = engine.decide_many(
        [
            "Sehr geehrtes Support-Team, auf der letzten Rechnung für unser Abonnement wurde ein höherer "
            "Betrag abgebucht als vereinbart. Bitte prüfen Sie die Zahlung und erstatten Sie die Differenz.",
            "Hallo, seit dem letzten Update stürzt die Anwendung beim Start ab und die Synchronisierung "
            "mit dem Server schlägt mit einem Zeitüberschreitungsfehler fehl.",
        ]
    )
    for decision in (billing, technical):
        assert decision.explanation["language"] == "de"
        assert decision.explanation["category_method"] == "prototypes+head"
    assert billing.category == "Billing"
    assert technical.category == "Technical"


def test_keywords_count_as_evidence_for_non_english_tickets_only(engine: Engine) -> None:
    german, english = engine.decide_many(
        [
            "Bitte senden Sie uns eine Kopie der Rechnung und eine Gutschrift für die doppelte Abbuchung.",
            "Please send us a copy of the invoice and a credit note for the double charge.",
        ]
    )
    # Then the German ticket's explanation shows the keywords found, per category
    assert german.explanation["category_keywords"] == {"Billing": 3, "Technical": 0, "Legal": 0}
    assert german.category == "Billing"
    # and English tickets are routed by the encoder alone
    assert "category_keywords" not in english.explanation


def test_a_head_fitted_for_non_english_tickets_is_not_used_on_english_ones() -> None:
    # Given e5-small reading every ticket: its shipped head was fitted for the multilingual route
    engine = Engine.from_settings(Settings(encoder="e5-small"))
    try:
        decision = engine.decide("Our invoice was charged twice, please refund the amount.")
    finally:
        engine.close()
    assert decision.explanation["model"].startswith("multilingual-e5-small")
    assert decision.explanation["category_method"] == "prototypes"


def test_custom_categories_bypass_the_shipped_head(tmp_path: Path) -> None:
    # Given categories of the user's own (the head was fitted for the defaults only)
    path = tmp_path / "cats.json"
    path.write_text(
        json.dumps(
            [
                {"name": "Shipping", "description": "Parcels, deliveries and couriers.", "examples": []},
                {"name": "Other", "description": "Anything else.", "examples": []},
            ]
        ),
        encoding="utf-8",
    )
    engine = Engine.from_settings(Settings(categories_file=path))
    try:
        decision = engine.decide("Das Paket wurde laut Kurier zugestellt, aber vor meiner Tür ist nichts.")
    finally:
        engine.close()
    # Then the German ticket is still read by e5-small, routed by the prototypes alone
    assert decision.explanation["language"] == "de"
    assert decision.explanation["category_method"] == "prototypes"
    assert decision.category == "Shipping"


def test_a_missing_multilingual_model_leaves_every_ticket_on_the_english_encoder(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    models = tmp_path / "models"
    shutil.copytree(Settings().models_dir, models, ignore=shutil.ignore_patterns("e5-small"))
    engine = Engine.from_settings(Settings(models_dir=models))
    try:
        decision = engine.decide("Unsere Rechnung wurde doppelt belastet, bitte erstatten Sie den Betrag.")
    finally:
        engine.close()
    assert "Multilingual encoder unavailable, every ticket is read in English" in caplog.text
    assert engine.fallback_reason is None
    assert "language" not in decision.explanation
    assert decision.explanation["model"] == "all-MiniLM-L6-v2-int8"
