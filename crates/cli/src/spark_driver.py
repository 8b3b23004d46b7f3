"""Run Tenure scale-out plans on Spark (one session) and write its results as JSON.

Written next to the plan by `tenure` (crates/cli/src/spark.rs) and run as
`python3 driver.py plan.json` (pyspark; local mode unless the plan names a
master). The plan lists every table with its Spark schema and exactly the
Parquet files the workspace's manifest names (never a directory listing, so
files of an unfinished import are never read), then the SQL statements:
views to register and results to collect. Numbers are written as strings
(decimals exactly, doubles by repr) so Tenure reads them back bit for bit.
"""

import datetime
import decimal
import json
import os
import sys
import time


def value(v):
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat()
    if isinstance(v, dict):
        return {k: value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [value(x) for x in v]
    return v


def timing(group, name, begun):
    """Seconds per statement, appended to the file TENURE_SPARK_TIMING names (benchmarks)."""
    path = os.environ.get("TENURE_SPARK_TIMING")
    if path:
        with open(path, "a") as f:
            f.write(f"{group}\t{name}\t{time.time() - begun:.2f}\n")


def main():
    with open(sys.argv[1]) as f:
        plan = json.load(f)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("tenure metrics")
    builder = builder.master(plan.get("master") or "local[2]")
    for key, val in plan["conf"].items():
        builder = builder.config(key, val)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    jobs = []
    for job in plan["jobs"]:
        started = time.time()
        for name, table in job["tables"].items():
            if table["paths"]:
                df = spark.read.schema(table["schema"]).parquet(*table["paths"])
            else:
                df = spark.createDataFrame([], table["schema"])
            df.createOrReplaceTempView(name)
        results = {}
        # Statements run in order, so a plan's views replace any earlier
        # plan's views of the same name before its results are computed.
        for st in job["statements"]:
            begun = time.time()
            try:
                df = spark.sql(st["sql"])
                if st["kind"] == "view":
                    df.createOrReplaceTempView(st["name"])
                    if st["name"] in job["cache"]:
                        spark.catalog.cacheTable(st["name"])
                else:
                    results[st["name"]] = [value(r.asDict(recursive=True)) for r in df.collect()]
            except Exception as e:  # the analyser's message, without its plan dump
                first = "\n".join(str(e).splitlines()[:6])
                print(f"tenure: {job['group']} statement `{st['name']}` failed: {first}", file=sys.stderr)
                sys.exit(1)
            timing(job["group"], st["name"], begun)
        timing(job["group"], "(all)", started)
        jobs.append({"group": job["group"], "results": results, "seconds": time.time() - started})
    with open(plan["output"], "w") as f:
        json.dump({"jobs": jobs}, f)
    spark.stop()


if __name__ == "__main__":
    main()
