"""The `transitions` Machine built from a process definition.

Building a Machine costs ~0.5 ms and every attached model slows `add_model`
down, so there is one Machine per process version (cached) and one reusable
model object per thread: the engine sets the model's state, fires the
trigger, and reads the state back.
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


def _guard(name: str) -> Callable[[Any], bool]:
    check = REGISTRY[name]

    def condition(event: Any) -> bool:
        check(event.model.ctx)
        return True

    condition.__name__ = name
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
        """Run the command's trigger from the case's state; returns the new state."""
        trigger = ctx.command.trigger
        model = self._model()
        model.state = ctx.case.state
        model.ctx = ctx
        try:
            if trigger not in self.machine.events:
                raise MachineError(trigger)
            ok = getattr(model, trigger)()
        except MachineError:
            raise InvalidTransition(
                ctx.case.id, trigger, ctx.case.state, self.allowed_triggers(ctx.case.state)
            ) from None
        finally:
            model.ctx = None
        if not ok:
            raise GuardFailed(trigger, "a guard of the process refused it", ctx.case.id)
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
