"""The web console of circus (``circushttpd``): tornado pages and a WebSocket.

* :mod:`circus.web.circushttpd` - the entry point and the application;
* :mod:`circus.web.controller` - the commands sent to circusd;
* :mod:`circus.web.live` - watcher states and stats pushed to open pages;
* :mod:`circus.web.views` - the request handlers;
* ``templates/`` and ``static/`` (one JS file, one CSS file, no CDN).
"""
