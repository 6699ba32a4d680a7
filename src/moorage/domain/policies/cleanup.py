"""Image cleanup (Harbor's tag retention, SPEC §8) as one pure function over candidates.

Policies say what to KEEP; in every image that at least one enabled policy's image selector
selects, everything no policy keeps is deleted, whole. A dry run and a real run evaluate the
same plan; only the caller's deleting differs. Every verdict records why: which cleanup
policies kept the artifact, or which protection policy saved it (protection wins).

Rule bounds: counts 1–10,000 (Harbor allows up to 32,766, but no one keeps more than that
by count; `always` keeps everything), days 1–3,650 (ten years; a longer window keeps
everything too, and `always` says so plainly). Zero is refused: "keep none of the selected"
is written the guide's way, with a tag pattern no tag uses.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from moorage.domain.kernel.errors import AlreadyExists, InvalidInput, LimitReached
from moorage.domain.policies.protection import ProtectionPolicy, artifact_protection
from moorage.domain.policies.selectors import Selector, TagSelector

MAX_POLICIES = 15  # per registry: the guide's limit, as in Harbor
MAX_COUNT = 10_000
MAX_DAYS = 3_650
NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # the pull time of a never-pulled artifact


class RuleKind(StrEnum):
    LATEST_PUSHED = "latest_pushed"  # Harbor latestPushedK
    LATEST_PULLED = "latest_pulled"  # Harbor latestPulledN
    PUSHED_WITHIN = "pushed_within"  # Harbor nDaysSinceLastPush
    PULLED_WITHIN = "pulled_within"  # Harbor nDaysSinceLastPull
    ALWAYS = "always"  # Harbor always


_COUNTED = (RuleKind.LATEST_PUSHED, RuleKind.LATEST_PULLED)
_DATED = (RuleKind.PUSHED_WITHIN, RuleKind.PULLED_WITHIN)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One top-level artifact of an image, as cleanup sees it.

    `image` is the image name without the registry prefix. `pushed_at` is the latest push of
    the artifact or of any of its tags; `pulled_at` None means never pulled (time zero).
    Times are timezone-aware."""

    image: str
    digest: str
    tags: tuple[str, ...]
    pushed_at: datetime
    pulled_at: datetime | None = None

    @property
    def last_pulled(self) -> datetime:
        return self.pulled_at or NEVER


def _rule_kind(kind: str) -> RuleKind:
    try:
        return RuleKind(kind)
    except ValueError:
        kinds = ", ".join(k.value for k in RuleKind)
        raise InvalidInput(f"unknown rule {kind!r}; rules are {kinds}") from None


def _bounded(kind: RuleKind, name: str, value: int | None, high: int) -> None:
    if value is None:
        raise InvalidInput(f"rule {kind}: {name} is required")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise InvalidInput(f"rule {kind}: {name} must be a whole number from 1 to {high:,}")


@dataclass(frozen=True, slots=True)
class Rule:
    """What a policy keeps of the artifacts it selects. Build with `latest_pushed(n)`,
    `latest_pulled(n)`, `pushed_within(days)`, `pulled_within(days)` or `always()`, or from
    storage with `Rule.of(kind, value)`. Invalid combinations raise `InvalidInput`."""

    kind: RuleKind
    count: int | None = None
    days: int | None = None

    def __post_init__(self) -> None:
        kind = _rule_kind(self.kind)
        object.__setattr__(self, "kind", kind)
        if kind in _COUNTED:
            _bounded(kind, "count", self.count, MAX_COUNT)
        elif self.count is not None:
            raise InvalidInput(f"rule {kind} takes no count")
        if kind in _DATED:
            _bounded(kind, "days", self.days, MAX_DAYS)
        elif self.days is not None:
            raise InvalidInput(f"rule {kind} takes no days")

    @classmethod
    def of(cls, kind: str, value: int | None) -> Rule:
        """Build from storage form (`kind`, its one number or None); validated as above."""
        rule_kind = _rule_kind(kind)
        if rule_kind in _COUNTED:
            return cls(rule_kind, count=value)
        if rule_kind in _DATED:
            return cls(rule_kind, days=value)
        if value is not None:
            raise InvalidInput(f"rule {rule_kind} takes no number")
        return cls(rule_kind)

    @property
    def value(self) -> int | None:
        """The rule's one number (count or days), for storage; None for `always`."""
        return self.count if self.count is not None else self.days

    def describe(self) -> str:
        """`the 3 most recently pushed`, `all`…: what the rule keeps, for messages."""
        return {
            RuleKind.LATEST_PUSHED: f"the {self.count} most recently pushed",
            RuleKind.LATEST_PULLED: f"the {self.count} most recently pulled",
            RuleKind.PUSHED_WITHIN: f"those pushed within the last {self.days} days",
            RuleKind.PULLED_WITHIN: f"those pulled within the last {self.days} days",
            RuleKind.ALWAYS: "all",
        }[self.kind]

    def keep(self, selected: Sequence[Candidate], now: datetime) -> list[Candidate]:
        """The selected artifacts (of ONE image) that this rule keeps at `now`.

        Ties in the "most recent" rules fall to the lower digest; the pulled rule first
        prefers the later push, so never-pulled artifacts are kept newest first. A window of
        N days keeps what happened at or after `now - N days` (the guide: "more than N days
        ago" is what gets deleted)."""
        if self.kind is RuleKind.LATEST_PUSHED:
            return sorted(selected, key=_by_push)[: self.count]
        if self.kind is RuleKind.LATEST_PULLED:
            return sorted(selected, key=_by_pull)[: self.count]
        if self.kind is RuleKind.ALWAYS:
            return list(selected)
        assert self.days is not None
        cutoff = now - timedelta(days=self.days)
        if self.kind is RuleKind.PUSHED_WITHIN:
            return [c for c in selected if c.pushed_at >= cutoff]
        return [c for c in selected if c.last_pulled >= cutoff]


def _by_push(c: Candidate) -> tuple[float, str]:
    return -c.pushed_at.timestamp(), c.digest


def _by_pull(c: Candidate) -> tuple[float, float, str]:
    return -c.last_pulled.timestamp(), -c.pushed_at.timestamp(), c.digest


def latest_pushed(count: int) -> Rule:
    """Keep the `count` most recently pushed of the selected artifacts, per image."""
    return Rule(RuleKind.LATEST_PUSHED, count=count)


def latest_pulled(count: int) -> Rule:
    """Keep the `count` most recently pulled of the selected artifacts, per image."""
    return Rule(RuleKind.LATEST_PULLED, count=count)


def pushed_within(days: int) -> Rule:
    """Keep the selected artifacts pushed within the last `days` days."""
    return Rule(RuleKind.PUSHED_WITHIN, days=days)


def pulled_within(days: int) -> Rule:
    """Keep the selected artifacts pulled within the last `days` days (never-pulled: never)."""
    return Rule(RuleKind.PULLED_WITHIN, days=days)


def always() -> Rule:
    """Keep every selected artifact."""
    return Rule(RuleKind.ALWAYS)


@dataclass(frozen=True, slots=True)
class CleanupPolicy:
    id: int
    image: Selector
    tag: TagSelector
    rule: Rule
    enabled: bool

    def describe(self) -> str:
        """`images '**', tags 'v*', tagged only: keep the 3 most recently pushed`: names the
        policy in messages (its id is global, not a number within the registry)."""
        selectors = f"images {self.image.describe()}, tags {self.tag.describe()}"
        return f"{selectors}: keep {self.rule.describe()}"


class Outcome(StrEnum):
    DELETED = "deleted"
    KEPT = "kept"
    KEPT_PROTECTED = "kept_protected"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What happens to one artifact, and why: `kept_by` lists the cleanup policies whose
    rules keep it; `protected_by` is the protection policy that saves it from deletion."""

    candidate: Candidate
    outcome: Outcome
    kept_by: tuple[int, ...] = ()
    protected_by: int | None = None


@dataclass(frozen=True, slots=True)
class ImagePlan:
    """One image's verdicts, newest push first; `policy_ids` are the enabled cleanup
    policies whose image selector selected it."""

    image: str
    policy_ids: tuple[int, ...]
    verdicts: tuple[Verdict, ...]

    def count(self, outcome: Outcome) -> int:
        return sum(v.outcome is outcome for v in self.verdicts)


@dataclass(frozen=True, slots=True)
class Plan:
    """Per touched image, a verdict per artifact; images no enabled policy selects are absent."""

    images: tuple[ImagePlan, ...] = field(default=())

    @property
    def deletions(self) -> tuple[Verdict, ...]:
        return tuple(v for i in self.images for v in i.verdicts if v.outcome is Outcome.DELETED)

    def count(self, outcome: Outcome) -> int:
        return sum(image.count(outcome) for image in self.images)


def evaluate(
    candidates: Iterable[Candidate],
    policies: Iterable[CleanupPolicy],
    protection: Iterable[ProtectionPolicy],
    now: datetime,
) -> Plan:
    """Decide, per image, which artifacts a cleanup run keeps and which it deletes.

    `candidates` are the registry's top-level artifacts: leave out index children and
    referrers (artifacts with a subject); they go with their parent, as in Harbor. An image is
    touched only if an enabled policy's image selector selects it. There, each such policy
    selects artifacts with its tag selector and keeps some of those by its rule, counted
    within the image; the kept set is the union over policies, everything else is deleted
    unless a protection policy protects one of its tags. `now` must be timezone-aware."""
    if now.tzinfo is None:
        raise ValueError("evaluate needs a timezone-aware `now`")
    active = sorted((p for p in policies if p.enabled), key=lambda p: p.id)
    shields = tuple(protection)
    by_image: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        by_image.setdefault(candidate.image, []).append(candidate)
    plans = []
    for image in sorted(by_image):
        applicable = [p for p in active if p.image.selects(image)]
        if applicable:
            plans.append(_plan_image(image, by_image[image], applicable, shields, now))
    return Plan(tuple(plans))


def _plan_image(
    image: str,
    artifacts: list[Candidate],
    policies: list[CleanupPolicy],
    protection: tuple[ProtectionPolicy, ...],
    now: datetime,
) -> ImagePlan:
    if len({a.digest for a in artifacts}) != len(artifacts):
        raise ValueError(f"candidates of {image!r} list the same digest twice")
    kept_by: dict[str, list[int]] = {}
    for policy in policies:
        selected = [a for a in artifacts if policy.tag.selects(a.tags)]
        for artifact in policy.rule.keep(selected, now):
            kept_by.setdefault(artifact.digest, []).append(policy.id)
    verdicts = []
    for artifact in sorted(artifacts, key=_by_push):
        keepers = kept_by.get(artifact.digest)
        if keepers:
            verdicts.append(Verdict(artifact, Outcome.KEPT, kept_by=tuple(keepers)))
            continue
        shield = artifact_protection(protection, image, artifact.tags)
        if shield is not None:
            verdicts.append(Verdict(artifact, Outcome.KEPT_PROTECTED, protected_by=shield.id))
        else:
            verdicts.append(Verdict(artifact, Outcome.DELETED))
    return ImagePlan(image, tuple(p.id for p in policies), tuple(verdicts))


def check_duplicate(policies: Iterable[CleanupPolicy], new: CleanupPolicy) -> None:
    """Raise `AlreadyExists` if another policy (a different id) has the same image selector, tag
    selector (untagged flag included) and rule; enabled or not does not matter."""
    for policy in policies:
        if policy.id != new.id and (policy.image, policy.tag, policy.rule) == (
            new.image,
            new.tag,
            new.rule,
        ):
            raise AlreadyExists(f"the same cleanup policy exists already ({policy.describe()})")


def check_count(policies: Collection[CleanupPolicy]) -> None:
    """Raise `LimitReached` if a registry holding `policies` may not get another one."""
    if len(policies) >= MAX_POLICIES:
        raise LimitReached(
            f"a registry holds at most {MAX_POLICIES} cleanup policies; "
            "delete one before adding another",
            MAX_POLICIES,
        )
