#!/usr/bin/env bash
# Writes the committed sample files of the current format version: the tiny GPT-2 fixture
# (Tests/Fixtures/checkpoints/gpt2-tiny) converted once per dtype. Run only when a new format
# version is introduced — samples of older versions are never regenerated, they must keep loading.
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build --product tandem
version=v1
for dtype in f32 f16 q8_0 q4_0; do
    .build/debug/tandem convert Tests/Fixtures/checkpoints/gpt2-tiny --dtype "$dtype" \
        -o "Formats/samples/$version/gpt2-tiny.$dtype.tandem" --quiet
done
ls -l "Formats/samples/$version"
