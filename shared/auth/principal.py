"""Who is asking, and what they may see: pure, no I/O.

Four roles, the same whether the token came from the local account store or from a province's
own identity provider (issue 17). Scope follows the plan's escalation hierarchy: a leader of an
agency sees that agency and every agency whose alerts escalate to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Role(StrEnum):
    COMMITTEE = "committee"  # the steering committee's secretariat: everything, silences
    LEADER = "leader"  # a leader of one agency: that agency and the agencies below it
    OPERATOR = "operator"  # on call: alerts, silences, dead letters; never free-text notes
    AGENCY_SYSTEM = "agency_system"  # an agency's IT system: writes and reads its own figures


class Hierarchy(Protocol):
    """What scope needs of a plan (shared.plan.Plan and PlanIndex both answer it)."""

    def escalation_chain(self, agency_code: str) -> list: ...


@dataclass(frozen=True)
class Principal:
    subject: str  # the account id or the identity provider's `sub`
    name: str  # a person's display name, recorded on what they acknowledge or silence
    role: Role
    agency: str | None = None  # a leader's or an agency system's agency; None for the others

    def __post_init__(self) -> None:
        if self.role in (Role.LEADER, Role.AGENCY_SYSTEM) and not self.agency:
            raise ValueError(f"a {self.role} principal needs an agency")

    @property
    def sees_every_agency(self) -> bool:
        return self.role in (Role.COMMITTEE, Role.OPERATOR)

    def may_read_agency(self, agency: str, plan: Hierarchy) -> bool:
        if self.sees_every_agency:
            return True
        if agency == self.agency:
            return True
        if self.role is not Role.LEADER:
            return False
        try:
            chain = plan.escalation_chain(agency)
        except KeyError:  # an agency the plan does not know belongs to nobody's scope
            return False
        return any(above.code == self.agency for above in chain)

    def sees_notes(self, agency: str, plan: Hierarchy) -> bool:
        """Free-text notes may name people and places: never to operators."""
        return self.role is not Role.OPERATOR and self.may_read_agency(agency, plan)
