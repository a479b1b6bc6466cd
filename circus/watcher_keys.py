"""The shape of a watcher dict: where each key of a section goes, and a plugin's watcher name.

One rule for the ``[watcher:NAME]`` sections the config loader reads and
for the ``[plugin:NAME]`` sections (or ``plugins=`` dicts) whose watcher
``circus.helper_watchers`` builds, so that both give the same dict for the
same keys and ``status``/``reloadconfig`` know a plugin by the same name.
"""

import resource

from circus import options

PLUGIN_PREFIX = "plugin:"


def plugin_watcher_name(name):
    """The name of the watcher running the plugin ``name``: ``plugin:NAME``.

    ``name`` is a section's NAME, or a ``plugins=`` dict's ``name``
    (``use`` when it has none), with or without the prefix; blanks around
    NAME are dropped as they are for ``[watcher: NAME ]``.
    """
    name = str(name).strip()
    if name.startswith(PLUGIN_PREFIX):
        name = name[len(PLUGIN_PREFIX):].strip()
    return PLUGIN_PREFIX + name


def place_key(watcher, key, value):
    """Put one key of a watcher's section where the watcher dict holds it.

    ``value`` is ini text, converted by the key's row of the option table,
    or a value already typed (from a ``plugins=`` dict), kept as given.
    Families nest (``rlimits``, ``hooks``, ``stdout_stream``, ``stderr_stream``);
    a key the table does not know, and ``flapping.*``, is a freeform option.
    Raises ValueError saying what is wrong with the value.
    """
    row = options.lookup("watcher", key)
    typed = not isinstance(value, str)
    if row is None or row.name == "flapping.":
        watcher.setdefault("options", {})[key] = value
    elif row.name == "rlimit_":
        name = key[len(row.name):]
        if not hasattr(resource, "RLIMIT_" + name.upper()):
            raise ValueError("unknown resource limit %r" % name)
        watcher.setdefault("rlimits", {})[name.lower()] = value if typed else row.convert(value)
    elif row.name in ("stdout_stream.", "stderr_stream."):
        watcher.setdefault(row.name[:-1], {})[key[len(row.name):]] = value
    elif row.name == "hooks.":
        watcher.setdefault("hooks", {})[key[len(row.name):]] = value if typed else row.convert(value)
    else:
        watcher[key] = value if typed else row.convert(value)
