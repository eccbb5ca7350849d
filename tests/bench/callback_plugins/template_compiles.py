"""Benchmark diagnostic (tests/bench/bench_site.py only, never in a role): how many Jinja
templates a run compiles, in how many forked workers, and for how long.

ansible-core 2.19 compiles a template string each time it renders it, in the process that
renders it, and the linear strategy forks a worker per host and task: nothing compiled in
one worker is reused by the next. This callback wraps the engine's two compile methods
(private ansible-core API, pinned in constraints.txt) when it is loaded in the controller,
before any worker forks; each compile appends a line to $BENCH_TEMPLATE_LOG, and the
summary is printed at the end of the run.
"""

from __future__ import annotations

import collections
import json
import os
import time

from ansible._internal._templating import _engine
from ansible.plugins.callback import CallbackBase

LOG = os.environ.get("BENCH_TEMPLATE_LOG", "")


def _recording(compile_method):
    def compile_and_record(self, source, options):
        started = time.perf_counter()
        try:
            return compile_method(self, source, options)
        finally:
            elapsed = time.perf_counter() - started
            with open(LOG, "a", encoding="utf-8") as log:
                log.write(json.dumps([os.getpid(), elapsed, str(source)[:120]]) + "\n")

    return compile_and_record


if LOG:
    _engine.TemplateEngine._compile_template = _recording(_engine.TemplateEngine._compile_template)
    _engine.TemplateEngine._compile_expression = _recording(_engine.TemplateEngine._compile_expression)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "template_compiles"
    CALLBACK_NEEDS_ENABLED = True

    def v2_playbook_on_stats(self, stats):
        if not LOG or not os.path.exists(LOG):
            return
        with open(LOG, encoding="utf-8") as log:
            entries = [json.loads(line) for line in log]
        seconds = collections.Counter()
        for _pid, elapsed, source in entries:
            seconds[source] += elapsed
        processes = {pid for pid, _elapsed, _source in entries}
        self._display.display(
            f"TEMPLATE COMPILES: {len(entries)} compiles of {len(seconds)} distinct templates"
            f" in {len(processes)} processes, {sum(seconds.values()):.1f} s"
        )
        for source, total in seconds.most_common(5):
            self._display.display(f"TEMPLATE {total:6.2f} s  {' '.join(source.split())[:100]}")
