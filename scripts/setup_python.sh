#!/usr/bin/env bash
# Creates the git-ignored Python environment `.venv/` that probe's comparison scripts use:
# numpy, scipy, scikit-learn, pandas (reference estimators), safetensors and PyTorch (the tools a
# researcher would otherwise use; PyTorch from PyPI). Idempotent: an existing `.venv` is reused and
# only missing packages are installed. Usage: bash scripts/setup_python.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q numpy scipy scikit-learn pandas safetensors torch
.venv/bin/python - <<'PY'
import numpy, scipy, sklearn, torch, safetensors
print(f"numpy {numpy.__version__}, scipy {scipy.__version__}, scikit-learn {sklearn.__version__}, "
      f"torch {torch.__version__}, safetensors {safetensors.__version__}")
PY
