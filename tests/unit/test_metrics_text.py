"""The exposition text circus.metrics writes, read back by prometheus_client's parser."""

from prometheus_client.parser import text_string_to_metric_families

from circus.metrics import Family, render


def test_label_values_with_quotes_backslashes_and_newlines_survive_the_parser():
    family = Family("circus_watcher_up", "gauge", "1 when active.\nElse 0.")
    family.add(1, watcher='we"b\\1\nx')
    family.add(0.5, watcher="plain")
    (parsed,) = text_string_to_metric_families(render([family]))
    assert parsed.type == "gauge" and parsed.documentation == "1 when active.\nElse 0."
    assert [(s.labels, s.value) for s in parsed.samples] == [
        ({"watcher": 'we"b\\1\nx'}, 1.0), ({"watcher": "plain"}, 0.5)]


def test_a_counter_is_declared_under_its_total_name_and_a_family_without_samples_still_has_help_and_type():
    counter = Family("circus_watcher_restarts_total", "counter", "Respawns.")
    counter.add(3, watcher="web")
    empty = Family("circus_process_open_fds", "gauge", "Open fds.")
    text = render([counter, empty])
    assert "# TYPE circus_watcher_restarts_total counter\ncircus_watcher_restarts_total{watcher=\"web\"} 3\n" in text
    assert text.endswith("# HELP circus_process_open_fds Open fds.\n# TYPE circus_process_open_fds gauge\n")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["circus_watcher_restarts"].samples[0].value == 3
