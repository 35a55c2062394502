"""EigenCAM: where a backbone stage's activations vary most, for any mmsola config.

EigenCAM needs no gradients and no class: the activation map of one stage, (C, h, w) per
image, is read as h * w points in C dimensions; after removing their mean, the projection of
each position on the first principal component (the direction of largest variance) is the map.
It works the same for classifiers, detectors and segmentors, because it only looks at the
backbone. What is shown is what the backbone attends to, not the evidence for one class.

- :func:`eigen_cam`: the maps of a batch of feature maps, upsampled and scaled to [0, 1].
- :func:`overlay`: a map blended over an RGB image through a matplotlib colormap.
- :class:`CAMInferencer`: builds the model of a config (mmpretrain, mmdet or mmseg), runs an
  image through the config's test pipeline, the model's data preprocessor and the model, and
  renders the original next to the CAM overlay with the task's prediction.
- :func:`run_cam`: the above over an image or a folder, one PNG per image
  (``tools/analysis/cam.py``).
"""
import importlib
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
#: score threshold of the detection boxes drawn on the overlay.
BOX_SCORE_THRESHOLD = 0.3
#: at most this many boxes (the best-scoring) are drawn, so that a picture stays readable.
MAX_BOXES_DRAWN = 30
_EPS = 1e-12


# --------------------------------------------------------------------------------------------
# The map itself
# --------------------------------------------------------------------------------------------
def _minmax(maps: torch.Tensor) -> torch.Tensor:
    """Scale each (..., H, W) map to [0, 1]; a constant map becomes zeros (never NaN)."""
    flat = maps.flatten(-2)
    low = flat.min(dim=-1, keepdim=True).values
    span = flat.max(dim=-1, keepdim=True).values - low
    scaled = torch.where(span > _EPS, (flat - low) / span.clamp_min(_EPS), torch.zeros_like(flat))
    return scaled.reshape(maps.shape)


def principal_projection(features: torch.Tensor) -> torch.Tensor:
    """Projection of every position on the first principal component: (B, C, h, w) -> (B, h, w).

    Per image, the activations are flattened to (h * w, C), centred over positions and
    decomposed by SVD; the centred activations are projected on the first right-singular
    vector. The sign of a singular vector is arbitrary (``v`` and ``-v`` are equally valid and
    which one comes back depends on the LAPACK build), so it is fixed here: the projection is
    made to correlate positively with the mean absolute activation of each position, i.e. high
    values mark where the stage's activations are strong. A zero correlation keeps the sign.
    The map is not clamped, upsampled or scaled.
    """
    if features.dim() != 4:
        raise ValueError(f'features must be (B, C, h, w), got shape {tuple(features.shape)}')
    if not torch.isfinite(features).all():
        raise ValueError('features contain NaN or inf; EigenCAM needs finite activations')
    batch, _, height, width = features.shape
    points = features.detach().float().flatten(2).transpose(1, 2)  # (B, h*w, C)
    centred = points - points.mean(dim=1, keepdim=True)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    projection = torch.einsum('bnc,bc->bn', centred, vh[:, 0])  # (B, h*w)
    magnitude = points.abs().mean(dim=2)
    agreement = ((projection - projection.mean(dim=1, keepdim=True)) *
                 (magnitude - magnitude.mean(dim=1, keepdim=True))).sum(dim=1)
    sign = torch.where(agreement < 0, -1.0, 1.0).to(projection.dtype)
    return (projection * sign[:, None]).reshape(batch, height, width)


def eigen_cam(features: torch.Tensor, out_size: Tuple[int, int]) -> torch.Tensor:
    """EigenCAM maps of a batch of stage activations.

    Args:
        features: (B, C, h, w) activations of one stage (channels first).
        out_size: (H, W) of the maps, normally the size of the network's input.

    Returns:
        (B, H, W) float maps in [0, 1]: the first-principal-component projection of
        :func:`principal_projection` (sign fixed to agree with the activation magnitude),
        negatives clamped to 0, bilinearly upsampled to ``out_size`` and min-max scaled per
        image. A map without variation (e.g. a 1 x 1 stage output) is all zeros.
    """
    height, width = (int(s) for s in out_size)
    if height <= 0 or width <= 0:
        raise ValueError(f'out_size must be positive, got {tuple(out_size)}')
    maps = principal_projection(features).clamp_min(0)
    maps = F.interpolate(maps[:, None], size=(height, width), mode='bilinear',
                         align_corners=False)[:, 0]
    return _minmax(maps)


def overlay(image_rgb: np.ndarray,
            cam: Union[np.ndarray, torch.Tensor],
            alpha: float = 0.5,
            colormap: str = 'jet') -> np.ndarray:
    """Blend a [0, 1] map over an RGB image through a matplotlib colormap.

    Args:
        image_rgb: uint8 (H, W, 3) image in RGB order.
        cam: (H, W) map in [0, 1] (values outside are clipped); a map of another size is
            resized bilinearly to the image's.
        alpha: weight of the coloured map (0: the image only, 1: the map only).
        colormap: a matplotlib colormap name.

    Returns:
        uint8 (H, W, 3) RGB image.
    """
    import matplotlib
    image_rgb = np.asarray(image_rgb)
    if image_rgb.dtype != np.uint8 or image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
        raise ValueError('image_rgb must be a uint8 (H, W, 3) array, got '
                         f'{image_rgb.dtype} {image_rgb.shape}')
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f'alpha must lie in [0, 1], got {alpha}')
    cam = torch.as_tensor(np.asarray(cam, dtype=np.float32) if not torch.is_tensor(cam)
                          else cam.detach().float().cpu())
    if cam.dim() != 2:
        raise ValueError(f'cam must be a 2-D (H, W) map, got shape {tuple(cam.shape)}')
    if tuple(cam.shape) != image_rgb.shape[:2]:
        cam = F.interpolate(cam[None, None], size=image_rgb.shape[:2], mode='bilinear',
                            align_corners=False)[0, 0]
    cam = np.nan_to_num(cam.numpy()).clip(0.0, 1.0)
    heat = matplotlib.colormaps[colormap](cam)[..., :3] * 255.0
    blended = (1.0 - alpha) * image_rgb.astype(np.float32) + alpha * heat
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# Models, pipelines and pictures
# --------------------------------------------------------------------------------------------


def collect_images(path: str) -> List[str]:
    """An image file, or the image files of a folder (not recursive, sorted)."""
    if not osp.exists(path):
        raise FileNotFoundError(f'image or folder {path} does not exist')
    if osp.isdir(path):
        files = sorted(
            osp.join(path, name) for name in os.listdir(path)
            if name.lower().endswith(IMAGE_EXTENSIONS) and osp.isfile(osp.join(path, name)))
        if not files:
            raise FileNotFoundError(
                f'folder {path} holds no images ({", ".join(IMAGE_EXTENSIONS)})')
        return files
    return [path]


def read_rgb(path: str) -> np.ndarray:
    """uint8 (H, W, 3) RGB image; errors name the file."""
    import mmcv
    if not osp.isfile(path):
        raise FileNotFoundError(f'image {path} does not exist')
    try:
        image = mmcv.imread(path, flag='color', channel_order='rgb')
    except Exception as error:  # cv2 fails inside its colour conversion on undecodable bytes
        raise ValueError(f'cannot read image {path}: not a decodable image file '
                         f'({type(error).__name__})') from error
    if image is None or image.size == 0:
        raise ValueError(f'cannot read image {path}: not a decodable image file')
    return image


def _transform_type(transform) -> str:
    kind = transform.get('type', '') if isinstance(transform, dict) else transform
    return (kind if isinstance(kind, str) else getattr(kind, '__name__', '')).split('.')[-1]


def _test_pipeline_cfg(cfg) -> List[dict]:
    dataset = cfg.get('test_dataloader', {}).get('dataset') if cfg.get('test_dataloader') else None
    while dataset is not None and dataset.get('pipeline') is None and dataset.get('dataset'):
        dataset = dataset['dataset']  # dataset wrappers (RepeatDataset, ...)
    pipeline = dataset.get('pipeline') if dataset is not None else None
    pipeline = pipeline or cfg.get('test_pipeline')
    if not pipeline:
        raise ValueError('the config has neither test_dataloader.dataset.pipeline nor '
                         'test_pipeline; EigenCAM needs one to prepare the images')
    # Annotations are not needed (and not there) for a plain image.
    return [t for t in pipeline if 'Annotation' not in _transform_type(t)]


class CAMInferencer:
    """EigenCAM of a config's backbone on single images, with the task's prediction.

    Args:
        config: config file of mmpretrain, mmdet or mmseg (its ``default_scope``).
        checkpoint: weights to load (``mmengine.runner.load_checkpoint``); ``None``: random.
        stage: index into the tuple the backbone returns (its ``out_indices``), -1 = last.
        device: torch device.
        cfg_options: ``--cfg-options`` overrides merged into the config.
    """

    def __init__(self,
                 config: str,
                 checkpoint: Optional[str] = None,
                 stage: int = -1,
                 device: str = 'cpu',
                 cfg_options: Optional[dict] = None) -> None:
        from mmengine.dataset import Compose

        from mmsola.engine.cli import load_config
        from .model_builder import TASK_OF_SCOPE, build_model_from_config

        cfg = load_config(config, cfg_options=cfg_options)
        scope = cfg.default_scope
        if scope not in TASK_OF_SCOPE:
            raise ValueError(f'config {config} has default_scope {scope!r}; EigenCAM supports '
                             f'{sorted(TASK_OF_SCOPE)}')
        model = build_model_from_config(cfg)
        registry = importlib.import_module(f'{scope}.registry')
        if getattr(model, 'backbone', None) is None:
            raise ValueError(f'the model of config {config} ({type(model).__name__}) has no '
                             '`backbone`; EigenCAM needs one')
        self.checkpoint_meta: dict = {}
        if checkpoint is not None:
            from mmengine.runner import load_checkpoint
            if not osp.isfile(checkpoint):
                raise FileNotFoundError(f'checkpoint {checkpoint} does not exist')
            loaded = load_checkpoint(model, checkpoint, map_location='cpu')
            self.checkpoint_meta = loaded.get('meta', {}) if isinstance(loaded, dict) else {}
        self.model = model.to(device).eval()
        self.cfg, self.scope, self.task = cfg, scope, TASK_OF_SCOPE[scope]
        self.pipeline = Compose([registry.TRANSFORMS.build(t) for t in _test_pipeline_cfg(cfg)])
        self.class_names = self._class_names()
        num_outputs = len(getattr(model.backbone, 'out_indices', ()) or ()) or None
        self.stage = stage
        if num_outputs is not None:
            self._check_stage(num_outputs)

    def _class_names(self) -> Optional[Sequence[str]]:
        meta = self.checkpoint_meta.get('dataset_meta') or getattr(self.model, 'dataset_meta',
                                                                   None) or {}
        if meta.get('classes'):
            return meta['classes']
        dataset = (self.cfg.get('test_dataloader') or {}).get('dataset') or {}
        for metainfo in (dataset.get('metainfo'), self.cfg.get('metainfo')):
            if metainfo and metainfo.get('classes'):
                return metainfo['classes']
        return None

    def _check_stage(self, num_outputs: int) -> int:
        if not -num_outputs <= self.stage < num_outputs:
            indices = getattr(self.model.backbone, 'out_indices', None)
            raise IndexError(
                f'stage {self.stage} is out of range: the backbone returns {num_outputs} '
                f'output(s) (out_indices={indices}), so valid stages are '
                f'{-num_outputs}..{num_outputs - 1}; set model.backbone.out_indices through '
                '--cfg-options to expose other stages')
        return self.stage % num_outputs

    def _prepare(self, path: str, index: int) -> dict:
        from mmengine.dataset import pseudo_collate
        # Keys some Pack* transforms copy into the metainfo; a fixed "no flip" for test time.
        results = dict(img_path=path, img_id=index, sample_idx=index, flip=False,
                       flip_direction=None)
        try:
            packed = self.pipeline(results)
        except Exception as error:
            raise RuntimeError(f'the test pipeline failed on image {path}: {error}') from error
        if packed is None:
            raise RuntimeError(f'the test pipeline dropped image {path}')
        return pseudo_collate([packed])

    @torch.no_grad()
    def __call__(self, path: str, index: int = 0) -> dict:
        """CAM and prediction of one image.

        Returns a dict: ``original`` (uint8 RGB, as on disk), ``fed`` (uint8 RGB, the image as
        the network saw it, resized to the original's size), ``cam`` (float (H, W) in [0, 1] at
        the original's size, over ``fed``), ``stage`` (the resolved output index),
        ``feature_shape`` and ``prediction`` (the model's data sample).
        """
        original = read_rgb(path)
        data = self._prepare(path, index)
        fed_chw = data['inputs'][0]  # before the data preprocessor: unpadded, BGR as loaded
        data = self.model.data_preprocessor(data, False)
        inputs, samples = data['inputs'], data['data_samples']

        captured: List = []

        def keep_first(module, args, output):
            if not captured and args and tuple(args[0].shape) == tuple(inputs.shape):
                captured.append(output)

        handle = self.model.backbone.register_forward_hook(keep_first)
        try:
            prediction = self.model(inputs, samples, mode='predict')[0]
        finally:
            handle.remove()
        # Sliding-window or TTA inference may not see the whole input at once.
        outputs = captured[0] if captured else self.model.backbone(inputs)
        outputs = tuple(outputs) if isinstance(outputs, (tuple, list)) else (outputs, )
        stage = self._check_stage(len(outputs))
        features = outputs[stage]

        cam = eigen_cam(features, inputs.shape[-2:])[0]  # over the (padded) batch input
        fed_h, fed_w = fed_chw.shape[-2:]
        cam = cam[:fed_h, :fed_w]  # padding is added at the bottom and right
        height, width = original.shape[:2]
        cam = _minmax(F.interpolate(cam[None, None], size=(height, width), mode='bilinear',
                                    align_corners=False)[0, 0])
        fed = fed_chw.permute(1, 2, 0).cpu().numpy().astype(np.uint8)
        fed = fed[..., ::-1] if fed.shape[2] == 3 else np.repeat(fed[..., :1], 3, axis=2)
        import mmcv
        fed = mmcv.imresize(np.ascontiguousarray(fed), (width, height))
        return dict(original=original, fed=fed, cam=cam.cpu().numpy(), stage=stage,
                    feature_shape=tuple(features.shape), prediction=prediction)

    def _name(self, label: int) -> str:
        if self.class_names is not None and 0 <= label < len(self.class_names):
            return str(self.class_names[label])
        return f'class {label}'

    def render(self, result: dict, out_file: str, alpha: float = 0.5) -> str:
        """Save the original next to the CAM overlay (and the prediction) as a PNG."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Rectangle

        original = result['original']
        height, width = original.shape[:2]
        panel_h = 4.0
        panel_w = max(2.0, min(12.0, panel_h * width / height))
        figure = Figure(figsize=(2 * panel_w, panel_h + 0.6), dpi=100)
        FigureCanvasAgg(figure)
        left, right = figure.subplots(1, 2)
        left.imshow(original)
        left.set_title('input', fontsize=9)
        right.imshow(overlay(result['fed'], result['cam'], alpha=alpha))
        _, channels, feat_h, feat_w = result['feature_shape']
        indices = getattr(self.model.backbone, 'out_indices', None)
        where = (f'stage {indices[result["stage"]]} (out_indices[{result["stage"]}])'
                 if indices is not None and len(indices) > result['stage'] else
                 f'output {result["stage"]}')
        right.set_title(f'EigenCAM, backbone {where}, {channels} x {feat_h} x {feat_w}',
                        fontsize=9)
        for axis in (left, right):
            axis.set_axis_off()

        prediction = result['prediction']
        headline = f'{self.task}'
        if self.task == 'classification' and 'pred_label' in prediction:
            label = int(prediction.pred_label.reshape(-1)[0])
            score = float(prediction.pred_score.reshape(-1)[label]) \
                if 'pred_score' in prediction else float('nan')
            headline = f'predicted: {self._name(label)} ({score:.2f})'
        elif self.task == 'detection' and 'pred_instances' in prediction:
            instances = prediction.pred_instances
            keep = (instances.scores > BOX_SCORE_THRESHOLD).nonzero().flatten()
            keep = keep[instances.scores[keep].argsort(descending=True)]
            boxes = instances.bboxes[keep].cpu().numpy()
            labels, scores = instances.labels[keep].tolist(), instances.scores[keep].tolist()
            shown = list(zip(boxes, labels, scores))[:MAX_BOXES_DRAWN]
            for (x1, y1, x2, y2), label, score in shown:
                right.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False,
                                          edgecolor='white', linewidth=1.2))
                right.text(x1, y1, f'{self._name(label)} {score:.2f}', color='black',
                           fontsize=7, va='bottom',
                           bbox=dict(facecolor='white', alpha=0.7, pad=1, linewidth=0))
            headline = f'{len(labels)} box(es) with score > {BOX_SCORE_THRESHOLD}'
            if len(shown) < len(labels):
                headline += f', the best {len(shown)} drawn'
        elif self.task == 'segmentation' and 'pred_sem_seg' in prediction:
            mask = prediction.pred_sem_seg.data[0].cpu().numpy()
            present = np.unique(mask)
            if present.size > 1 and mask.shape == (height, width):
                right.contour(mask, levels=np.arange(present.min(), present.max()) + 0.5,
                              colors='white', linewidths=0.8)
            headline = 'predicted: ' + ', '.join(self._name(int(c)) for c in present[:8])
        figure.suptitle(headline, fontsize=10)
        figure.tight_layout()
        out_dir = osp.dirname(osp.abspath(out_file))
        os.makedirs(out_dir, exist_ok=True)
        figure.savefig(out_file, format='png')
        return out_file


def run_cam(config: str,
            images: str,
            checkpoint: Optional[str] = None,
            stage: int = -1,
            out_dir: Optional[str] = None,
            device: str = 'cpu',
            cfg_options: Optional[dict] = None,
            alpha: float = 0.5) -> List[str]:
    """EigenCAM pictures of an image or a folder of images; returns the PNGs written.

    Each image ``name.ext`` gives ``out_dir/name_cam.png`` (default out_dir:
    ``work_dirs/cam/<config name>``).
    """
    paths = collect_images(images)
    for path in paths:  # fail before building the model if an image is unreadable
        read_rgb(path)
    inferencer = CAMInferencer(config, checkpoint=checkpoint, stage=stage, device=device,
                               cfg_options=cfg_options)
    if out_dir is None:
        out_dir = osp.join('work_dirs', 'cam', osp.splitext(osp.basename(config))[0])
    written: Dict[str, str] = {}
    for index, path in enumerate(paths):
        stem = osp.splitext(osp.basename(path))[0]
        out_file = osp.join(out_dir, f'{stem}_cam.png')
        if out_file in written.values():  # a.png and a.jpg in one folder
            out_file = osp.join(out_dir, f'{osp.basename(path).replace(".", "_")}_cam.png')
        written[path] = inferencer.render(inferencer(path, index), out_file, alpha=alpha)
    return list(written.values())
