"""The JSON depth check: linear in the body, and the same verdicts as the regular expression it replaced."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from piazza.limits.requests import check_json_depth

MiB = 1024 * 1024

# The check as it was before issue 15 (a backtracking regular expression, quadratic on unclosed strings),
# kept as the reference for its verdicts; only ever given small inputs here.
_PREVIOUS_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_PREVIOUS_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_PREVIOUS_PAIR = re.compile(rb"\[\]|\{\}")


def previous_check_json_depth(body: bytes, max_depth: int) -> bool:
    brackets = _PREVIOUS_STRING.sub(b"", body).translate(None, _PREVIOUS_NOT_BRACKETS)
    for _ in range(max_depth):
        if not brackets:
            return True
        shorter = _PREVIOUS_PAIR.sub(b"", brackets)
        if len(shorter) == len(brackets):
            return True
        brackets = shorter
    return not brackets


def nesting(value: object) -> int:
    if isinstance(value, list):
        return 1 + max(map(nesting, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(nesting, value.values()), default=0)
    return 0


def walked_depth(body: bytes) -> int:
    """The documented rule, one byte at a time: brackets outside strings count, `\\\\` and `\\"` are
    escapes, an unclosed string is no string, any closing bracket closes, and one with nothing open is
    ignored."""
    quotes = body.replace(b"\\\\", b"").replace(b'\\"', b"").count(b'"')
    depth = deepest = seen = index = 0
    in_string = False
    while index < len(body):
        byte = body[index : index + 1]
        index += 1
        if byte == b"\\" and body[index : index + 1] in (b"\\", b'"'):
            index += 1
        elif byte == b'"':
            seen += 1
            in_string = not in_string and not (quotes % 2 and seen == quotes)
        elif in_string:
            pass
        elif byte in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (b"]", b"}"):
            depth = max(0, depth - 1)
    return deepest


# Strings full of the characters the check must see through.
tricky_text = st.text(alphabet=st.sampled_from('ab[]{}"\\/\n\u00e9\u2028'), max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | tricky_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(tricky_text, children, max_size=4),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(
    value=json_values, max_depth=st.integers(1, 8), ascii_only=st.booleans(), indent=st.none() | st.just(1)
)
def test_valid_json_gets_the_same_verdict_as_before_and_the_true_one(value, max_depth, ascii_only, indent):
    body = json.dumps(value, ensure_ascii=ascii_only, indent=indent).encode()
    verdict = check_json_depth(body, max_depth)
    assert verdict == previous_check_json_depth(body, max_depth)
    assert verdict == (nesting(value) <= max_depth)


@settings(max_examples=1000, deadline=None)
@given(body=st.binary(max_size=80).map(lambda raw: bytes(b'[]{}"\\ a,'[byte % 9] for byte in raw)))
def test_any_text_gets_the_verdict_of_the_documented_rule(body):
    for max_depth in (1, 2, 3):
        assert check_json_depth(body, max_depth) == (walked_depth(body) <= max_depth)


@settings(max_examples=1000, deadline=None)
@given(body=st.binary(max_size=80).map(lambda raw: bytes(b'[]{}" a,'[byte % 8] for byte in raw)))
def test_what_was_refused_before_is_refused_still(body):
    # Without backslashes outside strings (the one place the old tokenizer differed) the old check
    # refused a subset: its one refusal at exactly the limit (an extra bracket after max_depth levels)
    # was an artifact of counting removal rounds, and nests no deeper than allowed.
    for max_depth in (1, 2, 3):
        if not previous_check_json_depth(body, max_depth) and walked_depth(body) != max_depth:
            assert not check_json_depth(body, max_depth)


@pytest.mark.parametrize(
    ("body", "depth_ok"),
    [
        (b'"' + b'\\"' * 20000, True),  # the 40 KB body of issue 15: one unclosed string
        (b'"' + b'\\"' * 20000 + b"[" * 40, False),  # what follows an unclosed string counts
        (b'{"a": "' + b"\\\\" * 1000 + b'", "b": [[[[[1]]]]]}', False),  # escaped backslashes end strings
        (b'["\\"]]]]]]]]", [[[[1]]]]]', False),  # an escaped quote does not end one
        (b"[" * 5 + b"]" * 5, False),
        (b"[" * 4 + b"}" * 4, True),  # any closing bracket closes
        (b"]]]]]]" + b"[[[[", True),  # closing brackets with nothing open are ignored
        (b"[[[[" + b"1," * 3000 + b"]]]]", True),
        (b"[" + b"[[[[]]]]," * 3000 + b"[]]", False),
        (b"[" + b"[[[]]]," * 3000 + b"[]]", True),
    ],
)
def test_json_depth_examples(body, depth_ok):
    assert check_json_depth(body, 4) is depth_ok


def hostile_bodies(size: int) -> dict[str, bytes]:
    """Bodies of `size` bytes built to be slow for one kind of depth check or another."""
    half = size // 2
    return {
        "unclosed-string-of-escaped-quotes": b'"' + b'\\"' * (half - 1),
        "deep-nesting": b"[" * half + b"]" * half,
        "deep-nesting-never-closed": b"[" * size,
        "nesting-at-the-limit-repeated": (b"[" * 32 + b"]" * 32) * (size // 64),
        "many-small-arrays": b"[" + b"[[]]," * (size // 5 - 1) + b"[]]",
        "many-tiny-strings": b"[" + b'"",' * (size // 3 - 1) + b'""]',
        "many-escaped-backslashes": b'["' + b"\\\\" * (half - 2) + b'"]',
        "one-long-string-of-brackets": b'["' + b"[" * (size - 4) + b'"]',
        "unbalanced-pairs": b"}[" * (half - 33) + b"[" * 33 + b"]" * 33,
    }


def test_hostile_one_mib_bodies_are_checked_in_linear_time():
    # A guard against super-linear work, not a speed measurement: the old check needed hours for the
    # first body; a linear one needs milliseconds each, and the margin here is thousands of times that.
    # In a child process, since a regular expression holds the GIL until it is done.
    program = (
        "import json\n"
        "from piazza.limits.requests import check_json_depth\n"
        "from tests.limits.test_json_depth import MiB, hostile_bodies\n"
        "bodies = hostile_bodies(MiB)\n"
        "print(json.dumps({name: check_json_depth(body, 32) for name, body in bodies.items()}))\n"
    )
    try:
        checked = subprocess.run(  # noqa: S603  (our own interpreter and program)
            [sys.executable, "-c", program],
            cwd=Path(__file__).parents[2],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the depth check took over two minutes on nine 1 MiB bodies")
    refused = {"deep-nesting", "deep-nesting-never-closed", "unbalanced-pairs"}
    assert json.loads(checked.stdout) == {name: name not in refused for name in hostile_bodies(64)}
