# Copyright (c) OpenMMLab. All rights reserved.
"""Serialized patch attention of PTv3.

The voxels of every sample, sorted along a space-filling curve, are cut into
patches of ``K`` consecutive voxels and attention runs inside each patch.
A sample with ``n > K`` voxels is padded to ``ceil(n / K) * K`` tokens by
repeating, in the free slots of its last patch, the tokens that sit ``K``
places earlier (in the previous patch), so every patch is full and no
attention mask is needed; the last patch is therefore the window of the
sample's last ``K`` voxels. A sample with ``n <= K`` voxels is one short
sequence. The same partition (``cu_seqlens``) is used by every backend:

* CUDA with ``flash_attn`` importable: ``flash_attn_varlen_qkvpacked_func``
  in bf16 over the padded tokens.
* Otherwise (CPU, or CUDA without flash-attn):
  :func:`torch.nn.functional.scaled_dot_product_attention`, with all
  complete patches in one call and one call per sample for its last,
  partial sequence: the window of its last ``min(n, K)`` voxels as keys and
  only the voxels no complete patch holds as queries. The padding slots'
  queries, whose results the flash path discards, are never computed
  (up to a third of the attention of small samples at coarse levels).
"""
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, List

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
            fills each token of the P complete patches.
        partial_source (Tensor): (sum(partial_lengths),) int64 rows of the
            partial sequences (one per sample at most), concatenated.
        partial_lengths (list[int]): tokens (keys) of each partial sequence.
        partial_queries (list[int]): how many of its last tokens are queries.
        point_to_output (Tensor): (N,) int64 row, in the concatenation of the
            flattened complete-patch outputs and the partial sequences'
            query outputs, that holds each row's result.
        padded_source (Tensor): (N_pad,) int64 row filling each token of the
            padded serialized sequence (the flash-attn layout).
        padded_inverse (Tensor): (N,) int64 token of the padded sequence
            holding each row's own result.
    """

    full_source: Tensor
    partial_source: Tensor
    partial_lengths: List[int]
    partial_queries: List[int]
    point_to_output: Tensor
    padded_source: Tensor
    padded_inverse: Tensor


class PatchPartition:
    """Padding scheme and patch boundaries of a batch (order independent).

    Positions below are positions in the serialized order, where the voxels
    of each sample are contiguous because the sample index is the most
    significant part of every curve code. A sample of ``n`` voxels has
    ``n // K`` complete patches and, if ``r = n % K > 0``, one partial
    sequence: the window of its last ``min(n, K)`` positions as keys (the
    padded last patch's tokens), of which the last ``r`` are queries.

    Args:
        offset (Tensor): (B,) int64 cumulative end row of every sample.
        patch_size (int): K, the number of tokens per patch.

    Attributes:
        pad (Tensor): (N_pad,) int64 serialized position of every padded
            token; slots past the end of a sample repeat position - K.
        unpad (Tensor): (N,) int64 padded token of every serialized position.
        cu_seqlens (Tensor): (num_seq + 1,) int32 cumulative sequence starts
            in the padded token list (patches and short sequences).
        max_seqlen (int): longest sequence of ``cu_seqlens``.
        full_index (Tensor): (P, K) int64 serialized positions of the tokens
            of the complete patches.
        partial_index (Tensor): (sum(partial_lengths),) int64 serialized
            positions of the partial sequences' tokens.
        partial_lengths (list[int]): keys of each partial sequence.
        partial_queries (list[int]): queries (its last tokens) of each.
        sorted_to_output (Tensor): (N,) int64 row of each serialized position
            in the concatenated (P * K + sum(partial_queries)) output.
    """

    def __init__(self, offset: Tensor, patch_size: int) -> None:
        if patch_size < 1:
            raise ValueError(f'patch_size must be >= 1, got {patch_size}')
        device = offset.device
        self.patch_size = patch_size
        counts = torch.diff(offset, prepend=offset.new_zeros(1))
        starts = offset - counts
        sample_ids = torch.arange(counts.shape[0], device=device)
        total = int(offset[-1]) if counts.numel() else 0
        # Sample of every serialized position, and its place in the sample.
        row_sample = torch.repeat_interleave(
            sample_ids, counts, output_size=total)
        local = torch.arange(total, device=device) - starts[row_sample]
        self._flash_layout(counts, starts, sample_ids, row_sample, local)

        # Complete patches: positions start + j * K + [0, K), j < n // K.
        complete = counts // patch_size
        first_patch = torch.cumsum(complete, 0) - complete
        patch_sample = torch.repeat_interleave(sample_ids, complete)
        patch_rank = (
            torch.arange(patch_sample.shape[0], device=device) -
            first_patch[patch_sample])
        self.full_index = (
            (starts[patch_sample] + patch_rank * patch_size)[:, None] +
            torch.arange(patch_size, device=device))

        # Partial sequences: the last min(n, K) positions, r = n % K queries.
        queries = counts - complete * patch_size
        lengths = torch.where(queries > 0, torch.clamp(counts, max=patch_size),
                              0)
        window_sample = torch.repeat_interleave(sample_ids, lengths)
        window_rank = (
            torch.arange(window_sample.shape[0], device=device) -
            (torch.cumsum(lengths, 0) - lengths)[window_sample])
        self.partial_index = (offset - lengths)[window_sample] + window_rank
        has_partial = lengths > 0
        self.partial_lengths = lengths[has_partial].tolist()
        self.partial_queries = queries[has_partial].tolist()

        # Output row of each position: its complete patch's slot, or its
        # query slot after all complete patches.
        complete_end = (complete * patch_size)[row_sample]
        first_query = torch.cumsum(queries, 0) - queries
        self.sorted_to_output = torch.where(
            local >= complete_end,
            self.full_index.numel() + first_query[row_sample] + local -
            complete_end, first_patch[row_sample] * patch_size + local)

    def _flash_layout(self, counts: Tensor, starts: Tensor, sample_ids: Tensor,
                      row_sample: Tensor, local: Tensor) -> None:
        """``pad``, ``unpad``, ``cu_seqlens`` and ``max_seqlen``.

        ``row_sample`` and ``local`` are the (N,) sample of every serialized
        position and its place within that sample.
        """
        patch_size = self.patch_size
        device = counts.device
        padded = torch.where(counts > patch_size, (counts + patch_size - 1) //
                             patch_size * patch_size, counts)
        padded_ends = torch.cumsum(padded, 0)
        padded_starts = padded_ends - padded
        total_padded = int(padded_ends[-1]) if counts.numel() else 0
        token_sample = torch.repeat_interleave(
            sample_ids, padded, output_size=total_padded)
        token_local = (
            torch.arange(total_padded, device=device) -
            padded_starts[token_sample])
        token_local = torch.where(token_local >= counts[token_sample],
                                  token_local - patch_size, token_local)
        self.pad = starts[token_sample] + token_local
        self.unpad = local + padded_starts[row_sample]
        # Sequences: ceil(n / K) patches, or one short one of n tokens.
        num_seq = torch.where(counts > patch_size, padded // patch_size,
                              (counts > 0).long())
        seq_len = torch.repeat_interleave(
            torch.clamp(counts, max=patch_size), num_seq)
        self.cu_seqlens = F.pad(torch.cumsum(seq_len, 0), (1, 0)).int()
        self.max_seqlen = int(seq_len.max()) if seq_len.numel() else 0

    def index(self, order: SerializedOrder) -> PatchIndex:
        """Compose the partition with one serialization order.

        Args:
            order (SerializedOrder): the serialization of the same batch.

        Returns:
            PatchIndex: gather/scatter indices in the level's row space.
        """
        return PatchIndex(
            full_source=order.order[self.full_index],
            partial_source=order.order[self.partial_index],
            partial_lengths=self.partial_lengths,
            partial_queries=self.partial_queries,
            point_to_output=self.sorted_to_output[order.inverse],
            padded_source=order.order[self.pad],
            padded_inverse=self.unpad[order.inverse])


def patch_attention_sdpa(qkv: Tensor,
                         index: PatchIndex,
                         num_heads: int,
                         project: Callable[[Tensor], Tensor],
                         dropout_p: float = 0.0) -> Tensor:
    """Projected patch attention through ``scaled_dot_product_attention``.

    One call for all complete patches, then one per partial sequence with
    only its query tokens as queries (no attention mask anywhere). Each
    call's output is projected before the rows return to point order: the
    kernel writes its output head-interleaved (the layout of the packed
    ``qkv`` views), so the projection's saved input is that same tensor,
    not a gathered copy.

    Args:
        qkv (Tensor): (N, 3 * C) packed queries, keys and values per row.
        index (PatchIndex): patch gather/scatter indices.
        num_heads (int): H; C must be divisible by H.
        project (Callable): (M, C) -> (M, C_out) output projection.
        dropout_p (float): attention dropout probability.

    Returns:
        Tensor: (N, C_out) projected attention output for every row.
    """
    channels = qkv.shape[1] // 3
    head_dim = channels // num_heads

    def attend(rows: Tensor, num_seq: int, num_queries: int) -> Tensor:
        """(num_seq * L, 3C) packed rows -> (num_seq * num_queries, C)."""
        q, k, v = rows.view(num_seq, -1, 3, num_heads,
                            head_dim).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(
            q[:, :, -num_queries:], k, v, dropout_p=dropout_p)
        return project(
            out.transpose(1, 2).reshape(num_seq * num_queries, channels))

    outputs = []
    if index.full_source.numel():
        num_patches, patch_size = index.full_source.shape
        outputs.append(
            attend(
                qkv.index_select(0, index.full_source.reshape(-1)),
                num_patches, patch_size))
    windows = qkv.index_select(0, index.partial_source).split(
        index.partial_lengths)
    outputs.extend(
        attend(window, 1, num_queries)
        for window, num_queries in zip(windows, index.partial_queries))
    out = outputs[0] if len(outputs) == 1 else torch.cat(outputs)
    return out.index_select(0, index.point_to_output)


def patch_attention_flash(qkv: Tensor,
                          index: PatchIndex,
                          cu_seqlens: Tensor,
                          max_seqlen: int,
                          num_heads: int,
                          project: Callable[[Tensor], Tensor],
                          dropout_p: float = 0.0) -> Tensor:
    """Projected patch attention through flash-attn's varlen kernel.

    CUDA, bf16; the padded tokens are projected, then returned to point
    order.

    Args:
        qkv (Tensor): (N, 3 * C) packed queries, keys and values per row.
        index (PatchIndex): patch gather/scatter indices.
        cu_seqlens (Tensor): (num_seq + 1,) int32 sequence starts.
        max_seqlen (int): longest sequence (K, or less for small batches).
        num_heads (int): H; C must be divisible by H.
        project (Callable): (M, C) -> (M, C_out) output projection.
        dropout_p (float): attention dropout probability.

    Returns:
        Tensor: (N, C_out) projected attention output, in ``qkv``'s dtype
        before the projection.
    """
    channels = qkv.shape[1] // 3
    head_dim = channels // num_heads
    packed = qkv.index_select(0, index.padded_source).view(
        -1, 3, num_heads, head_dim)
    out = flash_attn_varlen_qkvpacked_func(
        packed.bfloat16(), cu_seqlens, max_seqlen, dropout_p=dropout_p)
    return project(out.reshape(-1, channels).to(qkv.dtype)).index_select(
        0, index.padded_inverse)


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
                                        self.proj, dropout_p)
        else:
            out = patch_attention_sdpa(qkv, index, self.num_heads, self.proj,
                                       dropout_p)
        return self.proj_drop(out)
