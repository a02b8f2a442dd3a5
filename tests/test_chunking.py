"""Adaptive chunk size: grows for tiny tasks, stays at 1 for long ones."""

from gilwise._chunking import ChunkSizer


def test_first_chunk_is_one_item_to_measure():
    assert ChunkSizer(None, workers=2, total=None, target_seconds=0.02).next_size() == 1


def test_tiny_tasks_get_big_chunks():
    sizer = ChunkSizer(None, workers=2, total=None, target_seconds=0.02)
    sizer.observe(items=1000, seconds=0.0001)  # 0.1 µs each
    assert sizer.next_size() == sizer.max_size > 1000


def test_long_tasks_are_not_bunched():
    sizer = ChunkSizer(None, workers=2, total=64, target_seconds=0.02)
    sizer.observe(items=1, seconds=0.025)
    assert sizer.next_size() == 1


def test_known_length_leaves_at_least_four_chunks_per_worker():
    sizer = ChunkSizer(None, workers=2, total=800, target_seconds=0.02)
    sizer.observe(items=100, seconds=1e-6)
    assert sizer.next_size() == 100  # 800 / (4 * 2)


def test_fixed_chunksize_is_kept():
    sizer = ChunkSizer(7, workers=2, total=None, target_seconds=0.02)
    sizer.observe(items=1, seconds=10.0)
    assert sizer.next_size() == 7
