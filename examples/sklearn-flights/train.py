"""Trains flight delays with scikit-learn's HistGradientBoostingRegressor and exports it to ONNX with skl2onnx.

Cairn runs this as an external trainer (see cairn.config.ts): CAIRN_SPEC names a JSON spec with the feature matrices
as Parquet files, the hyperparameters and where to write the model. Progress goes to stdout as JSON lines, with RMSE
on the training and held-out rows as points of the run's training curves; every
`checkpoint_every` iterations the model so far is pickled into the checkpoint directory, and a run that Cairn restarts
after a crash continues from it (warm start), giving the same model as an uninterrupted run.
"""
import json
import os
import pickle

import numpy as np
import pyarrow.parquet as pq
from sklearn.ensemble import HistGradientBoostingRegressor
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType

spec = json.load(open(os.environ["CAIRN_SPEC"]))
params = dict(spec["params"])
total = int(params.pop("max_iter"))
every = int(params.pop("checkpoint_every", 10))


def matrix(path):
    table = pq.read_table(path)
    x = np.column_stack([table.column(name).to_numpy() for name in spec["features"]]).astype("float64")
    return x, table.column(spec["target"]).to_numpy()


def progress(round, checkpoint=False, metrics=None):
    line = {"round": round, "total": total, "checkpoint": checkpoint}
    if metrics:
        line["metrics"] = metrics
    print(json.dumps(line), flush=True)


def rmse(model, x, y):
    return float(np.sqrt(np.mean((model.predict(x) - y) ** 2)))


x, y = matrix(spec["train"])
test_x, test_y = matrix(spec["test"])
# Training curves: RMSE on every 10th training row and on the held-out rows, at each checkpoint.
curve_x, curve_y = x[::10], y[::10]
state = os.path.join(spec["checkpoints"], "model.pkl")
if spec["resume"] is not None and os.path.exists(state):
    with open(state, "rb") as f:
        model = pickle.load(f)
else:
    # No early stopping: the number of iterations is the one asked for, and the model is the same on every run.
    model = HistGradientBoostingRegressor(
        max_iter=0, early_stopping=False, warm_start=True, random_state=spec["seed"], **params
    )
progress(model.max_iter)
while model.max_iter < total:
    model.max_iter = min(total, model.max_iter + every)
    model.fit(x, y)
    with open(state + ".tmp", "wb") as f:
        pickle.dump(model, f)
    os.replace(state + ".tmp", state)
    curves = {"train.rmse": rmse(model, curve_x, curve_y), "validation.rmse": rmse(model, test_x, test_y)}
    progress(model.max_iter, checkpoint=model.max_iter < total, metrics=curves)

# float32 in and out: onnxruntime's tree ensembles compute in float32. The flight features are small integers, exact in
# float32, so only the leaf values round (Cairn checks the ONNX predictions against ours below, to 1e-5).
onnx = convert_sklearn(
    model,
    initial_types=[("input", FloatTensorType([None, x.shape[1]]))],
    target_opset={"": 17, "ai.onnx.ml": 3},
    name="flight-delays",  # a fixed graph name: skl2onnx picks a random one otherwise, and the bytes would differ
)
with open(spec["output"], "wb") as f:
    f.write(onnx.SerializeToString())

# Python's own predictions on the held-out rows: Cairn checks the ONNX model against them.
with open(spec["predictions"], "w") as f:
    json.dump(model.predict(test_x).tolist(), f)
