"""Placeholder registered early so modules can be filled in independently."""

from . import Projection, register

inbox = register(Projection("inbox", {}))
