# Copyright (c) OpenMMLab. All rights reserved.
# Scratch PTv3 CenterPoint on 20 % of the nuScenes training frames (every 5th
# keyframe), evaluated on the full val split. The subset infos AND the
# copy-paste database built from the subset only (the stock
# nuscenes_dbinfos_train.pkl holds every training label) come from
#
#   python tools/make_label_subset.py data/nuscenes/nuscenes_infos_train.pkl \
#       --ratio 0.2 --mode interval --seed 0
#
# which writes data/nuscenes/nuscenes_20pct_infos_train.pkl,
# nuscenes_20pct_dbinfos_train.pkl and nuscenes_20pct_gt_database/.
_base_ = ['./centerpoint_ptv3_secfpn_8xb4-cyclic-20e_nus-3d.py']

label_subset = 'nuscenes_20pct'

_base_.train_dataloader.dataset.dataset.ann_file = (
    label_subset + '_infos_train.pkl')
_base_.train_dataloader.dataset.dataset.pipeline[3].db_sampler.info_path = (
    _base_.data_root + label_subset + '_dbinfos_train.pkl')
# a subset's database may hold no object of a rare class: sample none of it
# (mmdet3d's DataBaseSampler raises KeyError there)
_base_.train_dataloader.dataset.dataset.pipeline[3].db_sampler.type = (
    'LabelSubsetDataBaseSampler')
