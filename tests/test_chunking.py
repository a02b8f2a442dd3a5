"""Adaptive chunk size: grows for tiny tasks, stays at 1 for long ones."""

from gilwise._engine.sizing import ChunkSizer


def test_first_chunk_is_two_items_to_measure():
    sizer = ChunkSizer(None, workers=2, total=1000, target_seconds=0.02)
    assert sizer.measuring
    assert sizer.next_size() == 2


def test_first_chunk_of_an_input_of_unknown_length_is_one_item():
    # it may hold fewer items than twice the workers: one each, so that none waits
    assert ChunkSizer(None, workers=8, total=None, target_seconds=0.02).next_size() == 1


def test_first_chunk_of_a_tiny_batch_never_takes_another_workers_share():
    assert ChunkSizer(None, workers=2, total=3, target_seconds=0.02).next_size() == 1


def test_first_estimate_is_the_warm_second_item_not_the_cold_first():
    sizer = ChunkSizer(None, workers=2, total=10**6, target_seconds=0.02)
    sizer.observe(items=2, seconds=30e-6, item_seconds=[29e-6, 1e-6])  # a cold first call
    assert not sizer.measuring
    assert 19_000 < sizer.next_size() <= 20_000  # 20 ms / 1 µs (the average: ~1,300)


def test_a_slow_second_item_keeps_chunks_small():
    sizer = ChunkSizer(None, workers=2, total=1000, target_seconds=0.02)
    sizer.observe(items=2, seconds=0.05, item_seconds=[0.025, 0.025])
    assert sizer.next_size() == 1


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
