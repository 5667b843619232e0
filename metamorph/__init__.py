"""metamorph: one transformer policy that controls any robot body.

The pipeline, one module per step:

- `metamorph.morphology`: MJCF/URDF file -> `Morphology` (compiled by MuJoCo, networkx tree)
- `metamorph.vocabulary`: the registry of part kinds (geom × joint × actuator) and their ids
- `metamorph.tokens`: `Morphology` -> `JointTokens` (depth-first), proprioception, padding
- `metamorph.design`, `metamorph.generate`, `metamorph.variants`: procedural bodies
- `metamorph.env`: tasks and the batched environment on native MuJoCo
- `metamorph.policy`, `metamorph.ppo`, `metamorph.train`, `metamorph.checkpoint`: training
- `metamorph.evaluate`, `metamorph.render`: zero-shot evaluation and videos

Names below are imported on first use, so ``import metamorph`` does not import MuJoCo (which
chooses its OpenGL backend when first imported; see `metamorph.render`).
"""

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "MetamorphError": "metamorph.errors",
    "MorphologyError": "metamorph.errors",
    "LoadOptions": "metamorph.morphology",
    "Morphology": "metamorph.morphology",
    "load_morphology": "metamorph.morphology",
    "morphology_from_xml": "metamorph.morphology",
    "PROPRIO_FEATURES": "metamorph.tokens",
    "STATIC_FEATURES": "metamorph.tokens",
    "JointTokens": "metamorph.tokens",
    "pad_tokens": "metamorph.tokens",
    "proprioception": "metamorph.tokens",
    "tokenize": "metamorph.tokens",
    "DEFAULT_VOCABULARY": "metamorph.vocabulary",
    "PartKind": "metamorph.vocabulary",
    "Vocabulary": "metamorph.vocabulary",
    "register_part_kind": "metamorph.vocabulary",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'metamorph' has no attribute {name!r}")
