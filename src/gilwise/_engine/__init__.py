"""The engine: one loop that every mode and every front end shares.

- ``loop``: :class:`Engine`, feeding chunks to a backend and collecting finished segments,
  by blocking iteration (:meth:`Engine.segments`) or step by step (:meth:`Engine.step`);
- ``recovery``: what becomes of a failed, lost or timed-out chunk (blame, split, retry);
- ``handover``: a move to another backend in mid-batch;
- ``sizing``: how many items a chunk holds.
"""

from gilwise._engine.loop import Engine

__all__ = ["Engine"]
