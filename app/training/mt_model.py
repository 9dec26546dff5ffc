"""An ALBERT-style encoder-decoder for translation, and its ONNX export wrappers.

Encoder: ALBERT's two ideas, factorized embeddings (V x E table, E -> d projection) and one
transformer layer whose weights are shared across all `enc_repeats` applications. Decoder:
`dec_layers` ordinary (unshared) pre-norm layers with cross-attention; its input embeddings and
its output projection reuse the same factorized table (tied embeddings), so the vocabulary costs
V x E parameters once. Positions are sinusoidal, so there is nothing to learn and no length limit
baked into a table.

Export follows Hugging Face Optimum's seq2seq layout so the core sees the same graphs for this
model and for a Marian model exported by Optimum:
    encoder_model.onnx            input_ids, attention_mask -> last_hidden_state
    decoder_model.onnx            input_ids, encoder_attention_mask, encoder_hidden_states
                                  -> logits, present.{i}.decoder.key/value, present.{i}.encoder.key/value
    decoder_with_past_model.onnx  input_ids (last token), encoder_attention_mask,
                                  past_key_values.{i}.decoder.key/value, past_key_values.{i}.encoder.key/value
                                  -> logits, present.{i}.decoder.key/value
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class MTConfig:
    vocab_size: int = 8000
    embedding_size: int = 128  # E, ALBERT's factorized embedding width
    d_model: int = 256
    heads: int = 4
    ffn: int = 1024
    enc_repeats: int = 6  # applications of the one shared encoder layer
    dec_layers: int = 3
    dropout: float = 0.1
    pad_id: int = 0
    max_positions: int = 1024

    def to_dict(self) -> dict:
        return asdict(self)


def sinusoids(n: int, d: int) -> torch.Tensor:
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    pe = torch.zeros(n, d)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


class Attention(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.h, self.dh = heads, d // heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.dropout = dropout

    def split(self, x: torch.Tensor) -> torch.Tensor:  # (B,T,d) -> (B,H,T,dh)
        b = x.shape[0]
        return x.view(b, -1, self.h, self.dh).transpose(1, 2)

    def attend(self, q, k, v, mask_add):
        """q,k,v (B,H,*,dh); mask_add is an additive float mask broadcastable to (B,H,T,S)."""
        if self.training:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask_add, dropout_p=self.dropout)
        else:  # plain ops: what the ONNX graph will contain
            scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.dh)) + mask_add
            out = torch.matmul(torch.softmax(scores, dim=-1), v)
        b = out.shape[0]
        return self.o(out.transpose(1, 2).reshape(b, -1, self.h * self.dh))


class EncoderLayer(nn.Module):
    def __init__(self, c: MTConfig):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(c.d_model), nn.LayerNorm(c.d_model)
        self.att = Attention(c.d_model, c.heads, c.dropout)
        self.ff = nn.Sequential(nn.Linear(c.d_model, c.ffn), nn.GELU(), nn.Dropout(c.dropout), nn.Linear(c.ffn, c.d_model))
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x, mask_add):
        h = self.ln1(x)
        a = self.att
        x = x + self.drop(a.attend(a.split(a.q(h)), a.split(a.k(h)), a.split(a.v(h)), mask_add))
        return x + self.drop(self.ff(self.ln2(x)))


class DecoderLayer(nn.Module):
    def __init__(self, c: MTConfig):
        super().__init__()
        self.ln1, self.ln2, self.ln3 = (nn.LayerNorm(c.d_model) for _ in range(3))
        self.self_att = Attention(c.d_model, c.heads, c.dropout)
        self.cross_att = Attention(c.d_model, c.heads, c.dropout)
        self.ff = nn.Sequential(nn.Linear(c.d_model, c.ffn), nn.GELU(), nn.Dropout(c.dropout), nn.Linear(c.ffn, c.d_model))
        self.drop = nn.Dropout(c.dropout)

    def cross_kv(self, memory):
        a = self.cross_att
        return a.split(a.k(memory)), a.split(a.v(memory))

    def forward(self, x, self_mask_add, mem_k, mem_v, mem_mask_add, past_k=None, past_v=None):
        """Returns (x, k, v) where k, v are this layer's full self-attention keys/values (the new cache)."""
        a = self.self_att
        h = self.ln1(x)
        k, v = a.split(a.k(h)), a.split(a.v(h))
        if past_k is not None:
            k, v = torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2)
        x = x + self.drop(a.attend(a.split(a.q(h)), k, v, self_mask_add))
        c = self.cross_att
        x = x + self.drop(c.attend(c.split(c.q(self.ln2(x))), mem_k, mem_v, mem_mask_add))
        return x + self.drop(self.ff(self.ln3(x))), k, v


def padding_mask_add(mask: torch.Tensor) -> torch.Tensor:
    """(B,S) 1/0 attention mask -> additive (B,1,1,S) float mask."""
    return (1.0 - mask[:, None, None, :].to(torch.float32)) * -1e9


class AlbertMT(nn.Module):
    def __init__(self, c: MTConfig):
        super().__init__()
        self.config = c
        self.embed = nn.Embedding(c.vocab_size, c.embedding_size, padding_idx=c.pad_id)
        self.proj = nn.Linear(c.embedding_size, c.d_model, bias=False)
        self.register_buffer("pe", sinusoids(c.max_positions, c.d_model), persistent=False)
        self.enc_layer = EncoderLayer(c)  # one layer, applied enc_repeats times
        self.enc_ln = nn.LayerNorm(c.d_model)
        self.dec = nn.ModuleList(DecoderLayer(c) for _ in range(c.dec_layers))
        self.dec_ln = nn.LayerNorm(c.d_model)
        self.out_bias = nn.Parameter(torch.zeros(c.vocab_size))
        self.drop = nn.Dropout(c.dropout)
        nn.init.normal_(self.embed.weight, std=c.embedding_size ** -0.5)
        with torch.no_grad():
            self.embed.weight[c.pad_id].zero_()

    def embed_tokens(self, ids, positions):
        x = self.proj(self.embed(ids)) * math.sqrt(self.config.d_model)
        return self.drop(x + F.embedding(positions, self.pe))

    def logits(self, h):
        # tied, factorized output layer: d -> E with proj^T, then E -> V with the embedding table.
        # A 2-D F.linear exports as Gemm(transB=1) over the same initializer the embedding Gather
        # reads, so the V x E table is stored once per graph, not once more transposed.
        e = torch.matmul(self.dec_ln(h), self.proj.weight)
        b = e.shape[0]
        return F.linear(e.reshape(-1, e.shape[-1]), self.embed.weight, self.out_bias).view(b, -1, self.config.vocab_size)

    def encode(self, ids, mask):
        positions = torch.cumsum(torch.ones_like(ids), dim=1) - 1
        x = self.embed_tokens(ids, positions)
        m = padding_mask_add(mask)
        for _ in range(self.config.enc_repeats):
            x = self.enc_layer(x, m)
        return self.enc_ln(x)

    def decode(self, tgt_in, memory, src_mask):
        """Teacher-forced decoder over a whole prefix: logits (B,T,V)."""
        t = tgt_in.shape[1]
        positions = torch.cumsum(torch.ones_like(tgt_in), dim=1) - 1
        x = self.embed_tokens(tgt_in, positions)
        causal = torch.triu(torch.full((t, t), -1e9, device=tgt_in.device), diagonal=1)[None, None]
        mm = padding_mask_add(src_mask)
        for layer in self.dec:
            mk, mv = layer.cross_kv(memory)
            x, _, _ = layer(x, causal, mk, mv, mm)
        return self.logits(x)

    def forward(self, src, src_mask, tgt_in):
        return self.decode(tgt_in, self.encode(src, src_mask), src_mask)


# ---- ONNX export wrappers (Optimum seq2seq layout) -------------------------------------------

class EncoderExport(nn.Module):
    def __init__(self, m: AlbertMT):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask):
        return self.m.encode(input_ids, attention_mask)


class DecoderExport(nn.Module):
    """First step (or a full uncached re-run): whole prefix in, logits and a fresh cache out."""

    def __init__(self, m: AlbertMT):
        super().__init__()
        self.m = m

    def forward(self, input_ids, encoder_attention_mask, encoder_hidden_states):
        m = self.m
        t_ones = torch.ones_like(input_ids)
        positions = torch.cumsum(t_ones, dim=1) - 1
        x = m.embed_tokens(input_ids, positions)
        # causal mask built from tensors only, so the sequence length stays dynamic in the graph
        pos = positions[0]
        causal = (pos[None, :] > pos[:, None]).to(torch.float32)[None, None] * -1e9
        mm = padding_mask_add(encoder_attention_mask)
        outs = []
        for layer in m.dec:
            mk, mv = layer.cross_kv(encoder_hidden_states)
            x, k, v = layer(x, causal, mk, mv, mm)
            outs += [k, v, mk, mv]
        return (m.logits(x), *outs)


class DecoderWithPastExport(nn.Module):
    """One new token per call; self-attention keys/values grow, cross-attention ones are reused."""

    def __init__(self, m: AlbertMT):
        super().__init__()
        self.m = m

    def forward(self, input_ids, encoder_attention_mask, *past):
        m = self.m
        past_len = torch.ones_like(past[0][:, 0, :, 0], dtype=torch.int64).sum(dim=1, keepdim=True)  # (B,1)
        positions = past_len + torch.cumsum(torch.ones_like(input_ids), dim=1) - 1
        x = m.embed_tokens(input_ids, positions)
        mm = padding_mask_add(encoder_attention_mask)
        no_mask = torch.zeros_like(mm[:, :, :, :1])  # one query attends to every past key
        outs = []
        for i, layer in enumerate(m.dec):
            pk, pv, mk, mv = past[4 * i: 4 * i + 4]
            x, k, v = layer(x, no_mask, mk, mv, mm, pk, pv)
            outs += [k, v]
        return (m.logits(x), *outs)


def cache_names(n_layers: int) -> tuple[list[str], list[str], list[str]]:
    """(past input names, present names from decoder_model, present names from decoder_with_past)."""
    past, first, step = [], [], []
    for i in range(n_layers):
        for kind in ("decoder", "encoder"):
            for kv in ("key", "value"):
                past.append(f"past_key_values.{i}.{kind}.{kv}")
                first.append(f"present.{i}.{kind}.{kv}")
                if kind == "decoder":
                    step.append(f"present.{i}.{kind}.{kv}")
    return past, first, step


class DecoderStepExport(nn.Module):
    """`decoder_with_past` written for inference: exactly one new token per call.

    Same inputs, outputs and numbers as DecoderWithPastExport, but the graph is what a step should
    cost: with T=1 known, every reshape has a constant target (no Shape/Gather/Concat arithmetic),
    activations stay 2-D so ONNX Runtime fuses each MatMul+Add into one Gemm, each self-attention's
    Q/K/V projections are one matmul, and the 1/sqrt(d_head) and sqrt(d_model) scales are folded into
    the weights. Half the operators of the traced training code; measured end to end it is 1.07-1.16x
    faster (bench/bench_decoder_step.py): at batch 1 a step mostly reads the weights, which both pay.
    """

    def __init__(self, m: AlbertMT):
        super().__init__()
        self.m = m
        c = m.config
        self.h, self.dh, self.d, self.v = c.heads, c.d_model // c.heads, c.d_model, c.vocab_size
        s = 1.0 / math.sqrt(self.dh)
        with torch.no_grad():
            self.register_buffer("emb_in", (m.proj.weight.t() * math.sqrt(c.d_model)).contiguous())
            for i, layer in enumerate(m.dec):
                a, x = layer.self_att, layer.cross_att
                w = torch.cat([a.q.weight * s, a.k.weight, a.v.weight], 0)
                b = torch.cat([a.q.bias * s, a.k.bias, a.v.bias], 0)
                self.register_buffer(f"qkv_w{i}", w.t().contiguous())
                self.register_buffer(f"qkv_b{i}", b.contiguous())
                self.register_buffer(f"cq_w{i}", (x.q.weight * s).t().contiguous())
                self.register_buffer(f"cq_b{i}", (x.q.bias * s).contiguous())

    @staticmethod
    def _lin(x, lin: nn.Linear):
        # matmul + add (not F.linear, which exports a Gemm that dynamic int8 quantization skips)
        return torch.matmul(x, lin.weight.t()) + lin.bias

    def forward(self, input_ids, encoder_attention_mask, *past):
        m, h, dh, d = self.m, self.h, self.dh, self.d
        pos = past[0].shape[2]  # same for every row: the batch decodes in lockstep
        x = torch.matmul(m.embed(input_ids.reshape(-1)), self.emb_in) + m.pe[pos]  # (B, d)
        mm = padding_mask_add(encoder_attention_mask)  # (B,1,1,S)
        outs = []
        for i, layer in enumerate(m.dec):
            pk, pv, mk, mv = past[4 * i: 4 * i + 4]
            qkv = torch.matmul(layer.ln1(x), getattr(self, f"qkv_w{i}")) + getattr(self, f"qkv_b{i}")
            q, k, v = qkv.reshape(-1, 3 * h, 1, dh).split(h, dim=1)
            k, v = torch.cat([pk, k], dim=2), torch.cat([pv, v], dim=2)
            att = torch.matmul(torch.softmax(torch.matmul(q, k.transpose(-1, -2)), dim=-1), v)
            x = x + self._lin(att.reshape(-1, d), layer.self_att.o)  # (B,H,1,dh) is laid out as (B,d)
            cq = torch.matmul(layer.ln2(x), getattr(self, f"cq_w{i}")) + getattr(self, f"cq_b{i}")
            sc = torch.matmul(cq.reshape(-1, h, 1, dh), mk.transpose(-1, -2)) + mm
            att = torch.matmul(torch.softmax(sc, dim=-1), mv)
            x = x + self._lin(att.reshape(-1, d), layer.cross_att.o)
            ff1, ff2 = layer.ff[0], layer.ff[3]
            x = x + self._lin(F.gelu(self._lin(layer.ln3(x), ff1)), ff2)
            outs += [k, v]
        e = torch.matmul(m.dec_ln(x), m.proj.weight)
        return (F.linear(e, m.embed.weight, m.out_bias).reshape(-1, 1, self.v), *outs)


# ---- the shipped en -> fr/de translator: where its recipe (app.training.translation) keeps its run and
# writes its model, shared with the export (app.training.translation_export) so neither imports the other

from pathlib import Path  # noqa: E402

from app.training.common import MODELS_DIR, RUNS_DIR  # noqa: E402

MODEL_ID = "albert-mt-en-fr-de"
RUN = RUNS_DIR / "translation"  # checkpoints, the SentencePiece model, logs, metrics
MODEL_DIR = MODELS_DIR / MODEL_ID
TARGETS = ("fr", "de")
SPECIALS = ["<2fr>", "<2de>", "<2en>"]  # target-language tags, then the source tag
PAD, UNK, BOS, EOS = 0, 1, 2, 3


def build_model(cfg_dict: dict | None = None) -> AlbertMT:
    """An AlbertMT from a checkpoint's config dict (MTConfig's defaults for what it leaves out)."""
    return AlbertMT(MTConfig(**(cfg_dict or {})))


def checkpoint_files(run: Path = RUN) -> list[Path]:
    """The run's snapshots (snap_<step>.pt), oldest first."""
    return sorted(run.glob("snap_*.pt"), key=lambda p: int(p.stem.split("_")[1]))
