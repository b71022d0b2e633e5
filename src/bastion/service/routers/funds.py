"""Insurance fund routes: liquidation ingestion (idempotent by id), injections, positions for the ADL queue,
the public insurance-fund endpoint shaped like OKX's `GET /api/v5/public/insurance-fund`, and metrics."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from bastion.bounds import PositiveMoney, Timestamp, timestamp_ms_bounds
from bastion.funds import ledger, metrics, public
from bastion.funds.adl import OpenPosition, QueueEntry
from bastion.funds.ledger import Booked, LiquidationIn, PoolKey
from bastion.funds.liquidation import ContractType, PositionSide
from bastion.service.access import OperatorScope, Public, ServiceScope
from bastion.service.deps import SessionDep, SettingsDep
from bastion.service.schemas import RequestBody

router = APIRouter(tags=["funds"])


def _d(value: Decimal) -> str:
    """Plain decimal text without trailing zeros, so a replay prints exactly like the first answer."""
    return format(value.normalize(), "f") if value else "0"


Positive = PositiveMoney  # NUMERIC(38, 18): at most 20 digits before the point, 18 after


class LiquidationBody(RequestBody):
    id: str = Field(min_length=1, max_length=128)
    instType: Literal["SWAP", "FUTURES", "OPTION", "MARGIN"]
    instFamily: str = Field(min_length=1, max_length=64)
    ccy: str = Field(min_length=1, max_length=16)
    instId: str = Field(min_length=1, max_length=64)
    posSide: PositionSide
    sz: Positive
    bkPx: Positive
    fillPx: Positive
    ctType: ContractType = ContractType.LINEAR
    ctVal: Positive = Decimal(1)
    ts: Timestamp

    def domain(self) -> LiquidationIn:
        ts = self.ts if self.ts.tzinfo else self.ts.replace(tzinfo=UTC)
        return LiquidationIn(
            self.id,
            PoolKey(self.instType, self.instFamily, self.ccy),
            self.instId,
            self.posSide,
            self.sz,
            self.bkPx,
            self.fillPx,
            ts,
            self.ctType,
            self.ctVal,
        )


class BookedOut(BaseModel):
    id: str
    instType: str
    instFamily: str
    ccy: str
    type: str
    outcome: str
    amt: str
    balance: str
    state: str
    seq: int
    ts: datetime

    @classmethod
    def of(cls, b: Booked) -> BookedOut:
        return cls(
            id=b.ref,
            instType=b.pool.inst_type,
            instFamily=b.pool.inst_family,
            ccy=b.pool.ccy,
            type=b.type,
            outcome=_d(b.outcome),
            amt=_d(b.amount),
            balance=_d(b.balance),
            state=b.state,
            seq=b.seq,
            ts=b.ts,
        )


@router.post("/v1/liquidations", response_model=BookedOut, dependencies=[ServiceScope("funds:write")])
def post_liquidation(body: LiquidationBody, session: SessionDep, settings: SettingsDep) -> BookedOut:
    """Book one liquidation. Idempotent by `id`: a repeat returns the first booking; the same id with another
    payload is a 409."""
    booked = ledger.book_liquidations(session, [body.domain()], settings.funds.policy())
    session.commit()
    return BookedOut.of(booked[0])


@router.post("/v1/liquidations/batch", response_model=list[BookedOut], dependencies=[ServiceScope("funds:write")])
def post_liquidations(
    body: Annotated[list[LiquidationBody], Field(max_length=10_000)], session: SessionDep, settings: SettingsDep
) -> list[BookedOut]:
    """Book many liquidations in one transaction: all or nothing (a bad row is named, nothing is written)."""
    booked = ledger.book_liquidations(session, [b.domain() for b in body], settings.funds.policy())
    session.commit()
    return [BookedOut.of(b) for b in booked]


class InjectionBody(RequestBody):
    id: str = Field(min_length=1, max_length=100)
    instType: Literal["SWAP", "FUTURES", "OPTION", "MARGIN"]
    instFamily: str = Field(min_length=1, max_length=64)
    ccy: str = Field(min_length=1, max_length=16)
    amt: Positive
    ts: Timestamp


@router.post("/v1/funds/injections", response_model=BookedOut, dependencies=[OperatorScope("funds:admin")])
def post_injection(body: InjectionBody, session: SessionDep, settings: SettingsDep) -> BookedOut:
    ts = body.ts if body.ts.tzinfo else body.ts.replace(tzinfo=UTC)
    key = PoolKey(body.instType, body.instFamily, body.ccy)
    booked = ledger.inject(session, body.id, key, body.amt, ts, settings.funds.policy())
    session.commit()
    return BookedOut.of(booked)


class PositionBody(RequestBody):
    posId: str = Field(min_length=1, max_length=128)
    userId: str = Field(min_length=1, max_length=128)
    posSide: PositionSide
    pos: Positive
    avgPx: Positive
    markPx: Positive
    margin: Positive


class PositionsBody(RequestBody):
    instType: Literal["SWAP", "FUTURES", "OPTION", "MARGIN"]
    instFamily: str
    ccy: str
    positions: list[PositionBody]


@router.put("/v1/funds/positions", dependencies=[ServiceScope("funds:write")])
def put_positions(body: PositionsBody, session: SessionDep, settings: SettingsDep) -> dict[str, int]:
    """Replace the open-position snapshot the pool's ADL queue is ranked from."""
    n = public.replace_positions(
        session,
        PoolKey(body.instType, body.instFamily, body.ccy),
        [OpenPosition(p.posId, p.userId, p.posSide, p.pos, p.avgPx, p.markPx, p.margin) for p in body.positions],
        datetime.now(UTC),
        settings.funds.policy(),
    )
    session.commit()
    return {"positions": n}


def _ms(ts: datetime) -> str:
    return str(int(ts.timestamp() * 1000))


_, MAX_MS = timestamp_ms_bounds()


@router.get("/v1/public/insurance-fund", dependencies=[Public])
def insurance_fund(
    session: SessionDep,
    instType: Literal["SWAP", "FUTURES", "OPTION", "MARGIN"],
    type: str | None = None,
    instFamily: str | None = None,
    ccy: str | None = None,
    before: Annotated[int | None, Query(ge=0, le=MAX_MS, description="ms timestamp: entries older than this")] = None,
    after: Annotated[int | None, Query(ge=0, le=MAX_MS, description="ms timestamp: entries newer than this")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> dict[str, object]:
    """Balance history by type, per pool, as OKX publishes it: `{"code": "0", "data": [{"total", "instFamily",
    "instType", "details": [{"amt", "balance", "ccy", "type", "ts", ...}]}]}`."""
    b = datetime.fromtimestamp(before / 1000, UTC) if before is not None else None
    a = datetime.fromtimestamp(after / 1000, UTC) if after is not None else None
    data = []
    for pool, balance, entries, events in public.history(session, instType, type, instFamily, ccy, b, a, limit):
        details: list[dict[str, str]] = [
            {
                "amt": _d(e.amount),
                "balance": _d(e.balance),
                "ccy": pool.ccy,
                "type": e.type,
                "ts": _ms(e.ts),
                "maxBal": "",
                "maxBalTs": "",
                "decRate": "",
                "adlType": "",
            }
            for e in entries
        ]
        details += [
            {
                "amt": "",
                "balance": _d(ev.balance),
                "ccy": pool.ccy,
                "type": "adl",
                "ts": _ms(ev.ts),
                "maxBal": _d(ev.max_bal),
                "maxBalTs": "",
                "decRate": _d(ev.dec_rate),
                "adlType": ev.kind,
            }
            for ev in events
        ]
        data.append(
            {
                "total": _d(balance),
                "instFamily": pool.inst_family,
                "instType": pool.inst_type,
                "ccy": pool.ccy,
                "state": pool.state,
                "details": details,
            }
        )
    return {"code": "0", "msg": "", "data": data}


def _queue(entries: list[QueueEntry]) -> list[dict[str, object]]:
    # Public: positions by id, rank and indicator only; never the user behind them.
    return [
        {
            "rank": q.rank,
            "indicator": q.indicator,
            "posId": q.position.position_id,
            "posSide": q.position.side.value,
        }
        for q in entries
    ]


@router.get("/v1/public/adl", dependencies=[Public])
def adl(
    session: SessionDep,
    instType: Literal["SWAP", "FUTURES", "OPTION", "MARGIN"],
    instFamily: str,
    ccy: str,
    top: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, object]:
    """A pool's state (normal, warning, adl), balance, last state change, ADL queue per side (`long`: the
    longs deleveraged when a short is liquidated) and the latest positions ADL reduced."""
    status = public.adl_status(session, PoolKey(instType, instFamily, ccy), top)
    last = status.last_event
    return {
        "instType": instType,
        "instFamily": instFamily,
        "ccy": ccy,
        "state": status.pool.state,
        "balance": _d(status.balance),
        "lastChange": None
        if last is None
        else {
            "kind": last.kind,
            "ts": _ms(last.ts),
            "maxBal": _d(last.max_bal),
            "decRate": _d(last.dec_rate),
        },
        "queue": {"long": _queue(status.queue_long), "short": _queue(status.queue_short)},
        # Positions ADL closed, newest first: which, by how much, at what price; never whose.
        "deleveraged": [
            {
                "ts": _ms(f.ts),
                "liquidationId": f.liquidation_id,
                "posId": f.position_id,
                "posSide": f.pos_side,
                "rank": f.rank,
                "szBefore": _d(f.size_before),
                "szClosed": _d(f.size_closed),
                "px": _d(f.price),
            }
            for f in status.deleveraged
        ],
    }


@router.get("/v1/funds/metrics", dependencies=[OperatorScope("funds:admin")])
def fund_metrics(session: SessionDep, settings: SettingsDep, start: Timestamp, end: Timestamp) -> dict[str, object]:
    m = metrics.monthly(session, start, end, settings.funds.policy())
    return {
        "start": m.start,
        "end": m.end,
        "triggers": m.triggers,
        "adlStarts": m.adl_starts,
        "adlEvents": m.adl_events,
        "adlPositions": m.adl_positions,
        "worstDrawdown8h": _d(m.worst_drawdown_8h),
        "balanceByCcy": {k: _d(v) for k, v in m.balance_by_ccy.items()},
        "pools": [
            {
                "instType": p.inst_type,
                "instFamily": p.inst_family,
                "ccy": p.ccy,
                "balance": _d(p.balance_end),
                "triggers": p.triggers,
                "inflows": _d(p.inflows),
                "surplusIn": _d(p.surplus_in),
                "injectionsIn": _d(p.injections_in),
                "outflows": _d(p.losses_out),
                "adlLiquidations": p.adl_liquidations,
                "adlAbsorbed": _d(p.adl_absorbed),
                "adlUnabsorbed": _d(p.adl_unabsorbed),
                "adlPositions": p.adl_positions,
                "adlSizeClosed": _d(p.adl_size_closed),
                "adlStarts": p.adl_starts,
                "worstDrawdown8h": _d(p.worst_drawdown_8h),
                "state": p.state_end,
            }
            for p in m.pools
        ],
    }
