"""Flapping: stop a watcher whose processes keep dying, retry it later.

Every death circus did not ask for (a ``reap`` of a pid that got no
``kill`` event) is timed. When ``attempts`` deaths are recorded, their
span minus the plugin's ``check_delay`` is compared with ``window``: within
it the watcher is flapping and is stopped, then started again after
``retry_in`` seconds, at most ``max_retry`` times in a row (``-1``: no
limit); after that it stays stopped. Outside the window the retry count
starts over. Each watcher may override the plugin's options with its own
``flapping.<option>`` keys, read with ``options`` at its first death and
again after each ``updated`` event.
"""

import time
from typing import Any, Callable, Sequence

from circus.convert import to_bool
from circus.exc import CallError
from circus.plugins import CircusPlugin

DEFAULTS = {"attempts": 2, "window": 1.0, "retry_in": 7.0, "max_retry": 5, "active": True}
CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "attempts": int, "window": float, "retry_in": float, "max_retry": int, "active": to_bool,
}


class _Track:
    """What Flapping knows of one watcher."""

    def __init__(self, conf):
        self.conf = conf
        self.deaths = []  # timestamps of unrequested deaths since the last decision
        self.tries = 0  # consecutive flapping stops
        self.killed = set()  # pids circus is stopping on purpose
        self.held = False  # stopped by us: deaths are not counted until a start
        self.stopping = False  # our stop is sent and its stop event not seen yet
        self.retry = None  # the pending start, a tornado timeout handle


class Flapping(CircusPlugin):
    """Stop flapping watchers; options: attempts, window, retry_in, max_retry, active."""

    name = "flapping"

    def configure(self, config: dict[str, Any]) -> None:
        self.defaults = self._convert(config, DEFAULTS, "plugin %s" % self.name)
        self.tracks: dict[str, _Track] = {}

    def _convert(self, given, base, where):
        conf = dict(base)
        for key, convert in CONVERTERS.items():
            if key in given and given[key] is not None:
                try:
                    conf[key] = convert(given[key])
                except ValueError:
                    self.logger.warning("%s: %s = %r is not valid, using %r", where, key, given[key], conf[key])
        return conf

    def handle_recv(self, data: Sequence[bytes]) -> None:
        watcher, action, msg = self.split_data(data)
        handler = getattr(self, "_on_" + action, None)
        if handler is not None:
            handler(watcher, self.load_message(msg))

    # -- events ---------------------------------------------------------------

    def _on_kill(self, watcher, msg):
        self._track(watcher).killed.add(msg.get("process_pid"))

    def _on_reap(self, watcher, msg):
        track = self._track(watcher)
        pid = msg.get("process_pid")
        if pid in track.killed:
            track.killed.discard(pid)
            return
        if track.held or not track.conf["active"]:
            return
        track.deaths.append(msg.get("time") or time.time())
        if len(track.deaths) >= track.conf["attempts"]:
            self.check(watcher, track)

    def _on_start(self, watcher, msg):
        track = self.tracks.get(watcher)
        if track is None or track.stopping:
            # A start that was still in progress when we decided: our stop,
            # queued behind it, comes next; keep the retry.
            return
        if track.retry is not None:
            # Someone started it before our retry: theirs wins.
            self.loop.remove_timeout(track.retry)
            track.retry = None
        track.held = False
        track.deaths = []

    def _on_stop(self, watcher, msg):
        track = self.tracks.get(watcher)
        if track is not None:
            track.killed.clear()
            track.deaths = []
            track.stopping = False

    def _on_updated(self, watcher, msg):
        track = self.tracks.get(watcher)
        if track is not None:
            track.conf = self.watcher_conf(watcher)

    def _on_remove(self, watcher, msg):
        track = self.tracks.pop(watcher, None)
        if track is not None and track.retry is not None:
            self.loop.remove_timeout(track.retry)

    # -- decisions ------------------------------------------------------------

    def _track(self, watcher):
        track = self.tracks.get(watcher)
        if track is None:
            track = self.tracks[watcher] = _Track(self.watcher_conf(watcher))
        return track

    def watcher_conf(self, watcher: str) -> dict[str, Any]:
        """The plugin's options overridden by the watcher's ``flapping.*`` options."""
        prefix = self.name + "."
        try:
            reply = self.call("options", name=watcher)
        except CallError as exc:
            self.logger.warning("%s: cannot read its options (%s); using the plugin's", watcher, exc)
            return dict(self.defaults)
        if reply.get("status") != "ok":
            self.logger.warning("%s: cannot read its options (%s); using the plugin's", watcher, reply.get("reason"))
            return dict(self.defaults)
        options = reply.get("options") or {}
        given = {k[len(prefix):]: v for k, v in options.items() if k.startswith(prefix)}
        return self._convert(given, self.defaults, "watcher %s" % watcher)

    def check(self, watcher: str, track: _Track) -> None:
        """Decide on ``attempts`` recorded deaths of ``watcher``, then forget them."""
        conf = track.conf
        duration = track.deaths[-1] - track.deaths[0] - self.check_delay
        track.deaths = []
        if duration > conf["window"]:
            track.tries = 0
            return
        max_retry = conf["max_retry"]
        if max_retry == -1 or track.tries < max_retry:
            track.tries += 1
            self.logger.info("%s: flapping, stopped; retry in %ss (attempt number %d)",
                             watcher, conf["retry_in"], track.tries)
            self._hold(watcher, track)
            track.retry = self.loop.call_later(conf["retry_in"], self._retry, watcher)
        else:
            self.logger.info("%s: flapping, reached the max retry limit (%d); stopped for good",
                             watcher, max_retry)
            track.tries = 0
            self._hold(watcher, track)

    def _hold(self, watcher, track):
        track.held = True
        track.stopping = True
        self.cast("stop", name=watcher)

    def _retry(self, watcher):
        track = self.tracks.get(watcher)
        if track is None:
            return
        track.retry = None
        self.logger.info("%s: retrying after flapping", watcher)
        self.cast("start", name=watcher)
