"""The SLA and escalation policy: the shipped figures match the seeds, target
lookups explain where each figure came from, and every mistake in a policy
file names its key, its line and what is allowed.

Times are fixed; 2026-11-06 is a Friday, Brussels is on CET (UTC+1).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from states.errors import InvalidInput, PolicyError, shown
from states.policy import Policy, default_policy_path, load_policy, parse_policy
from states.process import ProcessDefinition, parse_process

BRUSSELS = ZoneInfo("Europe/Brussels")
FRIDAY = datetime(2026, 11, 6, tzinfo=BRUSSELS)
DEFAULT_TEXT = default_policy_path().read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def policy(definition: ProcessDefinition) -> Policy:
    return load_policy(process=definition)


def at(day: datetime, hour: int, minute: int = 0) -> datetime:
    return day.replace(hour=hour, minute=minute)


def target(
    policy: Policy,
    clock: str,
    *,
    priority="normal",
    level=None,
    tier="standard",
    team=None,
    channel=None,
):
    return policy.target(
        clock, priority=priority, level=level, tier=tier, team=team, channel=channel
    )


# -- the shipped defaults follow the seeds ----------------------------------------


def test_default_policy_loads_with_a_version_id_and_its_text(policy: Policy):
    assert policy.version_id.startswith("default-sla@2026.11#")
    assert len(policy.version_id.split("#")[1]) == 12
    assert policy.source_text == DEFAULT_TEXT
    assert policy.levels == ("first_level", "L2", "manager", "board")


def test_version_id_changes_when_the_text_changes(policy: Policy, definition: ProcessDefinition):
    edited = parse_policy(DEFAULT_TEXT + "\n# tuned\n", "policy.toml", definition)
    assert edited.version_id != policy.version_id


def test_board_acknowledges_within_48_calendar_hours(policy: Policy):
    board = target(policy, "acknowledge", level="board")

    assert board.duration == timedelta(hours=48)
    assert board.calendar.always_open
    assert board.source_key == "targets.acknowledge.board"
    assert board.calendar_key == "calendar_for.acknowledge.board"
    assert board.due_at(at(FRIDAY, 18)) == at(FRIDAY, 18) + timedelta(hours=48)


def test_each_escalation_is_closed_within_30_calendar_days(policy: Policy):
    escalation = target(policy, "escalation", level="L2", priority="low")

    assert escalation.duration == timedelta(days=30)
    assert escalation.calendar.name == "always"
    assert escalation.source_key == "targets.escalation.all"
    assert escalation.warning_due_at(FRIDAY) == FRIDAY + timedelta(days=24)


def test_follow_up_is_due_two_working_days_after_resolution(policy: Policy):
    follow_up = target(policy, "follow_up")

    assert follow_up.duration is None
    assert follow_up.working_days == 2
    assert follow_up.source_key == "follow_up.working_days"
    tuesday = FRIDAY + timedelta(days=4)
    assert follow_up.due_at(at(FRIDAY, 10)) == at(tuesday, 10)
    assert follow_up.warning_due_at(FRIDAY) is None


def test_l2_acknowledges_within_4_business_hours(policy: Policy):
    l2 = target(policy, "acknowledge", level="L2")

    assert l2.duration == timedelta(hours=4)
    assert l2.calendar.name == "support_eu"
    assert not l2.calendar.always_open
    assert l2.calendar_key == "default_calendar"
    monday = FRIDAY + timedelta(days=3)
    assert l2.due_at(at(FRIDAY, 16)) == at(monday, 12)
    assert l2.warning_due_at(at(FRIDAY, 16)) == at(monday, 11, 12)


def test_shipped_breach_actions_notify_and_escalate_as_the_seeds_say(
    policy: Policy, definition: ProcessDefinition
):
    board_miss = policy.breach_plan("acknowledge", level="board", process=definition)
    thirty_days = policy.breach_plan("escalation", level="L2", process=definition)
    late = policy.breach_plan("resolution", level=None, process=definition)

    assert (board_miss.action, board_miss.to_level) == ("notify", None)
    assert board_miss.recipients == ("board-secretary", "group-managing-director")
    assert (thirty_days.action, thirty_days.to_level) == ("escalate", "manager")
    assert "maria.manager" in thirty_days.recipients
    assert thirty_days.source_key == "on_breach.escalation"
    assert (late.action, late.level, late.recipients) == (
        "notify",
        "first_level",
        ("support-team-lead",),
    )


def test_shipped_points_follow_the_scenarios(policy: Policy):
    points = policy.points

    assert points.legal_risk.action == "escalate" and points.legal_risk.to_level == "manager"
    assert {"lawyer", "sue", "court", "ombudsman", "legal action", "solicitor"} <= set(
        points.legal_risk.phrases
    )
    assert points.authority.action == "flag"
    assert (points.repeat_customer.min_cases, points.repeat_customer.within) == (
        3,
        timedelta(days=90),
    )
    assert (points.repeat_customer.action, points.repeat_customer.route_to_team) == (
        "route",
        "senior",
    )
    assert dict(points.priority.levels) == {"urgent": "L2"}
    assert points.breach.enabled and points["breach"].action == "escalate"
    assert [point.name for point in points] == [
        "legal_risk", "priority", "repeat_customer", "authority", "breach",
    ]  # fmt: skip
    assert policy.reopen_clocks == "restart"
    assert policy.warning_at == 0.8


# -- target lookup -----------------------------------------------------------------


def test_tier_override_wins_and_names_its_key(policy: Policy):
    vip = target(policy, "resolution", priority="urgent", tier="vip")
    standard = target(policy, "resolution", priority="urgent")

    assert (vip.duration, vip.source_key) == (timedelta(hours=4), "targets.resolution.vip.urgent")
    assert (standard.duration, standard.source_key) == (
        timedelta(hours=8),
        "targets.resolution.urgent",
    )


def test_tier_without_an_override_for_the_key_falls_back_to_the_plain_target(policy: Policy):
    premium_high = target(policy, "first_response", priority="high", tier="premium")

    assert premium_high.source_key == "targets.first_response.high"
    assert premium_high.duration == timedelta(hours=4)


def test_channel_override_applies_to_cases_from_that_channel(policy: Policy):
    chat = target(policy, "first_response", priority="normal", channel="chat")
    email = target(policy, "first_response", priority="normal", channel="email")

    assert (chat.duration, chat.source_key) == (
        timedelta(hours=1),
        "targets.first_response.chat.normal",
    )
    assert (email.duration, email.source_key) == (
        timedelta(hours=8),
        "targets.first_response.normal",
    )


def test_tier_override_wins_over_the_channel_override(policy: Policy):
    """A VIP's contract comes before what a channel usually gets: vip.urgent is PT30M,
    chat.urgent PT15M, and the VIP chat case gets its tier's figure."""
    vip_chat = target(policy, "first_response", priority="urgent", tier="vip", channel="chat")
    premium_chat = target(policy, "first_response", priority="high", tier="premium", channel="chat")

    assert vip_chat.source_key == "targets.first_response.vip.urgent"
    assert premium_chat.source_key == "targets.first_response.chat.high"  # premium has no high


def test_unknown_channel_in_a_lookup_is_invalid_input(policy: Policy):
    with pytest.raises(InvalidInput, match="social"):
        target(policy, "first_response", channel="fax")


def test_waiting_on_the_customer_pauses_resolution_and_escalation_by_default(policy: Policy):
    assert policy.paused_while_waiting == {"resolution", "escalation"}


def test_policy_chooses_which_clocks_pause_while_waiting(definition: ProcessDefinition):
    text = DEFAULT_TEXT.replace(
        'pauses = ["resolution", "escalation"]', 'pauses = ["resolution", "acknowledge"]'
    )
    none = DEFAULT_TEXT.replace('pauses = ["resolution", "escalation"]', "pauses = []")

    assert parse_policy(text, "p.toml", definition).paused_while_waiting == {
        "resolution",
        "acknowledge",
    }
    assert parse_policy(none, "p.toml", definition).paused_while_waiting == frozenset()


def test_team_calendar_is_used_unless_the_clock_names_one(policy: Policy):
    senior = target(policy, "resolution", team="senior")
    board = target(policy, "acknowledge", level="board", team="senior")

    assert (senior.calendar.name, senior.calendar_key) == ("support_eu", "teams.senior")
    assert board.calendar_key == "calendar_for.acknowledge.board"


def test_describe_explains_how_the_deadline_is_computed(policy: Policy):
    text = target(policy, "acknowledge", level="board").describe()

    assert "PT48H of calendar time" in text
    assert "targets.acknowledge.board" in text and "calendar_for.acknowledge.board" in text


def test_a_clock_without_a_target_has_none(definition: ProcessDefinition):
    text = DEFAULT_TEXT.replace('[targets.escalation]\nall = "P30D"', "")
    sparse = parse_policy(text.replace("working_days = 2 ", "# "), "policy.toml", definition)

    assert target(sparse, "escalation") is None
    assert target(sparse, "follow_up") is None
    assert target(sparse, "acknowledge", level="first_level") is None


def test_unknown_clock_priority_or_level_in_a_lookup_is_invalid_input(policy: Policy):
    with pytest.raises(InvalidInput, match="first_response"):
        target(policy, "lunch")
    with pytest.raises(InvalidInput, match="urgent"):
        target(policy, "resolution", priority="critical")
    with pytest.raises(InvalidInput, match="board"):
        target(policy, "acknowledge", level="director")
    with pytest.raises(InvalidInput, match="support_eu"):
        policy.calendar("mars")


def test_policy_loads_from_a_path(tmp_path: Path, definition: ProcessDefinition):
    path = tmp_path / "ops.toml"
    path.write_text(DEFAULT_TEXT.replace('version = "2026.11"', 'version = "ops-1"'))

    assert load_policy(path, definition).version_id.startswith("default-sla@ops-1#")
    assert load_policy(path, definition).calendar("always").always_open


# -- every mistake names its key, its line and what is allowed ---------------------


def line_of(text: str, fragment: str) -> int:
    return text[: text.index(fragment)].count("\n") + 1


BROKEN = [
    # (id, text replaced, replacement, key, words the allowed part must contain)
    ("unknown top-level key", "warning_at = 0.8", "warning_at = 0.8\ncolour = 1",
     "colour", ["default_calendar", "notices"]),
    ("unknown key in a table", 'clocks = "restart"', 'clocks = "restart"\nwindow = 1',
     "reopen.window", ["clocks"]),
    ("bad duration", 'L2 = "PT4H"', 'L2 = "4 hours"', "targets.acknowledge.L2", ["PT4H"]),
    ("months in a duration", 'urgent = "PT8H"', 'urgent = "P1M"', "targets.resolution.urgent",
     ["PT4H"]),
    ("unknown level in targets", 'L2 = "PT4H"', 'L3 = "PT4H"', "targets.acknowledge.L3",
     ["first_level", "L2", "manager", "board"]),
    ("unknown priority in a tier override", 'urgent = "PT30M"', 'critical = "PT30M"',
     "targets.first_response.vip.critical", ["low", "urgent"]),
    ("unknown priority in a channel override", 'urgent = "PT15M"', 'asap = "PT15M"',
     "targets.first_response.chat.asap", ["low", "urgent"]),
    ("unknown tier or channel", "[targets.first_response.chat]", "[targets.first_response.fax]",
     "targets.first_response.fax", ["vip", "chat", "letter"]),
    ("unknown clock that pauses", 'pauses = ["resolution", "escalation"]',
     'pauses = ["resolution", "lunch"]', "wait_on_customer.pauses",
     ["first_response", "acknowledge", "resolution", "escalation"]),
    ("follow-up cannot pause", 'pauses = ["resolution", "escalation"]',
     'pauses = ["follow_up"]', "wait_on_customer.pauses", ["resolution"]),
    ("pauses not a list", 'pauses = ["resolution", "escalation"]', 'pauses = "resolution"',
     "wait_on_customer.pauses", ["a list of clocks"]),
    ("unknown level in a point", 'to_level = "manager"', 'to_level = "director"',
     "points.legal_risk.to_level", ["L2", "manager", "board"]),
    ("unknown level in recipients", 'manager = ["maria.manager"]', 'boss = ["maria.manager"]',
     "notify.recipients.boss", ["manager", "board_miss"]),
    ("unknown calendar for a clock", 'escalation = "always"', 'escalation = "24x7"',
     "calendar_for.escalation", ["support_eu", "always"]),
    ("unknown default calendar", 'default_calendar = "support_eu"', 'default_calendar = "eu"',
     "default_calendar", ["support_eu", "always"]),
    ("unknown team calendar", 'senior = "support_eu"', 'senior = "apac"', "teams.senior",
     ["support_eu"]),
    ("bad calendar table", 'country = "BE"', 'country = "XX"', "calendars.support_eu.country",
     ["ISO 3166"]),
    ("warning_at above 1", "warning_at = 0.8", "warning_at = 1.5", "warning_at",
     ["between 0 and 1"]),
    ("warning_at zero", "warning_at = 0.8", "warning_at = 0", "warning_at", ["between 0 and 1"]),
    ("unknown breach action", 'resolution = "notify"', 'resolution = "panic"',
     "on_breach.resolution", ["notify", "escalate", "none"]),
    ("unknown point action", 'action = "flag"', 'action = "shout"', "points.authority.action",
     ["escalate", "flag", "route"]),
    ("breach point cannot flag", 'action = "escalate"               # one',
     'action = "flag"               # one', "points.breach.action", ["escalate"]),
    ("unknown point", "[points.authority]", "[points.weather]", "points.weather",
     ["legal_risk", "breach"]),
    ("route without a team", 'route_to_team = "senior"', "", "points.repeat_customer.route_to_team",
     ["team"]),
    ("repeat customer of one case", "min_cases = 3", "min_cases = 1",
     "points.repeat_customer.min_cases", ["from 2 to"]),
    ("repeat customer of 10^23 cases", "min_cases = 3", "min_cases = 99999999999999999999999",
     "points.repeat_customer.min_cases", ["from 2 to 10,000"]),
    ("unknown placeholder", "{level_title}, who", "{customer_name}, who", "notices.default",
     ["{level_title}", "{level}", "{reason}"]),
    ("positional placeholder", "{level_title}, who", "{}, who", "notices.default", ["{reason}"]),
    ("attribute in a placeholder", "{level_title}, who", "{level_title.upper}, who",
     "notices.default", ["{level_title}"]),
    ("format spec in a placeholder", "{level_title}, who", "{level_title:>40}, who",
     "notices.default", ["{level_title}"]),
    ("unbalanced brace", "{level_title}, who", "{level_title, who", "notices.default",
     ["{level_title}"]),
    ("unknown reopen mode", 'clocks = "restart"', 'clocks = "pause"', "reopen.clocks",
     ["continue", "restart"]),
    ("unknown channel", 'channel = "email"', 'channel = "pigeon"', "notify.channel", ["email"]),
    ("follow-up of zero days", "working_days = 2", "working_days = 0", "follow_up.working_days",
     ["from 1 to"]),
    # Bounds: each of these passed `check` and made every open, escalation or resolve crash.
    ("follow-up of 10^8 days", "working_days = 2", "working_days = 100000000",
     "follow_up.working_days", ["from 1 to 10,000"]),
    ("follow-up past ten years", "working_days = 2", "working_days = 9000",
     "follow_up.working_days", ["ten years", "at most 2609"]),
    ("duration past what Python holds", 'all = "P30D"', 'all = "P9999999999D"',
     "targets.escalation.all", ["P3653D (ten years)"]),
    ("calendar target past ten years", 'all = "P30D"', 'all = "P3000000D"',
     "targets.escalation.all", ["P3653D (ten years)"]),
    ("repeat window past ten years", 'within = "P90D"', 'within = "P999999D"',
     "points.repeat_customer.within", ["P3653D"]),
    ("business target past ten years", 'L2 = "PT4H"', 'L2 = "P3000D"', "targets.acknowledge.L2",
     ["within ten years, here at most PT20874H"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new", "key", "allowed"),
    [pytest.param(*case[1:], id=case[0]) for case in BROKEN],
)
def test_policy_error_names_key_line_and_allowed_values(
    definition: ProcessDefinition, old: str, new: str, key: str, allowed: list[str]
):
    assert_refused(definition, old, new, key, allowed)


def assert_refused(
    definition: ProcessDefinition, old: str, new: str, key: str, allowed: list[str]
) -> PolicyError:
    """The default policy with `old` replaced by `new` is refused at `key`, on the line
    of `new`, with every word of `allowed` after "allowed: " in one short line."""
    assert old in DEFAULT_TEXT
    text = DEFAULT_TEXT.replace(old, new, 1)

    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "ops/policy.toml", definition)

    error = caught.value
    assert error.key == key
    assert "\n" not in str(error) and len(str(error)) < 500, str(error)[:1000]
    assert "allowed: " in error.problem
    for word in allowed:
        assert word in error.problem.split("allowed: ", 1)[1]
    assert error.line is not None
    assert str(error).startswith(f"ops/policy.toml:{error.line}: {key}: ")
    if new.strip():
        assert error.line == line_of(text, new.splitlines()[-1])
    return error


def test_escalate_on_breach_needs_the_breach_point(definition: ProcessDefinition):
    text = DEFAULT_TEXT.replace(
        "[points.breach]\nenabled = true", "[points.breach]\nenabled = false"
    )

    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "policy.toml", definition)

    assert caught.value.key == "on_breach.acknowledge"
    assert "points.breach" in caught.value.problem
    assert caught.value.line == line_of(text, 'acknowledge = "escalate"')


def test_syntax_error_carries_its_line(definition: ProcessDefinition):
    text = DEFAULT_TEXT.replace("warning_at = 0.8", "warning_at = = 0.8")

    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "policy.toml", definition)

    assert caught.value.key == "(syntax)"
    assert caught.value.line == line_of(text, "warning_at = =")
    assert str(caught.value).startswith(f"policy.toml:{caught.value.line}: (syntax): ")


def test_missing_file_is_a_policy_error(tmp_path: Path, definition: ProcessDefinition):
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "nope.toml", definition)


def test_level_names_come_from_the_process_ladder(definition: ProcessDefinition):
    renamed = load_process_with_ladder(definition, {"L2": "specialists"})

    with pytest.raises(PolicyError) as caught:
        parse_policy(DEFAULT_TEXT, "policy.toml", renamed)

    assert caught.value.key.endswith(".L2") or caught.value.key.endswith(".urgent")
    assert "unknown level 'L2'" in caught.value.problem
    assert "specialists" in caught.value.problem


def load_process_with_ladder(definition: ProcessDefinition, renames: dict[str, str]):
    text = definition.source_text
    for old, new in renames.items():
        text = text.replace(f'name = "{old}"', f'name = "{new}"')
    return parse_process(text, "definition.toml")


def test_clock_times_are_utc(policy: Policy):
    due = target(policy, "acknowledge", level="L2").due_at(datetime(2026, 11, 6, 9, tzinfo=UTC))
    assert due.tzinfo is UTC


def test_a_target_is_bounded_by_the_hours_of_each_calendar_it_may_count_in(
    definition: ProcessDefinition,
):
    """PT8H is one working day at 09:00-17:00 but 480 weeks in a desk open one minute a
    week: ten years there are 8.7 business hours, so the shipped PT16H is refused."""
    text = DEFAULT_TEXT.replace('hours.mon = ["09:00-17:00"]', 'hours.mon = ["09:00-09:01"]')
    for day in ("tue", "wed", "thu", "fri"):
        text = text.replace(f'hours.{day} = ["09:00-17:00"]\n', "")
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "policy.toml", definition)
    assert caught.value.key == "targets.first_response.low"  # PT16H: the first too long
    assert "calendar 'support_eu' (0.0166667 business hours a week)" in caught.value.problem


def test_a_policy_file_that_is_not_utf8_is_one_error_naming_the_line(
    tmp_path: Path, definition: ProcessDefinition
):
    path = tmp_path / "policy.toml"
    path.write_bytes(
        DEFAULT_TEXT.replace('name = "default-sla"', 'name = "caf\xe9"').encode("latin-1")
    )
    with pytest.raises(PolicyError) as caught:
        load_policy(path, definition)
    assert str(caught.value).startswith(f"{path}:{line_of(DEFAULT_TEXT, 'default-sla')}: ")
    assert "byte 0xe9 is not UTF-8" in caught.value.problem


# -- every value's type, size and characters ----------------------------------------
# An adversarial probe found each of these passing `tierflow check`; NUL in a notice or a
# recipient then failed a case's escalation on PostgreSQL, ESC coloured the terminal.

LONG_CALENDAR = "calendars." + "c" * 201
LONG_TEAM = "teams." + "t" * 201
BREACH_NOTICE, DEFAULT_NOTICE = (
    next(line for line in DEFAULT_TEXT.splitlines() if line.startswith(f"{name} = "))
    for name in ("breach", "default")
)
REFUSED_VALUES = [
    # (id, text replaced, replacement, key, what the problem says, words of the allowed part)
    ("NUL in the policy name", 'name = "default-sla"', r'name = "default\u0000sla"', "name",
     "'default\\x00sla' is not allowed", ["200 characters", "control characters"]),
    ("ESC in the policy name", 'name = "default-sla"', r'name = "a\u001b[31mb"', "name",
     "'a\\x1b[31mb' is not allowed", ["control characters"]),
    ("a name of 100,000 characters", 'name = "default-sla"', f'name = "{"n" * 100_000}"', "name",
     "(100,000 characters) is not allowed", ["at most 200 characters"]),
    ("a version written as a float", 'version = "2026.11"', "version = 2026.11", "version",
     "2026.11 is a float, not a string", ["200 characters"]),
    ("NUL in the default notice", 'default = "Your case', r'default = "\u0000Your case',
     "notices.default", "is not allowed", ["line breaks and tabs", "{level_title}"]),
    ("ESC in a point's notice", 'legal_risk = "To give', r'legal_risk = "\u001b[2JTo give',
     "notices.legal_risk", "is not allowed", ["control characters"]),
    ("a notice written as an array", BREACH_NOTICE, 'breach = ["Your case"]', "notices.breach",
     "is an array, not a string", ["{reason}"]),
    ("ESC in a recipient", 'L2 = ["l2-team-lead"]', r'L2 = ["l2\u001b[31m"]',
     "notify.recipients.L2", "'l2\\x1b[31m' is not allowed", ["control characters"]),
    ("a recipient of 201 characters", 'board = ["board-secretary"]', f'board = ["{"b" * 201}"]',
     "notify.recipients.board", "(201 characters) is not allowed", ["at most 200 characters"]),
    ("NUL in a point's reason", 'reason = "your case is urgent',
     r'reason = "\u0000your case is urgent', "points.priority.reason", "is not allowed",
     ["control characters"]),
    ("a reason written as a number", 'reason = "your case is urgent, so our specialists take '
     'it on straight away"', "reason = 1", "points.priority.reason",
     "1 is an integer, not a string", ["20,000 characters"]),
    ("ESC in the team to route to", 'route_to_team = "senior"', r'route_to_team = "se\u001bnior"',
     "points.repeat_customer.route_to_team", "is not allowed", ["control characters"]),
    ("a point's levels written as false", 'to_level.urgent = "L2"', "to_level = false",
     "points.priority.to_level", "False is not a table", ["[points.priority.to_level] table"]),
    ("format written as a boolean", "format = 1", "format = true", "format",
     "unsupported format True", ["1"]),
    ("a country written as a boolean", 'country = "BE"', "country = false",
     "calendars.support_eu.country", "False is a boolean, not a string", ["ISO 3166"]),
    ("a subdivision written as a number", 'country = "BE"', 'country = "BE"\nsubdivision = 0',
     "calendars.support_eu.subdivision", "0 is an integer, not a string", ["subdivision code"]),
    ("a calendar name of 201 characters", "[calendars.always]", f"[{LONG_CALENDAR}]",
     shown(LONG_CALENDAR), "(201 characters) is not allowed", ["at most 200 characters"]),
    ("a team name of 201 characters", 'senior = "support_eu"', f'{"t" * 201} = "support_eu"',
     shown(LONG_TEAM), "(201 characters) is not allowed", ["at most 200 characters"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new", "key", "problem", "allowed"),
    [pytest.param(*case[1:], id=case[0]) for case in REFUSED_VALUES],
)
def test_a_value_of_the_wrong_type_size_or_characters_is_refused_naming_key_and_line(
    definition: ProcessDefinition, old: str, new: str, key: str, problem: str, allowed: list[str]
):
    error = assert_refused(definition, old, new, key, allowed)
    assert problem in error.problem.split("; allowed: ", 1)[0]


def test_a_notice_keeps_line_breaks_and_tabs_but_no_other_control_character(
    definition: ProcessDefinition,
):
    notice = 'default = """Dear customer,\n\tyour case is now with our {level_title}."""'
    text = DEFAULT_TEXT.replace(DEFAULT_NOTICE, notice)
    assert parse_policy(text, "policy.toml", definition).notices["default"] == (
        "Dear customer,\n\tyour case is now with our {level_title}."
    )
    with pytest.raises(PolicyError) as caught:
        parse_policy(text.replace("customer,", "customer,\\u0007"), "policy.toml", definition)
    assert caught.value.key == "notices.default" and "control characters" in caught.value.problem
