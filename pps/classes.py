"""Update classes, partner classes, release types and who gets what.

From the EGEE pre-production service description: every preview-enabled production site takes
backward compatible client updates; silver partners also take non backward compatible client
updates (after a local configuration step); gold partners run pilots of backward compatible
server updates, platinum partners pilots of non backward compatible ones.  Release types and
their total timelines come from the EGI staged-rollout procedure.
"""

from __future__ import annotations

import enum

from pps.errors import BadInput
from pps.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeVar

    _C = TypeVar("_C", bound="_Choice")


class _Choice(str, enum.Enum):
    """A str enum whose ``parse`` names the bad value and the allowed ones."""

    @classmethod
    def parse(cls: type[_C], value: object) -> _C:
        for member in cls:
            if member.value == value:
                return member
        allowed = ", ".join(m.value for m in cls)
        raise BadInput(f"{cls._label()} {value!r} is not one of: {allowed}")

    @classmethod
    def _label(cls) -> str:
        return cls.__name__

    @classmethod
    def values(cls) -> list[str]:
        return [m.value for m in cls]

    def __str__(self) -> str:
        return self.value


class UpdateClass(_Choice):
    """What kind of change a release is, which decides where it goes."""

    BC_CLIENT = "bc-client"
    NBC_CLIENT = "nbc-client"
    BC_SERVER = "bc-server"
    NBC_SERVER = "nbc-server"

    @classmethod
    def _label(cls) -> str:
        return "update class"

    @property
    def needs_site_config(self) -> bool:
        """Non backward compatible clients need the site's local configuration step first."""
        return self is UpdateClass.NBC_CLIENT

    @property
    def is_client(self) -> bool:
        return self in (UpdateClass.BC_CLIENT, UpdateClass.NBC_CLIENT)


class PartnerClass(_Choice):
    """How much a partner site volunteered for (``none``: backward compatible clients only)."""

    NONE = "none"
    SILVER = "silver"
    GOLD = "gold"
    PLATINUM = "platinum"

    @classmethod
    def _label(cls) -> str:
        return "partner class"


class ReleaseType(_Choice):
    """EGI release types, with the total staged-rollout timeline they allow."""

    EMERGENCY = "emergency"
    REVISION = "revision"
    MINOR = "minor"
    MAJOR = "major"

    @classmethod
    def _label(cls) -> str:
        return "release type"

    @property
    def total_days(self) -> int:
        """Total days from software provider to production (EGI table 3, grace included)."""
        return _TOTAL_DAYS[self]


_TOTAL_DAYS = {
    ReleaseType.EMERGENCY: 1,
    ReleaseType.REVISION: 9,
    ReleaseType.MINOR: 11,
    ReleaseType.MAJOR: 22,
}

#: Which partner classes each update class goes to.  ``None`` means every preview site.
_TARGETS: dict[UpdateClass, frozenset[PartnerClass] | None] = {
    UpdateClass.BC_CLIENT: None,
    UpdateClass.NBC_CLIENT: frozenset({PartnerClass.SILVER}),
    UpdateClass.BC_SERVER: frozenset({PartnerClass.GOLD}),
    UpdateClass.NBC_SERVER: frozenset({PartnerClass.PLATINUM}),
}

#: Pilot length in days for server updates (1 week minor, 2 weeks major).
PILOT_DAYS = {"minor": 7, "major": 14}


def targets(update_class: UpdateClass, partner: PartnerClass) -> bool:
    """Whether a site of class *partner* takes releases of *update_class*."""
    wanted = _TARGETS[update_class]
    return wanted is None or partner in wanted


class ChangeSize(Record):
    """What the minor/major rule for server updates looks at."""

    new_config_parameters: bool
    major_bug_fixes: int
    normal_bug_fixes: int
    person_days: float
    significant_operational_change: bool


def server_update_size(change: ChangeSize) -> str:
    """``"minor"`` when all the minor conditions hold, else ``"major"``.

    Minor: no new configuration parameters, fewer than 2 major and fewer than 5 normal bug fixes,
    at most 2 person-days of change and no significant operational change.
    """
    if change.major_bug_fixes < 0 or change.normal_bug_fixes < 0 or change.person_days < 0:
        raise BadInput("bug-fix counts and person-days cannot be negative")
    minor = (
        not change.new_config_parameters
        and change.major_bug_fixes < 2
        and change.normal_bug_fixes < 5
        and change.person_days <= 2
        and not change.significant_operational_change
    )
    return "minor" if minor else "major"


#: Effort units in person-hours (1 credit = 1 PH).
EFFORT_HOURS = {"PH": 1, "PD": 8, "PW": 40, "PM": 160}
