"""How long to wait before the next attempt at a failed delivery: exponential, capped, fully jittered.

Full jitter (a uniform draw between 0 and the exponential bound) spreads the retries of many
deliveries that failed together, so a receiver coming back up is not hit by all of them at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final

MAX_BACKOFF_SECONDS: Final = 300.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    base_seconds: float
    cap_seconds: float = MAX_BACKOFF_SECONDS

    def delay(self, failed_attempts: int) -> float:
        """Seconds to wait after the `failed_attempts`-th failure (1 for the first)."""
        bound = min(self.cap_seconds, self.base_seconds * 2 ** min(failed_attempts - 1, 30))
        return random.uniform(0, bound)  # noqa: S311 (jitter, not a secret)
