"""Escalation points: the customer's words, the amount, the customer's history
and the priority decide whether a case escalates, is flagged or is routed,
with evidence an auditor can read; disabled points never fire.
"""

from __future__ import annotations

import re
from dataclasses import MISSING, fields
from datetime import UTC, datetime

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from states.case import CaseSnapshot
from states.commands import Act, OpenCase, Update
from states.points import (
    PointMatch,
    breach_match,
    evaluate_points,
    match_phrases,
    notice_for,
)
from states.policy import Policy, default_policy_path, load_policy, parse_policy
from states.process import ProcessDefinition

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PHRASES = ("lawyer", "sue", "court", "ombudsman", "legal action", "solicitor")


@pytest.fixture(scope="module")
def policy(definition: ProcessDefinition) -> Policy:
    return load_policy(process=definition)


def snapshot(**changes) -> CaseSnapshot:
    """A first-level case with no amount; any other field may be overridden."""
    base = {
        "id": 4711, "customer_id": "cust-1", "subject": "Broken kettle", "description": "",
        "priority": "normal", "channel": "email", "customer_tier": "standard",
        "amount_claimed_minor": None, "currency": "EUR", "state": "first_level", "level": None,
        "assignee": "alex", "team": None, "waiting": False, "flags": [], "opened_at": NOW,
        "updated_at": NOW, "state_entered_at": NOW, "reopen_count": 0, "escalation_count": 0,
        "version": 1, "last_seq": 1, "last_hash": "",
    }  # fmt: skip
    values = {}
    for spec in fields(CaseSnapshot):
        if spec.name in changes:
            values[spec.name] = changes[spec.name]
        elif spec.name in base:
            values[spec.name] = base[spec.name]
        elif spec.default is MISSING and spec.default_factory is MISSING:
            values[spec.name] = "" if spec.name.endswith("_version") else None
    return CaseSnapshot(**values)


def evaluate(policy, definition, case=None, texts=(), count=None) -> list[PointMatch]:
    return evaluate_points(
        policy, definition, case=case or snapshot(), texts=texts, recent_case_count=count, now=NOW
    )


# -- matching phrases --------------------------------------------------------------


def test_threat_to_go_to_court_matches_court():
    assert match_phrases(PHRASES, "if this is not fixed I will take you to court") == ["court"]


def test_courtesy_is_not_court():
    assert match_phrases(PHRASES, "a little courtesy would help; the suede is torn") == []


def test_phrases_match_case_insensitively():
    assert match_phrases(PHRASES, "My Lawyer will call you.") == ["lawyer"]


def test_multi_word_phrase_matches_across_any_whitespace_but_not_alone():
    assert match_phrases(PHRASES, "I am considering LEGAL\n   action.") == ["legal action"]
    assert match_phrases(PHRASES, "legal advice, then some action") == []


def test_several_phrases_are_reported_in_policy_order():
    text = "my solicitor says I can sue (court is next)"
    assert match_phrases(PHRASES, text) == ["sue", "court", "solicitor"]


def test_regex_characters_in_a_phrase_are_literal():
    assert match_phrases(["c++ (fix)"], "your C++ (fix) broke it") == ["c++ (fix)"]
    assert match_phrases(["a.b"], "axb") == []


_WORD = st.text(st.characters(categories=("Lu", "Ll", "Nd")), min_size=1, max_size=8)
_PHRASE = st.lists(_WORD, min_size=1, max_size=3).map(" ".join)
_NON_WORD = st.text(st.characters().filter(lambda char: not re.match(r"\w", char)), max_size=6)
_WORD_CHARS = st.text(
    st.characters(categories=("L", "N", "Pc")).filter(lambda char: bool(re.match(r"\w", char))),
    max_size=6,
)


@given(phrase=_PHRASE, before=_NON_WORD, after=_NON_WORD)
def test_a_phrase_between_non_word_characters_always_matches(phrase, before, after):
    assert match_phrases([phrase], before + phrase + after) == [phrase]


@given(phrase=_PHRASE, before=_WORD_CHARS, after=_WORD_CHARS)
def test_a_phrase_inside_a_longer_word_never_matches(phrase, before, after):
    assume(before or after)
    assert match_phrases([phrase], before + phrase + after) == []


@given(phrases=st.lists(_PHRASE, max_size=6), data=st.data())
def test_several_phrases_match_as_each_phrase_alone_does(phrases, data):
    pieces = st.one_of(_NON_WORD, _WORD_CHARS, *([st.sampled_from(phrases)] if phrases else []))
    text = "".join(data.draw(st.lists(pieces, max_size=8)))

    assert match_phrases(phrases, text) == [p for p in phrases if match_phrases([p], text)]


@given(phrase=_PHRASE, longer=_WORD, before=_NON_WORD, after=_NON_WORD)
def test_a_phrase_that_begins_a_longer_one_does_not_hide_it(phrase, longer, before, after):
    # the phrases are tried together: the shorter one, failing at the end of a word,
    # must give way to the longer one starting at the same place
    text = before + phrase + longer + after
    assert match_phrases([phrase, phrase + longer], text) == [phrase + longer]
    assert match_phrases(["lawyer", "lawyers"], "two lawyers") == ["lawyers"]


# -- legal risk ----------------------------------------------------------------


def test_legal_risk_at_intake_goes_straight_to_manager_and_records_the_phrase(policy, definition):
    texts = {
        "subject": "Broken kettle",
        "description": "if this is not fixed I will take you to court",
    }

    [match] = evaluate(policy, definition, texts=texts)

    assert (match.point, match.action, match.to_level) == ("legal_risk", "escalate", "manager")
    assert match.evidence == 'phrase "court" in description'
    assert match.phrases == ("court",)


def test_legal_risk_in_unlabelled_texts_names_the_text(policy, definition):
    [match] = evaluate(policy, definition, texts=["thanks", "Lawyer and ombudsman next"])

    assert match.evidence == 'phrases "lawyer", "ombudsman" in text 2'


def test_legal_risk_above_its_level_is_only_flagged(policy, definition):
    at_board = snapshot(state="escalated", level="board", escalation_count=3)

    [match] = evaluate(policy, definition, case=at_board, texts=["I will sue"])

    assert (match.point, match.action) == ("legal_risk", "flag")


@pytest.mark.parametrize("state", ["resolved", "followed_up"])
def test_legal_risk_on_a_closed_case_is_only_flagged(policy, definition, state):
    closed = snapshot(state=state, level=None)

    [match] = evaluate(policy, definition, case=closed, texts=["my lawyer will contact you"])

    assert (match.point, match.action) == ("legal_risk", "flag")


def test_a_legal_phrase_after_the_resolution_is_recorded_not_refused(engine):
    """A customer's reply after the resolution used to make the update fail whole
    (escalate is not allowed from resolved): the message was lost."""
    case = engine.apply(OpenCase(customer_id="C-1", subject="Kettle")).case_id
    engine.apply(Act(case, "resolve", "ana", note="replaced"))
    result = engine.apply(Update(case, "customer", message="My lawyer will contact you."))
    assert (result.state, [event.type for event in result.events]) == (
        "resolved",
        ["updated", "flagged"],
    )
    assert result.events[1].payload["evidence"] == 'phrase "lawyer" in message'


# -- authority -----------------------------------------------------------------


def test_authority_fires_above_the_acting_levels_limit(policy, definition):
    refund = snapshot(amount_claimed_minor=80_000)

    [match] = evaluate(policy, definition, case=refund)

    assert (match.point, match.action, match.to_level) == ("authority", "flag", "L2")
    assert match.evidence == "EUR 800.00 > EUR 200.00 (first_level)"


@pytest.mark.parametrize(
    ("level", "minor"),
    [(None, 20_000), (None, 0), ("L2", 80_000), ("L2", 100_000), ("board", 10_000_000)],
)
def test_authority_does_not_fire_at_or_below_the_limit(policy, definition, level, minor):
    case = snapshot(
        amount_claimed_minor=minor, level=level, state="escalated" if level else "first_level"
    )
    assert evaluate(policy, definition, case=case) == []


def test_authority_at_l2_names_the_level_that_covers_it(policy, definition):
    case = snapshot(amount_claimed_minor=100_001, level="L2", state="escalated")

    [match] = evaluate(policy, definition, case=case)

    assert match.to_level == "manager"
    assert match.evidence == "EUR 1,000.01 > EUR 1,000.00 (L2)"


# -- repeat customer and priority ----------------------------------------------------


@pytest.mark.parametrize("count", [None, 0, 1, 2])
def test_repeat_customer_below_threshold_does_not_fire(policy, definition, count):
    assert evaluate(policy, definition, count=count) == []


@pytest.mark.parametrize("count", [3, 4, 12])
def test_repeat_customer_at_or_above_threshold_is_routed_to_senior(policy, definition, count):
    [match] = evaluate(policy, definition, count=count)

    assert (match.point, match.action, match.route_to_team) == (
        "repeat_customer",
        "route",
        "senior",
    )
    assert match.evidence == f"{count} cases in 90 days"


def test_repeat_customer_already_in_the_senior_team_is_not_routed_again(policy, definition):
    assert evaluate(policy, definition, case=snapshot(team="senior"), count=5) == []


def test_urgent_goes_straight_to_l2(policy, definition):
    [match] = evaluate(policy, definition, case=snapshot(priority="urgent", state="open"))

    assert (match.point, match.action, match.to_level) == ("priority", "escalate", "L2")
    assert match.evidence == 'priority "urgent" goes straight to L2'


@pytest.mark.parametrize("priority", ["low", "normal", "high"])
def test_other_priorities_stay_at_first_level(policy, definition, priority):
    assert evaluate(policy, definition, case=snapshot(priority=priority)) == []


def test_urgent_case_handed_back_by_l2_is_not_sent_up_again(policy, definition):
    handed_back = snapshot(priority="urgent", escalation_count=1)
    assert evaluate(policy, definition, case=handed_back) == []


# -- order, disabled points, breach, notices ---------------------------------------


def test_matches_come_strongest_first(policy, definition):
    case = snapshot(priority="urgent", amount_claimed_minor=80_000)

    matches = evaluate(policy, definition, case=case, texts=["ombudsman"], count=3)

    assert [m.point for m in matches] == ["legal_risk", "priority", "repeat_customer", "authority"]
    assert next(m for m in matches if m.action == "escalate").to_level == "manager"


def test_disabled_points_never_fire(definition):
    text = default_policy_path().read_text(encoding="utf-8")
    text = (
        text.replace("enabled = true", "enabled = false")
        .replace('acknowledge = "escalate"', 'acknowledge = "notify"')
        .replace('escalation = "escalate"', 'escalation = "notify"')
    )
    quiet = parse_policy(text, "policy.toml", definition)
    case = snapshot(priority="urgent", amount_claimed_minor=900_000)

    assert (
        evaluate(quiet, definition, case=case, texts=["court, lawyer, ombudsman"], count=99) == []
    )
    assert breach_match(quiet, definition, case=snapshot(level="L2"), clock="acknowledge") is None


def test_missed_acknowledgement_at_l2_escalates_to_manager(policy, definition):
    case = snapshot(state="escalated", level="L2", escalation_count=1)

    match = breach_match(policy, definition, case=case, clock="acknowledge", due_at=NOW)

    assert (match.point, match.action, match.to_level) == ("breach", "escalate", "manager")
    assert "acknowledge target missed at L2" in match.evidence
    assert "2026-11-02 09:00 UTC" in match.evidence


def test_missed_board_acknowledgement_is_not_an_escalation(policy, definition):
    at_board = snapshot(state="escalated", level="board", escalation_count=3)
    assert breach_match(policy, definition, case=at_board, clock="acknowledge") is None
    assert breach_match(policy, definition, case=snapshot(), clock="resolution") is None


def test_notice_tells_the_customer_who_takes_over_and_why(policy, definition):
    [match] = evaluate(policy, definition, texts=["see you in court"])

    notice = notice_for(policy, definition, match, "manager")

    assert "our Manager now looks after your case" in notice
    assert policy.points.legal_risk.reason in notice
    assert "{" not in notice


def test_points_without_a_notice_use_the_default_template(policy, definition):
    [match] = evaluate(policy, definition, case=snapshot(priority="urgent"))

    notice = notice_for(policy, definition, match, match.to_level)

    assert notice.startswith("Your case is now with our Specialist team")
    assert policy.points.priority.reason in notice
