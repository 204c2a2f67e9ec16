"""The distribution language: specs → :class:`Distribution`, correlations, :class:`JointInputs`.

See ``docs/distributions.md``.
"""

from .families import Distribution
from .joint import JointInputs
from .parse import FAMILIES, from_spec, is_spec, is_uncertain
from .spec import SpecError

__all__ = [
    "Distribution",
    "FAMILIES",
    "JointInputs",
    "SpecError",
    "from_spec",
    "is_spec",
    "is_uncertain",
]
