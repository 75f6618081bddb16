# Copyright (c) OpenMMLab. All rights reserved.
# Fine-tuning schedule of a pretrained PTv3 encoder: seg_50e.py with the
# encoder (embedding, pooling and encoder stages) at lr x 0.1, the decoder
# and head at the full lr (Sonata's fine-tuning recipe).
_base_ = ['./seg_50e.py']

optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'backbone.embedding': dict(lr_mult=0.1),
            'backbone.pooling': dict(lr_mult=0.1),
            'backbone.enc': dict(lr_mult=0.1),
        }))
