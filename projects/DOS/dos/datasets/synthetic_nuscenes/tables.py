# Copyright (c) OpenMMLab. All rights reserved.
"""In-memory nuScenes database tables and their JSON files.

:class:`NuScenesTables` holds the 13 tables of a nuScenes release plus the
``lidarseg`` table, fills the fixed vocabularies (categories with their
lidarseg indices, attributes, visibility levels, sensors), links the
``prev``/``next`` chains and writes ``<dataroot>/<version>/<table>.json``
exactly as the nuScenes devkit reads them.
"""
import hashlib
import json
import os
import os.path as osp
from typing import Dict, List

from .taxonomy import (ATTRIBUTES, CAMERA_CHANNELS, LIDAR_CHANNEL,
                       LIDARSEG_CATEGORIES, VISIBILITY_LEVELS)

TABLE_NAMES = ('attribute', 'calibrated_sensor', 'category', 'ego_pose',
               'instance', 'log', 'map', 'sample', 'sample_annotation',
               'sample_data', 'scene', 'sensor', 'visibility', 'lidarseg')


def make_token(*keys: object) -> str:
    """Deterministic nuScenes token: 32 lowercase hex digits.

    Args:
        *keys: Values identifying the record (table, seed, indices...).

    Returns:
        str: MD5 hex digest of the keys joined by ``/``.
    """
    return hashlib.md5('/'.join(map(str, keys)).encode()).hexdigest()


class NuScenesTables:
    """The records of a nuScenes-format release, table by table.

    The vocabulary tables (category, attribute, visibility, sensor) are
    filled on construction; their tokens depend only on the names, as in
    nuScenes where they are shared by all releases.
    """

    def __init__(self) -> None:
        self.tables: Dict[str, List[dict]] = {n: [] for n in TABLE_NAMES}
        for index, name, description in LIDARSEG_CATEGORIES:
            self.tables['category'].append(
                dict(
                    token=make_token('category', name),
                    name=name,
                    description=description,
                    index=index))
        for name, description in ATTRIBUTES:
            self.tables['attribute'].append(
                dict(
                    token=make_token('attribute', name),
                    name=name,
                    description=description))
        for token, level, description in VISIBILITY_LEVELS:
            self.tables['visibility'].append(
                dict(token=token, level=level, description=description))
        for channel in (LIDAR_CHANNEL, ) + CAMERA_CHANNELS:
            self.tables['sensor'].append(
                dict(
                    token=self.sensor_token(channel),
                    channel=channel,
                    modality='lidar'
                    if channel == LIDAR_CHANNEL else 'camera'))

    @staticmethod
    def sensor_token(channel: str) -> str:
        """Token of the sensor record of ``channel``."""
        return make_token('sensor', channel)

    @staticmethod
    def category_token(name: str) -> str:
        """Token of the category record called ``name``."""
        return make_token('category', name)

    @staticmethod
    def attribute_token(name: str) -> str:
        """Token of the attribute record called ``name``."""
        return make_token('attribute', name)

    def add(self, table: str, record: dict) -> str:
        """Append ``record`` (which must hold its ``token``) to ``table``.

        Returns:
            str: The record's token.
        """
        if table not in self.tables:
            raise ValueError(f'unknown nuScenes table {table!r}; expected '
                             f'one of {TABLE_NAMES}')
        self.tables[table].append(record)
        return record['token']

    @staticmethod
    def link_chain(records: List[dict]) -> None:
        """Set ``prev``/``next`` tokens along ``records`` in order."""
        for i, record in enumerate(records):
            record['prev'] = records[i - 1]['token'] if i > 0 else ''
            record['next'] = records[i + 1]['token'] \
                if i + 1 < len(records) else ''

    def write(self, dataroot: str, version: str) -> None:
        """Write every table to ``<dataroot>/<version>/<table>.json``."""
        table_dir = osp.join(dataroot, version)
        os.makedirs(table_dir, exist_ok=True)
        for name, records in self.tables.items():
            with open(osp.join(table_dir, f'{name}.json'), 'w') as f:
                json.dump(records, f, indent=0)
