"""Per-request token accounting with the artifact's time-fraction SLO attainment, in closed form.

Token j (0-based) of a request arriving at A is due at A + TTFT + j·TPOT. The lenient metric
(REFERENCE §6, Aegaeon artifact) counts the time between consecutive tokens as *on schedule*
when the later token meets its deadline; after a miss, deadlines restart from the late token.
Worked example: A = 0, tokens at 3, 6, 7, 8 s, TTFT 3 s, TPOT 2 s → (0,3) on, (3,6) late,
(6,7) and (7,8) on: attainment 5/8. A request with no token scores 0.

Policies report tokens in *segments*: n tokens at t₁, t₁+P, …, t₁+(n−1)P (a decode batch
running for a time quota is one segment). Deadlines grow by TPOT per token while the tokens
come every P, so lateness is linear in the token index and ``emit`` settles a whole segment
in O(1): if P ≤ TPOT at most the second token can be late (then the schedule restarts and
the rest are on time); if P > TPOT every token from the first late one on is late. The strict
metric (every token met its original deadline) only needs the first and last token.
"""

from __future__ import annotations

import math

from core.pool.config import SLOConfig
from core.pool.workload import Trace

EPS = 1e-9  # tolerance for float round-off when comparing a token time to its deadline


class Ledger:
    """Token times, deadlines and population counters of every request of one simulation."""

    def __init__(self, trace: Trace, slo: SLOConfig, log: list | None) -> None:
        self.ttft, self.tpot = slo.ttft_s, slo.tpot_s
        self.arrival: list[float] = trace.arrival_s.tolist()
        self.model: list[int] = trace.model.tolist()
        self.input: list[int] = trace.input_tokens.tolist()
        self.output: list[int] = trace.output_tokens.tolist()
        n = len(self.arrival)
        self.done = [0] * n  # tokens produced so far
        self.last = list(self.arrival)  # time of the latest token (arrival before any)
        self.deadline = [a + self.ttft for a in self.arrival]  # lenient deadline of next token
        self.on = [0.0] * n  # on-schedule seconds so far
        self.strict_ok = [True] * n  # every token met its original deadline so far
        self.first = [math.nan] * n  # time of the first token
        self.finish = [math.nan] * n  # time of the last token
        self.tbt_values: list[float] = []  # gaps between consecutive tokens (s)
        self.tbt_weights: list[int] = []  # how many gaps had that value
        self.log = log  # event log (time, kind, gpu, model, request) or None
        # Population counters (Little's law and Theorem 3.1's active models).
        self.in_system = 0
        self.area_in_system = 0.0
        self.active_models = 0
        self.area_active = 0.0
        self.per_model = [0] * trace.num_models
        self.mark = 0.0
        self.finished = 0
        self.attainment_sum = 0.0  # Σ attainment of finished requests (for live averages)
        self.tokens = 0  # output tokens produced so far, all requests
        self.active_changes: list[tuple[float, int]] = [(0.0, 0)]  # (time, active models)

    def _integrate(self, t: float) -> None:
        dt = t - self.mark
        self.area_in_system += self.in_system * dt
        self.area_active += self.active_models * dt
        self.mark = t

    def arrive(self, r: int, t: float) -> None:
        """Request ``r`` entered the system at time ``t``."""
        self._integrate(t)
        self.in_system += 1
        m = self.model[r]
        self.per_model[m] += 1
        if self.per_model[m] == 1:
            self.active_models += 1
            self.active_changes.append((t, self.active_models))

    def _depart(self, r: int, t: float) -> None:
        self._integrate(t)
        self.in_system -= 1
        self.finished += 1
        self.finish[r] = t
        self.attainment_sum += self.attainment(r, t)
        m = self.model[r]
        self.per_model[m] -= 1
        if self.per_model[m] == 0:
            self.active_models -= 1
            self.active_changes.append((t, self.active_models))

    def remaining(self, r: int) -> int:
        return self.output[r] - self.done[r]

    def emit(self, r: int, t1: float, period: float, n: int, gpu: int = -1) -> bool:
        """Tokens ``t1 + k·period`` for k < n; returns True when the request is complete."""
        if n <= 0:
            return False
        tpot = self.tpot
        j0 = self.done[r]
        d = self.deadline[r]
        prev = self.last[r]
        late = False
        if t1 <= d + EPS:
            on = t1 - prev
            d += tpot
        else:
            on = 0.0
            late = True
            d = t1 + tpot
        if j0 == 0:
            self.first[r] = t1
            if self.log is not None:
                self.log.append((t1, "first_token", gpu, self.model[r], r))
        else:
            self.tbt_values.append(t1 - prev)
            self.tbt_weights.append(1)
        t_last = t1
        if n > 1:
            m = n - 1
            t_last = t1 + m * period
            self.tbt_values.append(period)
            self.tbt_weights.append(m)
            e = t1 + period - d  # lateness of the segment's second token
            if period <= tpot + EPS:
                if e <= EPS:
                    on += m * period
                    d += m * tpot
                else:  # one late token, then the restarted schedule is always met
                    on += (m - 1) * period
                    late = True
                    d = t1 + period + m * tpot
            else:
                first_late = 1 if e > EPS else int(-e // (period - tpot)) + 2
                if first_late > m:
                    on += m * period
                    d += m * tpot
                else:
                    on += (first_late - 1) * period
                    late = True
                    d = t_last + tpot
        base = self.arrival[r] + self.ttft
        if self.strict_ok[r] and (
            t1 > base + j0 * tpot + EPS or t_last > base + (j0 + n - 1) * tpot + EPS
        ):
            self.strict_ok[r] = False
        if late and self.log is not None:
            self.log.append((t1, "slo_miss", gpu, self.model[r], r))
        self.on[r] += on
        self.deadline[r] = d
        self.last[r] = t_last
        done = j0 + n
        self.done[r] = done
        self.tokens += n
        if done >= self.output[r]:
            self._depart(r, t_last)
            if self.log is not None:
                self.log.append((t_last, "finish", gpu, self.model[r], r))
            return True
        return False

    def attainment(self, r: int, end: float, final: bool = True) -> float:
        """Time-fraction attainment of request ``r`` as of time ``end``.

        When ``final`` (the run is over) an unfinished request counts the time since its last
        token as missed, so one that never got a token scores 0. Part-way through a run
        (``final=False``) that time counts as on schedule until the next deadline passes.
        """
        complete = self.done[r] >= self.output[r]
        if complete:
            if self.strict_ok[r]:
                return 1.0  # every token on its original deadline (avoids round-off below 1)
            span = self.finish[r] - self.arrival[r]
            return 1.0 if span <= 0 else min(1.0, self.on[r] / span)
        stop = max(end, self.last[r])
        span = stop - self.arrival[r]
        if span <= 0:
            return 1.0
        grace = not final and stop <= self.deadline[r] + EPS
        on = self.on[r] + (stop - self.last[r] if grace else 0.0)
        return min(1.0, on / span)
