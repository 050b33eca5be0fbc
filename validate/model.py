"""A small readable GPT (nanoGPT-style) with Pythia-like options: parallel attention+MLP, rotary embeddings on a
fraction of each head, tied or untied embeddings. torch is imported lazily via :func:`build_model`."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from phasemix._checks import check_int, check_unit_interval


@dataclass(frozen=True, slots=True)
class GPTConfig:
    """Architecture of the GPT."""

    vocab_size: int
    context: int = 60
    d_model: int = 32
    n_layers: int = 2
    n_heads: int = 2
    mlp_ratio: int = 4
    tie_embeddings: bool = True
    parallel_residual: bool = False
    rotary_pct: float = 0.0

    def __post_init__(self) -> None:
        for k in ("vocab_size", "context", "d_model", "n_layers", "n_heads", "mlp_ratio"):
            check_int(k, getattr(self, k), minimum=1)
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model must be divisible by n_heads ({self.n_heads}), got {self.d_model}")
        check_unit_interval("rotary_pct", self.rotary_pct)
        if self.rotary_pct > 0 and int(self.d_model // self.n_heads * self.rotary_pct) % 2:
            raise ValueError(f"rotary_pct must give an even number of rotary dims per head, got {self.rotary_pct}")

    def to_dict(self) -> dict:
        return asdict(self)


def parameter_counts(config: GPTConfig, bio_ids: int) -> dict[str, int]:
    """Parameter counts by role: total, non-embedding, fact-capable (Eq. (124) in docs/theory.md).

    ``fact_capable`` = non-embedding + the ``bio_ids`` token-embedding rows + position embeddings: the parameters
    that can hold a bio's facts (web BPE rows cannot).
    """
    d, L, f = config.d_model, config.n_layers, config.mlp_ratio
    block = 2 * 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * f * d + f * d) + (f * d * d + d)
    non_emb = L * block + 2 * d
    pos = 0 if config.rotary_pct > 0 else config.context * d
    tok = config.vocab_size * d
    head = 0 if config.tie_embeddings else config.vocab_size * d
    return {"total": tok + pos + non_emb + head, "non_embedding": non_emb,
            "fact_capable": non_emb + pos + bio_ids * d + (bio_ids * d if head else 0)}


def build_model(config: GPTConfig):
    """Return a ``torch.nn.Module`` GPT for ``config``."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Rotary(nn.Module):
        def __init__(self, dims: int, context: int):
            super().__init__()
            inv = 1.0 / (10000 ** (torch.arange(0, dims, 2).float() / dims))
            t = torch.arange(context).float()
            freqs = torch.outer(t, inv)
            self.register_buffer("cos", freqs.cos(), persistent=False)
            self.register_buffer("sin", freqs.sin(), persistent=False)
            self.dims = dims

        def forward(self, x):  # x: (B, H, T, hd)
            t = x.shape[2]
            r, rest = x[..., :self.dims], x[..., self.dims:]
            x1, x2 = r[..., 0::2], r[..., 1::2]
            c, s = self.cos[:t], self.sin[:t]
            rot = torch.stack([x1 * c - x2 * s, x1 * s + x2 * c], dim=-1).flatten(-2)
            return torch.cat([rot, rest], dim=-1)

    class Block(nn.Module):
        def __init__(self, c: GPTConfig):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(c.d_model), nn.LayerNorm(c.d_model)
            self.qkv = nn.Linear(c.d_model, 3 * c.d_model)
            self.proj = nn.Linear(c.d_model, c.d_model)
            self.fc = nn.Linear(c.d_model, c.mlp_ratio * c.d_model)
            self.out = nn.Linear(c.mlp_ratio * c.d_model, c.d_model)
            self.h, self.parallel = c.n_heads, c.parallel_residual
            hd = c.d_model // c.n_heads
            self.rotary = Rotary(int(hd * c.rotary_pct), c.context) if c.rotary_pct > 0 else None

        def attn(self, x):
            b, t, d = x.shape
            q, k, v = self.qkv(x).view(b, t, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
            if self.rotary is not None:
                q, k = self.rotary(q), self.rotary(k)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.proj(y.transpose(1, 2).reshape(b, t, d))

        def mlp(self, x):
            return self.out(F.gelu(self.fc(x)))

        def forward(self, x):
            if self.parallel:
                return x + self.attn(self.ln1(x)) + self.mlp(self.ln2(x))
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))

    class GPT(nn.Module):
        def __init__(self, c: GPTConfig):
            super().__init__()
            self.config = c
            self.tok = nn.Embedding(c.vocab_size, c.d_model)
            self.pos = None if c.rotary_pct > 0 else nn.Embedding(c.context, c.d_model)
            self.blocks = nn.ModuleList(Block(c) for _ in range(c.n_layers))
            self.ln_f = nn.LayerNorm(c.d_model)
            self.head = None if c.tie_embeddings else nn.Linear(c.d_model, c.vocab_size, bias=False)
            self.apply(self._init)

        @staticmethod
        def _init(m):
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, std=0.02)

        def forward(self, idx):
            x = self.tok(idx)
            if self.pos is not None:
                x = x + self.pos(torch.arange(idx.shape[1], device=idx.device))
            for blk in self.blocks:
                x = blk(x)
            x = self.ln_f(x)
            return x @ self.tok.weight.T if self.head is None else self.head(x)

    return GPT(config)
