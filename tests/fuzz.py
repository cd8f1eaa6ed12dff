"""A reusable fuzz harness: hostile values for the fields of a JSON body or a form.

Describe each field with a strategy of values the endpoint accepts and one of
values it must refuse; `run_fuzz` then sends bodies in which one or more
fields are bad (wrong value, wrong type or missing) and checks, for every
example, that the answer is no server error, that it names every bad field,
and that nothing was stored.

    fields = [Field("email", valid=emails(), invalid=hostile_text())]
    run_fuzz(fields, submit=lambda body: client.post(url, data=body),
             field_errors=errors_in_html, stored=count_rows)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from barometre.text import printable

MISSING = object()  # a field left out of the body

# How deep each fuzz property goes: `make test` runs a share of its examples (the suite
# stays in minutes), `make fuzz` (FUZZ_CASES set) runs every one.
FULL_DEPTH = "FUZZ_CASES" in os.environ
SHARE = 0.025


def examples(full: int) -> int:
    """The examples a property runs: `full` under `make fuzz`, a share of it in `make test`."""
    return full if FULL_DEPTH else max(10, round(full * SHARE))


# Values that reach email headers must never carry a line break (header injection).
LINE_BREAKS = ["\r\n", "\n", "\r", "\r\nBcc: victime@example.org", "%0d%0aBcc:x@y", "\u2028"]
HOSTILE_FRAGMENTS = [
    "\x00",
    *LINE_BREAKS,
    "'; DROP TABLE report; --",
    "<script>alert(1)</script>",
    "{{ 7*7 }}",
    "../../etc/passwd",
    "\ufeff",
    "\u202e",
    "%s%s%n",
    "\\",
    '"',
]


def printable_text(
    min_size: int = 0, max_size: int = 300, multiline: bool = True
) -> st.SearchStrategy[str]:
    """Text the rule of stored text accepts (barometre.text): letters, marks, numbers,
    punctuation, symbols, spaces, and line breaks when `multiline`."""
    characters = st.characters(categories=("L", "M", "N", "P", "S", "Zs"))
    if multiline:
        characters = st.one_of(characters, st.sampled_from(["\n", "\r\n", "\t"]))
    return (
        st.lists(characters, min_size=min_size, max_size=max_size)
        .map("".join)
        .filter(lambda t: printable(t, multiline))
    )


def lone_surrogates() -> st.SearchStrategy[str]:
    """Strings JSON can carry ("\\udc00") that UTF-8, hence every database, cannot store.

    Low surrogates, or one high surrogate at the end: never a pair, which a JSON
    decoder would join into one valid character.
    """
    low = st.text(st.characters(min_codepoint=0xDC00, max_codepoint=0xDFFF), min_size=1, max_size=3)
    return st.one_of(low, st.characters(min_codepoint=0xD800, max_codepoint=0xDBFF))


def long_text(min_size: int = 2001, max_size: int = 12_000) -> st.SearchStrategy[str]:
    """Too long even once stripped. Built from a repeated piece: cheap to generate."""
    return st.builds(
        lambda piece, n: "x" + (piece * n)[: n - 2] + "x",
        st.sampled_from(["x", "é", "\u4e2d", "a\r\n", "\U0001f600", " "]),
        st.integers(min_size, max_size),
    )


def hostile_text() -> st.SearchStrategy[str]:
    """Text with NUL bytes, line breaks, markup, surrogates, or far too long."""
    fragment = st.sampled_from(HOSTILE_FRAGMENTS)
    return st.one_of(
        st.builds(lambda a, f, b: a + f + b, st.text(max_size=20), fragment, st.text(max_size=20)),
        lone_surrogates(),
        long_text(),
        st.text(min_size=1, max_size=50),
    )


def wrong_types(*, allow_none: bool = True) -> st.SearchStrategy[Any]:
    """JSON values of every type; the caller filters out the expected one."""
    scalars = st.one_of(
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=10),
    )
    nested = st.one_of(
        st.lists(scalars, max_size=5),
        st.dictionaries(st.text(max_size=5), scalars, max_size=3),
    )
    values = st.one_of(scalars, nested)
    return st.one_of(st.none(), values) if allow_none else values


@dataclass(frozen=True)
class Field:
    name: str
    valid: st.SearchStrategy[Any]
    invalid: st.SearchStrategy[Any]
    required: bool = True


@dataclass(frozen=True)
class Case:
    body: dict[str, Any]
    bad: frozenset[str]


@st.composite
def bad_bodies(
    draw: st.DrawFn, fields: Sequence[Field], extra_keys: st.SearchStrategy[str] | None = None
) -> Case:
    """A body where at least one field is bad (or an unknown key was added)."""
    names = [f.name for f in fields]
    options = names + (["<extra>"] if extra_keys is not None else [])
    chosen = draw(st.sets(st.sampled_from(options), min_size=1, max_size=len(options)))
    body: dict[str, Any] = {}
    bad: set[str] = set()
    for field in fields:
        if field.name not in chosen:
            value = draw(field.valid)
            if value is not MISSING:
                body[field.name] = value
            continue
        bad.add(field.name)
        choices = [field.invalid, st.just(MISSING)] if field.required else [field.invalid]
        value = draw(st.one_of(*choices))
        if value is not MISSING:
            body[field.name] = value
    if "<extra>" in chosen and extra_keys is not None:
        key = draw(extra_keys.filter(lambda k: k not in names))
        body[key] = draw(wrong_types())
        bad.add(key[:64])
    return Case(body, frozenset(bad))


def run_fuzz(
    fields: Sequence[Field],
    submit: Callable[[dict[str, Any]], Any],
    field_errors: Callable[[Any], Mapping[str, Sequence[str]]],
    stored: Callable[[], object],
    *,
    max_examples: int = 1000,
    extra_keys: st.SearchStrategy[str] | None = None,
) -> None:
    """Send bad bodies; each must be refused with a French error on every bad field."""

    @settings(
        max_examples=examples(max_examples),
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(case=bad_bodies(fields, extra_keys))
    def check(case: Case) -> None:
        before = stored()
        response = submit(case.body)
        assert response.status_code < 500, (response.status_code, case)
        errors = field_errors(response)
        missing = {name for name in case.bad if name not in errors}
        assert not missing, (missing, errors, case)
        for messages in errors.values():
            assert messages and all(isinstance(m, str) and m.strip() for m in messages)
        assert stored() == before, case

    check()
