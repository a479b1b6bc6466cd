"""The ``live`` column of the [circus] rows says what ``reloadconfig`` really does."""

import getpass
import textwrap

import zmq

from circus import options
from circus.arbiter import Arbiter
from circus.client import AsyncCircusClient
from helpers import async_test, ipc_endpoints

BASE = """
[circus]
endpoint = {controller}
pubsub_endpoint = {pubsub_endpoint}
multicast_endpoint = {multicast_endpoint}
"""


def other_values(tmp_path):
    """An ini value different from the base config's for every [circus] row."""
    return {
        "endpoint": "ipc://%s" % (tmp_path / "other-ctl.sock"),
        "endpoint_owner": getpass.getuser(),
        "pubsub_endpoint": "ipc://%s" % (tmp_path / "other-pub.sock"),
        "multicast_endpoint": "udp://237.219.251.97:1",
        "stats_endpoint": "ipc://%s" % (tmp_path / "stats.sock"),
        "statsd": "true",
        "statsd_close_outputs": "true",
        "check_delay": "6.5",
        "warmup_delay": "0.25",
        "include": "nothing-matches-*.ini",
        "include_dir": "no-such-dir",
        "httpd": "true",
        "httpd_host": "127.0.0.2",
        "httpd_port": "8081",
        "httpd_close_outputs": "true",
        "debug": "true",
        "debug_gc": "true",
        "pidfile": str(tmp_path / "circusd.pid"),
        "umask": "027",
        "loglevel": "debug",
        "logoutput": str(tmp_path / "circusd.log"),
        "loggerconfig": "default",
        "max_message_size": "4096",
        "fqdn_prefix": "box",
        "metrics_endpoint": "127.0.0.1:0",
        "stream_backend": "gevent",
        "curve_secret_key": str(tmp_path / "circusd.key_secret"),
        "curve_authorized_keys": str(tmp_path / "admins"),
        "curve_readonly_keys": str(tmp_path / "viewers"),
        "httpd_auth": str(tmp_path / "users"),
        "httpd_session_timeout": "60",
        "httpd_certfile": str(tmp_path / "cert.pem"),
        "httpd_keyfile": str(tmp_path / "key.pem"),
    }


@async_test(timeout=120)
async def test_each_circus_key_is_applied_by_reloadconfig_exactly_when_its_row_says_live(tmp_path):
    base = textwrap.dedent(BASE).format(**ipc_endpoints(tmp_path))
    ini = tmp_path / "circus.ini"
    ini.write_text(base)
    others = other_values(tmp_path)
    assert set(others) == {row.name for row in options.rows("circus")}
    arbiter = Arbiter.load_from_config(str(ini))
    await arbiter.start()
    context = zmq.Context()
    client = AsyncCircusClient(context=context, endpoint=arbiter.endpoint, timeout=15)

    async def reloadconfig():
        reply = await client.send_message("reloadconfig", waiting=True)
        assert reply["status"] == "ok", reply
        return reply["changes"]

    try:
        for row in options.rows("circus"):
            changed = base.replace("\n%s =" % row.name, "\nformer_%s =" % row.name)
            ini.write_text(changed + "%s = %s\n" % (row.name, others[row.name]))
            changes = await reloadconfig()
            if row.live is options.Live.READONLY:
                assert row.name in changes["circus_needs_restart"], row.name
                assert row.name not in changes["circus_applied"], row.name
            else:
                assert changes["circus_applied"] == {row.name: row.convert(others[row.name])}, row.name
                assert getattr(arbiter, row.name) == row.convert(others[row.name]), row.name
            ini.write_text(base)
            await reloadconfig()
    finally:
        client.stop()
        context.term()
        await arbiter.stop()
