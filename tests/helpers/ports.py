"""Ports a process listens on."""

import psutil


def listening_ports(pid, host="127.0.0.1"):
    """TCP ports on which process ``pid`` listens at ``host``."""
    conns = psutil.Process(pid).net_connections(kind="tcp")
    return sorted(c.laddr.port for c in conns if c.status == psutil.CONN_LISTEN and c.laddr.ip == host)
