"""reloadconfig: apply the changes of the configuration file."""

from __future__ import annotations

from typing import TYPE_CHECKING

from circus.commands import WAITING, Command

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.commands import Outcome


async def _changes(awaitable):
    """``{"changes": ...}``: what the reload added, removed, replaced, or could not apply."""
    import dataclasses

    plan = await awaitable
    if dataclasses.is_dataclass(plan) and not isinstance(plan, type):
        return {"changes": dataclasses.asdict(plan)}
    return None


class ReloadConfig(Command):
    """Reload the configuration file

    circusd reads its configuration file again and applies the difference:
    removed watchers are stopped, new ones started, changed ones restarted
    (a change of ``numprocesses`` alone is applied in place); sockets and
    plugins likewise.

    ZMQ message
    -----------

    ::

        {"command": "reloadconfig", "properties": {"waiting": false}}

    With ``waiting`` the reply comes once the changes are applied, with
    ``changes``: the watchers and sockets added, removed, replaced or
    resized, the ``[circus]`` options applied (``circus_applied``) and those
    that need a restart of circusd (``circus_needs_restart``). A failure
    (such as an invalid file) is an error reply (errno 6) with the reason,
    and nothing is changed.

    Command line
    ------------

    ::

        $ circusctl reloadconfig [--waiting]
    """

    name = "reloadconfig"
    options = (WAITING,)
    waiting = True

    def prepare(self, arbiter: Arbiter, props: dict) -> Outcome:
        return _changes(arbiter.reload_from_config())

    def console_msg(self, reply: dict) -> str:
        later = (reply.get("changes") or {}).get("circus_needs_restart") or []
        notes = ["[circus] %s changed: restart circusd to apply it" % key for key in later]
        return "\n".join(["ok"] + notes)
