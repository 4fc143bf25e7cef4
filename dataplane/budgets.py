"""The budget gate (DESIGN.md §5): admit a request only if every matching hard budget has room for it, without a
database in the hot path.

For each matching hard budget, with G the budget's spend as the ledger knows it (a `BudgetSpend` covering every
usage event up to stream sequence S), L this replica's uncovered cost (its settled requests whose events were
published above S or not published yet, plus the reservations of its requests in flight), r this request's
reservation, A the amount and R the number of data-plane replicas known (from the status bucket):

    admit  iff  G + L + r ≤ A  and  (L + r ≤ (A - G) / R  or  L = 0)

The first clause is DESIGN.md's rule; the second keeps R replicas that cannot see each other's uncovered cost from
each spending the whole remainder: a replica spends at most its share of what is left (or one request, so a small
remainder is still usable). README "Prices and budgets" derives the overshoot bound this gives.

When the spend is older than `STALE_SECONDS` (or never arrived) the budget's `on_stale` policy decides: closed
refuses, open admits, local_share admits while L + r ≤ (A - G) / R with G the last spend known for the period
(0 if none).

The reservation is `reserved_tokens` (prompt estimate + maximum output) each priced at the highest class price of
the dearest priced target of the route: an upper bound of the request's cost whichever class the tokens turn out to
be. Settling replaces it with the actual cost (`record.cost_micro_usd`, priced by dataplane.settle)."""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field

from dataplane.errors import BudgetExceededError, DeploymentUnpricedError
from dataplane.observability import RequestRecord
from dataplane.pricing import PriceBook
from shared.periods import period_bounds
from shared.snapshot import BudgetSpec, KeySpec, RouteSpec, Snapshot
from shared.usage import BudgetSpend, UsageEvent

STALE_SECONDS = 60.0


def has_room(*, amount: int, spent: int, local: int, reservation: int, replicas: int) -> bool:
    """The admission rule on fresh spend data (see the module docstring)."""
    if spent + local + reservation > amount:
        return False
    share = (amount - spent) // max(1, replicas)
    return local + reservation <= share or local == 0


def scope_id_of(scope: str, key: KeySpec) -> str | None:
    """The id a budget (or limit) of this scope must name to apply to requests made with `key`."""
    if scope == "key":
        return key.id
    if scope == "user":
        return key.user_id
    if scope == "application":
        return key.application_id
    if scope == "team":
        return key.team_id
    if scope == "environment":
        return key.environment
    return None  # organization: one per deployment, its budgets name no id


def budget_applies(budget: BudgetSpec, key: KeySpec, route_name: str) -> bool:
    if budget.model is not None and budget.model != route_name:
        return False
    if budget.scope == "organization":
        return True
    wanted = scope_id_of(budget.scope, key)
    return wanted is not None and wanted == budget.scope_id


@dataclass(slots=True)
class PeriodLedger:
    """This replica's uncovered cost toward one budget in one period."""

    budget_id: str
    start: int
    inflight: int = 0  # reservations of requests admitted and not settled yet
    pending: dict[str, int] = field(default_factory=dict)  # request id -> cost, event not published yet
    pending_total: int = 0
    published: list[tuple[int, int]] = field(default_factory=list)  # heap of (stream seq, cost)
    published_total: int = 0

    def uncovered(self, covers: int) -> int:
        """Settled cost the ledger does not include yet; forgets what it now covers."""
        while self.published and self.published[0][0] <= covers:
            _, cost = heapq.heappop(self.published)
            self.published_total -= cost
        return self.pending_total + self.published_total

    def charge(self, request_id: str, cost: int) -> None:
        self.pending[request_id] = self.pending.get(request_id, 0) + cost
        self.pending_total += cost

    def mark_published(self, request_id: str, stream_seq: int) -> None:
        cost = self.pending.pop(request_id, None)
        if cost is not None:
            self.pending_total -= cost
            heapq.heappush(self.published, (stream_seq, cost))
            self.published_total += cost


@dataclass(slots=True)
class _Check:
    budget: BudgetSpec
    start: int
    end: int | None
    room: bool
    headroom: int  # what would be left after this request: the smallest names a refusal
    stale: bool


class BudgetIndex:
    """One snapshot's prices and hard budgets, built once per applied view."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.prices = PriceBook(snapshot.prices)
        self.hard_budgets = [b for b in snapshot.budgets if b.hard]
        self.require_price = {d.id for d in snapshot.deployments if d.require_price}

    def matching(self, key: KeySpec, route_name: str) -> list[BudgetSpec]:
        return [b for b in self.hard_budgets if budget_applies(b, key, route_name)]


class BudgetGate:
    """Per-worker budget state: the spend the control plane published, this replica's uncovered cost, and the
    replica count. Fed by dataplane.spend_watch; read by `admit` once per request."""

    def __init__(self) -> None:
        self._spends: dict[str, BudgetSpend] = {}
        self._ledgers: dict[str, PeriodLedger] = {}  # budget id -> ledger of its current period
        self._charged: dict[str, list[PeriodLedger]] = {}  # request id -> ledgers its cost waits in
        self._index: tuple[Snapshot, BudgetIndex] | None = None
        self.replicas = 1

    def index(self, snapshot: Snapshot) -> BudgetIndex:
        if self._index is None or self._index[0] is not snapshot:
            self._index = (snapshot, BudgetIndex(snapshot))
        return self._index[1]

    def on_spend(self, spend: BudgetSpend) -> None:
        self._spends[spend.budget_id] = spend

    def spend_of(self, budget_id: str) -> BudgetSpend | None:
        return self._spends.get(budget_id)

    def on_spend_deleted(self, budget_id: str) -> None:
        self._spends.pop(budget_id, None)

    def on_published(self, event: UsageEvent, stream_seq: int) -> None:
        """The usage emitter's callback: the event of `event.request_id` is in the stream at `stream_seq`."""
        for ledger in self._charged.pop(event.request_id, ()):
            ledger.mark_published(event.request_id, stream_seq)

    def charge(self, request_id: str, cost: int, ledgers: Iterable[PeriodLedger]) -> None:
        """A settled request's cost, counted until the ledger's spend covers its event. A ledger whose period
        has ended is skipped: its spend no longer counts."""
        current = [ledger for ledger in ledgers if self._ledgers.get(ledger.budget_id) is ledger]
        for ledger in current:
            ledger.charge(request_id, cost)
        if current:
            self._charged[request_id] = current

    def _ledger(self, budget_id: str, start: int) -> PeriodLedger:
        ledger = self._ledgers.get(budget_id)
        if ledger is None or ledger.start != start:
            if ledger is not None:  # a new period: what the old one owed no longer counts
                for request_id in ledger.pending:
                    self._charged.pop(request_id, None)
            ledger = self._ledgers[budget_id] = PeriodLedger(budget_id=budget_id, start=start)
        return ledger

    def admit(
        self,
        *,
        snapshot: Snapshot,
        key: KeySpec,
        route: RouteSpec,
        deployment_id: str,
        reserved_tokens: int,
        now: float,
    ) -> BudgetAdmission | None:
        """For one attempt on `deployment_id`: raise DeploymentUnpricedError or BudgetExceededError, or reserve
        on every matching hard budget what `reserved_tokens` may cost at that deployment's price."""
        index = self.index(snapshot)
        if deployment_id in index.require_price and not index.prices.is_priced(deployment_id, now):
            raise DeploymentUnpricedError(route.name)
        budgets = index.matching(key, route.name)
        if not budgets:
            return None
        reservation = index.prices.reservation_micro_usd([deployment_id], tokens=reserved_tokens, when=now)
        checks = [self._check(b, reservation=reservation, now=now) for b in budgets]
        refused = [c for c in checks if not c.room]
        if refused:
            raise _refusal(min(refused, key=lambda c: c.headroom), now=now)
        ledgers = [self._ledger(c.budget.id, c.start) for c in checks]
        for ledger in ledgers:
            ledger.inflight += reservation
        return BudgetAdmission(gate=self, ledgers=ledgers, reservation=reservation)

    def _check(self, budget: BudgetSpec, *, reservation: int, now: float) -> _Check:
        start, end = period_bounds(budget.period, budget.timezone, now)
        ledger = self._ledger(budget.id, start)
        spend = self._spends.get(budget.id)
        amount, replicas = budget.amount_micro_usd, self.replicas
        stale = spend is None or now - spend.computed_at / 1000 > STALE_SECONDS
        if spend is not None and spend.period_start == start:
            spent, covers = spend.spent_micro_usd, spend.covers_stream_seq
        else:  # no spend for this period yet: every event of it may be missing from the ledger's figure
            spent, covers = 0, -1
        local = ledger.uncovered(covers) + ledger.inflight
        if not stale:
            room = has_room(amount=amount, spent=spent, local=local, reservation=reservation, replicas=replicas)
        elif budget.on_stale == "open":
            room = True
        elif budget.on_stale == "local_share":  # this replica's share of what was left when last known
            room = local + reservation <= (amount - spent) // max(1, replicas)
        else:
            room = False
        headroom = amount - spent - local - reservation
        return _Check(budget=budget, start=start, end=end, room=room, headroom=headroom, stale=stale)


def _refusal(check: _Check, *, now: float) -> BudgetExceededError:
    budget = check.budget
    retry_after = None if check.end is None else max(1, int(check.end - now + 0.999))
    if check.stale:
        message = f"Budget '{budget.name}' ({budget.id}) cannot be checked: its spend data is stale."
        retry_after = min(retry_after or 5, 5)
    else:
        message = f"Budget '{budget.name}' ({budget.id}) is exhausted for the current {budget.period} period."
    return BudgetExceededError(message, budget_id=budget.id, retry_after_seconds=retry_after)


@dataclass(slots=True)
class BudgetAdmission:
    """The reservation one request holds on its budgets' ledgers until it settles."""

    gate: BudgetGate
    ledgers: list[PeriodLedger]
    reservation: int
    settled: bool = False

    def settle(self, record: RequestRecord) -> None:
        if self.settled:
            return
        self.settled = True
        for ledger in self.ledgers:
            ledger.inflight -= self.reservation
        if record.cost_micro_usd > 0:
            self.gate.charge(record.request_id, record.cost_micro_usd, self.ledgers)
