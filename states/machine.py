"""The `transitions` Machine built from a process definition.

Building a Machine costs ~0.5 ms and every attached model slows `add_model`
down, so there is one Machine per process version (cached) and one reusable
model object per thread.

Two ways to fire a trigger, with the same result:

* :meth:`ProcessMachine.trigger` runs the library's full dispatch on the
  pooled model (set state, call the trigger, read the state back);
* :meth:`ProcessMachine.fire`, the engine's hot path, resolves the trigger
  against the machine's own transition table (``machine.events[trigger]
  .transitions[state]``) with the same first-match-whose-conditions-pass
  rule as ``transitions.Event``. Our process declares no state or
  transition callbacks, so the dispatch does nothing else; skipping it cuts
  ~25 µs to ~3 µs per command. ``tests/test_machine.py`` proves the two agree
  for every state, trigger and guard outcome.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from transitions import Machine, MachineError

from states.errors import GuardFailed, InvalidTransition
from states.guards import REGISTRY, GuardContext
from states.process import ProcessDefinition


class _Model:
    """A stand-in that carries one case through one trigger at a time."""

    state: str
    ctx: GuardContext | None = None
    refusal: GuardFailed | None = None


def _guard(name: str) -> Callable[[Any], bool]:
    """A `transitions` condition for guard `name`; `.check(ctx)` runs it without the machine."""
    check = REGISTRY[name]

    def condition(event: Any) -> bool:
        try:
            check(event.model.ctx)
        except GuardFailed as exc:
            if event.model.refusal is None:
                event.model.refusal = exc
            return False
        return True

    condition.__name__ = name
    condition.check = check  # type: ignore[attr-defined]
    return condition


class ProcessMachine:
    def __init__(self, definition: ProcessDefinition) -> None:
        self.definition = definition
        self.machine = Machine(
            model=None,
            states=list(definition.state_names),
            initial=definition.initial,
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=False,
            model_attribute="state",
        )
        for spec in definition.transitions:
            self.machine.add_transition(
                spec.trigger,
                list(spec.sources),
                spec.dest,
                conditions=[_guard(name) for name in spec.guards],
            )
        self._local = threading.local()

    def _model(self) -> _Model:
        model = getattr(self._local, "model", None)
        if model is None:
            model = _Model()
            self.machine.add_model(model)
            self._local.model = model
        return model

    def allowed_triggers(self, state: str) -> list[str]:
        return sorted(set(self.machine.get_triggers(state)))

    def fire(self, ctx: GuardContext) -> str:
        """The state the command's trigger leads to from the case's state (hot path)."""
        trigger = ctx.command.trigger
        event = self.machine.events.get(trigger)
        candidates = event.transitions.get(ctx.case.state) if event is not None else None
        if not candidates:
            raise InvalidTransition(
                ctx.case.id, trigger, ctx.case.state, self.allowed_triggers(ctx.case.state)
            )
        refusal: GuardFailed | None = None
        for transition in candidates:
            try:
                for condition in transition.conditions:
                    condition.func.check(ctx)
            except GuardFailed as exc:
                refusal = refusal or exc
                continue
            return transition.dest if transition.dest is not None else ctx.case.state
        raise refusal or GuardFailed(trigger, "a guard of the process refused it", ctx.case.id)

    def trigger(self, ctx: GuardContext) -> str:
        """Run the library's full trigger dispatch; returns the new state."""
        trigger = ctx.command.trigger
        model = self._model()
        model.state = ctx.case.state
        model.ctx = ctx
        model.refusal = None
        try:
            if trigger not in self.machine.events or ctx.case.state not in self.machine.states:
                raise MachineError(trigger)
            ok = getattr(model, trigger)()
        except MachineError:
            raise InvalidTransition(
                ctx.case.id, trigger, ctx.case.state, self.allowed_triggers(ctx.case.state)
            ) from None
        finally:
            model.ctx = None
        if not ok:
            raise model.refusal or GuardFailed(
                trigger, "a guard of the process refused it", ctx.case.id
            )
        return model.state

    def mermaid(self) -> str:
        """`stateDiagram-v2` text of the process, for docs and the dashboard."""
        lines = ["stateDiagram-v2", f"    [*] --> {self.definition.initial}"]
        for spec in self.definition.transitions:
            for source in spec.sources:
                lines.append(f"    {source} --> {spec.dest or source}: {spec.trigger}")
        return "\n".join(lines)


@lru_cache(maxsize=16)
def machine_for(definition: ProcessDefinition) -> ProcessMachine:
    return ProcessMachine(definition)
