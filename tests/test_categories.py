"""Category routing: prototypes from our descriptions, custom category files, linear heads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mvr.categories import Category, load_categories
from mvr.config import DEFAULT_MODELS_DIR, Settings
from mvr.errors import InferenceFailed
from mvr.inference.baseline import BaselineClassifier
from mvr.inference.category_model import CategoryModel, KeywordPrior, category_texts
from mvr.inference.encoder import Encoder
from mvr.inference.engine import Engine
from mvr.inference.linear import LinearHead, fit_softmax


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder.from_dir(DEFAULT_MODELS_DIR, threads=1)


@pytest.fixture(scope="module")
def default_model(encoder: Encoder) -> CategoryModel:
    return CategoryModel.build(load_categories(), encoder.encode)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Why does my latest invoice include a setup fee I never agreed to?", "Billing"),
        ("You took the annual payment even though I cancelled in time; I want my money back.", "Billing"),
        ("The sync client shows error 0x80070005 and stops uploading files.", "Technical"),
        ("Two-factor codes are rejected every time I try to sign in.", "Technical"),
        ("Someone is selling copies of our book on your store without our permission.", "Legal"),
        (
            "I formally request a copy of every record you keep about me, as the data protection law allows.",
            "Legal",
        ),
    ],
)
def test_default_prototypes_route_plain_tickets(
    default_model: CategoryModel, encoder: Encoder, text: str, category: str
) -> None:
    probs = default_model.predict_proba(encoder.encode([text]))[0]
    assert default_model.names[int(np.argmax(probs))] == category
    assert probs.sum() == pytest.approx(1.0, abs=1e-5)


def test_category_texts_start_with_name_and_description() -> None:
    billing = load_categories()[0]
    texts = category_texts(billing)
    assert texts[0].startswith("Billing: ")
    assert texts[1:] == list(billing.examples)


def test_closest_text_and_top_three_agree_on_an_easy_case(encoder: Encoder) -> None:
    cats = load_categories()
    for top_k in (1, 3):
        model = CategoryModel.build(cats, encoder.encode, top_k=top_k)
        probs = model.predict_proba(encoder.encode(["Please refund the double charge on my card."]))
        assert model.names[int(probs.argmax())] == "Billing"


def test_top_k_below_one_is_refused(encoder: Encoder) -> None:
    with pytest.raises(InferenceFailed, match="top_k"):
        CategoryModel.build(load_categories(), encoder.encode, top_k=0)


def test_off_topic_texts_score_near_zero_after_centring(encoder: Encoder) -> None:
    # Given the default categories, When a category's similarity is taken over the other
    # categories' own texts, Then it averages to zero: that is what the offset removes.
    cats = load_categories()
    model = CategoryModel.build(cats, encoder.encode)
    for i, category in enumerate(cats):
        others = [t for j, c in enumerate(cats) if j != i for t in category_texts(c)]
        # (int8 activations are quantized per batch, so a re-embedded text moves by ~1e-3)
        assert model.similarities(encoder.encode(others))[:, i].mean() == pytest.approx(0.0, abs=5e-3)
        own = model.similarities(encoder.encode(category_texts(category)))[:, i]
        assert own.mean() > 0.2


def _write_categories(path: Path) -> Path:
    path.write_text(
        json.dumps(
            [
                {
                    "name": "Shipping",
                    "description": "Parcels, deliveries, couriers, tracking numbers and lost packages.",
                    "examples": [
                        "My parcel never arrived.",
                        "The tracking number shows no updates for a week.",
                    ],
                },
                {
                    "name": "Returns",
                    "description": "Sending goods back, exchanges and return labels.",
                    "examples": [
                        "How do I print a return label?",
                        "I want to exchange these shoes for a bigger size.",
                    ],
                },
                {
                    "name": "Other",
                    "description": "Anything else.",
                    "examples": ["I have a general question."],
                },
            ]
        ),
        encoding="utf-8",
    )
    return path


def test_custom_categories_file_changes_routing_without_retraining(tmp_path: Path) -> None:
    # Given a text the default categories do not cover
    text = "The courier says the package was delivered but nothing is at my door."
    default = Engine.from_settings(Settings())
    custom = Engine.from_settings(Settings(categories_file=_write_categories(tmp_path / "cats.json")))
    try:
        # When both engines decide
        before, after = default.decide(text), custom.decide(text)
    finally:
        default.close()
        custom.close()
    # Then only the custom file knows "Shipping", and it wins
    assert set(before.scores) == {"Billing", "Technical", "Legal"}
    assert set(after.scores) == {"Shipping", "Returns", "Other"}
    assert after.category == "Shipping"
    assert after.explanation["category_method"] == "prototypes"
    assert after.explanation["fallback"] is False


def test_fitted_head_takes_precedence_and_uses_category_spelling(tmp_path: Path, encoder: Encoder) -> None:
    # Given a head fitted on lower-case labels that calls every money text "legal" (a deliberate oddity)
    texts = [
        "I need a refund for the double charge.",
        "Send me the invoice please.",
        "The app will not start.",
        "Login fails with an error.",
        "Our attorney will contact you.",
        "This is a copyright takedown notice.",
    ]
    labels = ["legal", "legal", "technical", "technical", "billing", "billing"]
    head = fit_softmax(encoder.encode(texts), labels, steps=200)
    head.save(tmp_path / "head.npz")
    engine = Engine.from_settings(Settings(category_head=tmp_path / "head.npz"))
    try:
        decision = engine.decide("Please refund the double charge on my invoice.")
    finally:
        engine.close()
    # Then the head, not the prototypes, decides, with the categories' own spelling
    assert decision.explanation["category_method"] == "linear-head"
    assert set(decision.scores) == {"Billing", "Technical", "Legal"}
    assert decision.category == "Legal"


def test_linear_head_fit_is_deterministic_and_survives_save_load(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 8))
    x = np.concatenate([c + 0.1 * rng.normal(size=(30, 8)) for c in centers]).astype(np.float32)
    y = [name for name in ("a", "b", "c") for _ in range(30)]
    first, second = fit_softmax(x, y), fit_softmax(x, y)
    np.testing.assert_array_equal(first.weights, second.weights)
    assert (np.array(first.classes)[first.predict_proba(x).argmax(axis=1)] == np.array(y)).all()
    first.save(tmp_path / "h.npz")
    loaded = LinearHead.load(tmp_path / "h.npz")
    assert loaded.classes == ("a", "b", "c")
    np.testing.assert_allclose(loaded.predict_proba(x), first.predict_proba(x), rtol=1e-6)
    np.testing.assert_allclose(loaded.predict_proba(x).sum(axis=1), 1.0, rtol=1e-6)


def test_broken_head_file_is_an_inference_error(tmp_path: Path) -> None:
    (tmp_path / "bad.npz").write_bytes(b"not a numpy file")
    with pytest.raises(InferenceFailed, match="cannot load linear head"):
        LinearHead.load(tmp_path / "bad.npz")


def test_companion_head_reranks_its_classes_and_leaves_legal_to_the_prototypes(encoder: Encoder) -> None:
    # Given a head over Billing and Technical only that calls every text Technical
    weights = np.zeros((encoder.dimension, 2), dtype=np.float32)
    head = LinearHead(weights, np.array([-20.0, 20.0], dtype=np.float32), ("billing", "technical"))
    categories = load_categories()
    alone = CategoryModel.build(categories, encoder.encode)
    combined = CategoryModel.build(categories, encoder.encode, companion=head)
    # When both score billing tickets and legal ones
    x = encoder.encode(
        [
            "Please refund the double charge on my invoice.",
            "Why was I billed twice this month?",
            "This is a DMCA takedown notice.",
            "Our attorney will file a lawsuit.",
        ]
    )
    before, after = alone.logits(x), combined.logits(x)
    legal = alone.names.index("Legal")
    group = [alone.names.index(n) for n in ("Billing", "Technical")]
    # Then the head turns billing into technical, but the best of the two keeps the prototypes'
    # logit, so Legal wins exactly where it won before
    assert combined.method == "prototypes+head"
    assert [combined.names[i] for i in after[:2].argmax(axis=1)] == ["Technical", "Technical"]
    np.testing.assert_allclose(after[:, group].max(axis=1), before[:, group].max(axis=1), rtol=1e-6)
    np.testing.assert_array_equal(after[:, legal], before[:, legal])
    assert [combined.names[i] for i in after[2:].argmax(axis=1)] == ["Legal", "Legal"]


def test_companion_head_with_a_class_that_is_no_category_is_refused(encoder: Encoder) -> None:
    head = fit_softmax(encoder.encode(["a", "b"]), ["shipping", "billing"], steps=10)
    with pytest.raises(InferenceFailed, match="shipping"):
        CategoryModel.build(load_categories(), encoder.encode, companion=head)


def test_keywords_match_whole_words_and_a_trailing_star_any_ending() -> None:
    category = Category("Billing", "", (), ("rechnung*", "bill", "credit card"))
    found = category.keyword_pattern().findall(
        "Rechnungsadresse, RECHNUNG; billing, bill, Credit  card, credit card"
    )
    assert found == ["Rechnungsadresse", "RECHNUNG", "bill", "credit card"]


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Unsere Rechnung wurde doppelt belastet, bitte erstatten Sie den Betrag.", "Billing"),
        ("Seit dem Update stürzt die Anwendung ab und die Anmeldung schlägt fehl.", "Technical"),
        ("Me cobraron dos veces la suscripción y quiero un reembolso.", "Billing"),
        ("La facture de ce mois est fausse, le prélèvement est trop élevé.", "Billing"),
        ("O aplicativo não sincroniza e a senha não é aceita desde a atualização.", "Technical"),
        ("Bitte löschen Sie meine personenbezogenen Daten gemäß DSGVO.", "Legal"),
    ],
)
def test_default_keywords_route_tickets_in_german_spanish_french_and_portuguese(
    text: str, category: str
) -> None:
    assert BaselineClassifier(load_categories()).decide(text).category == category


def test_keyword_prior_counts_each_categorys_keywords_up_to_its_cap() -> None:
    categories = [Category("Billing", "", (), ("rechnung*",)), Category("Technical", "", (), ("fehler*",))]
    prior = KeywordPrior(categories, weight=0.5, cap=2)
    counts = prior.counts(["Rechnung, Rechnungen und Rechnungsadresse", "Ein Fehler.", "Hallo"])
    assert counts.tolist() == [[3, 0], [0, 1], [0, 0]]
    assert prior.logits(counts).tolist() == [[1.0, 0.0], [0.0, 0.5], [0.0, 0.0]]
