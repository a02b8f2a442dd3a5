"""``mode="auto"``: measure the work, choose the mode, and steer the batch as it runs.

- ``decide``: run the first items in a probe thread, measure, and choose (:func:`probe`,
  :func:`explain`);
- ``probe``: the probe thread and the :class:`Trial` it leaves to the engine;
- ``gilmeter``: how much a thread beside the work waits for the GIL;
- ``io_threads``: how many threads an I/O-bound batch needs (Little's law);
- ``input``: the caller's input split between the probe and the engine;
- ``watch``: re-judging the work as it runs (a batch may change nature);
- ``steer``: resizing an I/O-bound pool as throughput answers;
- ``autopilot``: auto's hand on a running batch, given to the run.
"""

from gilwise.auto.decide import explain, gil_enabled, probe

__all__ = ["explain", "gil_enabled", "probe"]
