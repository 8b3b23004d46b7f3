#!/usr/bin/env python3
"""The lifetimes half of bench/clv: fit and predict times of the `lifetimes`
package (0.11.3) on an RFM CSV (frequency/x, recency/t_x, T, monetary_value/zbar),
the same work as crates/models/examples/clv_bench.rs: BG/NBD fit, Gamma-Gamma
fit on customers with repeat purchases of positive value, then per customer
E[Y(39)], P(alive) and 12-month CLV (weeks, 1% a month). `--report` prints
the side-by-side table from both programs' JSON.
"""

import json
import sys
import time
import warnings

warnings.filterwarnings("ignore")


def load(path):
    import pandas as pd

    df = pd.read_csv(path)
    names = {"x": "frequency", "t_x": "recency", "zbar": "monetary_value"}
    return df.rename(columns=names)


def run(path, paretonbd):
    import numpy as np
    from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter

    df = load(path)
    f, r, t, m = df["frequency"], df["recency"], df["T"], df["monetary_value"]
    out = {"customers": len(df)}
    started = time.perf_counter()
    gg = GammaGammaFitter()
    repeat = (f > 0) & (m > 0)
    gg.fit(f[repeat], m[repeat])
    out["gammagamma"] = {"fit_seconds": time.perf_counter() - started, "params": dict(gg.params_)}
    models = [("bgnbd", BetaGeoFitter)] + ([("paretonbd", ParetoNBDFitter)] if paretonbd else [])
    for name, cls in models:
        np.random.seed(0)
        started = time.perf_counter()
        model = cls().fit(f, r, t)
        fit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        model.conditional_expected_number_of_purchases_up_to_time(39, f, r, t)
        model.conditional_probability_alive(f, r, t)
        clv = gg.customer_lifetime_value(model, f, r, t, m, time=12, discount_rate=0.01, freq="W")
        out[name] = {
            "fit_seconds": fit_seconds,
            "predict_seconds": time.perf_counter() - started,
            "params": dict(model.params_),
            "total_clv": float(clv.sum()),
        }
    json.dump(out, sys.stdout, indent=1)


def report(paths):
    docs = [json.load(open(p)) for p in paths]
    print(f"{'data':<28} {'step':<22} {'Tenure s':>10} {'lifetimes s':>12} {'ratio':>8}")
    for ours, theirs in zip(docs[0::2], docs[1::2]):
        label = f"{ours['customers']:,} customers"
        for model in ["bgnbd", "paretonbd", "gammagamma"]:
            if model not in ours or model not in theirs:
                continue
            for step in ["fit_seconds", "predict_seconds"]:
                if step in ours[model] and step in theirs[model]:
                    a, b = ours[model][step], theirs[model][step]
                    print(f"{label:<28} {model + ' ' + step[:-8]:<22} {a:>10.3f} {b:>12.3f} {b / a:>7.1f}x")
        a = ours["bgnbd"]["fit_seconds"] + ours["gammagamma"]["fit_seconds"] + ours["bgnbd"]["predict_seconds"]
        b = theirs["bgnbd"]["fit_seconds"] + theirs["gammagamma"]["fit_seconds"] + theirs["bgnbd"]["predict_seconds"]
        print(f"{label:<28} {'BG/NBD+GG fit+predict':<22} {a:>10.3f} {b:>12.3f} {b / a:>7.1f}x")
        print(f"{'':<28} fitted BG/NBD  Tenure {fmt(ours['bgnbd']['params'])}  lifetimes {fmt(theirs['bgnbd']['params'])}")
        if "true" in ours and "generated" in ours["source"]:
            print(f"{'':<28} true BG/NBD    {fmt(ours['true']['bgnbd'])}; Gamma-Gamma true {fmt(ours['true']['gammagamma'])}, "
                  f"fitted {fmt(ours['gammagamma']['params'])}")
        print(f"{'':<28} total CLV      Tenure {ours['bgnbd']['total_clv']:.2f}  lifetimes {theirs['bgnbd']['total_clv']:.2f}")


def fmt(params):
    return ", ".join(f"{k}={v:.4g}" for k, v in params.items())


if __name__ == "__main__":
    if sys.argv[1] == "--report":
        report(sys.argv[2:])
    else:
        run(sys.argv[2], "--paretonbd" in sys.argv)
