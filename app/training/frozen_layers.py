"""Fine-tune only an encoder's top layers, and compute the frozen layers below once per example.

A 101M-parameter base (the accurate base, app.training.accurate_base) costs two cores seconds per training
step when every step runs all twelve layers. With the embeddings and the lower layers frozen their output for
a given example never changes, so `TopLayersOnly` runs them once per distinct sequence (no dropout, no
gradient), keeps the states, and every later step runs only the top layers on them. The wrapped encoder is
called like the encoder it wraps and shares its modules: training updates the encoder's own top layers, and
`unwrap` gives back the plain encoder for export and saving.

Encoders with a list of layers (`encoder.layer`: MPNet, BERT, RoBERTa, ...) can be split; ALBERT's shared
layer groups cannot (and the shipped ALBERT encoder is small enough to train whole).
"""
from __future__ import annotations


def splittable(encoder) -> int:
    """How many layers the encoder has in a list that can be split (0: it cannot be)."""
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    return len(layers) if layers is not None and hasattr(encoder, "embeddings") else 0


def top_layers_model(encoder, first: int):
    """The encoder from layer `first` up, as a model whose input embeddings are the cached layer-`first` states
    (the attention mask and MPNet's relative position bias are computed as the full model computes them)."""
    import copy

    import torch

    class Passthrough(torch.nn.Module):
        def forward(self, input_ids=None, position_ids=None, inputs_embeds=None, **kw):
            return inputs_embeds

    top = copy.copy(encoder)
    top._modules = dict(encoder._modules)  # a shallow copy shares the module dict: give the copy its own
    top.embeddings = Passthrough()
    inner = copy.copy(encoder.encoder)
    inner._modules = dict(encoder.encoder._modules)
    inner.layer = torch.nn.ModuleList(list(encoder.encoder.layer)[first:])
    top.encoder = inner
    return top


def wrapper_class():
    import torch

    class TopLayersOnly(torch.nn.Module):
        """`encoder` with everything below its top `train_top` layers frozen and computed once per sequence.
        `cache` may be shared between wrappers of copies of the same base (the refit reuses the states)."""

        def __init__(self, encoder, train_top: int, cache: dict | None = None):
            super().__init__()
            n = splittable(encoder)
            if not 0 < train_top < n:
                raise ValueError(f"cannot train the top {train_top} of {n} layers")
            self.first = n - train_top
            self.inner = encoder
            self.top = top_layers_model(encoder, self.first)
            self.cache = {} if cache is None else cache
            for p in encoder.embeddings.parameters():
                p.requires_grad_(False)
            for layer in list(encoder.encoder.layer)[:self.first]:
                for p in layer.parameters():
                    p.requires_grad_(False)

        @property
        def config(self):
            return self.inner.config

        @property
        def embeddings(self):
            return self.inner.embeddings

        def lower_states(self, input_ids, attention_mask):
            """Layer `first`'s states for each row, from the cache or computed now for the rows it lacks."""
            rows = [tuple(r[: int(m.sum())].tolist()) for r, m in zip(input_ids, attention_mask)]
            todo = sorted({r for r in rows if r not in self.cache}, key=len)
            if todo:
                was = self.inner.training
                self.inner.eval()
                with torch.no_grad():
                    for k in range(0, len(todo), 32):
                        chunk = todo[k:k + 32]
                        width = max(len(r) for r in chunk)
                        pad = getattr(self.inner.config, "pad_token_id", 0) or 0
                        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
                        mask = torch.zeros(len(chunk), width, dtype=torch.long)
                        for i, r in enumerate(chunk):
                            ids[i, : len(r)] = torch.tensor(r)
                            mask[i, : len(r)] = 1
                        h = self.inner(input_ids=ids, attention_mask=mask,
                                       output_hidden_states=True).hidden_states[self.first]
                        for i, r in enumerate(chunk):
                            self.cache[r] = h[i, : len(r)].to(torch.float16).clone()
                self.inner.train(was)
            width = input_ids.shape[1]
            out = torch.zeros(len(rows), width, self.config.hidden_size)
            for i, r in enumerate(rows):
                out[i, : len(r)] = self.cache[r].float()
            return out

        def forward(self, input_ids, attention_mask, token_type_ids=None, **kw):
            h = self.lower_states(input_ids, attention_mask)
            return self.top(inputs_embeds=h, attention_mask=attention_mask)

    return TopLayersOnly


def wrap(model, train_top: int, cache: dict | None = None) -> dict:
    """Put the wrapper in place of `model.albert` (a fine-tune classifier's encoder); returns its cache."""
    w = wrapper_class()(model.albert, train_top, cache)
    model.albert = w
    model.takes_types = False
    return w.cache


def unwrap(model) -> None:
    """The plain encoder back in place (its top layers trained), for export and saving."""
    import inspect

    inner = getattr(model.albert, "inner", None)
    if inner is not None:
        model.albert = inner
        model.takes_types = "token_type_ids" in inspect.signature(inner.forward).parameters
