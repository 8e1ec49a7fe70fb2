"""Placeholder registered early so modules can be filled in independently."""

from . import Projection, register

comments = register(Projection("comments", {}))
