"""``circus.commands.base.Command``, where commands written for Circus import it from."""

from circus.commands import Command  # noqa: F401

__all__ = ["Command"]
