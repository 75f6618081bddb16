# Copyright (c) OpenMMLab. All rights reserved.
"""Serialized patch attention of PTv3.

The voxels of every sample, sorted along a space-filling curve, are cut into
patches of ``K`` consecutive voxels and attention runs inside each patch.
A sample with ``n > K`` voxels is padded to ``ceil(n / K) * K`` tokens by
repeating, in the free slots of its last patch, the tokens that sit ``K``
places earlier (in the previous patch), so every patch is full and no
attention mask is needed. A sample with ``n <= K`` voxels is one short
sequence. The same partition (``cu_seqlens``) is used by every backend:

* CUDA with ``flash_attn`` importable: ``flash_attn_varlen_qkvpacked_func``
  in bf16 over the padded tokens.
* Otherwise (CPU, or CUDA without flash-attn):
  :func:`torch.nn.functional.scaled_dot_product_attention`, with all full
  patches in one call and the short per-sample sequences in a second call
  (padded to the longest short sequence with a key mask).
"""
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .serialization import SerializedOrder

try:
    from flash_attn import flash_attn_varlen_qkvpacked_func
except ImportError:  # flash-attn is an optional CUDA-only dependency.
    flash_attn_varlen_qkvpacked_func = None

if TYPE_CHECKING:
    from .structure import PointLevel


@dataclass
class PatchIndex:
    """Gather/scatter indices of the patches of one serialization order.

    Attributes:
        full_source (Tensor): (P, K) int64 row of the level's features that
            fills each token of the P full patches.
        short_source (Tensor): (S, L) int64 rows of the S short sequences
            padded to the longest one, L (padding slots repeat a valid row).
        short_mask (Tensor): (S, L) bool, True for real (non-padding) tokens.
        point_to_output (Tensor): (N,) int64 row, in the concatenation of the
            flattened full-patch and short-sequence outputs, that holds each
            row's own (non-duplicate) result.
        padded_source (Tensor): (N_pad,) int64 row filling each token of the
            padded serialized sequence (the flash-attn layout).
        padded_inverse (Tensor): (N,) int64 token of the padded sequence
            holding each row's own result.
    """

    full_source: Tensor
    short_source: Tensor
    short_mask: Tensor
    point_to_output: Tensor
    padded_source: Tensor
    padded_inverse: Tensor


class PatchPartition:
    """Padding scheme and patch boundaries of a batch (order independent).

    Positions below are positions in the serialized order, where the voxels
    of each sample are contiguous because the sample index is the most
    significant part of every curve code.

    Args:
        offset (Tensor): (B,) int64 cumulative end row of every sample.
        patch_size (int): K, the number of tokens per patch.

    Attributes:
        pad (Tensor): (N_pad,) int64 serialized position of every padded
            token; slots past the end of a sample repeat position - K.
        unpad (Tensor): (N,) int64 padded token of every serialized position.
        cu_seqlens (Tensor): (num_seq + 1,) int32 cumulative sequence starts
            in the padded token list (full patches and short sequences).
        full_index (Tensor): (P, K) int64 serialized positions of the tokens
            of the full patches.
        short_index (Tensor): (S, L) int64 serialized positions of the short
            sequences (padding slots repeat the first token).
        short_mask (Tensor): (S, L) bool, True for real tokens.
        sorted_to_output (Tensor): (N,) int64 row of each serialized position
            in the concatenated (P * K + S * L) attention output.
    """

    def __init__(self, offset: Tensor, patch_size: int) -> None:
        if patch_size < 1:
            raise ValueError(f'patch_size must be >= 1, got {patch_size}')
        device = offset.device
        self.patch_size = patch_size
        counts = torch.diff(offset, prepend=offset.new_zeros(1))
        padded = torch.where(counts > patch_size, (counts + patch_size - 1) //
                             patch_size * patch_size, counts)
        starts = offset - counts
        padded_ends = torch.cumsum(padded, 0)
        padded_starts = padded_ends - padded
        num_samples = counts.shape[0]
        sample_ids = torch.arange(num_samples, device=device)
        total = int(offset[-1]) if num_samples else 0
        total_padded = int(padded_ends[-1]) if num_samples else 0

        token_sample = torch.repeat_interleave(
            sample_ids, padded, output_size=total_padded)
        local = (
            torch.arange(total_padded, device=device) -
            padded_starts[token_sample])
        local = torch.where(local >= counts[token_sample], local - patch_size,
                            local)
        self.pad = starts[token_sample] + local
        row_sample = torch.repeat_interleave(
            sample_ids, counts, output_size=total)
        self.unpad = (
            torch.arange(total, device=device) - starts[row_sample] +
            padded_starts[row_sample])

        # Sequences: ceil(n / K) full patches, or one short one of n tokens.
        num_seq = torch.where(counts > patch_size, padded // patch_size,
                              (counts > 0).long())
        seq_sample = torch.repeat_interleave(sample_ids, num_seq)
        seq_rank = torch.arange(
            seq_sample.shape[0],
            device=device) - (torch.cumsum(num_seq, 0) - num_seq)[seq_sample]
        seq_start = padded_starts[seq_sample] + seq_rank * patch_size
        seq_len = torch.clamp(counts[seq_sample], max=patch_size)
        self.cu_seqlens = F.pad(torch.cumsum(seq_len, 0), (1, 0)).int()
        self.max_seqlen = int(seq_len.max()) if seq_len.numel() else 0

        is_full = seq_len == patch_size
        arange_k = torch.arange(patch_size, device=device)
        full_tokens = seq_start[is_full, None] + arange_k
        short_start, short_len = seq_start[~is_full], seq_len[~is_full]
        short_width = int(short_len.max()) if short_len.numel() else 0
        arange_l = torch.arange(short_width, device=device)
        self.short_mask = arange_l < short_len[:, None]
        short_tokens = torch.where(self.short_mask,
                                   short_start[:, None] + arange_l,
                                   short_start[:, None])
        self.full_index = self.pad[full_tokens]
        self.short_index = self.pad[short_tokens]

        num_full_tokens = full_tokens.numel()
        token_to_output = torch.empty(
            total_padded, dtype=torch.long, device=device)
        token_to_output[full_tokens.reshape(-1)] = torch.arange(
            num_full_tokens, device=device)
        short_rows = torch.arange(
            short_tokens.numel(), device=device).view_as(short_tokens)
        token_to_output[short_tokens[self.short_mask]] = (
            num_full_tokens + short_rows[self.short_mask])
        self.sorted_to_output = token_to_output[self.unpad]

    def index(self, order: SerializedOrder) -> PatchIndex:
        """Compose the partition with one serialization order.

        Args:
            order (SerializedOrder): the serialization of the same batch.

        Returns:
            PatchIndex: gather/scatter indices in the level's row space.
        """
        return PatchIndex(
            full_source=order.order[self.full_index],
            short_source=order.order[self.short_index],
            short_mask=self.short_mask,
            point_to_output=self.sorted_to_output[order.inverse],
            padded_source=order.order[self.pad],
            padded_inverse=self.unpad[order.inverse])


def patch_attention_sdpa(qkv: Tensor,
                         index: PatchIndex,
                         num_heads: int,
                         dropout_p: float = 0.0) -> Tensor:
    """Patch attention through ``scaled_dot_product_attention``.

    Args:
        qkv (Tensor): (N, 3 * C) packed queries, keys and values per row.
        index (PatchIndex): patch gather/scatter indices.
        num_heads (int): H; C must be divisible by H.
        dropout_p (float): attention dropout probability.

    Returns:
        Tensor: (N, C) attention output for every row.
    """
    channels = qkv.shape[1] // 3
    head_dim = channels // num_heads
    outputs = []
    for source, mask in ((index.full_source, None), (index.short_source,
                                                     index.short_mask)):
        if source.numel() == 0:
            continue
        num_seq, length = source.shape
        q, k, v = qkv.index_select(0, source.reshape(-1)).view(
            num_seq, length, 3, num_heads, head_dim).permute(2, 0, 3, 1, 4)
        attn_mask = None if mask is None else mask[:, None, None, :]
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=dropout_p)
        outputs.append(out.transpose(1, 2).reshape(num_seq * length, channels))
    out = outputs[0] if len(outputs) == 1 else torch.cat(outputs)
    return out.index_select(0, index.point_to_output)


def patch_attention_flash(qkv: Tensor,
                          index: PatchIndex,
                          cu_seqlens: Tensor,
                          max_seqlen: int,
                          num_heads: int,
                          dropout_p: float = 0.0) -> Tensor:
    """Patch attention through flash-attn's varlen kernel (CUDA, bf16).

    Args:
        qkv (Tensor): (N, 3 * C) packed queries, keys and values per row.
        index (PatchIndex): patch gather/scatter indices.
        cu_seqlens (Tensor): (num_seq + 1,) int32 sequence starts.
        max_seqlen (int): longest sequence (K, or less for small batches).
        num_heads (int): H; C must be divisible by H.
        dropout_p (float): attention dropout probability.

    Returns:
        Tensor: (N, C) attention output in ``qkv``'s dtype.
    """
    channels = qkv.shape[1] // 3
    head_dim = channels // num_heads
    packed = qkv.index_select(0, index.padded_source).view(
        -1, 3, num_heads, head_dim)
    out = flash_attn_varlen_qkvpacked_func(
        packed.bfloat16(), cu_seqlens, max_seqlen, dropout_p=dropout_p)
    return out.reshape(-1, channels).index_select(0, index.padded_inverse).to(
        qkv.dtype)


class SerializedAttention(nn.Module):
    """Multi-head self-attention inside serialized patches.

    Args:
        channels (int): C, feature width; divisible by ``num_heads``.
        num_heads (int): H, attention heads.
        patch_size (int): K, tokens per patch. Default: 1024.
        qkv_bias (bool): bias of the packed qkv projection. Default: True.
        attn_drop (float): attention dropout probability. Default: 0.
        proj_drop (float): dropout after the output projection. Default: 0.
        enable_flash (bool): use flash-attn on CUDA when it is importable.
            Default: True.
    """

    def __init__(self,
                 channels: int,
                 num_heads: int,
                 patch_size: int = 1024,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.0,
                 proj_drop: float = 0.0,
                 enable_flash: bool = True) -> None:
        super().__init__()
        if channels % num_heads != 0:
            raise ValueError(f'channels {channels} must be divisible by '
                             f'num_heads {num_heads}')
        self.channels = channels
        self.num_heads = num_heads
        self.patch_size = patch_size
        self.attn_drop = attn_drop
        self.enable_flash = enable_flash
        self.qkv = nn.Linear(channels, 3 * channels, bias=qkv_bias)
        self.proj = nn.Linear(channels, channels)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, feat: Tensor, level: 'PointLevel',
                order_index: int) -> Tensor:
        """Attend inside the patches of one serialization order.

        Args:
            feat (Tensor): (N, C) features of the level's rows.
            level (PointLevel): the level (serializations and caches).
            order_index (int): which of the level's serializations to use.

        Returns:
            Tensor: (N, C) attended features.
        """
        partition = level.partition(self.patch_size)
        index = level.patch_index(order_index, self.patch_size)
        qkv = self.qkv(feat)
        dropout_p = self.attn_drop if self.training else 0.0
        if (self.enable_flash and feat.is_cuda
                and flash_attn_varlen_qkvpacked_func is not None):
            out = patch_attention_flash(qkv, index, partition.cu_seqlens,
                                        partition.max_seqlen, self.num_heads,
                                        dropout_p)
        else:
            out = patch_attention_sdpa(qkv, index, self.num_heads, dropout_p)
        return self.proj_drop(self.proj(out))
