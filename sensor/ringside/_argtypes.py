"""argparse types for numbers: one place says what a wrong number is."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def number(kind: type[int] | type[float], *, positive: bool,
           unit: str = "") -> Callable[[str], float]:
    """A parser of whole (``int``) or real (``float``) numbers, > 0 or >= 0.

    ``unit`` names the unit in messages ("MiB", "seconds").
    """
    noun = "a whole number" if kind is int else "a number"
    of = f" of {unit}" if unit else ""
    suffix = f" {unit}" if unit else ""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}{of}") from None
        if positive and value <= 0:
            raise argparse.ArgumentTypeError(f"{value}{suffix} must be positive")
        if not positive and value < 0:
            raise argparse.ArgumentTypeError(f"{value}{suffix} must not be negative")
        return value

    return parse


positive_int = number(int, positive=True)
positive_float = number(float, positive=True)
non_negative_int = number(int, positive=False)
non_negative_float = number(float, positive=False)
