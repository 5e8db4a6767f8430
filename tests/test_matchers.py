"""Alertmanager's matcher language: parsing, quoting, errors, matching semantics, round trips.

That Alertmanager itself reads these strings the same way is checked against the real server in
tests/test_alertmanager.py (filters and silences built from parsed matchers).
"""

from __future__ import annotations

import pytest

from mlops_tui.domain.matchers import Matcher, matches_all, parse_matcher, parse_matchers
from mlops_tui.errors import ExitCode, InvalidQuery


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('model="churn"', Matcher("model", "=", "churn")),
        ('model!="churn"', Matcher("model", "!=", "churn")),
        ('model=~"ch.*"', Matcher("model", "=~", "ch.*")),
        ('model!~"ch.*"', Matcher("model", "!~", "ch.*")),
        ("  severity  =~  crit.*  ", Matcher("severity", "=~", "crit.*")),
        ("model=churn", Matcher("model", "=", "churn")),
        ("alertname=Disk full", Matcher("alertname", "=", "Disk full")),
        ('env=""', Matcher("env", "=", "")),
        ("env=", Matcher("env", "=", "")),
        ('model="a==b"', Matcher("model", "=", "a==b")),
        ('"odd name"="x"', Matcher("odd name", "=", "x")),
    ],
)
def test_each_operator_and_form_parses(text: str, expected: Matcher) -> None:
    assert parse_matcher(text) == expected


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('summary="a, b, c"', "a, b, c"),
        ('summary="say \\"hi\\""', 'say "hi"'),
        ('path="C:\\\\tmp"', "C:\\tmp"),
        ('text="line1\\nline2"', "line1\nline2"),
        ('instance=~"host\\d+"', "host\\d+"),  # an unknown escape keeps its backslash
        ('summary="{braces} and = and ~"', "{braces} and = and ~"),
    ],
)
def test_quoted_values_unescape_as_alertmanager_does(text: str, value: str) -> None:
    assert parse_matcher(text).value == value


def test_a_list_in_braces_with_commas_inside_quotes() -> None:
    assert parse_matchers(['{a="b", c=~"d,e", f!="g\\"h,"}']) == [
        Matcher("a", "=", "b"),
        Matcher("c", "=~", "d,e"),
        Matcher("f", "!=", 'g"h,'),
    ]


def test_several_strings_each_one_or_more_matchers() -> None:
    assert parse_matchers(["model=churn", "  ", '{severity="critical",}', 'env!~"dev|qa", team=ml']) == [
        Matcher("model", "=", "churn"),
        Matcher("severity", "=", "critical"),
        Matcher("env", "!~", "dev|qa"),
        Matcher("team", "=", "ml"),
    ]
    assert parse_matchers(["{}"]) == []


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("model", "does not parse"),
        ("model churn", "does not parse"),
        ('model=="churn"x', "does not parse"),
        ('model="churn', "does not parse"),
        ('model="a"b"', "does not parse"),
        ('="churn"', "empty label name"),
        ('""=~"x"', "empty label name"),
        ('model=~"(churn"', "bad regular expression"),
        ('model!~"*"', "bad regular expression"),
    ],
)
def test_bad_input_is_an_invalid_query_that_says_why(text: str, says: str) -> None:
    with pytest.raises(InvalidQuery) as caught:
        parse_matcher(text)
    assert says in caught.value.message and repr(text) in caught.value.message
    assert caught.value.exit_code == ExitCode.USAGE


def test_the_parse_error_shows_how_to_write_one() -> None:
    with pytest.raises(InvalidQuery, match=r'write name="value" \(operators: = != =~ !~\)'):
        parse_matchers(['{a="b", oops}'])


def test_regex_error_positions_are_the_users() -> None:
    with pytest.raises(InvalidQuery, match="at position 2$"):
        parse_matcher('m=~"ab)c"')


LABELS = {"alertname": "ChurnDrift", "model": "churn", "severity": "critical"}


@pytest.mark.parametrize(
    ("text", "hit"),
    [
        ('model="churn"', True),
        ('model="chur"', False),
        ('model!="churn"', False),
        ('model!="fraud"', True),
        ('model=~"ch.*"', True),
        ('model=~"ch"', False),  # anchored at the start and the end
        ('model=~"hur"', False),
        ('model=~"urn"', False),
        ('model=~"churn|fraud"', True),  # the alternation is anchored as a whole
        ('model!~"ch.*"', False),
        ('model!~"fr.*"', True),
        ('team=""', True),  # a missing label is the empty string
        ('team!=""', False),
        ('team=~".*"', True),
        ('team=~".+"', False),
    ],
)
def test_matching_follows_alertmanager(text: str, hit: bool) -> None:
    assert parse_matcher(text).matches(LABELS) is hit


def test_the_end_anchor_is_the_very_end_and_dot_stops_at_a_newline() -> None:
    # Go's `$` (no multi-line) is the end of the text; Python's `$` alone also matches before a
    # final newline. Go's `.` does not match a newline either.
    assert not parse_matcher('text=~"line"').matches({"text": "line\n"})
    assert not parse_matcher('text=~"a.b"').matches({"text": "a\nb"})
    assert parse_matcher('text=~"a.b"').matches({"text": "a-b"})


def test_matches_all_needs_every_matcher() -> None:
    matchers = parse_matchers(['{model="churn", severity=~"crit.*"}'])
    assert matches_all(matchers, LABELS)
    assert not matches_all([*matchers, parse_matcher("env=prd")], LABELS)
    assert matches_all([], LABELS)


@pytest.mark.parametrize(
    "matcher",
    [
        Matcher("model", "=", "churn"),
        Matcher("model", "!=", ""),
        Matcher("summary", "=", 'say "hi", then {leave}'),
        Matcher("path", "!~", "C:\\\\tmp\\d+"),
        Matcher("text", "=~", "line1\nline2"),
        Matcher("alertname", "=", "Disk full"),
    ],
)
def test_str_parses_back_to_the_same_matcher(matcher: Matcher) -> None:
    assert parse_matcher(str(matcher)) == matcher
    assert parse_matchers([f"{{{matcher}, x=y}}"]) == [matcher, Matcher("x", "=", "y")]


def test_str_is_the_canonical_quoted_form() -> None:
    assert str(parse_matcher("  model =~ ch.* ")) == 'model=~"ch.*"'
    assert str(Matcher("s", "!=", 'a"b\\c')) == 's!="a\\"b\\\\c"'


@pytest.mark.parametrize(
    ("matcher", "api"),
    [
        (
            Matcher("model", "=", "churn"),
            {"name": "model", "value": "churn", "isRegex": False, "isEqual": True},
        ),
        (
            Matcher("model", "!=", "churn"),
            {"name": "model", "value": "churn", "isRegex": False, "isEqual": False},
        ),
        (
            Matcher("model", "=~", "ch.*"),
            {"name": "model", "value": "ch.*", "isRegex": True, "isEqual": True},
        ),
        (
            Matcher("model", "!~", "ch.*"),
            {"name": "model", "value": "ch.*", "isRegex": True, "isEqual": False},
        ),
    ],
)
def test_api_form_round_trips(matcher: Matcher, api: dict[str, object]) -> None:
    assert matcher.to_api() == api
    assert Matcher.from_api(api) == matcher


def test_api_form_without_is_equal_is_an_equality() -> None:
    # Alertmanager before 0.22 had no isEqual: every matcher was an equality.
    assert Matcher.from_api({"name": "model", "value": "ch.*", "isRegex": True}) == Matcher(
        "model", "=~", "ch.*"
    )
