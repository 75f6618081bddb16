# Copyright (c) OpenMMLab. All rights reserved.
"""Repository projects (a regular package, so that an unrelated installed
``projects`` package cannot shadow it; see tools/_bootstrap.py)."""
