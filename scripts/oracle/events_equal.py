#!/usr/bin/env python3
"""Whether two workspaces store the same `events` table, file by file and row by row.

    scripts/oracle/events_equal.py WS_A WS_B

For each events file of each workspace's manifest (named by its path under the
workspace, so the day partition and file name count), DuckDB computes the row count
and a sum of hash(row number in the file, every column). Exits 1 when the two
differ, printing the first few differences. Used to check that a faster `tenure
import events` stores exactly what the previous binary stored (issue 10).
"""
import json
import sys
from pathlib import Path

import duckdb

COLUMNS = "message_id, type, user_id, anonymous_id, event, name, timestamp, group_id, properties, traits, context"


def digest(ws: Path):
    root = ws / "tenure-data" if (ws / "tenure-data" / "manifest.json").exists() else ws
    files = json.loads((root / "manifest.json").read_text())["tables"]["events"]["files"]
    con = duckdb.connect()
    paths = [str(root / f["path"]) for f in files]
    rows = con.execute(
        f"""select filename, count(*), sum(hash(file_row_number, {COLUMNS}))::varchar
            from read_parquet({paths!r}, filename = true, file_row_number = true) group by filename"""
    ).fetchall()
    return {str(Path(name).relative_to(root)): (n, h) for name, n, h in rows}, sum(f["rows"] for f in files)


def main():
    a, b = (Path(p) for p in sys.argv[1:3])
    (da, na), (db, nb) = digest(a), digest(b)
    diffs = sorted(k for k in da.keys() | db.keys() if da.get(k) != db.get(k))
    print(f"{a}: {len(da)} files, {na:,} rows; {b}: {len(db)} files, {nb:,} rows; {len(diffs)} files differ")
    for k in diffs[:10]:
        print(f"  {k}: {da.get(k)} vs {db.get(k)}")
    sys.exit(1 if diffs or na != nb else 0)


if __name__ == "__main__":
    main()
