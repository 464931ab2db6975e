#!/usr/bin/env bash
# The whole backtracking recipe: data, tokenizer, the shared base, the plain
# fine-tunes (round 0), then ROUNDS adversarial rounds (the adaptive search
# run through rewind against the previous round's pair on training prompts,
# both fine-tunes redone from the base on the suffixes it found), and the
# last round's pair exported to models/demo-{backtrack,baseline}.gguf.
#
#   bash training/make_models.sh            # about 95 minutes on 2 cores
#
# Intermediate files go to training/work/ (ignored by git). Run from
# anywhere; Python 3.11 with training/requirements.txt, and cargo.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROUNDS=${ROUNDS:-2}
THREADS=${THREADS:-2}
W=training/work

finetune() { # round, which (baseline | backtrack)
    python training/train.py --data "$2" --init $W/base.pt --out "$W/$2$1.pt" \
        --steps 700 --lr 1e-3 --warmup 30 --threads "$THREADS" --max-minutes 30
}

python training/make_data.py
python training/train_tokenizer.py
python training/train.py --data base --out $W/base.pt --n-embd 192 --n-layer 4 --n-head 4 --n-ff 512 \
    --steps 2500 --batch-tokens 4096 --threads "$THREADS" --max-minutes 60 --probe-every 500

cargo build --release --example safety_eval
logs=()
for round in $(seq 0 "$ROUNDS"); do
    if ((round > 0)); then
        prev=$((round - 1))
        # The adaptive search on the 500 training attacks of
        # search_prompts.json, against both models of the previous round,
        # at the README's bias (a row per core).
        target/release/examples/safety_eval \
            --model "$W/backtrack$prev.gguf" --baseline "$W/baseline$prev.gguf" \
            --data $W/data/search_prompts.json --limit 500 --biases=-8 --policies rollback \
            --sampling-prompts 0 --adaptive-prompts 500 --answers "$W/search$prev.jsonl"
        logs+=("$W/search$prev.jsonl")
        python training/make_data.py --search-suffixes "${logs[@]}"
    fi
    for which in baseline backtrack; do
        finetune "$round" "$which"
        python training/export_gguf.py "$W/$which$round.pt" "$W/$which$round.gguf" --type q8_0 --no-reference
    done
done

# The committed pair, with the reference logits tests/demo_model.rs checks.
python training/export_gguf.py "$W/backtrack$ROUNDS.pt" models/demo-backtrack.gguf --type q8_0
python training/export_gguf.py "$W/baseline$ROUNDS.pt" models/demo-baseline.gguf --type q8_0 --no-reference
