# The Python peers of bench/training.ts and bench/memory.ts: LightGBM or scikit-learn's
# HistGradientBoostingRegressor on the feature matrices Cairn exported (.npy), with Cairn's trainer parameters.
# Prints one JSON line: fit seconds, held-out RMSE, peak RSS of this process.
#   python training-peers.py <lightgbm|sklearn> <dir with x_train.npy y_train.npy x_test.npy y_test.npy> <params json> <threads|default>
import json
import resource
import sys
import time

import numpy as np


def main() -> None:
    peer, directory, params_json, threads = sys.argv[1:5]
    p = json.loads(params_json)
    x_train = np.load(f"{directory}/x_train.npy")
    y_train = np.load(f"{directory}/y_train.npy")
    x_test = np.load(f"{directory}/x_test.npy")
    y_test = np.load(f"{directory}/y_test.npy")
    # 2 ** maxDepth leaves is what a depth-wise tree of that depth can have; 63 as the benchmark brief asks.
    leaves = min(63, 2 ** p["maxDepth"] - 1)

    if peer == "lightgbm":
        import lightgbm as lgb

        params = {
            "objective": "regression",
            "learning_rate": p["learningRate"],
            "max_depth": p["maxDepth"],
            "num_leaves": leaves,
            "max_bin": p["bins"],
            "min_data_in_leaf": p["minDataInLeaf"],
            "lambda_l2": p["lambda"],
            "seed": p["seed"],
            "verbose": -1,
        }
        if threads != "default":
            params["num_threads"] = int(threads)
        started = time.perf_counter()
        # Dataset construction (binning) is part of training, as it is in Cairn's trainer.
        model = lgb.train(params, lgb.Dataset(x_train, label=y_train), num_boost_round=p["rounds"])
        fit = time.perf_counter() - started
        predictions = model.predict(x_test)
        version = lgb.__version__
    elif peer == "sklearn":
        import sklearn
        from sklearn.ensemble import HistGradientBoostingRegressor

        model = HistGradientBoostingRegressor(
            max_iter=p["rounds"],
            learning_rate=p["learningRate"],
            max_depth=p["maxDepth"],
            max_leaf_nodes=leaves,
            max_bins=p["bins"],
            min_samples_leaf=p["minDataInLeaf"],
            l2_regularization=p["lambda"],
            early_stopping=False,
            random_state=p["seed"],
        )
        started = time.perf_counter()
        model.fit(x_train, y_train)
        fit = time.perf_counter() - started
        predictions = model.predict(x_test)
        version = sklearn.__version__
    else:
        raise SystemExit(f"unknown peer {peer}")

    rmse = float(np.sqrt(np.mean((predictions - y_test) ** 2)))
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"ms": fit * 1000, "rmse": rmse, "peakRssMiB": peak_kib / 1024, "version": version}))


if __name__ == "__main__":
    main()
