"""The public surface: the names gilwise exports, and the signatures help() and IDEs show."""

from __future__ import annotations

import inspect
import pickle
import pydoc
import subprocess
import sys
import typing

import pytest

import gilwise
import gilwise.journal
from gilwise._api import POOL_DEFAULT, PoolDefault
from gilwise._options import MODES, Options
from gilwise.backends.registry import MODE_SPECS

PUBLIC_NAMES = [
    "AsyncMapResult",
    "BlockingCallWarning",
    "Decision",
    "Executor",
    "Failure",
    "Frontier",
    "GilwiseError",
    "InterpretersUnavailable",
    "JournalError",
    "MapResult",
    "Outcome",
    "PayloadError",
    "PerKey",
    "Pool",
    "RunInfo",
    "TaskError",
    "TaskTimeout",
    "WorkerDied",
    "WorkerInitError",
    "amap",
    "arun",
    "explain",
    "map",
    "usable_cores",
]
OPTIONS = list(inspect.signature(Options, eval_str=True).parameters.values())
OPTION_TYPES = typing.get_type_hints(Options)


def test_gilwise_exports_exactly_the_public_names():
    assert sorted(gilwise.__all__) == PUBLIC_NAMES
    assert all(hasattr(gilwise, name) for name in PUBLIC_NAMES)


def test_public_classes_say_they_live_in_gilwise():
    classes = [getattr(gilwise, name) for name in PUBLIC_NAMES]
    classes = [cls for cls in classes if isinstance(cls, type)]
    assert {cls.__name__: cls.__module__ for cls in classes} == {
        cls.__name__: "gilwise" for cls in classes
    }
    assert gilwise.journal.JournalError is gilwise.JournalError  # one class, two addresses


def test_public_classes_annotations_read_from_their_public_home():
    for name in PUBLIC_NAMES:
        if isinstance(getattr(gilwise, name), type):
            typing.get_type_hints(getattr(gilwise, name))  # no NameError from gilwise's namespace


def option_parameters(fn: typing.Callable[..., typing.Any]) -> list[inspect.Parameter]:
    """The keyword-only parameters of ``fn``, with their annotations evaluated."""
    signature = inspect.signature(fn, eval_str=True)
    assert not any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    return [p for p in signature.parameters.values() if p.kind is p.KEYWORD_ONLY]


def test_options_declares_each_option_once_in_one_order_with_one_type():
    assert [p.name for p in OPTIONS] == list(Options.__slots__) == list(OPTION_TYPES)
    assert {p.name: p.annotation for p in OPTIONS} == OPTION_TYPES


@pytest.mark.parametrize("fn", [gilwise.map, gilwise.Pool, gilwise.amap])
def test_every_option_is_a_typed_keyword_argument_with_its_default(fn):
    parameters = option_parameters(fn)
    assert [p.name for p in parameters] == [option.name for option in OPTIONS]
    for parameter, option in zip(parameters, OPTIONS):
        assert parameter.annotation == option.annotation, option.name
        assert parameter.default == option.default, option.name


def test_pool_map_takes_every_option_defaulting_to_the_pools_own():
    parameters = option_parameters(gilwise.Pool.map)
    assert [p.name for p in parameters] == [option.name for option in OPTIONS]
    for parameter in parameters:
        assert parameter.annotation == OPTION_TYPES[parameter.name] | PoolDefault
        assert parameter.default is POOL_DEFAULT


def test_help_shows_the_options_with_their_choices():
    text = pydoc.render_doc(gilwise.map, renderer=pydoc.plaintext)
    assert "mode: Literal['auto', 'threads', 'processes', 'interpreters', 'dask'] = 'auto'" in text
    assert "on_error: Literal['raise', 'skip', 'return'] = 'raise'" in text
    assert "**" not in text.split("\n\n")[1]  # the signature itself hides nothing
    text = pydoc.render_doc(gilwise.amap, renderer=pydoc.plaintext)
    assert "mode: Literal['auto', 'threads', 'processes', 'interpreters', 'dask'] = 'auto'" in text


def test_pool_map_uses_the_pools_settings_unless_told_otherwise(no_leftover_workers):
    with gilwise.Pool(mode="threads", workers=2, on_error="return") as pool:
        assert not list(pool.map(int, ["1", "x"]))[1]  # a Failure: the Pool's on_error
        assert list(pool.map(int, ["1", "x"], on_error="skip")) == [1]


def test_failures_and_outcomes_are_immutable_values_that_survive_pickle():
    failure = gilwise.Failure(3, "x", "ValueError", "bad", "its traceback", 2, ValueError("bad"))
    outcome = gilwise.Outcome(3, "x", failure=failure, attempts=2, seconds=0.5, worker="w-1")
    for value in (failure, outcome):
        again = pickle.loads(pickle.dumps(value))
        assert again == value and hash(again) == hash(value)
        with pytest.raises(AttributeError):
            value.index = 4  # type: ignore[misc]


def test_the_typed_mode_choices_are_auto_and_the_registrys_modes():
    assert typing.get_args(OPTION_TYPES["mode"]) == MODES  # a new mode: an entry and its Literal
    assert ("auto", *MODE_SPECS) == MODES


def test_the_command_line_offers_the_librarys_modes():
    assert MODES == ("auto", "threads", "processes", "interpreters", "dask")
    usage = subprocess.run([sys.executable, "-m", "gilwise", "map", "--help"],
                           capture_output=True, text=True, check=True).stdout
    assert "--mode {auto,threads,processes,interpreters,dask}" in usage
