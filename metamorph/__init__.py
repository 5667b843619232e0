"""metamorph: one transformer policy that controls any robot body.

The pipeline, one module per step:

- `metamorph.morphology`: MJCF/URDF file -> `Morphology` (compiled by MuJoCo, networkx tree)
- `metamorph.vocabulary`: the registry of part kinds (geom × joint × actuator) and their ids
- `metamorph.tokens`: `Morphology` -> `JointTokens` (depth-first), proprioception, padding
"""

from metamorph.errors import MetamorphError, MorphologyError
from metamorph.morphology import LoadOptions, Morphology, load_morphology, morphology_from_xml
from metamorph.tokens import PROPRIO_FEATURES, STATIC_FEATURES, JointTokens, pad_tokens, proprioception, tokenize
from metamorph.vocabulary import DEFAULT_VOCABULARY, PartKind, Vocabulary, register_part_kind

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_VOCABULARY",
    "PROPRIO_FEATURES",
    "STATIC_FEATURES",
    "JointTokens",
    "LoadOptions",
    "MetamorphError",
    "Morphology",
    "MorphologyError",
    "PartKind",
    "Vocabulary",
    "load_morphology",
    "morphology_from_xml",
    "pad_tokens",
    "proprioception",
    "register_part_kind",
    "tokenize",
]
