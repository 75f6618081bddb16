# Copyright (c) OpenMMLab. All rights reserved.
"""``tools/train.py`` resolves ``projects.DOS.dos`` from anywhere.

The config's ``custom_imports`` names ``projects.DOS.dos``; the tool must find
this repository's package without ``PYTHONPATH``, from any working directory,
even when another package called ``projects`` is importable (mmdet3d issue
#2832), and a project config must train with ``--cfg-options`` overrides.
"""
import os
import subprocess
import sys


def test_train_runs_a_project_config_from_another_directory(
        tmp_path, repo_root, synthetic_nuscenes_infos):
    # an unrelated, importable `projects` package that must not be used
    decoy = tmp_path / 'decoy' / 'projects'
    decoy.mkdir(parents=True)
    (decoy / '__init__.py').write_text(
        "raise ImportError('the decoy projects package was imported')\n")
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env['PYTHONPATH'] = str(decoy.parent)
    work_dir = tmp_path / 'work'
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    result = subprocess.run([
        sys.executable,
        str(repo_root / 'tools' / 'train.py'),
        str(repo_root / 'projects' / 'DOS' / 'configs' /
            'dos_pretrain_synthetic.py'), '--work-dir',
        str(work_dir), '--cfg-options', 'train_cfg.max_iters=1',
        f'train_dataloader.dataset.data_root={synthetic_nuscenes_infos}/',
        'train_dataloader.batch_size=1', 'default_hooks.logger.interval=1'
    ],
                            cwd=elsewhere,
                            env=env,
                            capture_output=True,
                            text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (work_dir / 'iter_1.pth').is_file()
    assert 'loss_softmap' in result.stdout + result.stderr
