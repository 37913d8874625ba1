"""Argument types of `ybx-conform`'s options: a bad value is refused by argparse in one line, exit 2,
instead of a run that does nothing (`--workers 0`) or waits forever (`--wait nan`)."""

from __future__ import annotations

import argparse
import math


def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n}: at least 1")
    return n


def seconds(text: str) -> float:
    """A finite number of seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text}: a number of seconds, 0 or more")
    return value


def positive_seconds(text: str) -> float:
    """A finite number of seconds above 0 (a timeout)."""
    value = seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError("0: a timeout must be above 0 seconds")
    return value
