#!/usr/bin/env python3
"""Oracle for `tenure clv --calibration-end`: the Python `lifetimes` package's
(0.11.3) `calibration_and_holdout_data` on the same transactions.

Run with the interpreter of the environment made by scripts/setup-lifetimes.

Input (stdin, JSON):
  {"transactions": [[customer_id, "YYYY-MM-DD", value], ...],
   "calibration_end": "YYYY-MM-DD", "observation_end": "YYYY-MM-DD", "freq": "D"}

Output (stdout, JSON): {customer_id: {"frequency_cal", "recency_cal", "T_cal",
"monetary_value_cal", "frequency_holdout", "monetary_value_holdout",
"duration_holdout"}, ...}
"""

import json
import sys
import warnings

import pandas as pd
from lifetimes.utils import calibration_and_holdout_data

warnings.filterwarnings("ignore")


def main():
    req = json.load(sys.stdin)
    tx = pd.DataFrame(req["transactions"], columns=["customer_id", "date", "value"])
    tx["date"] = pd.to_datetime(tx["date"])
    df = calibration_and_holdout_data(
        tx,
        "customer_id",
        "date",
        calibration_period_end=req["calibration_end"],
        observation_period_end=req["observation_end"],
        freq=req.get("freq", "D"),
        monetary_value_col="value",
    )
    out = {str(k): {c: float(v) for c, v in row.items()} for k, row in df.iterrows()}
    json.dump(out, sys.stdout, allow_nan=False)


if __name__ == "__main__":
    main()
