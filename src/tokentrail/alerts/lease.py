"""One evaluator at a time when several servers share a store, without transactions.

Time is cut into terms of ``term_seconds``. Any server may claim a term by inserting a row
(term, holder, claimed_at); the term belongs to its EARLIEST claim (ties: smallest holder id), which
every server computes the same way from the same rows. The holder claims the next term as soon as it
holds the current one, so it keeps the lease while it lives; the others claim the next term only
late in the current one (``takeover_at``) and only if nobody claimed it yet, so a dead holder is
replaced within two terms (the one it had already claimed runs out unused).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from tokentrail.storage.backend import Store


class Lease:
    def __init__(self, store: Store, holder: str, term_seconds: float = 60.0, takeover_at: float = 0.75) -> None:
        self.store, self.holder = store, holder
        self.term_seconds, self.takeover_at = term_seconds, takeover_at

    def _term(self, now: float) -> int:
        return int(now // self.term_seconds)

    def _claim(self, term: int) -> None:
        self.store.command(f"INSERT INTO {self.store.database}.alert_lease VALUES "
                           "({t:UInt64}, {h:String}, {c:DateTime64(6)})",
                           {"t": term, "h": self.holder, "c": datetime.now(UTC).replace(tzinfo=None)})

    def _owners(self, terms: list[int]) -> dict[int, str]:
        rows = self.store.query(
            f"SELECT term, argMin(holder, (claimed_at, holder)) AS owner FROM {self.store.database}.alert_lease "
            "WHERE term IN {terms:Array(UInt64)} GROUP BY term", {"terms": "[" + ",".join(map(str, terms)) + "]"})
        return {int(r["term"]): r["owner"] for r in rows}

    def held(self, now: float | None = None) -> bool:
        """Whether this server holds the current term (claiming what it should on the way)."""
        now = time.time() if now is None else now
        term = self._term(now)
        owners = self._owners([term, term + 1])
        if term not in owners:
            self._claim(term)
            owners = self._owners([term, term + 1])
        mine = owners.get(term) == self.holder
        late = (now / self.term_seconds - term) >= self.takeover_at
        if term + 1 not in owners and (mine or late):
            self._claim(term + 1)
        return mine

    def owner(self, now: float | None = None) -> str | None:
        now = time.time() if now is None else now
        return self._owners([self._term(now)]).get(self._term(now))
