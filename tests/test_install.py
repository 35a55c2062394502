"""The installed stack: versions the OpenMMLab libraries accept, and mmcv's compiled ops on CPU."""
from importlib import metadata

import pytest
import torch
from packaging.version import Version


def test_libraries_import_with_tested_versions():
    import mmcv
    import mmdet
    import mmengine
    import mmpretrain
    import mmseg

    import mmsola
    assert Version(mmcv.__version__) < Version('2.2.0')  # mmdet/mmseg assert this
    assert mmengine.__version__ == '0.10.7'
    assert mmdet.__version__ == '3.3.0'
    assert mmseg.__version__ == '1.2.2'
    assert mmpretrain.__version__ == '1.2.0'
    assert mmsola.__version__ == metadata.version('mmsola')


def test_mmcv_nms_runs_on_cpu():
    from mmcv.ops import nms
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=torch.float32)
    scores = torch.tensor([0.9, 0.8, 0.7])
    dets, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]  # the second box overlaps the first by IoU 0.68
    assert dets.shape == (2, 5)


def test_mmcv_roi_align_runs_on_cpu():
    from mmcv.ops import RoIAlign
    feature = torch.arange(16, dtype=torch.float32).view(1, 1, 4, 4)
    rois = torch.tensor([[0, 0, 0, 4, 4]], dtype=torch.float32)  # batch index, x1, y1, x2, y2
    out = RoIAlign((2, 2), spatial_scale=1.0, sampling_ratio=2, aligned=True)(feature, rois)
    assert out.shape == (1, 1, 2, 2)
    # aligned: pixel centres at integer coordinates - 0.5, so each bin samples exactly the four
    # pixels of one quadrant and averages them
    expected = torch.tensor([[2.5, 4.5], [10.5, 12.5]])
    assert torch.allclose(out[0, 0], expected)


def test_version_check_names_the_package(monkeypatch):
    from mmsola import dependencies as versions
    monkeypatch.setattr(versions.metadata, 'version', lambda dist: '9.9.9')
    with pytest.raises(ImportError, match=r'mmengine.*found mmengine 9\.9\.9'):
        versions.check_dependencies()
