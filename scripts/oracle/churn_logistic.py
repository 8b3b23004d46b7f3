#!/usr/bin/env python3
"""Independent reference fit of `tenure churn train --from-file` (docs/churn.md).

Reads a CSV with a 0/1 label column and fits, on every row, the L2-penalised
logistic regression Tenure documents:

    minimise  -sum_i [y_i log p_i + (1 - y_i) log(1 - p_i)] + l2/2 * sum_j b_j^2
    p_i = 1 / (1 + exp(-(b0 + sum_j b_j z_ij)))     (b0 not penalised)

where z are the design columns standardised with the population mean and
standard deviation: a numeric column (standardised by its present values; a
missing value takes the mean, z = 0) plus a "name (missing)" indicator if any
value is missing; a text column one-hot
encoded, one column per level "name=level". The objective is strictly convex,
so its minimiser is unique: any correct solver agrees with any other. This
one is plain Python (no numpy): Newton steps solved by Gauss-Jordan
elimination.

Usage: churn_logistic.py FILE.csv LABEL [L2]   -> JSON {"intercept", "coefficients": {column: b}}
"""

import csv
import json
import math
import sys


def design(rows, label):
    names = [c for c in rows[0].keys() if c not in (label, "id")]
    columns = []  # (label, raw values)
    for name in names:
        cells = [r[name].strip() for r in rows]
        present = [c for c in cells if c != ""]
        try:
            nums = [float(c) for c in present]
            numeric = True
        except ValueError:
            numeric = False
        if numeric:
            # Standardised by the present values; a missing value sits at the mean (z = 0).
            mean, sd = mean_sd(nums)
            if sd is not None:
                columns.append((name, [(float(c) - mean) / sd if c != "" else 0.0 for c in cells]))
            if len(present) < len(cells):
                columns.append(standardised(name + " (missing)", [1.0 if c == "" else 0.0 for c in cells]))
        else:
            for level in sorted(set(c if c != "" else "(missing)" for c in cells)):
                dummy = [1.0 if (c or "(missing)") == level else 0.0 for c in cells]
                columns.append(standardised(f"{name}={level}", dummy))
    return [c for c in columns if c is not None]


def mean_sd(v):
    mean = sum(v) / len(v)
    sd = math.sqrt(sum((x - mean) ** 2 for x in v) / len(v))
    return mean, (sd if sd > 1e-12 * (1 + abs(mean)) else None)


def standardised(name, v):
    mean, sd = mean_sd(v)
    return None if sd is None else (name, [(x - mean) / sd for x in v])


def solve(a, b):
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for col in range(n):
        piv = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[piv] = m[piv], m[col]
        for r in range(n):
            if r != col:
                f = m[r][col] / m[col][col]
                for c in range(col, n + 1):
                    m[r][c] -= f * m[col][c]
    return [m[i][n] / m[i][i] for i in range(n)]


def fit(cols, y, l2):
    k = len(cols) + 1
    x = [[1.0] + [c[1][i] for c in cols] for i in range(len(y))]
    beta = [0.0] * k
    for _ in range(200):
        g = [0.0] * k
        h = [[0.0] * k for _ in range(k)]
        for xi, yi in zip(x, y):
            z = sum(a * b for a, b in zip(xi, beta))
            p = 1 / (1 + math.exp(-z))
            w = p * (1 - p)
            for a in range(k):
                g[a] += (yi - p) * xi[a]
                for b in range(k):
                    h[a][b] += w * xi[a] * xi[b]
        for a in range(1, k):
            g[a] -= l2 * beta[a]
            h[a][a] += l2
        step = solve(h, g)
        beta = [b + s for b, s in zip(beta, step)]
        if max(abs(s) for s in step) < 1e-12:
            break
    return beta


def main():
    path, label = sys.argv[1], sys.argv[2]
    l2 = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    y = [1.0 if r[label].strip() in ("1", "true", "yes") else 0.0 for r in rows]
    cols = design(rows, label)
    beta = fit(cols, y, l2)
    print(json.dumps({"intercept": beta[0], "coefficients": {c[0]: b for c, b in zip(cols, beta[1:])}}))


if __name__ == "__main__":
    main()
