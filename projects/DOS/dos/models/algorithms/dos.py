# Copyright (c) OpenMMLab. All rights reserved.
"""DOS: Distilling Observable Softmaps of Zipfian prototypes."""
import copy
from typing import Dict, List, NamedTuple, Optional, Tuple, Union

import torch
from mmdet3d.registry import MODELS
from mmengine.model import BaseModel
from torch import Tensor, nn

from ..backbones.ptv3 import UpcastFeature, offset_to_batch
from ..heads import PrototypeScores
from ..losses import ZipfSinkhorn
from ..losses.segment_ops import segment_standardize
from .teacher_ema import CosineTeacherEMA

# Training target -> loss module (registered in MODELS).
TARGET_LOSSES = dict(
    softmap='SoftmapLoss',
    clustering='ClusteringLoss',
    regression='CosineRegressionLoss')
TARGETS = tuple(TARGET_LOSSES)
MASKINGS = ('observable', 'naive', 'token_jitter')
BATCH_KEYS = ('coord', 'grid_coord', 'feat', 'offset', 'point_id', 'visible')
# PTv3 packs voxel coordinates in 16 bits per axis (sparse conv hashing).
_AXIS_BITS = 16


class VoxelMatch(NamedTuple):
    """Supervised student voxels and the teacher voxels holding their target.

    Attributes:
        student (Tensor): (J,) int64 rows of the student's output voxels.
        teacher (Tensor): (J,) int64 rows of the teacher's output voxels.
        segment (Tensor): (J,) int64 (scene, view) segment of the STUDENT
            voxel; softmaps are normalised within it.
    """
    student: Tensor
    teacher: Tensor
    segment: Tensor


class DistillationPairs(NamedTuple):
    """What the distillation terms of one batch compare.

    Attributes:
        student (PrototypeScores): (M_s, D) / (M_s, K) student head output
            on every student voxel.
        teacher (list[PrototypeScores]): Per match, (J, D) / (J, K) teacher
            head output aligned with ``matches[i].student``.
        matches (list[VoxelMatch]): Same-view match, then the cross-view
            one when ``cross_view`` is on.
        num_segments (int): 2B (scene, view) segments.
    """
    student: PrototypeScores
    teacher: List[PrototypeScores]
    matches: List[VoxelMatch]
    num_segments: int


@MODELS.register_module()
class DOS(BaseModel):
    """DOS self-supervised pretraining (arXiv 2512.11465) on PTv3.

    A student (PTv3 + :class:`PrototypeHead`) sees only the visible points of
    each block-masked view; a teacher, the EMA of the student (backbone and
    head), sees the full view without gradients. At every observable voxel
    (an up-cast voxel holding at least one visible point, 0.2 m outdoor /
    0.08 m indoor) the student's per-prototype softmap over the observable
    voxels of its (scene, view) is distilled towards the teacher's softmap,
    regularised by Zipf-Sinkhorn. With ``cross_view`` the teacher of the
    other view of the same scene supervises the student too, at the points
    both views hold (exact correspondence through ``point_id``). The whole
    algorithm reads top-down in :meth:`loss`.

    Batch (``inputs`` from :class:`DOSDataPreprocessor`): segments ordered
    [scene0-view0, scene0-view1, scene1-view0, ...], segment g = 2 b + v:
    ``coord`` (N, 3) float (x, y, z) metres, ``grid_coord`` (N, 3) int64
    (x, y, z) computed per view on the full view, ``feat`` (N, C),
    ``offset`` (2B,) int64 cumulative ends, ``point_id`` (N,) int64 (unique
    within a view, shared by both views of a scene) and ``visible`` (N,)
    bool.

    Voxel alignment: the student gets ``grid_coord`` rows of the full view,
    so its up-cast voxels are exactly the teacher's voxels that hold visible
    points. A student voxel is matched through one of its member points and
    the teacher's ``point2out`` (every member lies in the same teacher voxel,
    so the match is exact and needs no kNN).

    EMA update: done at the start of :meth:`loss`, before the teacher's
    forward (BYOL-style in mmpretrain), so that it runs inside ``forward``
    and therefore also under ``MMDistributedDataParallel`` (whose
    ``train_step`` never calls the model's). The teacher used at iteration t
    is the EMA after the student update of iteration t-1; its weights and
    update counter are in the checkpoint and the momentum comes from
    ``runner.iter`` (:class:`DOSScheduleHook`), so a resumed run is
    bit-identical to an uninterrupted one. With gradient accumulation the
    teacher is updated at every micro-batch.

    Reduction and ranks: every term is a mean over the (scene, view)
    segments of the local batch and Zipf-Sinkhorn balances each segment on
    its own, so nothing is reduced across ranks; DDP's gradient average then
    equals the single-process gradient of the concatenated batch whenever
    the ranks hold equally many segments.

    State used by the hooks: ``teacher_temp`` (float, set by
    :class:`DOSScheduleHook`), ``teacher`` (:class:`CosineTeacherEMA`, whose
    momentum the hook sets) and ``last_diagnostics`` (per-voxel statistics
    of the last batch, read by :class:`DOSDiagnosticsHook`). Checkpoint keys:
    ``backbone.*`` and ``head.*`` (student), ``teacher.module.backbone.*``,
    ``teacher.module.head.*`` and ``teacher.steps``.

    Variants (paper Tables 5 and 10):

    - ``target``: ``'softmap'`` (softmax over points per prototype, KL;
      default), ``'clustering'`` (softmax over prototypes per point, targets
      from the same Sinkhorn normalised over prototypes; use
      ``sinkhorn=dict(alpha=0.)`` for the paper's uniform baseline),
      ``'regression'`` (``1 - cos`` between the student's and the teacher's
      head embeddings; prototypes frozen and unused).
    - ``masking``: ``'observable'`` (student sees only visible points;
      default), ``'naive'`` (student sees all points, the stem embedding of
      masked ones replaced by the backbone's learned mask token; the loss is
      taken at voxels holding masked points, as in masked distillation),
      ``'token_jitter'`` (naive + clipped Gaussian jitter of the masked
      points' coordinates, Sonata's mitigation).

    Args:
        backbone (dict): PTv3 config. ``mask_token`` is set from ``masking``
            (True for the naive variants) unless given; a contradicting value
            is an error.
        head (dict): :class:`PrototypeHead` config; ``in_channels`` defaults
            to the backbone's ``out_channels``.
        target (str): One of ``TARGETS``. Defaults to ``'softmap'``.
        masking (str): One of ``MASKINGS``. Defaults to ``'observable'``.
        cross_view (bool): Add the cross-view term (Table 11: helps on dense
            indoor data, neutral on nuScenes). Defaults to True.
        sinkhorn (dict): :class:`ZipfSinkhorn` arguments (``alpha``,
            ``num_iters``). Defaults to ``dict(alpha=1.3, num_iters=3)``.
        student_temp (float): tau_S. Defaults to 0.1 (Sonata).
        teacher_temp (float): Initial tau_T; :class:`DOSScheduleHook` sets it
            every iteration (0.04 -> 0.07 over the first 5 %, Sonata).
            Defaults to 0.04.
        teacher_spread (float, optional): When set, the teacher's cosines
            are standardised per prototype over the points of each (scene,
            view) target set and multiplied by this value before
            Zipf-Sinkhorn, in place of ``/ tau_T``: a temperature per
            prototype and view that keeps the target softmaps as peaked as
            a logit std of ``teacher_spread`` whatever the spread of the
            features. Without it the target's sharpness is tied to the
            cosine spread, which the loss itself shrinks (see "Collapse"
            above). None keeps the paper's global ``tau_T``. Defaults to
            None.
        ema (dict): :class:`CosineTeacherEMA` arguments. Defaults to
            ``dict(base_momentum=0.994, end_momentum=1.0)`` (Sonata).
        mask_jitter (dict): ``std`` and ``clip`` (metres) of the
            ``'token_jitter'`` coordinate noise. Defaults to
            ``dict(std=0.01, clip=0.02)`` (Sonata's sigma; the noise is
            clipped to ``[-clip, clip]``, where Sonata clips from above only).
        grid_size (float): Input voxel size in metres (0.05 outdoor, 0.02
            indoor); used only by ``'token_jitter'`` to re-voxelise jittered
            points. Defaults to 0.05.
        data_preprocessor (dict | nn.Module, optional): Usually
            ``dict(type='DOSDataPreprocessor', ...)``.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 target: str = 'softmap',
                 masking: str = 'observable',
                 cross_view: bool = True,
                 sinkhorn: Optional[dict] = None,
                 student_temp: float = 0.1,
                 teacher_temp: float = 0.04,
                 teacher_spread: Optional[float] = None,
                 ema: Optional[dict] = None,
                 mask_jitter: Optional[dict] = None,
                 grid_size: float = 0.05,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        if target not in TARGETS:
            raise ValueError(
                f'DOS: target must be one of {TARGETS}, got {target!r}')
        if masking not in MASKINGS:
            raise ValueError(
                f'DOS: masking must be one of {MASKINGS}, got {masking!r}')
        for name, value in (('student_temp', student_temp),
                            ('teacher_temp', teacher_temp), ('grid_size',
                                                             grid_size)):
            if not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f'DOS: {name} must be > 0, got {value!r}')
        if teacher_spread is not None and not (isinstance(
                teacher_spread, (int, float)) and teacher_spread > 0):
            raise ValueError(f'DOS: teacher_spread must be None or > 0, got '
                             f'{teacher_spread!r}')
        mask_jitter = {'std': 0.01, 'clip': 0.02, **(mask_jitter or {})}
        if set(mask_jitter) != {'std', 'clip'} or min(
                mask_jitter.values()) < 0:
            raise ValueError(
                'DOS: mask_jitter must be dict(std=..., clip=...) with '
                f'non-negative values, got {mask_jitter}')
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)

        backbone = copy.deepcopy(backbone)
        needs_token = masking != 'observable'
        if backbone.setdefault('mask_token', needs_token) != needs_token:
            raise ValueError(
                f'DOS: masking={masking!r} needs backbone.mask_token='
                f'{needs_token}, got {backbone["mask_token"]}')
        self.backbone = MODELS.build(backbone)
        head = copy.deepcopy(head)
        head.setdefault('in_channels', self.backbone.out_channels)
        self.head = MODELS.build(head)
        self.num_prototypes = self.head.num_prototypes

        self.target = target
        self.masking = masking
        self.cross_view = cross_view
        self.student_temp = float(student_temp)
        self.teacher_temp = float(teacher_temp)
        self.teacher_spread = (None if teacher_spread is None else
                               float(teacher_spread))
        self.mask_jitter = mask_jitter
        self.grid_size = float(grid_size)
        # Also built for 'regression': its Zipf prior is the reference of the
        # usage divergence that DOSDiagnosticsHook logs.
        sinkhorn = {'alpha': 1.3, 'num_iters': 3, **(sinkhorn or {})}
        self.sinkhorn = ZipfSinkhorn(
            num_prototypes=self.num_prototypes,
            normalize_over='prototypes'
            if target == 'clustering' else 'points',
            **sinkhorn)
        self.criterion = MODELS.build(dict(type=TARGET_LOSSES[target]))
        if target == 'regression':
            self.head.prototypes.requires_grad_(False)

        self.teacher = CosineTeacherEMA(self._student(), **(ema or {}))
        self.teacher.eval()
        # Per-voxel statistics of the last training batch, for
        # DOSDiagnosticsHook (detached; see _record_diagnostics).
        self.last_diagnostics: Dict[str, Tensor] = {}

    # ------------------------------------------------------------------ API
    def forward(self,
                inputs: Dict[str, Tensor],
                data_samples: Optional[list] = None,
                mode: str = 'tensor') -> Union[Dict[str, Tensor], list]:
        """Dispatch to :meth:`loss`, :meth:`predict` or :meth:`extract_feat`.

        Args:
            inputs (dict[str, Tensor]): The DOS batch (class docstring).
            data_samples (list, optional): Unused (self-supervised).
            mode (str): ``'loss'``, ``'predict'`` or ``'tensor'``.

        Returns:
            dict | list: Losses, per-view teacher features, or the student's
            backbone output.
        """
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.extract_feat(inputs)
        raise ValueError(f'DOS: mode must be "loss", "predict" or "tensor", '
                         f'got {mode!r}')

    def loss(self,
             inputs: Dict[str, Tensor],
             data_samples: Optional[list] = None) -> Dict[str, Tensor]:
        """The DOS objective for one batch.

        Args:
            inputs (dict[str, Tensor]): The DOS batch (class docstring).
            data_samples (list, optional): Unused.

        Returns:
            dict[str, Tensor]: ``loss_<target>`` (e.g. ``loss_softmap``), the
            paper's ``L = L_1 + L_2`` with ``L_a`` the mean of the same-view
            and (if enabled) cross-view terms, averaged over scenes.
        """
        # 1. Teacher = EMA of the student (updated before it is used).
        with torch.no_grad():
            self.teacher.update_parameters(self._student())

        # 2.-4. Student and teacher prototype scores at the supervised voxels.
        pairs = self.distillation_pairs(inputs)
        # One distillation term (Zipf-Sinkhorn target + softmap KL) per match.
        targets = [
            self._target(t_match, match, pairs.num_segments)
            for t_match, match in zip(pairs.teacher, pairs.matches)
        ]
        terms = [
            self._distill(pairs.student, t_match, target, match,
                          pairs.num_segments) for t_match, target, match in
            zip(pairs.teacher, targets, pairs.matches)
        ]

        # 5. L = L_1 + L_2 with L_a the mean of its terms, averaged over
        #    scenes; each term is a mean over the 2B segments, hence the 2.
        loss = 2.0 * torch.stack(terms).mean()
        self._record_diagnostics(pairs.student, pairs.teacher[0],
                                 pairs.matches[0], targets[0])
        return {f'loss_{self.target}': loss}

    def distillation_pairs(self, inputs: Dict[str,
                                              Tensor]) -> 'DistillationPairs':
        """Student and teacher prototype scores at the supervised voxels.

        Steps 2-4 of :meth:`loss` with the current teacher (no EMA update):
        what the distillation terms compare, also read by
        ``tools/analyze_collapse.py``.

        Args:
            inputs (dict[str, Tensor]): The DOS batch (class docstring).

        Returns:
            DistillationPairs: The student's scores on its voxels, the
            teacher's at the matched voxels and the matches (same view,
            then cross view if enabled).
        """
        segment, num_segments = self._check_batch(inputs)

        # 2. Teacher (no gradients): the full views.
        with torch.no_grad():
            t_out = self.teacher.module.backbone(self._full_view(inputs))

        # Student: visible points only (or all points + mask token).
        s_rows, s_points = self._student_input(inputs, segment, num_segments)
        s_out = self.backbone(s_points)
        s_scores = self.head(_head_input(s_out))

        # 3. Supervised voxels (observable ones; masked ones for the naive
        #    variants) and the teacher voxels holding their targets: same
        #    view, and with cross_view the other view of the scene at the
        #    points both views hold (softmaps renormalised over that overlap).
        supervised = (
            inputs['visible'][s_rows]
            if self.masking == 'observable' else ~inputs['visible'][s_rows])
        matches = [self._match(s_out, s_rows, supervised, t_out['point2out'])]
        if self.cross_view:
            partner = self._partner_rows(inputs, segment)
            matches.append(
                self._match(s_out, s_rows, supervised & (partner[s_rows] >= 0),
                            t_out['point2out'], partner))

        # 4. Teacher prototype scores at the matched voxels only.
        t_scores = self._teacher_scores(_head_input(t_out), matches)
        return DistillationPairs(s_scores, t_scores, matches, num_segments)

    @torch.no_grad()
    def predict(
            self,
            inputs: Dict[str, Tensor],
            data_samples: Optional[list] = None) -> List[Dict[str, Tensor]]:
        """Up-cast features of the teacher on the full views (visualisation).

        Args:
            inputs (dict[str, Tensor]): The DOS batch; only ``coord``,
                ``grid_coord``, ``feat`` and ``offset`` are read.
            data_samples (list, optional): Unused.

        Returns:
            list[dict[str, Tensor]]: One dict per (scene, view) segment with
            ``coord`` (M_g, 3) voxel mean (x, y, z), ``grid_coord`` (M_g, 3)
            int64 (x, y, z) at the up-cast grid and ``feat`` (M_g, C).
        """
        out = self.teacher.module.backbone(self._full_view(inputs))
        starts = torch.cat([out['offset'].new_zeros(1), out['offset']])
        return [
            dict(
                coord=out['coord'][lo:hi],
                grid_coord=out['grid_coord'][lo:hi],
                feat=out['feat'][lo:hi])
            for lo, hi in zip(starts[:-1].tolist(), starts[1:].tolist())
        ]

    def extract_feat(self, inputs: Dict[str, Tensor]) -> Dict[str, object]:
        """Student backbone output on exactly what the student is shown.

        Args:
            inputs (dict[str, Tensor]): The DOS batch.

        Returns:
            dict: PTv3's output dict (``feat`` (M, C) up-cast features,
            ``coord``, ``grid_coord``, ``offset``, ``batch``, ``point2out``
            indexed by student input row, ``stage_inverse``) plus
            ``input_rows`` (N_s,) int64: the batch row of each student input
            point.
        """
        segment, num_segments = self._check_batch(inputs)
        s_rows, s_points = self._student_input(inputs, segment, num_segments)
        out = self.backbone(s_points)
        out['input_rows'] = s_rows
        return out

    def init_weights(self) -> None:
        """Initialise the student, then start the teacher as its copy.

        mmengine's recursive ``init_weights`` would also re-draw the
        teacher's copy of the backbone and head independently of the
        student's. With a momentum of 0.994 such a teacher stays mostly an
        unrelated random network for hundreds of iterations (0.994^300 =
        0.16 of it is left after 300), and its targets then carry no
        information the student can predict: the measured correlation of
        the student's and the teacher's prototype scores at the same voxels
        was 0.00 at iteration 0 (``tools/analyze_collapse.py``). DINO,
        iBOT and Sonata start the teacher as an exact copy of the student.
        """
        super().init_weights()
        self.teacher.module.load_state_dict(self._student().state_dict())

    def train(self, mode: bool = True) -> 'DOS':
        """Set the student's mode; the teacher always stays in eval mode.

        The teacher runs without stochastic depth or dropout (Sonata builds
        its teacher with ``drop_path=0``).
        """
        super().train(mode)
        self.teacher.eval()
        return self

    # -------------------------------------------------------------- helpers
    def _student(self) -> nn.ModuleDict:
        """The averaged student modules, keyed as in the teacher copy."""
        return nn.ModuleDict(dict(backbone=self.backbone, head=self.head))

    def _check_batch(self, inputs: Dict[str, Tensor]) -> Tuple[Tensor, int]:
        """Validate the DOS batch and return the segment id of every row.

        Returns:
            tuple[Tensor, int]: (N,) int64 segment ids and the number of
            segments 2B.
        """
        missing = [key for key in BATCH_KEYS if key not in inputs]
        if missing:
            raise ValueError(f'DOS: the batch lacks {missing}; got keys '
                             f'{sorted(inputs)}')
        num_rows = inputs['coord'].shape[0]
        for key in ('point_id', 'visible'):
            if tuple(inputs[key].shape) != (num_rows, ):
                raise ValueError(f'DOS: batch[{key!r}] must have shape '
                                 f'({num_rows},), got '
                                 f'{tuple(inputs[key].shape)}')
        if inputs['visible'].dtype != torch.bool:
            raise TypeError(f"DOS: batch['visible'] must be bool, got "
                            f"{inputs['visible'].dtype}")
        offset = inputs['offset']
        num_segments = offset.numel()
        if num_segments == 0 or int(offset[-1]) != num_rows:
            raise ValueError(f'DOS: batch offset must end at N={num_rows}, '
                             f'got {offset.tolist()}')
        if self.cross_view and num_segments % 2:
            raise ValueError(f'DOS: cross_view needs 2 views per scene, got '
                             f'{num_segments} segments')
        segment = offset_to_batch(offset.long())
        if self.masking == 'observable':
            visible = torch.bincount(
                segment[inputs['visible']], minlength=num_segments)
            if bool((visible == 0).any()):
                bad = torch.nonzero(visible == 0).flatten().tolist()
                raise ValueError(
                    f'DOS: segments {bad} have no visible point; the '
                    'student would get an empty sample')
        return segment, num_segments

    @staticmethod
    def _full_view(inputs: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """The teacher's input: every point of every view."""
        return {
            key: inputs[key]
            for key in ('coord', 'grid_coord', 'feat', 'offset')
        }

    def _student_input(self, inputs: Dict[str, Tensor], segment: Tensor,
                       num_segments: int) -> Tuple[Tensor, Dict[str, Tensor]]:
        """Build the student's PTv3 input for the configured masking.

        Returns:
            tuple[Tensor, dict]: (N_s,) int64 batch row of each student input
            point, and the PTv3 input dict. ``'observable'`` keeps the
            visible rows with their full-view ``grid_coord`` and recomputed
            offsets; the naive variants keep all rows and add ``mask``.
        """
        if self.masking == 'observable':
            rows = torch.nonzero(inputs['visible']).flatten()
            offset = torch.cumsum(
                torch.bincount(segment[rows], minlength=num_segments), 0)
            points = dict(
                coord=inputs['coord'][rows],
                grid_coord=inputs['grid_coord'][rows],
                feat=inputs['feat'][rows],
                offset=offset)
            return rows, points
        rows = torch.arange(segment.numel(), device=segment.device)
        masked = ~inputs['visible']
        coord, grid_coord = inputs['coord'], inputs['grid_coord']
        if self.masking == 'token_jitter':
            coord, grid_coord = self._jitter_masked(coord, grid_coord, masked,
                                                    segment, num_segments)
        points = dict(
            coord=coord,
            grid_coord=grid_coord,
            feat=inputs['feat'],
            offset=inputs['offset'],
            mask=masked)
        return rows, points

    def _jitter_masked(self, coord: Tensor, grid_coord: Tensor, masked: Tensor,
                       segment: Tensor,
                       num_segments: int) -> Tuple[Tensor, Tensor]:
        """Sonata's token jitter: move masked points by clipped noise.

        The noise ``clip(N(0, std^2), -clip, clip)`` is added to the masked
        points' metric coordinates and their voxel index is moved by the
        number of cells the jittered coordinate crosses on the view's grid
        (``floor((coord - view_min) / grid_size)``, the pipeline's
        convention). PTv3 needs one point per voxel, so a jittered point that
        lands in an occupied voxel keeps its original voxel (repeated until
        no voxel is shared; this terminates because only moved points are
        ever reverted).

        Returns:
            tuple[Tensor, Tensor]: Jittered (N, 3) ``coord`` and int64
            ``grid_coord``.
        """
        std, clip = self.mask_jitter['std'], self.mask_jitter['clip']
        noise = (torch.randn_like(coord) * std).clamp(-clip, clip)
        jittered = coord + noise * masked[:, None]
        origin = coord.new_full((num_segments, 3), float('inf'))
        origin = origin.scatter_reduce(
            0, segment[:, None].expand(-1, 3), coord, reduce='amin')[segment]
        shift = (torch.floor(
            (jittered - origin) / self.grid_size) - torch.floor(
                (coord - origin) / self.grid_size)).long()
        moved_grid = (grid_coord + shift).clamp(0, 2**_AXIS_BITS - 1)
        moved = (shift != 0).any(dim=1)
        while True:
            new_grid = torch.where(moved[:, None], moved_grid, grid_coord)
            _, inverse, counts = torch.unique(
                _voxel_key(segment, new_grid),
                return_inverse=True,
                return_counts=True)
            clash = moved & (counts[inverse] > 1)
            if not bool(clash.any()):
                return jittered, new_grid
            moved = moved & ~clash

    def _match(self,
               s_out: Dict[str, object],
               s_rows: Tensor,
               keep: Tensor,
               t_point2out: Tensor,
               partner: Optional[Tensor] = None) -> VoxelMatch:
        """Match student voxels with teacher voxels through member points.

        Each student voxel holding at least one ``keep`` point is
        represented by its kept member with the highest batch row
        (deterministic); the teacher voxel is the one holding that point
        (same view) or its counterpart ``partner[row]`` (other view).

        Args:
            s_out (dict): Student backbone output (``point2out``, ``batch``,
                ``feat``).
            s_rows (Tensor): (N_s,) int64 batch row of each student input.
            keep (Tensor): (N_s,) bool, points that may represent a voxel.
            t_point2out (Tensor): (N,) int64 teacher output row of each
                batch row.
            partner (Tensor, optional): (N,) int64 row of the same point in
                the other view (-1 if absent); None for the same view.

        Returns:
            VoxelMatch: Matched rows and the student voxel's segment.
        """
        num_voxels = s_out['feat'].shape[0]
        candidate = torch.where(keep, s_rows, torch.full_like(s_rows, -1))
        representative = s_rows.new_full((num_voxels, ), -1).scatter_reduce(
            0, s_out['point2out'], candidate, reduce='amax')
        voxels = torch.nonzero(representative >= 0).flatten()
        rows = representative[voxels]
        if partner is not None:
            rows = partner[rows]
        return VoxelMatch(
            student=voxels,
            teacher=t_point2out[rows],
            segment=s_out['batch'][voxels])

    @staticmethod
    def _partner_rows(inputs: Dict[str, Tensor], segment: Tensor) -> Tensor:
        """Row of each point in the other view of its scene, or -1.

        Exact correspondence through ``point_id`` with a sorted-key
        ``searchsorted`` join (segments 2b and 2b+1 are the two views of
        scene b).

        Returns:
            Tensor: (N,) int64 partner rows.

        Raises:
            ValueError: If a point id repeats within a view.
        """
        point_id = inputs['point_id'].long()
        stride = int(point_id.max()) + 1
        key = segment * stride + point_id
        sorted_key, order = torch.sort(key)
        if bool((sorted_key[1:] == sorted_key[:-1]).any()):
            raise ValueError(
                'DOS: point_id must be unique within each view (it indexes '
                "the scene's grid-sampled cloud)")
        query = torch.bitwise_xor(segment, 1) * stride + point_id
        pos = torch.searchsorted(sorted_key, query).clamp(max=key.numel() - 1)
        found = sorted_key[pos] == query
        return torch.where(found, order[pos], torch.full_like(pos, -1))

    @torch.no_grad()
    def _teacher_scores(self, t_feat: Union[Tensor, UpcastFeature],
                        matches: List[VoxelMatch]) -> List[PrototypeScores]:
        """Teacher head output at the matched teacher voxels only.

        The head MLP is evaluated once per distinct teacher voxel that some
        match needs (not on every teacher voxel, most of which are masked).

        Args:
            t_feat (Tensor | UpcastFeature): (M_t, C) teacher up-cast
                features.
            matches (list[VoxelMatch]): Same-view (and cross-view) matches.

        Returns:
            list[PrototypeScores]: Per match, (J, D) embeddings and (J, K)
            cosines aligned with ``match.student``.
        """
        rows = torch.cat([match.teacher for match in matches])
        needed, inverse = torch.unique(rows, return_inverse=True)
        scores = self.teacher.module.head(t_feat[needed])
        sizes = [match.teacher.numel() for match in matches]
        return [
            PrototypeScores(embed=scores.embed[index], cos=scores.cos[index])
            for index in inverse.split(sizes)
        ]

    def _target(self, t_scores: PrototypeScores, match: VoxelMatch,
                num_segments: int) -> Optional[Tensor]:
        """The teacher's Zipf-Sinkhorn log-target of one term.

        Args:
            t_scores (PrototypeScores): Teacher head output at the matched
                voxels.
            match (VoxelMatch): The match (its ``segment`` sets the point
                sets the softmaps are normalised over).
            num_segments (int): 2B.

        Returns:
            Tensor | None: (J, K) fp32 log-target; None for the regression
            target, which compares embeddings.
        """
        if self.target == 'regression':
            return None
        t_logits = self._teacher_logits(t_scores.cos, match.segment,
                                        num_segments)
        return self.sinkhorn(t_logits, match.segment, num_segments)

    def _distill(self, s_scores: PrototypeScores, t_scores: PrototypeScores,
                 log_target: Optional[Tensor], match: VoxelMatch,
                 num_segments: int) -> Tensor:
        """One distillation term (same-view or cross-view) of the loss.

        Args:
            s_scores (PrototypeScores): Student head output per voxel.
            t_scores (PrototypeScores): Teacher head output at the matched
                voxels (aligned with ``match.student``).
            log_target (Tensor, optional): (J, K) :meth:`_target` of the
                term (None for regression).
            match (VoxelMatch): Supervised student voxels and segments.
            num_segments (int): 2B.

        Returns:
            Tensor: Scalar mean over segments.
        """
        if log_target is None:
            return self.criterion(s_scores.embed[match.student],
                                  t_scores.embed, match.segment, num_segments)
        return self.criterion(s_scores.cos[match.student] / self.student_temp,
                              log_target, match.segment, num_segments)

    def _teacher_logits(self, cos: Tensor, segment: Tensor,
                        num_segments: int) -> Tensor:
        """The teacher's scores entering Zipf-Sinkhorn (log of its F).

        ``cos / tau_T`` by default. With ``teacher_spread`` each prototype's
        cosines are standardised over the points of their segment and
        scaled to that spread, i.e. a temperature per prototype and view,
        ``tau_k = std_i(cos_ik) / teacher_spread`` (see the class docstring).

        Args:
            cos (Tensor): (J, K) teacher cosines at the matched voxels.
            segment (Tensor): (J,) int64 segment of each row.
            num_segments (int): 2B.

        Returns:
            Tensor: (J, K) fp32 logits.
        """
        if self.teacher_spread is None:
            return cos / self.teacher_temp
        return segment_standardize(cos, segment,
                                   num_segments) * self.teacher_spread

    @torch.no_grad()
    def _record_diagnostics(self, s_scores: PrototypeScores,
                            t_scores: PrototypeScores, match: VoxelMatch,
                            log_target: Optional[Tensor]) -> None:
        """Keep the same-view term's tensors for :class:`DOSDiagnosticsHook`.

        Only detached references are stored (no computation on the training
        step); the hook reduces them at its logging interval.
        """
        self.last_diagnostics = dict(
            segment=match.segment,
            teacher_cos=t_scores.cos.detach(),
            teacher_embed=t_scores.embed.detach(),
            student_cos=s_scores.cos[match.student].detach(),
            student_embed=s_scores.embed[match.student].detach())
        if log_target is not None:
            self.last_diagnostics['log_target'] = log_target.detach()


def _head_input(out: Dict[str, object]) -> Union[Tensor, UpcastFeature]:
    """The head's input in a PTv3 output: the up-cast features kept level by
    level when the backbone has no decoder, else ``feat``."""
    return out.get('upcast', out['feat'])


def _voxel_key(segment: Tensor, grid_coord: Tensor) -> Tensor:
    """Pack (segment, x, y, z) into one int64 key (16 bits per axis).

    Args:
        segment (Tensor): (N,) int64 segment id (< 2**15).
        grid_coord (Tensor): (N, 3) int64 (x, y, z) in [0, 2**16).

    Returns:
        Tensor: (N,) int64 keys, equal iff segment and voxel are equal.
    """
    key = segment
    for axis in range(3):
        key = (key << _AXIS_BITS) | grid_coord[:, axis]
    return key
