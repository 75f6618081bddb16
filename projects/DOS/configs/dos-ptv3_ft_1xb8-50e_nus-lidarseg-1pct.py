# Copyright (c) OpenMMLab. All rights reserved.
# Label efficiency: dos-ptv3_ft_1xb8-50e_nus-lidarseg.py trained on 1 % of
# the training scenes (seeded; evaluation on the full val split). Make the
# subset first:
#   python tools/make_seg_subset.py data/nuscenes/nuscenes_infos_train.pkl \
#       --ratio 0.01 --seed 0
_base_ = ['./dos-ptv3_ft_1xb8-50e_nus-lidarseg.py']

train_dataloader = dict(dataset=dict(ann_file='nuscenes_1pct_infos_train.pkl'))
