"""ipython: an IPython kernel inside circusd, with the arbiter at hand."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from circus.commands import Command
from circus.exc import ArgumentError, MessageError

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.commands import Outcome

logger = logging.getLogger("circus.commands.ipython")

NEEDS = "the ipython command needs IPython and ipykernel installed where circusd runs (pip install ipykernel)"


class IPython(Command):
    """Create shell into circusd process

    circusd starts an IPython kernel in its own process, with the arbiter
    in the variable ``arbiter``; circusctl then attaches a console to it
    (``jupyter console``, from the ``jupyter_console`` package). Needs
    ``ipykernel`` installed where circusd runs. Anything done in the shell
    runs inside circusd: a blocking call blocks the daemon.

    ZMQ message
    -----------

    ::

        {"command": "ipython"}

    The reply has ``shell``, the kernel's connection file (or ``false`` when
    the kernel could not start, with the reason in ``msg``).

    Command line
    ------------

    ::

        $ circusctl ipython
    """

    name = "ipython"

    def message(self, *args: str, **opts: Any) -> dict:
        if args:
            raise ArgumentError("Invalid number of arguments")
        return self.make_message()

    def prepare(self, arbiter: Arbiter, props: dict) -> Outcome:
        try:
            from ipykernel.kernelapp import IPKernelApp
        except ImportError:
            raise MessageError(NEEDS) from None
        try:
            return {"shell": _start_kernel(IPKernelApp, arbiter), "msg": None}
        except Exception as error:  # a kernel that fails must not take circusd down
            logger.exception("could not start an IPython kernel")
            return {"shell": False, "msg": "could not start an IPython kernel: %s" % error}

    def console_msg(self, reply: dict) -> str:
        shell = reply.get("shell")
        if not shell:
            return "error: %s" % reply.get("msg")
        try:
            from jupyter_console.app import ZMQTerminalIPythonApp
        except ImportError:
            return "kernel ready; attach with: jupyter console --existing %s" % shell
        ZMQTerminalIPythonApp.launch_instance(argv=["--existing", shell])
        return ""


def _start_kernel(app_class, arbiter):
    """Start (once) a kernel on circusd's running loop; its connection file."""
    if not app_class.initialized():
        app = app_class.instance()
        app.initialize([])
        app.kernel.shell.user_ns["arbiter"] = arbiter
        # The kernel's streams join the running loop: app.start() would run
        # a second, blocking loop.
        app.kernel.start()
    return app_class.instance().abs_connection_file
