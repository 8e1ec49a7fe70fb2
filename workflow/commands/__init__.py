"""Commands: check the actor, the current state and the rules, then append events.

A command never renders and never writes a projection table directly.
"""
