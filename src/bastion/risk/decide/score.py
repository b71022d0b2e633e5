"""The learned score: an online logistic regression (river) updated from analysts' review outcomes.

It sees a fixed, documented transform of the rule features and contributes at most the scenario's
`model.max_points` to the score, and nothing until it has `model.min_samples` labels: the rules stay in
charge, the model nudges borderline cases. The pipeline is pickled in `risk_model_state` and updated under
a row lock so concurrent reviews in several workers never lose an update.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.risk.models import RiskModelState
from bastion.risk.state.config_versions import bump_config

MODEL_NAME = "withdrawal"


def model_inputs(f: dict[str, Any]) -> dict[str, float]:
    """The model's features: bounded transforms of the rule features (logs for money and hours)."""
    return {
        "log_amount_usd": math.log1p(float(f["amount_usd"])),
        "balance_share": min(float(f["balance_share"]), 1.0),
        "drained_share_24h": min(float(f["drained_share_24h"]), 1.0),
        "log_withdrawals_24h_count": math.log1p(float(f["withdrawals_24h_count"])),
        "device_known": float(f["device_known"]),
        "log_device_age_hours": math.log1p(min(float(f["device_age_hours"]), 24 * 365)),
        "address_in_book": float(f["address_in_book"]),
        "address_used_before": float(f["address_used_before"]),
        "log_address_age_hours": math.log1p(min(float(f["address_age_hours"]), 24 * 365)),
        "credential_change_24h": float(float(f["hours_since_credential_change"]) < 24),
        "login_new_asn_24h": float(f["login_new_asn_24h"]),
        "login_new_country_24h": float(f["login_new_country_24h"]),
        "log_travel_kmh": math.log1p(min(float(f["max_travel_kmh_24h"]), 50_000)),
        "log_failed_logins_24h": math.log1p(float(f["failed_logins_24h"])),
        "log_destination_users_24h": math.log1p(float(f["destination_users_24h"])),
        "ip_on_reputation_list": float(f["ip_on_reputation_list"]),
    }


def new_pipeline() -> Any:
    from river import compose, linear_model, optim, preprocessing

    return compose.Pipeline(
        preprocessing.StandardScaler(),
        linear_model.LogisticRegression(optimizer=optim.SGD(0.05), l2=1e-4),
    )


@dataclass
class ModelSnapshot:
    version: int
    samples: int
    positives: int
    pipeline: Any

    def probability(self, inputs: dict[str, float]) -> float:
        proba = self.pipeline.predict_proba_one(inputs)
        return float(proba.get(True, 0.0))


def load(session: Session) -> ModelSnapshot:
    row = session.get(RiskModelState, MODEL_NAME)
    if row is None:
        return ModelSnapshot(version=0, samples=0, positives=0, pipeline=new_pipeline())
    # The blob is written only by this module into our own database (trusted storage).
    return ModelSnapshot(row.version, row.samples, row.positives, pickle.loads(row.blob))


def learn(session: Session, features: dict[str, Any], fraud: bool) -> int:
    """One labelled example; returns the new model version. Caller commits."""
    row = session.scalars(select(RiskModelState).where(RiskModelState.name == MODEL_NAME).with_for_update()).first()
    pipeline = new_pipeline() if row is None else pickle.loads(row.blob)
    pipeline.learn_one(model_inputs(features), fraud)
    blob = pickle.dumps(pipeline)
    now = datetime.now(UTC)
    if row is None:
        row = RiskModelState(name=MODEL_NAME, version=1, samples=1, positives=int(fraud), blob=blob, updated_at=now)
        session.add(row)
    else:
        row.version += 1
        row.samples += 1
        row.positives += int(fraud)
        row.blob = blob
        row.updated_at = now
    bump_config(session, "model")
    return row.version
