"""Part kind: a wheel — a cylinder on a continuous (unlimited) hinge, driven by a motor.

Use it with `metamorph inspect morphologies/examples/wheelbot.xml --parts morphologies/parts/wheel.py`,
or import it before tokenizing in Python.
"""

from metamorph.vocabulary import PartContext, PartKind, register_part_kind


def wheel_features(part: PartContext) -> list[float]:
    """Radius and half-width of the wheel, the two numbers that set its rolling behaviour."""
    radius, half_width = part.model.geom_size[part.geom, :2]
    return [float(radius), float(half_width)]


WHEEL = PartKind(geom="cylinder", joint="continuous", actuator="motor", name="wheel", features=wheel_features)
register_part_kind(WHEEL)
