# Copyright (c) OpenMMLab. All rights reserved.
# CPU demo: linear probe of the DOS-pretrained small PTv3 on the synthetic
# nuScenes-format set (16-class labels from its lidarseg/v1.0-mini folder).
#
#   python tools/make_synthetic_nuscenes.py --out data/synthetic_nuscenes
#   python tools/create_data.py nuscenes --root-path data/synthetic_nuscenes \
#       --out-dir data/synthetic_nuscenes --extra-tag nuscenes \
#       --version v1.0-mini
#   python tools/train.py projects/DOS/configs/dos_pretrain_synthetic.py
#   python tools/convert_dos_ckpt.py ...  # -> `pretrained` below
#   python tools/train.py \
#       projects/DOS/configs/dos-ptv3-small_lp_1xb2-5e_synthetic-nus-lidarseg.py
#
# The protocol of dos-ptv3_lp_1xb8-50e_nus-lidarseg.py (frozen encoder,
# hypercolumn at the 0.05 m input level, Linear + CE + Lovasz) with the
# small PTv3 of dos_pretrain_synthetic.py (16 + 32 + 64 + 128 + 256 = 496
# channels), 2 scenes per batch, 5 epochs and a 5x larger lr so that the
# linear head converges within a few minutes on a CPU. Evaluated on the
# mini_val scenes with mmdet3d's SegMetric (mIoU, per-class IoU).
_base_ = ['./dos-ptv3_lp_1xb8-50e_nus-lidarseg.py']

data_root = 'data/synthetic_nuscenes/'
data_prefix = dict(pts_semantic_mask='lidarseg/v1.0-mini')
pretrained = 'work_dirs/dos_pretrain_synthetic/dos_ptv3_backbone.pth'
max_epochs = 5
base_lr = 0.01

model = dict(
    backbone=dict(
        enc_depths=(1, 1, 1, 1, 1),
        enc_channels=(16, 32, 64, 128, 256),
        enc_num_head=(1, 2, 4, 8, 16),
        enc_patch_size=128,
        drop_path=0.0,
        enable_flash=False,
        init_cfg=dict(checkpoint=pretrained)),
    decode_head=dict(channels=496))

train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, data_prefix=data_prefix))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, data_prefix=data_prefix))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=base_lr))
param_scheduler = [  # warm-up over the first epoch, cosine to lr / 100
    dict(_base_.param_scheduler[0], end=1),
    dict(
        _base_.param_scheduler[1],
        eta_min=base_lr * 1e-2,
        begin=1,
        end=max_epochs),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
log_processor = dict(window_size=10)
