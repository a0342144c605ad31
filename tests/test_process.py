"""The process definition: the shipped file, an ops replacement, and validation errors.

Every validation error must name the file, the key, what is allowed and the
line, so each case below writes a small TOML text with one mistake and checks
that the reported line is the line holding the mistake.
"""

from __future__ import annotations

import re
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from states.errors import ConfigError, ProcessDefinitionError
from states.machine import ProcessMachine
from states.process import (
    FIRST_LEVEL,
    GUARDS,
    TRIGGERS,
    ProcessDefinition,
    default_process_path,
    load_process,
    parse_process,
)

SOURCE = "ops/process.toml"

# A small valid process: four states, a two-rung ladder, three transitions.
MINI = textwrap.dedent(
    """\
    format = 1
    name = "mini"
    version = "1"
    initial = "open"

    [states.open]
    [states.working]
    [states.escalated]
    carries_level = true
    [states.done]

    [authority]
    first_level = "100"

    [[ladder]]
    name = "team"
    authority_limit = "1000"

    [[ladder]]
    name = "director"
    authority_limit = "unlimited"

    [[transitions]]
    trigger = "assign"
    source = "open"
    dest = "working"
    guards = ["has_assignee"]

    [[transitions]]
    trigger = "escalate"
    source = ["working", "escalated"]
    dest = "escalated"
    guards = ["has_escalation_reason", "has_customer_notice", "below_top_of_ladder"]

    [[transitions]]
    trigger = "resolve"
    source = ["working", "escalated"]
    dest = "done"
    guards = ["has_resolution_note", "within_authority"]
    """
)


def mutate(old: str, new: str, text: str = MINI) -> str:
    assert text.count(old) == 1, f"{old!r} must occur once in the base text"
    return text.replace(old, new)


def refused(text: str) -> ProcessDefinitionError:
    with pytest.raises(ProcessDefinitionError) as caught:
        parse_process(text, SOURCE)
    return caught.value


def line_of(text: str, fragment: str, occurrence: int = 0) -> int:
    """1-based number of the `occurrence`-th line of `text` containing `fragment`."""
    numbers = [n for n, line in enumerate(text.splitlines(), start=1) if fragment in line]
    return numbers[occurrence]


def assert_points_at(error: ConfigError, text: str, key: str, line: int, *allowed: str) -> None:
    """The error names the file, the key, the line (in the message too) and what is allowed."""
    assert error.source == SOURCE
    assert error.key == key
    assert error.line == line, (
        f"reported line {error.line} "
        f"({text.splitlines()[error.line - 1] if error.line else None!r}), expected {line} "
        f"({text.splitlines()[line - 1]!r})"
    )
    assert str(error).startswith(f"{SOURCE}:{line}: {key}: "), str(error)
    assert "\n" not in str(error)
    for fragment in allowed:
        assert fragment in error.problem, f"{fragment!r} not in {error.problem!r}"


# --- the shipped process ------------------------------------------------------


def test_shipped_process_has_the_designed_states_and_initial_state():
    definition = load_process()
    assert definition.state_names == ("open", "first_level", "escalated", "resolved", "followed_up")
    assert definition.initial == "open"
    assert [s.name for s in definition.states if s.carries_level] == ["escalated"]


def test_shipped_ladder_goes_l2_manager_board_with_growing_limits():
    definition = load_process()
    assert definition.level_names == ("L2", "manager", "board")
    assert [level.rank for level in definition.ladder] == [0, 1, 2]
    assert definition.first_level_limit == Decimal("200.00")
    assert [level.authority_limit for level in definition.ladder] == [
        Decimal("1000.00"),
        Decimal("5000.00"),
        Decimal("Infinity"),
    ]
    assert definition.currency == "EUR"
    assert definition.authority_of(None) == Decimal("200.00")
    assert definition.authority_of("board").is_infinite()


def test_shipped_reopen_window_is_thirty_days():
    assert load_process().reopen_window_seconds == 30 * 24 * 3600


def test_shipped_process_uses_every_trigger_and_only_known_guards():
    definition = load_process()
    assert {spec.trigger for spec in definition.transitions} == set(TRIGGERS)
    assert {g for spec in definition.transitions for g in spec.guards} <= set(GUARDS)
    internal = {spec.trigger for spec in definition.transitions if spec.dest is None}
    assert internal == {"acknowledge", "wait_on_customer", "customer_replied"}


def test_version_id_is_name_version_and_a_digest_of_the_exact_text():
    definition = load_process()
    assert re.fullmatch(r"customer-escalation@2026\.11#[0-9a-f]{12}", definition.version_id)
    assert definition.version_id.endswith(definition.digest[:12])
    assert definition.source == str(default_process_path())
    # One more comment changes the text, hence the version id cases record.
    edited = parse_process(definition.source_text + "\n# edited\n")
    assert edited.version_id != definition.version_id
    assert edited.version_id.startswith("customer-escalation@2026.11#")
    assert parse_process(definition.source_text).version_id == definition.version_id


def test_definition_is_immutable_and_hashable():
    definition = load_process()
    with pytest.raises(AttributeError):
        definition.name = "other"  # type: ignore[misc]
    assert hash(definition) == hash(load_process())


# --- an ops file replacing the shipped one -------------------------------------


def test_ops_file_with_a_two_level_ladder_replaces_the_default(tmp_path: Path):
    path = tmp_path / "process.toml"
    path.write_text(MINI, encoding="utf-8")
    definition = load_process(path)
    assert definition.source == str(path)
    assert definition.name == "mini"
    assert definition.state_names == ("open", "working", "escalated", "done")
    assert definition.level_names == ("team", "director")
    assert definition.first_level_limit == Decimal("100.00")
    assert definition.reopen_window_seconds == 30 * 24 * 3600  # the default window
    assert re.fullmatch(r"mini@1#[0-9a-f]{12}", definition.version_id)
    assert definition.next_level(None).name == "team"  # type: ignore[union-attr]
    assert definition.next_level("team").name == "director"  # type: ignore[union-attr]
    assert definition.next_level("director") is None
    assert ProcessMachine(definition).allowed_triggers("working") == ["escalate", "resolve"]


def test_ops_file_may_set_currency_and_reopen_window():
    text = mutate('first_level = "100"', 'currency = "usd"\nfirst_level = "100"')
    text += '\n[reopen]\nwindow = "P14D"\n'
    definition = parse_process(text, SOURCE)
    assert definition.currency == "USD"
    assert definition.reopen_window_seconds == 14 * 24 * 3600


# --- validation errors ----------------------------------------------------------


def test_unknown_state_in_a_transition_source_is_refused_at_its_line():
    text = mutate('source = "open"', 'source = "opne"')
    assert_points_at(
        refused(text),
        text,
        "transitions[0].source",
        line_of(text, '"opne"'),
        "'opne'",
        "allowed: open, working, escalated, done",
    )


def test_unknown_state_in_a_source_list_is_refused_at_its_line():
    text = mutate(
        'source = ["working", "escalated"]\ndest = "done"',
        'source = ["working", "escalatd"]\ndest = "done"',
    )
    assert_points_at(
        refused(text),
        text,
        "transitions[2].source",
        line_of(text, '"escalatd"'),
        "'escalatd'",
        "allowed: open, working, escalated, done",
    )


def test_unknown_state_in_a_transition_dest_is_refused_at_its_line():
    text = mutate('dest = "done"', 'dest = "closed"')
    assert_points_at(
        refused(text),
        text,
        "transitions[2].dest",
        line_of(text, '"closed"'),
        "'closed'",
        "allowed: open, working, escalated, done",
    )


def test_unreachable_state_is_refused_at_its_table():
    text = mutate("[states.done]\n", '[states.done]\n[states.limbo]\ntitle = "Limbo"\n')
    assert_points_at(
        refused(text),
        text,
        "states.limbo",
        line_of(text, "[states.limbo]"),
        "unreachable",
        "'open'",
        "allowed",
    )


def test_ladder_level_without_authority_limit_is_refused_at_its_rung():
    text = mutate('authority_limit = "unlimited"\n', "")
    # The key is missing, so the error points at the rung's own [[ladder]] header.
    assert_points_at(
        refused(text),
        text,
        "ladder[1].authority_limit",
        line_of(text, "[[ladder]]", occurrence=1),
        "missing authority limit",
        "allowed",
        '"unlimited"',
    )


def test_limits_decreasing_up_the_ladder_are_refused_at_the_lower_limit():
    text = mutate('authority_limit = "unlimited"', 'authority_limit = "500"')
    assert_points_at(
        refused(text),
        text,
        "ladder[1].authority_limit",
        line_of(text, '"500"'),
        "lower than the rung below",
        "allowed: limits that grow up the ladder",
    )


def test_bottom_rung_below_the_first_level_limit_is_refused():
    text = mutate('first_level = "100"', 'first_level = "5000"')
    assert_points_at(
        refused(text),
        text,
        "ladder[0].authority_limit",
        line_of(text, 'authority_limit = "1000"'),
        "lower than the rung below",
    )


def test_bad_authority_limit_is_refused_at_its_line():
    text = mutate('authority_limit = "1000"', 'authority_limit = "lots"')
    assert_points_at(
        refused(text),
        text,
        "ladder[0].authority_limit",
        line_of(text, '"lots"'),
        "'lots'",
        "allowed",
    )


def test_unknown_trigger_is_refused_listing_the_triggers():
    text = mutate('trigger = "resolve"', 'trigger = "close_case"')
    assert_points_at(
        refused(text),
        text,
        "transitions[2].trigger",
        line_of(text, '"close_case"'),
        "'close_case'",
        "allowed: " + ", ".join(TRIGGERS),
    )


def test_unknown_guard_is_refused_listing_the_guards():
    text = mutate('"within_authority"]', '"within_budget"]')
    assert_points_at(
        refused(text),
        text,
        "transitions[2].guards",
        line_of(text, '"within_budget"'),
        "'within_budget'",
        "allowed: " + ", ".join(GUARDS),
    )


def test_guards_written_as_a_string_instead_of_a_list_are_refused_as_such():
    text = mutate('guards = ["has_assignee"]', 'guards = "has_assignee"')
    error = refused(text)
    assert_points_at(
        error, text, "transitions[0].guards", line_of(text, 'guards = "has_'), "allowed"
    )
    # Not "unknown guard 'h'": the message must be about the list.
    assert "'h'" not in error.problem


@pytest.mark.parametrize(
    ("old", "new", "key", "marker", "allowed"),
    [
        (
            'initial = "open"',
            'initial = "open"\nowner = "ops"',
            "owner",
            "owner =",
            "allowed: authority, format, initial, ladder, name, reopen, states, transitions, "
            "version",
        ),
        (
            'first_level = "100"',
            'first_level = "100"\nsecond_level = "5"',
            "authority.second_level",
            "second_level =",
            "allowed: currency, first_level",
        ),
        (
            'name = "team"',
            'name = "team"\ncolour = "red"',
            "ladder[0].colour",
            "colour =",
            "allowed: authority_limit, name, title",
        ),
        (
            "carries_level = true",
            "carries_level = true\ncolor = 1",
            "states.escalated.color",
            "color =",
            "allowed: carries_level, description, title",
        ),
        (
            'dest = "working"',
            'dest = "working"\nwhen = "always"',
            "transitions[0].when",
            "when =",
            "allowed: dest, guards, source, trigger",
        ),
    ],
    ids=["top-level", "authority", "ladder", "state", "transition"],
)
def test_unknown_key_is_refused_at_its_line(old, new, key, marker, allowed):
    text = mutate(old, new)
    assert_points_at(refused(text), text, key, line_of(text, marker), "unknown key", allowed)


def test_initial_that_is_not_a_state_is_refused_listing_the_states():
    text = mutate('initial = "open"', 'initial = "new"')
    assert_points_at(
        refused(text),
        text,
        "initial",
        line_of(text, 'initial = "new"'),
        "'new'",
        "allowed: open, working, escalated, done",
    )


@pytest.mark.parametrize(
    ("old", "new", "key", "marker", "allowed"),
    [
        ("format = 1", "format = 2", "format", "format = 2", "allowed: 1"),
        ('version = "1"', 'version = ""', "version", 'version = ""', "non-empty string"),
        (
            'first_level = "100"',
            'currency = "EURO"\nfirst_level = "100"',
            "authority.currency",
            "EURO",
            "ISO 4217",
        ),
        (
            '[[ladder]]\nname = "team"',
            '[[ladder]]\nname = "first_level"',
            "ladder[0].name",
            'name = "first_level"',
            "reserved",
        ),
    ],
    ids=["format", "empty-version", "currency", "reserved-level-name"],
)
def test_other_invalid_values_are_refused_at_their_line(old, new, key, marker, allowed):
    text = mutate(old, new)
    assert_points_at(refused(text), text, key, line_of(text, marker), allowed)


def test_reopen_window_in_months_is_refused_at_its_line():
    text = MINI + '\n[reopen]\nwindow = "P1M"\n'
    assert_points_at(
        refused(text), text, "reopen.window", line_of(text, '"P1M"'), "'P1M'", "allowed"
    )


def test_toml_syntax_error_reports_the_line_from_tomllib():
    text = mutate('version = "1"', "version = ")
    error = refused(text)
    assert error.key == "(syntax)"
    assert "not valid TOML" in error.problem
    line = line_of(text, "version = ")
    assert error.line == line, f"line {error.line}, expected {line}: {error}"
    assert str(error).startswith(f"{SOURCE}:{line}: (syntax): ")


def test_toml_syntax_error_in_a_file_names_the_file(tmp_path: Path):
    path = tmp_path / "process.toml"
    path.write_text(MINI + "\n[[transitions]\n", encoding="utf-8")
    with pytest.raises(ProcessDefinitionError) as caught:
        load_process(path)
    assert caught.value.source == str(path)
    assert str(caught.value).startswith(str(path))
    assert caught.value.line == len((MINI + "\n[[transitions]\n").splitlines())


def test_missing_file_is_refused_naming_the_file(tmp_path: Path):
    path = tmp_path / "nowhere" / "process.toml"
    with pytest.raises(ProcessDefinitionError) as caught:
        load_process(path)
    assert caught.value.source == str(path)
    assert caught.value.key == "(file)"
    assert "cannot read" in caught.value.problem
    assert str(caught.value).startswith(f"{path}: (file): cannot read")


def test_process_errors_are_config_errors():
    assert issubclass(ProcessDefinitionError, ConfigError)


# --- the ladder at its edges ---------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "tier"),
    [
        ("0", FIRST_LEVEL),
        ("200.00", FIRST_LEVEL),
        ("200.01", "L2"),
        ("800", "L2"),
        ("1000.00", "L2"),
        ("1000.01", "manager"),
        ("5000.00", "manager"),
        ("5000.01", "board"),
        ("1000000000", "board"),
    ],
)
def test_lowest_level_covering_on_the_shipped_ladder(definition, amount, tier):
    assert definition.lowest_level_covering(Decimal(amount)) == tier


def test_lowest_level_covering_is_none_above_a_limited_top():
    text = mutate('authority_limit = "unlimited"', 'authority_limit = "10000"')
    definition = parse_process(text, SOURCE)
    assert definition.lowest_level_covering(Decimal("10000.00")) == "director"
    assert definition.lowest_level_covering(Decimal("10000.01")) is None


def test_next_level_walks_the_ladder_and_stops_at_the_top(definition: ProcessDefinition):
    assert definition.next_level(None) == definition.ladder[0]
    assert definition.next_level("L2").name == "manager"  # type: ignore[union-attr]
    assert definition.next_level("manager").name == "board"  # type: ignore[union-attr]
    assert definition.next_level("board") is None
    with pytest.raises(KeyError):
        definition.next_level("ceo")


def test_one_rung_ladder_has_no_level_above_its_bottom():
    text = mutate('[[ladder]]\nname = "director"\nauthority_limit = "unlimited"\n', "")
    definition = parse_process(text, SOURCE)
    assert definition.next_level(None).name == "team"  # type: ignore[union-attr]
    assert definition.next_level("team") is None
    assert definition.lowest_level_covering(Decimal("1000.01")) is None


def test_a_ladder_or_transition_entry_that_is_not_a_table_is_one_error():
    """`ladder = ["L2"]` was reported as `ladder[0].L: unknown key`, `ladder = [5]` crashed."""
    for value, shown in (('"L2"', "'L2'"), ("5", "5")):
        for array in ("ladder", "transitions"):
            blocks = rf"^\[\[{array}\]\]\n(?:[^\[\n].*\n|\n)*"  # each [[array]] to the next [
            text = f"{array} = [{value}]\n" + re.sub(blocks, "", MINI, flags=re.MULTILINE)
            error = refused(text)
            assert str(error).startswith(f"{SOURCE}:1: {array}[0]: {shown} is not a table; ")
            assert f"[[{array}]]" in error.problem


def test_a_process_file_that_is_not_utf8_is_one_error_naming_the_line(tmp_path: Path):
    path = tmp_path / "process.toml"
    path.write_bytes(MINI.replace('name = "mini"', 'name = "caf\xe9"').encode("latin-1"))
    with pytest.raises(ProcessDefinitionError) as caught:
        load_process(path)
    assert str(caught.value) == (
        f"{path}:2: (encoding): byte 0xe9 is not UTF-8; allowed: a UTF-8 text file"
    )


def test_a_reopen_window_too_long_for_python_is_one_error():
    error = refused(MINI + '\n[reopen]\nwindow = "P9999999999D"\n')
    assert error.key == "reopen.window" and "P3653D (ten years)" in error.problem


# --- every value's type, size and characters -------------------------------------
# An adversarial probe found each of these passing `tierflow check`: a title of 5, a
# "yes" for a boolean, a float limit, a 100,000-character name, ESC and NUL in names
# (a BPMN export expat rejects, a case open PostgreSQL refuses).


def test_a_boolean_key_given_as_text_is_refused_naming_key_and_line():
    text = mutate("carries_level = true", 'carries_level = "yes"')
    assert_points_at(
        refused(text),
        text,
        "states.escalated.carries_level",
        line_of(text, '"yes"'),
        "'yes' is a string, not a boolean",
        "allowed: true or false",
    )


WRONG_TYPES = [
    # (id, text replaced, replacement, key, what the error says was written)
    ("state title", "[states.open]", "[states.open]\ntitle = 5", "states.open.title",
     "5 is an integer"),
    ("description", "[states.done]", "[states.done]\ndescription = true",
     "states.done.description", "True is a boolean"),
    ("level title", 'name = "team"', 'name = "team"\ntitle = ["Team"]', "ladder[0].title",
     "['Team'] is an array"),
    ("name", 'name = "mini"', "name = 5", "name", "5 is an integer"),
    ("version", 'version = "1"', "version = 2026.11", "version", "2026.11 is a float"),
    ("level", '[[ladder]]\nname = "team"', "[[ladder]]\nname = 2", "ladder[0].name",
     "2 is an integer"),
    ("currency", 'first_level = "100"', 'first_level = "100"\ncurrency = 978',
     "authority.currency", "978 is an integer"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new", "key", "written"), [pytest.param(*case[1:], id=case[0]) for case in WRONG_TYPES]
)
def test_a_text_key_given_another_type_is_refused_naming_the_type_found(old, new, key, written):
    text = mutate(old, new)
    marker = new.splitlines()[-1]
    assert_points_at(
        refused(text), text, key, line_of(text, marker), written, "not a string", "allowed: "
    )


@pytest.mark.parametrize("written", ["1000.5", "1000.0", "1e3"])
def test_an_authority_limit_written_as_a_float_is_refused_as_inexact(written: str):
    text = mutate('authority_limit = "1000"', f"authority_limit = {written}")
    error = refused(text)
    assert_points_at(
        error,
        text,
        "ladder[0].authority_limit",
        line_of(text, f"= {written}"),
        "is a float",
        '"1000.50"',
        "1000",
        '"unlimited"',
    )


def test_an_authority_limit_written_as_a_whole_number_or_amount_text_is_read_exactly():
    text = mutate('first_level = "100"', "first_level = 100")
    text = mutate('authority_limit = "1000"', 'authority_limit = "1,000.50"', text)
    definition = parse_process(text, SOURCE)
    assert definition.first_level_limit == Decimal("100.00")
    assert definition.ladder[0].authority_limit == Decimal("1000.50")


@pytest.mark.parametrize("written", ["true", "1.0", '"1"'])
def test_a_format_that_is_not_the_whole_number_one_is_refused(written: str):
    text = mutate("format = 1", f"format = {written}")
    assert_points_at(refused(text), text, "format", 1, "allowed: 1")


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('name = "mini"', 'name = "{long}"', "name"),
        ('version = "1"', 'version = "{long}"', "version"),
        ("[states.open]", '[states.open]\ntitle = "{long}"', "states.open.title"),
        ('name = "team"', 'name = "{long}"', "ladder[0].name"),
        ('name = "team"', 'name = "team"\ntitle = "{long}"', "ladder[0].title"),
    ],
    ids=["name", "version", "state-title", "level", "level-title"],
)
def test_a_name_or_title_longer_than_a_database_name_is_refused_with_the_value_cut(
    old: str, new: str, key: str
):
    for length in (201, 100_000):
        text = mutate(old, new.format(long="a" * length))
        error = refused(text)
        assert_points_at(error, text, key, line_of(text, "a" * 201), "at most 200 characters")
        assert f"({length:,} characters)" in error.problem
        assert len(str(error)) < 400
    assert parse_process(mutate(old, new.format(long="a" * 200)), SOURCE)


def test_a_state_name_longer_than_a_database_name_is_refused_with_the_key_cut():
    state = "s" * 100_000
    text = mutate("[states.done]", f"[states.{state}]")
    text = mutate('dest = "done"', f'dest = "{state}"', text)
    error = refused(text)
    assert error.key.startswith("'states.sss") and error.key.endswith("(100,007 characters)")
    assert error.line == line_of(text, f"[states.{state}]")
    assert "at most 200 characters" in error.problem
    assert len(str(error)) < 400


def test_a_description_longer_than_free_text_is_refused():
    text = mutate("[states.done]", '[states.done]\ndescription = "{}"'.format("d" * 20_001))
    error = refused(text)
    assert_points_at(
        error, text, "states.done.description", line_of(text, "description ="), "at most 20,000"
    )
    assert len(str(error)) < 400


CONTROL_CHARACTERS = [
    # (id, text replaced, replacement with the TOML escapes a file would hold, key)
    ("ESC in the name", 'name = "mini"', 'name = "a\\u001b[31mb"', "name"),
    ("NUL in the name", 'name = "mini"', 'name = "mi\\u0000ni"', "name"),
    ("newline in the version", 'version = "1"', 'version = "1\\n"', "version"),
    ("SOH in a state title", "[states.open]", '[states.open]\ntitle = "O\\u0001pen"',
     "states.open.title"),
    ("tab in a level title", 'name = "team"', 'name = "team"\ntitle = "Te\\tam"',
     "ladder[0].title"),
    ("ESC in a level title", 'name = "team"', 'name = "team"\ntitle = "T\\u001beam"',
     "ladder[0].title"),
    ("NEL in a level name", 'name = "team"', 'name = "te\\u0085am"', "ladder[0].name"),
    ("NUL in a description", "[states.done]", '[states.done]\ndescription = "Done\\u0000"',
     "states.done.description"),
    ("ESC in a description", "[states.done]", '[states.done]\ndescription = "Done\\u001b[2J"',
     "states.done.description"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new", "key"), [pytest.param(*case[1:], id=case[0]) for case in CONTROL_CHARACTERS]
)
def test_a_control_character_in_a_name_title_or_description_is_refused(old, new, key):
    text = mutate(old, new)
    error = refused(text)
    assert_points_at(error, text, key, line_of(text, new.splitlines()[-1]), "control characters")
    assert "\x00" not in str(error) and "\x1b" not in str(error)


def test_a_description_keeps_its_line_breaks_and_tabs():
    text = mutate("[states.done]", '[states.done]\ndescription = """Closed.\n\tNo more work."""')
    assert parse_process(text, SOURCE).state("done").description == "Closed.\n\tNo more work."


def test_a_toml_syntax_error_at_the_end_of_the_file_names_its_last_line():
    text = 'format = 1\nname = "x"\nversion = [\n'
    error = refused(text)
    assert str(error) == (
        f"{SOURCE}:3: (syntax): not valid TOML: Invalid value (at end of document)"
    )
    assert refused(MINI + '\n\n[reopen]\nwindow = "P1D').line == len(MINI.splitlines()) + 4


def test_a_number_past_pythons_digit_limit_is_a_syntax_error_on_its_line():
    """tomllib raises a bare ValueError for it, not a TOMLDecodeError: it was a traceback."""
    error = refused(MINI + "\nlimit = " + "9" * 5000 + "\n")
    assert error.line == len(MINI.splitlines()) + 2
    assert "a number of more than 4,300 digits" in str(error)


def test_an_escalation_to_a_state_without_the_level_is_refused_by_check():
    """The case went to `escalated` with no level, and no level could resolve it."""
    error = refused(mutate("[states.escalated]\ncarries_level = true", "[states.escalated]"))
    assert error.key == "transitions[1].dest" and "does not carry the level" in error.problem
    assert line_of(MINI, 'trigger = "escalate"') <= error.line <= line_of(MINI, 'dest = "escal')


def test_an_assign_without_its_assignee_guard_is_refused_by_check():
    """An assign naming nobody then passed the transition and crashed the fold (KeyError)."""
    error = refused(mutate('guards = ["has_assignee"]', "guards = []"))
    assert error.key == "transitions[0].guards" and "'has_assignee'" in error.problem


def test_toml_nested_thousands_deep_is_a_syntax_error_not_a_recursion_traceback():
    error = refused("a = " + "[" * 5000 + "]" * 5000 + "\n")
    assert (error.key, error.problem.split(";")[0]) == ("(syntax)", "nested too deeply")
