"""Argument types shared by the command-line tools."""
import argparse
from typing import Tuple


def input_shape(text: str) -> Tuple[int, int, int]:
    """argparse type of an input shape: ``'BxHxW'`` (e.g. ``'1x224x224'``) -> (B, H, W).

    Raises:
        argparse.ArgumentTypeError: quoting ``text`` when it is not three positive integers
            joined by ``x``; argparse prints it after the option's name.
    """
    try:
        values = tuple(int(part) for part in text.lower().split('x'))
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f'{text!r} is not BATCHxHEIGHTxWIDTH with three positive integers, e.g. 1x224x224')
    return values  # type: ignore[return-value]
