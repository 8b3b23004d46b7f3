#!/usr/bin/env python3
"""Oracle for `tenure clv`: per-customer predictions of the Python `lifetimes`
package (0.11.3), at parameters we give it and at the parameters it fits.

Run with the interpreter of the environment made by scripts/setup-lifetimes.

Input (stdin, JSON):
  {"customers": [[frequency, recency, T, monetary_value], ...],
   "t": horizon in the model's time unit,
   "months": CLV horizon in months, "discount_rate": monthly rate,
   "freq": "D" | "W" | "M"  (lifetimes' name of the time unit),
   "bgnbd": {"r", "alpha", "a", "b"}          (optional, our fitted values)
   "paretonbd": {"r", "alpha", "s", "beta"}   (optional)
   "gammagamma": {"p", "q", "gamma"}          (optional)
   "fit": ["bgnbd", "paretonbd", "gammagamma"] (optional: let lifetimes fit these too)}

Output (stdout, JSON), for each purchase model given:
  {"bgnbd": {"expected": [...], "p_alive": [...], "clv": [...] (with gammagamma)},
   "gammagamma": {"expected_spend": [...]},
   "fitted": {"bgnbd": {"params": {...}, "log_likelihood": ...}, ...}}

The prediction formulas are fed our parameters (params_ set by hand), so they
are compared with ours independently of either optimiser; the fits are
reported separately.
"""

import json
import sys
import warnings

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter

warnings.filterwarnings("ignore")


def floats(values):
    """A JSON list: NaN and infinities (lifetimes' overflows) become null."""
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def with_params(fitter, names, values):
    fitter.params_ = pd.Series([float(values[k]) for k in names], index=names)
    if hasattr(fitter, "conditional_expected_number_of_purchases_up_to_time"):
        # fit() sets predict; customer_lifetime_value calls it.
        fitter.predict = fitter.conditional_expected_number_of_purchases_up_to_time
    return fitter


def main():
    req = json.load(sys.stdin)
    c = np.asarray(req["customers"], dtype=float).reshape(-1, 4)
    frequency = pd.Series(c[:, 0].astype(int))
    recency, age, monetary = pd.Series(c[:, 1]), pd.Series(c[:, 2]), pd.Series(c[:, 3])
    t, months, rate, freq = float(req["t"]), int(req["months"]), float(req["discount_rate"]), req["freq"]
    out = {"fitted": {}}

    gg = None
    if "gammagamma" in req:
        g = req["gammagamma"]
        # lifetimes calls Gamma-Gamma's scale parameter v (the papers' gamma).
        gg = with_params(GammaGammaFitter(), ["p", "q", "v"], {"p": g["p"], "q": g["q"], "v": g["gamma"]})
        out["gammagamma"] = {
            "expected_spend": floats(gg.conditional_expected_average_profit(frequency, monetary))
        }

    models = {
        "bgnbd": (BetaGeoFitter, ["r", "alpha", "a", "b"]),
        "paretonbd": (ParetoNBDFitter, ["r", "alpha", "s", "beta"]),
    }
    for name, (cls, names) in models.items():
        if name not in req:
            continue
        m = with_params(cls(), names, req[name])
        doc = {
            "expected": floats(m.conditional_expected_number_of_purchases_up_to_time(t, frequency, recency, age)),
            "p_alive": floats(m.conditional_probability_alive(frequency, recency, age)),
        }
        if gg is not None:
            clv = gg.customer_lifetime_value(
                m, frequency, recency, age, monetary, time=months, discount_rate=rate, freq=freq
            )
            doc["clv"] = floats(clv)
        out[name] = doc

    for name in req.get("fit", []):
        if name == "gammagamma":
            repeat = (frequency > 0) & (monetary > 0)
            f = GammaGammaFitter().fit(frequency[repeat], monetary[repeat])
            params = {"p": f.params_["p"], "q": f.params_["q"], "gamma": f.params_["v"]}
            # lifetimes reports the mean negative log-likelihood per customer.
            ll = -f._negative_log_likelihood_ * int(repeat.sum())
        else:
            cls, names = models[name]
            np.random.seed(0)  # Pareto/NBD starts from random points
            f = cls().fit(frequency, recency, age)
            params = {k: f.params_[k] for k in names}
            # BG/NBD reports the mean negative log-likelihood per customer,
            # Pareto/NBD the total (it divides by the mean weight, 1).
            total = f._negative_log_likelihood_ * (len(frequency) if name == "bgnbd" else 1)
            # Both fit time-scaled data (max T = 1); scaling time by c changes
            # the likelihood by -x ln(c) per customer (the density of x
            # purchase times), so report it on the data's own scale.
            ll = -total + float(frequency.sum()) * np.log(f._scale)
        out["fitted"][name] = {"params": {k: float(v) for k, v in params.items()}, "log_likelihood": float(ll)}

    json.dump(out, sys.stdout, allow_nan=False)


if __name__ == "__main__":
    main()
