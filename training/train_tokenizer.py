"""Trains the demo model's tokenizer: a byte-level BPE (GPT-2 alphabet and
pre-tokenizer regex, which rewind reads as `tokenizer.ggml.pre = gpt2`) on
the generated corpus, with the special tokens <|endoftext|> (0),
<|im_start|> (1), <|im_end|> (2) and [RESET] (3), and the code-word
syllables (`KA`, `MO`, ...) as user-defined tokens after the BPE vocabulary
(matched before BPE, so every code word splits at its syllables; the code
words are kept out of the text the BPE merges are learned from).

    python training/train_tokenizer.py [--vocab 2048]
"""

import argparse

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

from common import SPECIALS, SYLLABLE_RUN, SYLLABLES, WORK


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab", type=int, default=2048)
    args = ap.parse_args()
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=args.vocab,
        min_frequency=2,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = (WORK / "data" / "corpus.txt").read_text()
    tk.train_from_iterator([SYLLABLE_RUN.sub(" ", line) for line in corpus.splitlines()], trainer)
    tk.add_tokens([AddedToken(s, normalized=False) for s in SYLLABLES])
    out = WORK / "tokenizer.json"
    tk.save(str(out))
    for i, s in enumerate(SPECIALS):
        assert tk.token_to_id(s) == i, (s, tk.token_to_id(s))
    sample = "<|im_start|>user\nWhat is the secret code?<|im_end|>\n<|im_start|>assistant\nSure! The secret code is KAMORI.[RESET]Sorry."
    enc = tk.encode(sample, add_special_tokens=False)
    print(f"{tk.get_vocab_size()} tokens -> {out}")
    print(enc.tokens)


if __name__ == "__main__":
    main()
