"""Tiny random Hugging Face checkpoints in save_pretrained layout, built in the tests (tokenizers trained here).

Each has the architecture's real model class and tokenizer family (WordPiece, byte-level BPE or Unigram with
the architecture's special tokens), a few thousand parameters, and weights sharpened so that different texts
get different logits. Used by tests/test_hf_import*.py and bench/bench_imported.py.
"""
from __future__ import annotations

import json
from pathlib import Path

CORPUS = [
    "the movie was great and the actors were wonderful", "a terrible boring film with bad acting",
    "i loved every minute of it", "worst service ever, the food was cold", "the hotel was clean but noisy",
    "prices rose 3.5% in march, the office said", "click save to keep your changes", "what a great day",
    "nothing about this phone feels cheap", "the second half drags although the ending is strong",
    "das hotel war sauber aber das frühstück war enttäuschend", "support never answered my three emails",
] * 4

# model_type -> (architecture, tokenizer family, cls, sep, pad, unk, extra config)
ARCHITECTURES = {
    "albert": ("AlbertForSequenceClassification", "unigram", "[CLS]", "[SEP]", "<pad>", "<unk>",
               {"embedding_size": 16, "type_vocab_size": 2}),
    "bert": ("BertForSequenceClassification", "wordpiece", "[CLS]", "[SEP]", "[PAD]", "[UNK]", {"type_vocab_size": 2}),
    "distilbert": ("DistilBertForSequenceClassification", "wordpiece", "[CLS]", "[SEP]", "[PAD]", "[UNK]", {}),
    "roberta": ("RobertaForSequenceClassification", "bpe", "<s>", "</s>", "<pad>", "<unk>", {"type_vocab_size": 1}),
    "xlm-roberta": ("XLMRobertaForSequenceClassification", "unigram", "<s>", "</s>", "<pad>", "<unk>",
                    {"type_vocab_size": 1}),
    "electra": ("ElectraForSequenceClassification", "wordpiece", "[CLS]", "[SEP]", "[PAD]", "[UNK]",
                {"embedding_size": 16, "type_vocab_size": 2}),
    "mpnet": ("MPNetForSequenceClassification", "wordpiece", "<s>", "</s>", "<pad>", "[UNK]", {}),
    "deberta-v2": ("DebertaV2ForSequenceClassification", "unigram", "[CLS]", "[SEP]", "[PAD]", "[UNK]",
                   {"type_vocab_size": 0}),
}


def train_tokenizer(family: str, cls: str, sep: str, pad: str, unk: str, vocab_size: int = 300):
    """A fast tokenizer trained on CORPUS whose single-sentence template is `cls $A sep`; pad is id 0 or 1
    the way the architecture has it (RoBERTa family: <s> 0, <pad> 1)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    roberta_order = cls == "<s>"
    specials = [cls, pad, sep, unk, "<mask>"] if roberta_order else [pad, unk, cls, sep, "[MASK]"]
    if family == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token=unk))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials)
        tok.decoder = decoders.WordPiece()
    elif family == "bpe":
        tok = Tokenizer(models.BPE(unk_token=unk))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    else:
        tok = Tokenizer(models.Unigram())
        tok.normalizer = normalizers.Lowercase()
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials, unk_token=unk)
    tok.train_from_iterator(CORPUS, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}", pair=f"{cls} $A {sep} $B {sep}",
        special_tokens=[(cls, tok.token_to_id(cls)), (sep, tok.token_to_id(sep))])
    return tok


def build_classifier(folder: Path, model_type: str, labels=("NEGATIVE", "POSITIVE"), seed: int = 0,
                     max_positions: int = 128) -> Path:
    """A tiny random `model_type` sequence classifier saved with save_pretrained (safetensors) in `folder`."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, PreTrainedTokenizerFast

    arch, family, cls, sep, pad, unk, extra = ARCHITECTURES[model_type]
    tok = train_tokenizer(family, cls, sep, pad, unk)
    mask = "<mask>" if cls == "<s>" else "[MASK]"
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, cls_token=cls, sep_token=sep, pad_token=pad, unk_token=unk,
                                   mask_token=mask, bos_token=cls, eos_token=sep, model_max_length=max_positions)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(folder))
    pad_id = tok.token_to_id(pad)
    positions = max_positions + (pad_id + 1 if model_type in ("roberta", "xlm-roberta", "mpnet") else 0)
    size = {"dim": 32, "n_layers": 2, "n_heads": 4, "hidden_dim": 64} if model_type == "distilbert" else \
        {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64}
    cfg = AutoConfig.for_model(
        model_type, vocab_size=tok.get_vocab_size(), max_position_embeddings=positions, pad_token_id=pad_id,
        bos_token_id=tok.token_to_id(cls), eos_token_id=tok.token_to_id(sep),
        id2label=dict(enumerate(labels)), label2id={v: i for i, v in enumerate(labels)},
        architectures=[arch], **size, **extra)
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(cfg).eval()
    with torch.no_grad():  # a random tiny model barely looks at its input: sharpen it so texts differ
        for name, p in model.named_parameters():
            if "LayerNorm" not in name and "layer_norm" not in name and p.dim() > 1:
                p.mul_(4.0)
    model.save_pretrained(str(folder))
    readme = "---\nlicense: apache-2.0\nlanguage: en\n---\n# tiny test classifier\n"
    (folder / "README.md").write_text(readme, encoding="utf-8")
    return folder


def set_config(folder: Path, **changes) -> Path:
    path = Path(folder) / "config.json"
    cfg = json.loads(path.read_text())
    cfg.update(changes)
    path.write_text(json.dumps(cfg))
    return folder


PARALLEL = [
    ("A man is riding a bicycle.", "Ein Mann fährt Fahrrad."),
    ("Two dogs play in the snow near a tree.", "Zwei Hunde spielen im Schnee neben einem Baum."),
    ("The meeting starts at ten o'clock tomorrow.", "Die Besprechung beginnt morgen um zehn Uhr."),
    ("Click Save to keep your changes.", "Klicken Sie auf Speichern, um Ihre Änderungen zu behalten."),
    ("The children are reading books in the garden.", "Die Kinder lesen Bücher im Garten."),
    ("A woman sells fresh bread at the market.", "Eine Frau verkauft frisches Brot auf dem Markt."),
] * 6


def build_marian(folder: Path, source_lang: str = "en", target_lang: str = "de", seed: int = 0,
                 name_languages: bool = True) -> Path:
    """A tiny random MarianMTModel with OPUS-MT's files (source.spm, target.spm, vocab.json: </s> 0, <unk> 1,
    <pad> last) saved with save_pretrained; the language pair in tokenizer_config.json when `name_languages`."""
    import io

    import sentencepiece as spm
    import torch
    from transformers import MarianConfig, MarianMTModel

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pieces: dict[str, int] = {"</s>": 0, "<unk>": 1}
    for side, name in ((0, "source.spm"), (1, "target.spm")):
        buf = io.BytesIO()
        spm.SentencePieceTrainer.train(sentence_iterator=iter([p[side] for p in PARALLEL]), model_writer=buf,
                                       vocab_size=60, model_type="unigram", character_coverage=1.0,
                                       unk_id=1, eos_id=0, bos_id=-1, pad_id=-1, hard_vocab_limit=False)
        (folder / name).write_bytes(buf.getvalue())
        sp = spm.SentencePieceProcessor(model_proto=buf.getvalue())
        for i in range(sp.get_piece_size()):
            pieces.setdefault(sp.id_to_piece(i), len(pieces))
    pieces["<pad>"] = len(pieces)
    (folder / "vocab.json").write_text(json.dumps(pieces, ensure_ascii=False), encoding="utf-8")
    tc = {"tokenizer_class": "MarianTokenizer", "model_max_length": 512, "separate_vocabs": False}
    if name_languages:
        tc |= {"source_lang": source_lang, "target_lang": target_lang}
    (folder / "tokenizer_config.json").write_text(json.dumps(tc), encoding="utf-8")
    pad = len(pieces) - 1
    cfg = MarianConfig(vocab_size=len(pieces), d_model=32, encoder_layers=2, decoder_layers=2,
                       encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64,
                       max_position_embeddings=128, pad_token_id=pad, eos_token_id=0, decoder_start_token_id=pad,
                       forced_eos_token_id=0, architectures=["MarianMTModel"])
    torch.manual_seed(seed)
    model = MarianMTModel(cfg).eval()
    with torch.no_grad():  # a random model barely looks at its input; sharpen it so sources differ
        model.final_logits_bias.normal_(0, 0.5)
        for p in model.model.encoder.parameters():
            p.mul_(3.0)
    model.save_pretrained(str(folder))
    (folder / "README.md").write_text("---\nlicense: cc-by-4.0\n---\n# tiny Marian\n", encoding="utf-8")
    return folder


SUMMARY_TEXTS = [
    "The city council met on Tuesday to discuss the new budget. Members agreed to spend more on parks and schools. "
    "The vote is planned for next month.",
    "A storm hit the coast overnight. Thousands of homes lost power, and several roads were closed by fallen trees. "
    "Crews expect to restore electricity by Friday.",
    "The company reported higher sales in the third quarter. Its new phone sold well in Europe and Asia. "
    "Shares rose five percent after the announcement.",
    "Researchers found that walking every day improves sleep. The study followed two thousand adults for a year. "
    "Those who walked slept longer and woke less often.",
] * 3

# model_type -> (architecture, tokenizer family, special tokens in id order, template, config extras)
SEQ2SEQ = {
    "bart": ("BartForConditionalGeneration", "bpe", ["<s>", "<pad>", "</s>", "<unk>", "<mask>"], "<s> $A </s>"),
    "pegasus": ("PegasusForConditionalGeneration", "unigram", ["<pad>", "</s>", "<unk>", "<mask_1>"], "$A </s>"),
    "t5": ("T5ForConditionalGeneration", "unigram", ["<pad>", "</s>", "<unk>"], "$A </s>"),
}


def train_seq2seq_tokenizer(family: str, specials: list[str], template: str, vocab_size: int = 200):
    """A fast tokenizer trained on SUMMARY_TEXTS with the architecture's special tokens first, in its id order."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    if family == "bpe":
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    else:
        tok = Tokenizer(models.Unigram())
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials, unk_token="<unk>")
    tok.train_from_iterator(SUMMARY_TEXTS + CORPUS, trainer)
    used = [t for t in ("<s>", "</s>") if t in template.split()]
    tok.post_processor = processors.TemplateProcessing(single=template, special_tokens=[(t, tok.token_to_id(t))
                                                                                        for t in used])
    return tok


def build_summarizer(folder: Path, model_type: str = "bart", seed: int = 0, layers: int = 2, d_model: int = 32,
                     vocab_size: int = 0, generation: dict | None = None, pad_logit: float = 0.0, **config) -> Path:
    """A tiny random BART / PEGASUS / T5 `*ForConditionalGeneration` checkpoint (d_model 32) with a tokenizer
    trained here, saved with save_pretrained; BART forces <s> first as bart-large-cnn does. `d_model`, `layers`
    and `vocab_size` (more ids than the tokenizer has: only for timing) give a bigger one for benchmarks;
    `generation` overrides its generation settings, `config` its config (feed_forward_proj="gated-gelu": flan-t5);
    `pad_logit` raises <pad>'s output bias (BART, PEGASUS), so the never-generated pad takes a real share of the
    probability, as it can in a real checkpoint."""
    import torch
    import transformers
    from transformers import AutoConfig, PreTrainedTokenizerFast

    arch, family, specials, template = SEQ2SEQ[model_type]
    tok = train_seq2seq_tokenizer(family, specials, template)
    ids = {t: tok.token_to_id(t) for t in specials}
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   **({"bos_token": "<s>", "mask_token": "<mask>"} if model_type == "bart" else {}),
                                   model_max_length=128)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(folder))
    vocab = max(vocab_size, tok.get_vocab_size())
    ffn, heads = 2 * d_model if d_model == 32 else 4 * d_model, 4 if d_model <= 256 else d_model // 64
    common = dict(vocab_size=vocab, pad_token_id=ids["<pad>"], eos_token_id=ids["</s>"], architectures=[arch])
    common |= config
    if model_type == "t5":
        cfg = AutoConfig.for_model("t5", d_model=d_model, d_kv=d_model // heads, d_ff=ffn, num_layers=layers,
                                   num_decoder_layers=layers, num_heads=heads, relative_attention_num_buckets=8, relative_attention_max_distance=20,
                                   decoder_start_token_id=ids["<pad>"], **{"feed_forward_proj": "relu", **common})
    else:
        extra = {"bos_token_id": ids["<s>"], "decoder_start_token_id": ids["</s>"]} \
            if model_type == "bart" else {"decoder_start_token_id": ids["<pad>"]}
        cfg = AutoConfig.for_model(model_type, d_model=d_model, encoder_layers=layers, decoder_layers=layers,
                                   encoder_attention_heads=heads, decoder_attention_heads=heads, encoder_ffn_dim=ffn,
                                   decoder_ffn_dim=ffn, max_position_embeddings=128, **extra, **common)
    torch.manual_seed(seed)
    model = getattr(transformers, arch)(cfg).eval()
    with torch.no_grad():  # a random model barely looks at its input; sharpen it so sources differ
        if hasattr(model, "final_logits_bias"):
            model.final_logits_bias.normal_(0, 0.5)
            model.final_logits_bias[0, ids["<pad>"]] += pad_logit
        for p in model.get_encoder().parameters():
            if p.dim() > 1:
                p.mul_(3.0)
        for name, p in model.named_parameters():  # and let the decoder hear the encoder (cross-attention values)
            if any(k in name for k in ("encoder_attn.v_proj", "encoder_attn.out_proj", "EncDecAttention.v",
                                       "EncDecAttention.o")):
                p.mul_(4.0)
    model.save_pretrained(str(folder))
    gen = json.loads((folder / "generation_config.json").read_text())
    if model_type == "bart":  # bart-large-cnn's settings (transformers 5 keeps them out of the model config)
        gen |= {"forced_bos_token_id": ids["<s>"], "num_beams": 4, "length_penalty": 2.0, "min_length": 12,
                "max_length": 60, "no_repeat_ngram_size": 3, "early_stopping": True}
    (folder / "generation_config.json").write_text(json.dumps(gen | (generation or {})))
    if model_type == "t5":  # t5-small's: the task's prefix and settings in the model config
        cfg_path = folder / "config.json"
        cfg = json.loads(cfg_path.read_text())
        cfg["task_specific_params"] = {"summarization": {
            "prefix": "summarize: ", "num_beams": 4, "length_penalty": 2.0, "max_length": 200, "min_length": 30,
            "no_repeat_ngram_size": 3, "early_stopping": True}}
        cfg_path.write_text(json.dumps(cfg))
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# tiny summarizer\n", encoding="utf-8")
    return folder


def build_encoder(folder: Path, model_type: str = "bert", seed: int = 0) -> Path:
    """A tiny random plain encoder (`BertModel`, `AlbertModel`, ...: no classification head) saved with
    save_pretrained, with its tokenizer: what `models add --task base` turns into a fine-tuning base."""
    import json as _json

    build_classifier(folder, model_type, seed=seed)
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(folder))  # the classifier's encoder, without its head
    model.config.architectures = [type(model).__name__]
    model.save_pretrained(str(folder))
    cfg = _json.loads((Path(folder) / "config.json").read_text())
    for k in ("id2label", "label2id"):
        cfg.pop(k, None)
    (Path(folder) / "config.json").write_text(_json.dumps(cfg))
    return Path(folder)
