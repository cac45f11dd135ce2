"""Run this process ``ANCHOR_TEST_CLOCK_OFFSET`` seconds off the host's wall clock.

The chaos run puts this folder first on ``PYTHONPATH`` of a worker group or the scheduler,
as a host whose clock drifted would be. Python imports ``sitecustomize`` before anything
else, so the shift is in place before the anchor loads: ``time.time``/``time_ns``, the
anchor's ``utcnow`` and ``pendulum.now`` (periodiq's clock) are shifted; monotonic clocks,
sleeps and timeouts are not, as on a real host. The database's own clock is untouched.
(libfaketime was tried first: under it Python 3.11's ``time.sleep`` fails with EINVAL and
timed waits hang. Replacing ``datetime.datetime`` breaks ``pendulum.parse``.)
"""

import datetime as _dt
import importlib.abc
import importlib.machinery
import os
import sys
import time as _time

_OFFSET = float(os.environ.get("ANCHOR_TEST_CLOCK_OFFSET") or 0)


def _shift_utcnow(module) -> None:  # noqa: ANN001 - a module
    real = module.utcnow
    module.utcnow = lambda: real() + _dt.timedelta(seconds=_OFFSET)


def _shift_pendulum_now(module) -> None:  # noqa: ANN001
    real = module.now
    module.now = lambda tz=None: real(tz).add(seconds=_OFFSET)


class _ShiftOnImport(importlib.abc.MetaPathFinder):
    """Patches a module's clock function right after the module itself has run."""

    patches = {"anchor_dramatiq.db": _shift_utcnow, "pendulum": _shift_pendulum_now}

    def find_spec(self, name, path, target=None):  # noqa: ANN001, ANN201 - the finder protocol
        patch = self.patches.get(name)
        if patch is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module) -> None:  # noqa: ANN001
            run(module)
            patch(module)

        spec.loader.exec_module = exec_module
        return spec


if _OFFSET:
    _real_time, _real_time_ns = _time.time, _time.time_ns
    _time.time = lambda: _real_time() + _OFFSET
    _time.time_ns = lambda: _real_time_ns() + int(_OFFSET * 1e9)
    sys.meta_path.insert(0, _ShiftOnImport())
