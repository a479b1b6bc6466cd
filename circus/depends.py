"""``depends_on``: the order watchers start in (and stop in, reversed).

A watcher starts only once the watchers it depends on are active (and ready,
where readiness is configured); it stops before them. Unknown names and
cycles are configuration errors, raised as ``ValueError`` with a message
that names the watchers involved.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Sequence


def start_order(depends: Mapping[str, Sequence[str]]) -> List[str]:
    """The watchers of ``{watcher: [deps]}``, each after what it depends on.

    Watchers keep their given order where dependencies allow it, so a
    configuration without ``depends_on`` starts as it always did.
    """
    known = {name.lower(): name for name in depends}
    for name, deps in depends.items():
        for dep in deps:
            if dep.lower() not in known:
                raise ValueError("watcher %r depends on %r, which is not a watcher" % (name, dep))
            if dep.lower() == name.lower():
                raise ValueError("watcher %r depends on itself" % name)
    order: List[str] = []
    state: Dict[str, str] = {}  # name -> "visiting" | "done"

    def visit(name: str, path: List[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = path[path.index(name):] + [name]
            raise ValueError("depends_on cycle: %s" % " -> ".join(cycle))
        state[name] = "visiting"
        for dep in depends[name]:
            visit(known[dep.lower()], path + [name])
        state[name] = "done"
        order.append(name)

    for name in depends:
        visit(name, [])
    return order
