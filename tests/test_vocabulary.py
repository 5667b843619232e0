"""The part vocabulary: stable ids, registration of a new kind (a wheel), saving and extending."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from conftest import EXAMPLES, REPO
from metamorph.errors import MetamorphError, MorphologyError
from metamorph.morphology import load_morphology
from metamorph.tokens import STATIC_FEATURES, tokenize
from metamorph.vocabulary import PartKind, Vocabulary, default_vocabulary


def _wheel_module():
    """Import morphologies/parts/wheel.py the way --parts does, into a fresh default vocabulary."""
    spec = importlib.util.spec_from_file_location("wheel_parts", REPO / "morphologies" / "parts" / "wheel.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_default_ids_are_stable_and_padding_is_zero():
    a, b = default_vocabulary(), default_vocabulary()
    assert a.to_json() == b.to_json()
    assert a.id_of(("sphere", "free", "none")) == 1
    assert a.size == len(a) + 1
    assert ("cylinder", "continuous", "motor") not in {k.key for k in a}


def test_registering_a_wheel_is_one_line_and_tokenizes_the_rover():
    vocab = default_vocabulary()
    rover = load_morphology(EXAMPLES / "wheelbot.xml")
    with pytest.raises(MorphologyError, match=r"cylinder/continuous/motor.*register_part_kind"):
        tokenize(rover, vocab)
    wheel = _wheel_module().WHEEL
    old = vocab.to_json()
    wheel_id = vocab.register(wheel)
    assert vocab.to_json()[: len(old)] == old  # existing ids untouched
    assert wheel_id == len(old) + 1
    tokens = tokenize(rover, vocab)
    assert tokens.kinds == ("box/free/none",) + ("wheel",) * 4
    assert (tokens.part_ids[1:] == wheel_id).all()
    # the wheel's feature function fills the kind_extra slot: radius 0.1, half-width 0.03
    np.testing.assert_allclose(
        tokens.static_features[1:, STATIC_FEATURES["kind_extra"]], [[0.1, 0.03, 0, 0]] * 4, atol=1e-7
    )
    assert tokens.wrap[1:].all()


def test_registering_twice_returns_the_same_id():
    vocab = default_vocabulary()
    first = vocab.register(PartKind("cylinder", "continuous", "motor"))
    assert vocab.register(PartKind("cylinder", "continuous", "motor", name="again")) == first


def test_json_round_trip_and_extension_keep_ids(tmp_path):
    old = default_vocabulary()
    path = tmp_path / "vocab.json"
    old.save(path)
    loaded = Vocabulary.load(path)
    assert loaded.to_json() == old.to_json()
    newer = default_vocabulary()
    newer.register(PartKind("cylinder", "continuous", "motor", name="wheel"))
    merged = loaded.extended_with(newer)
    assert merged.to_json()[: len(old)] == old.to_json()
    assert merged.id_of(("cylinder", "continuous", "motor")) == len(old) + 1


def test_bad_part_kinds_are_rejected():
    with pytest.raises(MetamorphError, match="geom 'wing'"):
        PartKind("wing", "hinge", "motor")
    with pytest.raises(MetamorphError, match=r"root .* has no actuator"):
        PartKind("sphere", "free", "motor")
    with pytest.raises(MetamorphError, match="ids must run"):
        Vocabulary.from_json([{"id": 2, "geom": "box", "joint": "hinge", "actuator": "motor"}])
