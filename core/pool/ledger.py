"""Per-request token accounting with the artifact's time-fraction SLO attainment, in closed form.

Token j (0-based) of a request arriving at A is due at A + TTFT + j·TPOT. The lenient metric
(REFERENCE §6) is the one the Aegaeon artifact scores every figure with (``compute_slo`` in
its ``plots/plot_e2e.py``): the request's service time is cut into *runs* at its late tokens.
Within a run anchored at time S (the arrival, or the late token that opened the run) token j
is on time when it comes by S + TTFT + j·TPOT — after a miss the whole schedule restarts from
the late token, keeping the token index, so a request that fell behind once gets a fresh TTFT
of slack. A run that ends in a miss is credited up to the deadline offset TTFT + j′·TPOT of
its last on-time token j′ (0 if none); the final run is credited in full. Attainment =
credited time / (last token − arrival). Worked example: A = 0, tokens at 3, 6, 7, 8 s, TTFT 3 s,
TPOT 2 s → the run (0, 6) credits 3 (token 0 due at 3 came at 3; token 1 due at 5 came at 6),
the run from 6 credits 8 − 6 = 2: attainment 5/8. A request with no token scores 0.

Policies report tokens in *segments*: n tokens at t₁, t₁+P, …, t₁+(n−1)P (a decode batch
running for a time quota is one segment). Within a run, token k's lateness is linear in k with
slope P − TPOT, so ``emit`` settles a run of on-time tokens in O(1): if P ≤ TPOT none after an
on-time token can be late; otherwise the first late one follows from a division. Each miss
opens a new run (one loop step each); to miss again a stream must fall a whole TTFT behind the
restarted schedule, so a segment rarely holds more than one. The strict metric (every token met its original deadline) only
needs the first and last token.
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
        self.anchor = list(self.arrival)  # start of the current run (arrival or a late token)
        self.credit = [0.0] * n  # on-schedule seconds credited to runs closed by a miss
        self.accum = [0.0] * n  # TTFT + j·TPOT of the current run's last on-time token (0: none)
        self.on = [0.0] * n  # on-schedule seconds up to the latest token (credit + open run)
        self.strict_ok = [True] * n  # every token met its original deadline so far
        self.first = [math.nan] * n  # time of the first token
        self.finish = [math.nan] * n  # time of the last token
        self.failed_at = [math.nan] * n  # when a request was dropped unserved (nan: never)
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
        self.failed = 0  # requests dropped before their first token (they score 0)
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

    def fail(self, r: int, t: float, gpu: int = -1) -> None:
        """Request ``r`` leaves at ``t`` without a token (e.g. a first-token timeout).

        It stops counting as in the system and scores 0 (``attainment`` of a request with no
        token); ``finished`` does not count it.
        """
        if self.done[r] > 0 or not math.isnan(self.failed_at[r]):
            raise ValueError(f"request {r} cannot fail: it has tokens or failed already")
        self._integrate(t)
        self.in_system -= 1
        self.failed += 1
        self.failed_at[r] = t
        m = self.model[r]
        self.per_model[m] -= 1
        if self.per_model[m] == 0:
            self.active_models -= 1
            self.active_changes.append((t, self.active_models))
        if self.log is not None:
            self.log.append((t, "timeout", gpu, m, r))

    def remaining(self, r: int) -> int:
        return self.output[r] - self.done[r]

    def emit(self, r: int, t1: float, period: float, n: int, gpu: int = -1) -> bool:
        """Tokens ``t1 + k·period`` for k < n; returns True when the request is complete."""
        if n <= 0:
            return False
        ttft, tpot = self.ttft, self.tpot
        j0 = self.done[r]
        prev = self.last[r]
        anchor, acc, credit = self.anchor[r], self.accum[r], self.credit[r]
        delta = period - tpot  # how much later each token gets relative to its deadline
        late = False
        k = 0
        while k < n:
            # Lateness of token k against the current run's schedule.
            e = t1 + k * period - anchor - (ttft + (j0 + k) * tpot)
            if e > EPS:  # late: close the run, restart the schedule from this token
                credit += acc
                anchor = t1 + k * period
                acc = 0.0
                late = True
                k += 1
                continue
            # Token k is on time, and so is token i > k while e + (i − k)·δ ≤ EPS. The EPS
            # sits inside the floor so that an exact tie (lateness 0 up to round-off, e.g.
            # 8.75 s vs 8.75 s) stays on time even if −e/δ comes out just below an integer.
            if delta <= 0.0 or k == n - 1:
                last_on = n - 1
            else:
                last_on = min(n - 1, k + int((EPS - e) // delta))
            acc = ttft + (j0 + last_on) * tpot
            k = last_on + 1
        t_last = t1 + (n - 1) * period
        if j0 == 0:
            self.first[r] = t1
            if self.log is not None:
                self.log.append((t1, "first_token", gpu, self.model[r], r))
        else:
            self.tbt_values.append(t1 - prev)
            self.tbt_weights.append(1)
        if n > 1:
            self.tbt_values.append(period)
            self.tbt_weights.append(n - 1)
        base = self.arrival[r] + ttft
        if self.strict_ok[r] and (
            t1 > base + j0 * tpot + EPS or t_last > base + (j0 + n - 1) * tpot + EPS
        ):
            self.strict_ok[r] = False
        if late and self.log is not None:
            self.log.append((t1, "slo_miss", gpu, self.model[r], r))
        done = j0 + n
        self.anchor[r], self.accum[r], self.credit[r] = anchor, acc, credit
        self.on[r] = credit + (t_last - anchor)
        self.deadline[r] = anchor + ttft + done * tpot
        self.last[r] = t_last
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

        When ``final`` (the run is over) an unfinished request's next token counts as missed:
        its open run is credited like one closed by a miss, and the time since its last token
        is off schedule, so one that never got a token scores 0. Part-way through a run
        (``final=False``) the time since the last token counts as on schedule until the next
        deadline passes.
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
        if not final and stop <= self.deadline[r] + EPS:  # on schedule so far
            on = self.credit[r] + (stop - self.anchor[r])
        else:  # the next token is overdue: the open run ends as if by a miss
            on = self.credit[r] + max(self.accum[r], self.last[r] - self.anchor[r])
        return min(1.0, on / span)
