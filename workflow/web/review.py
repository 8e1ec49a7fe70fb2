"""Placeholder blueprint, filled in by its own module's work."""

from flask import Blueprint

bp = Blueprint("review", __name__)
