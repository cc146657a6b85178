"""Spark's ALS on one interaction file, in the ``.spark-venv`` environment (run by
``training_engines.py``; not importable from llmrec's).

    python spark_worker.py WORK_DIR

``WORK_DIR/interactions.parquet`` holds (user, item, weight) as integers and a float;
``WORK_DIR/params.json`` the ALS settings and the number of fits. Writes the seconds of
each stage and the last fit's factors (user and item, by index) to ``WORK_DIR``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np


def main() -> None:
    work = Path(sys.argv[1])
    params = json.loads((work / "params.json").read_text())
    started = time.perf_counter()
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(f"local[{params['cores']}]")
        .config("spark.driver.memory", params["driver_memory"])
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(params["cores"] * 2))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    session_s = time.perf_counter() - started
    started = time.perf_counter()
    data = spark.read.parquet(str(work / "interactions.parquet")).cache()
    rows = data.count()
    read_s = time.perf_counter() - started
    als = ALS(
        rank=params["factors"], maxIter=params["iterations"], regParam=params["regularization"],
        alpha=params["alpha"], implicitPrefs=True, seed=0, userCol="user", itemCol="item",
        ratingCol="weight", coldStartStrategy="drop",
    )  # fmt: skip
    fits = []
    for _ in range(params["fits"]):
        started = time.perf_counter()
        model = als.fit(data)
        model.itemFactors.count()  # the fit is lazy until its factors are used
        fits.append(time.perf_counter() - started)
    for side in ("user", "item"):
        factors = getattr(model, f"{side}Factors").toPandas()
        matrix = np.zeros((int(factors["id"].max()) + 1, params["factors"]), np.float32)
        matrix[factors["id"].to_numpy()] = np.stack(factors["features"].to_numpy())
        np.save(work / f"{side}_factors.npy", matrix)
    spark.stop()
    result = {"rows": rows, "session_s": session_s, "read_s": read_s, "fit_s": fits}
    (work / "result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
